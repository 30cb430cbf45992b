r"""Lists a checkpoint's variables and what evaluation and export restore.

    tf1cnn-inspect-checkpoint runs/catdog/model.ckpt-1500
    tf1cnn-inspect-checkpoint runs/catdog          # its latest checkpoint
    tf1cnn-inspect-checkpoint CKPT --model=lenet5 --image_size=150 \
        --labels_file=labels.txt \
        --checkpoint_var_map='^(\w+)/(weights|biases)_\1$=\1/\2'

The network is the one evaluation and export build: the model, options,
image size and preprocessing recorded in the `run_config.json` beside the
checkpoint, else the flags; the classes from `labels.txt`, else the data
flags evaluation takes (`--labels_file`, `--dataset`, `--data_dir`), else
the model's default number. The mapping is theirs too: the weights'
`ExponentialMovingAverage` shadows take the place of the raw weights when
the checkpoint has them (`--nouse_moving_averages` turns that off), after
`--checkpoint_var_map`.

Prints one line per stored variable (name, shape, dtype, and `-> model
variable` or `(unused)`), the global step, then the model variables nothing
restores and the shape or dtype mismatches. Without a model (no
`run_config.json` and no `--model`), the checkpoint alone is listed. Exit
status 0 when every model variable is restored without a mismatch; 1
otherwise; 2 for a user error (a bad map, a damaged checkpoint).
"""

import sys

import tensorflow as tf
from absl import flags

from tf1cnn import checkpoints
from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import run_spec
from tf1cnn import runtime

FLAGS = flags.FLAGS
_V1 = tf.compat.v1


def restored_variables(config, prefix):
  """`(var_map, used_averages, note)`: what evaluation restores from `prefix`.

  Builds the network of `run_spec.for_checkpoint` in eval mode in a scratch
  graph and maps it as `evaluation.build_eval_graph` does. `note` says
  where the classes came from when nothing named them.
  """
  note = ''
  run_config, class_names = run_spec.recorded_run(prefix, config.train_dir)
  fallback = 0
  if not (class_names or config.data.labels_file or config.data.data_dir):
    model = run_config.get('model') or config.model
    builder = run_spec.check_model_name(model)
    fallback = (run_config.get('num_classes')
                or getattr(builder, 'default_num_classes', None) or 2)
    note = (f'classes: {fallback} (no labels.txt beside the checkpoint, '
            '--labels_file or --data_dir)')
  spec = run_spec.for_checkpoint(config, prefix, need_data=False,
                                 fallback_num_classes=fallback)
  with tf.Graph().as_default():
    images = _V1.placeholder(tf.float32, [
        spec.batch_size, spec.image_size, spec.image_size, spec.channels])
    spec.network_fn(is_training=False)(images)
    var_map, used_averages = checkpoints.restore_var_map(
        prefix, use_moving_averages=config.use_moving_averages,
        name_rules=config.checkpoint_var_map)
  return var_map, used_averages, note


def _inspect(argv):
  if len(argv) != 2:
    raise runtime.UserInputError('give one checkpoint prefix or directory')
  prefix = checkpoints.resolve_checkpoint(checkpoint_path=argv[1],
                                          flag='checkpoint')
  config = tf1cnn_flags.config_from_flags(config_lib.EvalConfig)
  run_config, _ = run_spec.recorded_run(prefix, config.train_dir)
  var_map = None
  if run_config.get('model') or config.model:
    if not config.model:
      config = config_lib.replace(config, model=run_config['model'])
    var_map, used_averages, note = restored_variables(config, prefix)
  else:
    checkpoints.parse_name_rules(config.checkpoint_var_map)
  report = checkpoints.inspect(prefix, var_map)
  step_name = checkpoints.global_step_name(prefix)
  for row in report['stored']:
    if row['restores']:
      target = f'-> {row["restores"]}'
    elif var_map is None:
      target = ''
    elif row['shadow_restored']:
      target = '(unused: its moving average is restored)'
    else:
      target = '(unused)'
    if row['name'] == step_name:
      target += (' the global step, '
                 f'{checkpoints.checkpoint_step(prefix, step_name)}')
    print(f'{row["name"]}  {row["shape"]}  {row["dtype"]}  '
          f'{target}'.rstrip())
  if step_name is None:
    print('no global step')
  if var_map is None:
    return
  if note:
    print(note)
  print(f'moving averages restored: {"yes" if used_averages else "no"}')
  for name in report['unmatched_model']:
    print(f'model variable not in the checkpoint: {name}')
  for row in report['mismatched']:
    print(f'mismatch: {row["name"]}: checkpoint {row["checkpoint"]}, model '
          f'{row["model"]}')
  if report['unmatched_model'] or report['mismatched']:
    sys.exit(1)


def main():
  """Runs the program."""
  cli.run(_inspect, ('common', 'eval'), __doc__, positional=True, model='')


if __name__ == '__main__':
  main()
