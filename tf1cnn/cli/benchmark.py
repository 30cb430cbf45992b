r"""Measures training, input and evaluation throughput; checks the targets.

    tf1cnn-benchmark --data_dir=PHOTOS --json=runs/benchmark.json
    tf1cnn-benchmark --data_dir=PHOTOS --pipeline=synthetic,cached \
        --precision=fp32 --steps=20 --repeats=1 --accuracy_steps=0 \
        --large_images=0
    tf1cnn-benchmark --data_dir=PHOTOS --serving_checkpoint=runs/catdog

Prints a table (images/sec: median, min and max over --repeats), one
PASS/FAIL line per target, and the whole result as one JSON line (also
written to --json). --data_dir is an image-folder dataset with train/ and
test/ (in a checkout, scripts/benchmark.py defaults it to the shared cat/dog
photos). See tf1cnn/benchmark.py.
"""

from absl import flags

from tf1cnn import benchmark
from tf1cnn import cli
from tf1cnn import runtime

FLAGS = flags.FLAGS


def _benchmark(argv, default_data_dir=''):
  del argv
  data_dir = FLAGS.data_dir or default_data_dir
  if not data_dir:
    raise runtime.UserInputError('--data_dir is empty: give an image-folder '
                                 'dataset with train/ and test/')
  config = benchmark.BenchmarkConfig(
      model=FLAGS.model, data_dir=data_dir, image_size=FLAGS.image_size,
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
      json_path=FLAGS.json, serving_formats=FLAGS.serving_formats,
      compare_kernels=FLAGS.compare_kernels,
      serving_checkpoint=FLAGS.serving_checkpoint,
      serving_batch_size=FLAGS.serving_batch_size,
      serving_latency_images=FLAGS.serving_latency_images,
      serving_threads=tuple(int(v) for v in FLAGS.serving_threads))
  benchmark.report(benchmark.run(config), FLAGS.json)


def main(default_data_dir=''):
  """Runs the program; `default_data_dir` stands in for an empty --data_dir."""
  cli.run(lambda argv: _benchmark(argv, default_data_dir), ('benchmark',),
          __doc__)


if __name__ == '__main__':
  main()
