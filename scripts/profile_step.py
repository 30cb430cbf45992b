r"""Where a LeNet-5 training step's time goes, and variants side by side.

    python scripts/profile_step.py --json=runs/step_profile.json
    python scripts/profile_step.py --variants=default,intra_cores_inter1 \
        --pipelines=synthetic --repeats=5 --trace_steps=0

Builds the training graph `tf1cnn-train` builds (the options of
data/catdog.flags: Adam, cosine decay, weight decay 5e-4, dropout 0.5, moving
average 0.995) on an in-memory batch (`synthetic`) and on the decoded cache
(`cached`), traces a few steps (FULL_TRACE step stats) and prints the op
time by category and op type, the FLOPs of a step, the achieved GFLOP/s and
its share of the CPU's fp32 peak, then each --variants' images/sec beside
the default's (interleaved repeats) and the largest difference of the first
steps' losses. The last line is the whole result as one JSON object (also
written to --json). See tf1cnn/step_profile.py.

--data_dir defaults to $TF1CNN_SHARED_DATA/catdog, else
<checkout>/../shared/data/catdog.
"""

import os

import _script_env  # pylint: disable=g-bad-import-order

from absl import flags  # pylint: disable=g-import-not-at-top,g-bad-import-order

from tf1cnn import runtime  # pylint: disable=g-import-not-at-top
from tf1cnn import step_profile  # pylint: disable=g-import-not-at-top

_DEFAULTS = step_profile.StepProfileConfig()

flags.DEFINE_string('data_dir', os.path.join(_script_env.SHARED_DATA,
                                             'catdog'),
                    'Image-folder dataset with train/ (the cached pipeline '
                    'and the class count).')
flags.DEFINE_string('model', _DEFAULTS.model, 'Model name.')
flags.DEFINE_integer('image_size', _DEFAULTS.image_size, 'Image side.',
                     lower_bound=17)
flags.DEFINE_integer('batch_size', _DEFAULTS.batch_size, 'Batch size.',
                     lower_bound=1)
flags.DEFINE_list('pipelines', list(_DEFAULTS.pipelines),
                  f'Pipelines: {", ".join(step_profile.PIPELINES)}.')
flags.DEFINE_list('variants', list(step_profile.VARIANTS),
                  'Variants measured beside the default: '
                  f'{", ".join(step_profile.VARIANTS)}.')
flags.DEFINE_integer('warmup_steps', _DEFAULTS.warmup_steps,
                     'Untimed steps before timing.', lower_bound=0)
flags.DEFINE_integer('timed_steps', _DEFAULTS.timed_steps,
                     'Untraced timed steps per measurement.', lower_bound=1)
flags.DEFINE_integer('trace_steps', _DEFAULTS.trace_steps,
                     'FULL_TRACE steps of the default (0: no profile).',
                     lower_bound=0)
flags.DEFINE_boolean('trace', True, 'Trace the default (--notrace: '
                     '--trace_steps=0).')
flags.DEFINE_integer('repeats', _DEFAULTS.repeats,
                     'Interleaved repeats of every variant.', lower_bound=1)
flags.DEFINE_integer('loss_steps', _DEFAULTS.loss_steps,
                     'First steps whose losses are compared between '
                     'variants.', lower_bound=1)
flags.DEFINE_string('cache_dir', '', 'Decoded-cache folder (default: a '
                    'temporary one).')
flags.DEFINE_string('json', '', 'Also write the JSON result here.')

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise runtime.UserInputError(
        f'unexpected argument(s): {" ".join(argv[1:])} (flags start with --)')
  runtime.use_graph_mode()
  config = step_profile.StepProfileConfig(
      model=FLAGS.model, data_dir=FLAGS.data_dir, image_size=FLAGS.image_size,
      batch_size=FLAGS.batch_size, pipelines=tuple(FLAGS.pipelines),
      variants=tuple(FLAGS.variants), warmup_steps=FLAGS.warmup_steps,
      timed_steps=FLAGS.timed_steps,
      trace_steps=FLAGS.trace_steps if FLAGS.trace else 0,
      repeats=FLAGS.repeats, loss_steps=FLAGS.loss_steps,
      cache_dir=FLAGS.cache_dir, json_path=FLAGS.json)
  step_profile.report(step_profile.run(config), FLAGS.json)


if __name__ == '__main__':
  runtime.run_main(main)
