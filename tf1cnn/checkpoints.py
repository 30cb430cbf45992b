"""Finding checkpoints, checking them against a graph, and run metadata.

A training directory holds, besides the `Saver` checkpoints:

* `labels.txt`: one class name per line, line i = label id i;
* `run_config.json`: model, dataset, image size, channels and number of
  classes of the run, so evaluation and export rebuild the same network.

`check_compatible` compares the variables a graph wants to restore with what
a checkpoint holds, and raises a `UserInputError` naming the checkpoint and
the first missing or mis-shaped variable, instead of a TensorFlow traceback.
Variables a checkpoint may lack (the fp16 loss scale) are passed as
`optional`; `ResumeSaver` then restores the rest and initialises those.
"""

import json
import os

import tensorflow as tf

from tf1cnn import runtime

LABELS_FILE = 'labels.txt'
RUN_CONFIG_FILE = 'run_config.json'


def latest_checkpoint(directory):
  """Returns the newest checkpoint prefix in `directory`, or None."""
  if not directory or not os.path.isdir(directory):
    return None
  return tf.train.latest_checkpoint(directory)


def resolve_checkpoint(checkpoint_path='', train_dir='', flag=None):
  """Turns a checkpoint prefix, a directory, or train_dir into a prefix.

  Args:
    checkpoint_path: a prefix or a directory; wins over `train_dir`.
    train_dir: a training directory (its latest checkpoint).
    flag: the flag named in messages (default --checkpoint_path or
      --train_dir, whichever was used).

  Raises:
    UserInputError: nothing to restore; the message names the path.
  """
  path = checkpoint_path or train_dir
  flag = flag or ('--checkpoint_path' if checkpoint_path else '--train_dir')
  if not path:
    raise runtime.UserInputError('no checkpoint: set --train_dir or '
                                 '--checkpoint_path')
  if os.path.isdir(path):
    prefix = latest_checkpoint(path)
    if prefix is None:
      raise runtime.UserInputError(f'{flag}={path}: no checkpoint in this '
                                   'directory (train first, or point at a '
                                   'checkpoint prefix)')
    return prefix
  if tf.io.gfile.exists(path + '.index'):
    return path
  raise runtime.UserInputError(f'{flag}={path}: not a checkpoint prefix (no '
                               f'{path}.index) and not a directory')


def checkpoint_variables(prefix):
  """Returns `{name: shape}` of the variables stored in checkpoint `prefix`."""
  try:
    return {name: tuple(shape) for name, shape in
            tf.train.list_variables(prefix)}
  except (tf.errors.OpError, ValueError) as e:
    raise runtime.UserInputError(
        f'checkpoint {prefix!r} cannot be read: {e.message if hasattr(e, "message") else e}'
    ) from None


def check_compatible(prefix, var_list, what='the model', optional=()):
  """Checks that checkpoint `prefix` holds every variable of `var_list`.

  Args:
    prefix: checkpoint prefix.
    var_list: dict `{checkpoint_name: variable}` or a list of variables.
    what: description of the graph for the message.
    optional: variables of `var_list` the checkpoint may lack.

  Returns:
    The variables of `optional` that the checkpoint lacks.

  Raises:
    UserInputError: naming the checkpoint and the first mismatch.
  """
  stored = checkpoint_variables(prefix)
  if isinstance(var_list, dict):
    items = sorted(var_list.items())
  else:
    items = sorted((v.op.name, v) for v in var_list)
  optional = {variable.ref() for variable in optional}
  missing, mismatched, missing_optional = [], [], []
  for name, variable in items:
    shape = tuple(variable.shape.as_list())
    if name not in stored and variable.ref() in optional:
      missing_optional.append(variable)
    elif name not in stored:
      missing.append(name)
    elif stored[name] != shape:
      mismatched.append(f'{name} is {list(stored[name])} in the checkpoint, '
                        f'{list(shape)} in {what}')
  if mismatched:
    raise runtime.UserInputError(
        f'checkpoint {prefix!r} is from a different model: {mismatched[0]}'
        + (f' (+{len(mismatched) - 1} more)' if len(mismatched) > 1 else ''))
  if missing:
    raise runtime.UserInputError(
        f'checkpoint {prefix!r} is from a different model: it has no '
        f'variable {missing[0]!r}'
        + (f' (+{len(missing) - 1} more missing)' if len(missing) > 1 else ''))
  return missing_optional


class ResumeSaver(tf.compat.v1.train.Saver):
  """Saves every variable; resumes from a checkpoint that lacks some.

  `restore` restores every variable except `fresh_variables` and initialises
  those instead (an fp32 checkpoint resumed by an fp16 run has no loss-scale
  variables). Both helper ops are built here, before the graph is finalised.
  Saving is the plain `Saver`'s.
  """

  def __init__(self, fresh_variables, **kwargs):
    super().__init__(**kwargs)
    fresh = list(fresh_variables)
    fresh_refs = {variable.ref() for variable in fresh}
    self._restore_saver = tf.compat.v1.train.Saver(
        var_list=[v for v in tf.compat.v1.global_variables()
                  if v.ref() not in fresh_refs],
        save_relative_paths=True)
    self._initialize_fresh = tf.compat.v1.variables_initializer(
        fresh, name='initialize_variables_missing_from_checkpoint')

  def restore(self, sess, save_path):
    self._restore_saver.restore(sess, save_path)
    sess.run(self._initialize_fresh)


AVERAGE_SUFFIX = '/ExponentialMovingAverage'


def restore_var_map(prefix, variables=None, use_moving_averages=True):
  """Maps checkpoint names to variables of the current graph.

  A trainable variable comes from its `ExponentialMovingAverage` shadow
  when the checkpoint has one and `use_moving_averages` is set.

  Args:
    prefix: the checkpoint.
    variables: the variables to restore (default every global variable).
    use_moving_averages: prefer the shadows.

  Returns:
    `(var_map, used_averages)`.
  """
  stored = checkpoint_variables(prefix)
  if variables is None:
    variables = tf.compat.v1.global_variables()
  trainable = {v.ref() for v in tf.compat.v1.trainable_variables()}
  var_map = {}
  used_averages = False
  for variable in variables:
    name = variable.op.name
    shadow = name + AVERAGE_SUFFIX
    if (use_moving_averages and variable.ref() in trainable
        and shadow in stored):
      var_map[shadow] = variable
      used_averages = True
    else:
      var_map[name] = variable
  return var_map, used_averages


def write_labels(directory, class_names):
  """Writes labels.txt (atomically)."""
  _atomic_write(os.path.join(directory, LABELS_FILE),
                ''.join(f'{name}\n' for name in class_names))


def read_labels(directory):
  """Reads labels.txt from `directory`; returns None when absent."""
  path = os.path.join(directory, LABELS_FILE)
  if not os.path.isfile(path):
    return None
  with open(path, encoding='utf-8') as f:
    return [line.rstrip('\n') for line in f if line.strip()]


def read_labels_file(path):
  """Reads class names from a `--labels_file` (one per line).

  Raises:
    UserInputError: the file is missing, empty or has repeated names.
  """
  try:
    with open(path, encoding='utf-8') as f:
      names = [line.strip() for line in f if line.strip()]
  except OSError as e:
    raise runtime.UserInputError(
        f'--labels_file={path}: cannot read it ({e.strerror})') from None
  if len(names) < 2 or len(set(names)) != len(names):
    raise runtime.UserInputError(
        f'--labels_file={path}: needs two or more distinct class names, one '
        'per line')
  return names


def write_run_config(directory, config):
  """Writes run_config.json (atomically)."""
  write_json(os.path.join(directory, RUN_CONFIG_FILE), config,
             sort_keys=True, indent=2)


def write_json(path, value, indent=2, sort_keys=False):
  """Writes `value` as JSON to `path` atomically, creating its folder.

  Raises:
    UserInputError: the path cannot be written (naming it).
  """
  try:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _atomic_write(path, json.dumps(value, indent=indent,
                                   sort_keys=sort_keys) + '\n')
  except OSError as e:
    raise runtime.UserInputError(
        f'cannot write {path}: {e.strerror or e}') from None


def read_run_config(directory):
  """Reads run_config.json from `directory`; returns None when absent."""
  path = os.path.join(directory, RUN_CONFIG_FILE)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except ValueError as e:
    raise runtime.UserInputError(f'{path}: not valid JSON ({e})') from None


def _atomic_write(path, text):
  tmp = path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(text)
  os.replace(tmp, path)
