"""Measures training, input and evaluation throughput; checks the targets.

    python scripts/benchmark.py --json=runs/benchmark.json
    python scripts/benchmark.py --pipeline=synthetic,cached --precision=fp32 \
        --steps=20 --repeats=1 --accuracy_steps=0 --large_images=0

Prints a table (images/sec: median, min and max over --repeats), one
PASS/FAIL line per target, and the whole result as one JSON line (also
written to --json). The data defaults to $TF1CNN_SHARED_DATA/catdog, else
<repo>/../shared/data/catdog. See tf1cnn/benchmark.py.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from absl import flags  # pylint: disable=g-import-not-at-top

from tf1cnn import benchmark
from tf1cnn import runtime

FLAGS = flags.FLAGS

flags.DEFINE_string('model', 'lenet5', 'Model name.')
flags.DEFINE_string('data_dir', '', 'Image-folder dataset with train/ and '
                    'test/; default $TF1CNN_SHARED_DATA/catdog or '
                    '<repo>/../shared/data/catdog.')
flags.DEFINE_integer('image_size', 150, 'Square input size.')
flags.DEFINE_integer('batch_size', 32, 'Training batch size.')
flags.DEFINE_integer('steps', 30, 'Timed training steps per measurement.')
flags.DEFINE_integer('warmup_steps', 10, 'Untimed steps before each '
                     'measurement.')
flags.DEFINE_integer('repeats', 3, 'Repeats of every measurement (median, '
                     'min and max are reported).')
flags.DEFINE_list('pipeline', list(benchmark.TRAIN_PIPELINES),
                  'Training pipelines to time: synthetic, queue, cached, '
                  'tfdata.')
flags.DEFINE_list('precision', ['auto'], 'Precisions: fp32, bf16, fp16; auto '
                  '= fp32 and every supported one.')
flags.DEFINE_boolean('precision_fallback', False, 'Replace an unsupported '
                     '--precision by fp32 instead of failing.')
flags.DEFINE_boolean('input_only', True, 'Also time each pipeline without '
                     'the model, and the large-photo decode comparison.')
flags.DEFINE_integer('large_images', 120, 'Photos re-encoded at '
                     '--large_side for the large-photo comparison (0: skip).')
flags.DEFINE_integer('large_side', 2000, 'Long side of the large copies.')
flags.DEFINE_integer('large_quality', 90, 'JPEG quality of the large copies '
                     '(1-95).')
flags.DEFINE_integer('eval_batch_size', 100, 'Evaluation batch size.')
flags.DEFINE_integer('eval_steps', 12, 'Timed evaluation batches.')
flags.DEFINE_integer('accuracy_steps', 750, 'Steps of the per-precision '
                     'training run whose test accuracy is compared; eval '
                     'restores its fp32 checkpoint (0: skip both).')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_integer('seed', 1, 'Random seed.')
flags.DEFINE_string('work_dir', '', 'Caches, large copies and checkpoints; '
                    'default a temporary folder removed at the end.')
flags.DEFINE_string('cache_dir', '', 'Decoded-image cache root (reuse it '
                    'across runs); default inside --work_dir.')
flags.DEFINE_string('json', '', 'Also write the results here.')


def main(argv):
  del argv
  runtime.use_graph_mode()
  config = benchmark.BenchmarkConfig(
      model=FLAGS.model, data_dir=FLAGS.data_dir, image_size=FLAGS.image_size,
      batch_size=FLAGS.batch_size, steps=FLAGS.steps,
      warmup_steps=FLAGS.warmup_steps, repeats=FLAGS.repeats,
      pipelines=tuple(FLAGS.pipeline), precisions=tuple(FLAGS.precision),
      precision_fallback=FLAGS.precision_fallback,
      input_only=FLAGS.input_only, large_images=FLAGS.large_images,
      large_side=FLAGS.large_side, large_quality=FLAGS.large_quality,
      eval_batch_size=FLAGS.eval_batch_size,
      eval_steps=FLAGS.eval_steps, accuracy_steps=FLAGS.accuracy_steps,
      learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
      work_dir=FLAGS.work_dir, cache_dir=FLAGS.cache_dir,
      json_path=FLAGS.json)
  benchmark.report(benchmark.run(config), FLAGS.json)


if __name__ == '__main__':
  runtime.run_main(main)
