r"""Lists a checkpoint's variables and what a model would restore from each.

    tf1cnn-inspect-checkpoint runs/catdog/model.ckpt-1500
    tf1cnn-inspect-checkpoint CKPT --model=lenet5 --image_size=150 \
        --num_classes=2 --checkpoint_var_map='^(\w+)/(weights|biases)_\1$=\1/\2'

Prints one line per stored variable (name, shape, dtype, and `-> model
variable` or `(unused)`), then the model variables nothing restores and the
shape or dtype mismatches. Exit status 0 when, with --model, every model
variable is restored without a mismatch; 1 otherwise.
"""

import sys

import tensorflow as tf
from absl import flags

from tf1cnn import checkpoints
from tf1cnn import cli
from tf1cnn import models
from tf1cnn import runtime

FLAGS = flags.FLAGS
_V1 = tf.compat.v1


def _inspect(argv):
  if len(argv) != 2:
    raise runtime.UserInputError('give one checkpoint prefix or directory')
  prefix = checkpoints.resolve_checkpoint(checkpoint_path=argv[1],
                                          flag='checkpoint')
  variables = None
  if FLAGS.model:
    try:
      builder = models.get_builder(FLAGS.model)
    except KeyError as e:
      raise runtime.UserInputError(f'--model: {e.args[0]}') from None
    size = FLAGS.image_size or builder.default_image_size
    if not size:
      raise runtime.UserInputError(f'--model={FLAGS.model}: set --image_size')
    channels = builder.default_channels or 3
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [1, size, size, channels])
      try:
        network_fn = models.get_network_fn(
            FLAGS.model, FLAGS.num_classes or builder.default_num_classes or 2)
      except ValueError as e:
        raise runtime.UserInputError(f'--model={FLAGS.model}: {e}') from None
      network_fn(images)
      variables = _V1.global_variables()
  report = checkpoints.inspect(prefix, variables, FLAGS.checkpoint_var_map)
  for row in report['stored']:
    target = (f'-> {row["restores"]}' if row['restores'] else
              ('(unused)' if variables is not None else ''))
    print(f'{row["name"]}  {row["shape"]}  {row["dtype"]}  {target}'.rstrip())
  if variables is None:
    return
  for name in report['unmatched_model']:
    print(f'model variable not in the checkpoint: {name}')
  for row in report['mismatched']:
    print(f'mismatch: {row["name"]}: checkpoint {row["checkpoint"]}, model '
          f'{row["model"]}')
  if report['unmatched_model'] or report['mismatched']:
    sys.exit(1)


def main():
  """Runs the program."""
  flags.DEFINE_string('model', '', 'Model to compare with (a registry name '
                      'or FILE.py:FUNCTION); empty: list the checkpoint only.')
  flags.DEFINE_integer('image_size', 0, 'Input size of --model (0: its '
                       'default).', lower_bound=0)
  flags.DEFINE_integer('num_classes', 0, 'Classes of --model (0: its '
                       'default).', lower_bound=0)
  flags.DEFINE_multi_string('checkpoint_var_map', [], 'REGEX=REPLACEMENT '
                            '(repeatable): re.sub on the checkpoint\'s names '
                            'to give the model\'s.')
  cli.run(_inspect, (), __doc__, positional=True)


if __name__ == '__main__':
  main()
