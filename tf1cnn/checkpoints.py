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

import dataclasses
import glob
import json
import os
import re
from typing import Optional

import tensorflow as tf
from absl import logging

from tf1cnn import runtime

LABELS_FILE = 'labels.txt'
AVERAGE_SUFFIX = '/ExponentialMovingAverage'
RUN_CONFIG_FILE = 'run_config.json'


_STEP_SUFFIX = re.compile(r'-(\d+)$')
_DATA_SHARD = re.compile(r'^(.*)\.data-(\d{5})-of-(\d{5})$')
_REPORTED_DAMAGE = set()


def _prefix_step(prefix):
  match = _STEP_SUFFIX.search(prefix)
  return int(match.group(1)) if match else -1


def list_checkpoints(directory):
  """Every checkpoint prefix of `directory`, newest (highest step) first.

  Checkpoints are found by their files (`*.index`, `*.data-*-of-*`) as well
  as through the `checkpoint` state file, so a deleted or stale state file
  hides none of them. Prefixes whose files are damaged are included (see
  `checkpoint_problem`).
  """
  if not directory or not os.path.isdir(directory):
    return []
  found = set()
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):  # A garbled state file.
    state = None
  if state is not None:
    for path in list(state.all_model_checkpoint_paths) + [
        state.model_checkpoint_path]:
      if path:
        found.add(os.path.join(directory, path) if not os.path.isabs(path)
                  else path)
  for name in os.listdir(directory):
    if name.endswith('.index'):
      found.add(os.path.join(directory, name[:-len('.index')]))
    else:
      match = _DATA_SHARD.match(name)
      if match:
        found.add(os.path.join(directory, match.group(1)))
  found = {os.path.normpath(p) for p in found
           if os.path.dirname(os.path.normpath(p))
           == os.path.normpath(directory)}

  def _key(prefix):
    files = glob.glob(glob.escape(prefix) + '.*')
    mtime = max((os.path.getmtime(f) for f in files if os.path.exists(f)),
                default=0.0)
    return (_prefix_step(prefix), mtime)
  return sorted(found, key=_key, reverse=True)


def checkpoint_problem(prefix, verify_data=False):
  """Why checkpoint `prefix` cannot be restored, or None when it looks intact.

  Checks the files: the `.index` is there and readable, each
  `.data-NNNNN-of-MMMMM` shard it needs is there, and together they hold at
  least the bytes of the index's numeric tensors (a truncated, emptied or
  deleted data file). With `verify_data`, every tensor is also read back,
  which checks each one against the CRC32C the index stores (a data file
  zeroed or overwritten at its full size); see `data_problem`.
  """
  index = prefix + '.index'
  shards = sorted(glob.glob(glob.escape(prefix) + '.data-?????-of-?????'))
  if not os.path.isfile(index):
    return f'its index file {index} is missing'
  try:
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
  except (tf.errors.OpError, ValueError) as e:
    lines = str(getattr(e, 'message', e)).strip().splitlines()
    reason = lines[0] if lines else type(e).__name__
    return f'its index file {index} cannot be read ({reason})'
  expected = 0
  for name, shape in shapes.items():
    dtype = dtypes.get(name)
    if dtype is not None and dtype != tf.string:
      count = 1
      for dim in shape:
        count *= dim
      expected += count * dtype.size
  if not shards:
    if not shapes:
      return None
    return f'its data file {prefix}.data-00000-of-00001 is missing'
  total = int(_DATA_SHARD.match(os.path.basename(shards[0])).group(3))
  sizes = []
  for i in range(total):
    shard = f'{prefix}.data-{i:05d}-of-{total:05d}'
    if not os.path.isfile(shard):
      return f'its data file {shard} is missing'
    sizes.append((os.path.getsize(shard), shard))
  if sum(size for size, _ in sizes) < expected:
    size, shard = min(sizes)
    return (f'its data file {shard} is ' +
            ('empty' if size == 0 else f'truncated ({sum(s for s, _ in sizes)}'
             f' bytes, at least {expected} expected)'))
  if verify_data:
    return data_problem(prefix)
  return None


# Checkpoints whose data was read back and matched its checksums, keyed by
# prefix, with the (size, mtime) of their files when they were read.
_VERIFIED = {}


def _file_stamps(prefix):
  stamps = []
  for path in sorted(glob.glob(glob.escape(prefix) + '.*')):
    try:
      stat = os.stat(path)
    except OSError:
      continue
    stamps.append((path, stat.st_size, stat.st_mtime_ns))
  return tuple(stamps)


def data_problem(prefix):
  """Reads every tensor of `prefix` back; why one fails, or None.

  TensorFlow checks each tensor's bytes against the CRC32C stored in the
  index when it is read, so this finds a data file zeroed or overwritten
  at its full size, which the size check cannot. It costs one read of the
  data: about 20 ms for a 58 MB (14.6M-parameter) checkpoint in the page
  cache. A checkpoint that passed is remembered while its files are
  unchanged, so watching a folder re-reads nothing.
  """
  stamps = _file_stamps(prefix)
  if _VERIFIED.get(prefix) == stamps:
    return None
  try:
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_shape_map())
  except (tf.errors.OpError, ValueError) as e:
    return f'its index file {prefix}.index cannot be read ({_first_line(e)})'
  for name in names:
    try:
      reader.get_tensor(name)
    except (tf.errors.OpError, ValueError) as e:
      return (f'its data does not match the checksums of its index (variable '
              f'{name}: {_first_line(e)})')
  _VERIFIED[prefix] = stamps
  return None


def _first_line(error):
  lines = str(getattr(error, 'message', None) or error).strip().splitlines()
  return lines[0] if lines else type(error).__name__


def intact_checkpoints(directory):
  """`(intact, damaged)` checkpoints of `directory`, newest first.

  `damaged` is `[(prefix, reason)]` (see `checkpoint_problem`).
  """
  intact, damaged = [], []
  for prefix in list_checkpoints(directory):
    reason = checkpoint_problem(prefix)
    if reason is None:
      intact.append(prefix)
    else:
      damaged.append((prefix, reason))
  return intact, damaged


def latest_checkpoint(directory):
  """Returns the newest intact checkpoint prefix in `directory`, or None.

  The newest is the highest step among the checkpoint files, whatever the
  `checkpoint` state file says (it may be missing or stale); the one
  returned has also had its data read back against its checksums
  (`data_problem`). A damaged
  checkpoint newer than the one returned is reported with a warning, once.

  Raises:
    UserInputError: the directory has checkpoints but none is intact.
  """
  intact, damaged = intact_checkpoints(directory)
  while intact:  # The newest whose data also matches its checksums.
    problem = data_problem(intact[0])
    if problem is None:
      break
    damaged.append((intact.pop(0), problem))
  damaged.sort(key=lambda item: _prefix_step(item[0]), reverse=True)
  newest = intact[0] if intact else None
  newer_damaged = [(p, r) for p, r in damaged
                   if newest is None or _prefix_step(p) >= _prefix_step(newest)]
  for prefix, reason in newer_damaged:
    if (prefix, reason) not in _REPORTED_DAMAGE:
      _REPORTED_DAMAGE.add((prefix, reason))
      logging.warning('checkpoint %s is damaged: %s; %s', prefix, reason,
                      f'using {newest}, the newest intact checkpoint'
                      if newest else 'no intact checkpoint is left')
  if newest is None and damaged:
    prefix, reason = damaged[0]
    raise runtime.UserInputError(
        f'checkpoint {prefix} is damaged ({reason}) and {directory} holds no '
        'intact checkpoint to fall back to')
  return newest


def point_state_at(directory, prefix):
  """Rewrites the `checkpoint` state file to name `prefix` as the latest.

  Used before resuming when the state file is missing, stale or names a
  damaged checkpoint: `MonitoredTrainingSession` restores what the state
  file names, and keeps rotating the older intact checkpoints listed.
  Does nothing when the state file already names `prefix`.
  """
  current = tf.train.latest_checkpoint(directory)
  if current and os.path.normpath(current) == os.path.normpath(prefix):
    return False
  intact, _ = intact_checkpoints(directory)
  older = [p for p in reversed(intact)
           if _prefix_step(p) < _prefix_step(prefix)]
  tf.compat.v1.train.update_checkpoint_state(
      directory, os.path.basename(prefix),
      all_model_checkpoint_paths=[os.path.basename(p)
                                  for p in older + [prefix]])
  logging.warning('the checkpoint state file of %s %s; it now names %s',
                  directory, 'was missing' if current is None else
                  f'named {current}', prefix)
  return True


def remove_stale_temp_files(directory):
  """Deletes the `*.tempstate*` files a killed save left in `directory`.

  Call only when no other process writes checkpoints there (training's
  start). Returns the removed paths.
  """
  removed = []
  if not directory or not os.path.isdir(directory):
    return removed
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if '.tempstate' in name and os.path.isfile(path):
      size = os.path.getsize(path)
      try:
        os.remove(path)
      except OSError as e:
        logging.warning('could not remove %s, left by an interrupted save: '
                        '%s', path, e.strerror)
        continue
      logging.info('removed %s (%d bytes), left by an interrupted save',
                   path, size)
      removed.append(path)
  return removed


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
    problem = checkpoint_problem(path, verify_data=True)
    if problem:
      raise runtime.UserInputError(f'{flag}={path}: the checkpoint is damaged '
                                   f'({problem})')
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


GLOBAL_STEP = 'global_step'
_INTEGER_DTYPES = (tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8,
                   tf.uint16, tf.uint32, tf.uint64)
_REPORTED_STEPS = set()


def global_step_name(prefix):
  """The name of the checkpoint's global step, or None when it has none.

  The global step is a scalar integer variable (any integer dtype) called
  `global_step` or ending in `/global_step` (`create_global_step` inside a
  scope, `optimizer/global_step`). With several such variables, the one
  called exactly `global_step` wins; without it, none is taken and a
  warning names them.
  """
  shapes = checkpoint_variables(prefix)
  dtypes = checkpoint_dtypes(prefix)
  found = sorted(
      name for name, shape in shapes.items()
      if (name == GLOBAL_STEP or name.endswith('/' + GLOBAL_STEP))
      and not shape and name in dtypes
      and dtypes[name].base_dtype in _INTEGER_DTYPES)
  if GLOBAL_STEP in found:
    return GLOBAL_STEP
  if len(found) == 1:
    return found[0]
  if len(found) > 1 and (prefix, tuple(found)) not in _REPORTED_STEPS:
    _REPORTED_STEPS.add((prefix, tuple(found)))
    logging.warning('checkpoint %s has several scalar integer variables that '
                    'may be its global step (%s) and none called %s: its '
                    'step is taken as unknown', prefix, ', '.join(found),
                    GLOBAL_STEP)
  return None


def checkpoint_step(prefix, name=None):
  """The checkpoint's global step (any integer dtype), or None without one.

  Args:
    prefix: the checkpoint.
    name: the variable to read; default `global_step_name(prefix)`.
  """
  if name is None:
    name = global_step_name(prefix)
  if name is None or name not in checkpoint_variables(prefix):
    return None
  return int(tf.train.load_variable(prefix, name))


def checkpoint_dtypes(prefix):
  """Returns `{name: tf.DType}` of the variables stored in `prefix`."""
  try:
    return dict(tf.train.load_checkpoint(prefix).get_variable_to_dtype_map())
  except (tf.errors.OpError, ValueError) as e:
    raise runtime.UserInputError(
        f'checkpoint {prefix!r} cannot be read: {getattr(e, "message", e)}'
    ) from None


def parse_name_rules(rules, flag='--checkpoint_var_map'):
  """Parses `REGEX=REPLACEMENT` strings into `[(pattern, replacement, text)]`.

  The split is at the last `=` that is not inside the regular expression's
  own syntax: `REGEX=REPLACEMENT` where REPLACEMENT has no `=`.

  Raises:
    UserInputError: a rule without `=`, a bad regular expression, or a
      replacement referring to a group the expression does not have.
  """
  parsed = []
  for text in rules or ():
    if '=' not in text:
      raise runtime.UserInputError(f'{flag}={text!r}: expected '
                                   'REGEX=REPLACEMENT')
    pattern, replacement = text.rsplit('=', 1)
    try:
      compiled = re.compile(pattern)
    except re.error as e:
      raise runtime.UserInputError(f'{flag}={text!r}: bad regular '
                                   f'expression ({e})') from None
    _check_replacement(compiled, replacement, text, flag)
    parsed.append((compiled, replacement, text))
  return parsed


def _check_replacement(pattern, replacement, text, flag):
  """Refuses a replacement `re.sub` would fail on, before any name is read.

  The replacement is expanded against a match in which every group of the
  expression took part, so a reference to a group it lacks (`\\5` with one
  group, an unknown `\\g<name>`) or a bad escape is found here.
  """
  probe = re.compile(''.join(f'(?P<{name}>)' if name else '()'
                             for name in _group_names(pattern)))
  try:
    probe.match('').expand(replacement)
  except (re.error, IndexError) as e:
    raise runtime.UserInputError(
        f'{flag}={text!r}: bad replacement {replacement!r} ({e}; the '
        f'expression has {pattern.groups} group(s))') from None


def _group_names(pattern):
  """The expression's groups in order: their names, '' when unnamed."""
  names = [''] * pattern.groups
  for name, index in pattern.groupindex.items():
    names[index - 1] = name
  return names


def map_checkpoint_names(stored_names, rules):
  """Applies the rules (re.sub, in order) to a checkpoint's names.

  Args:
    stored_names: the checkpoint's variable names.
    rules: from `parse_name_rules`.

  Returns:
    `{model name: (checkpoint name, rule text or None)}`.

  Raises:
    UserInputError: two checkpoint names become one name (naming both and
      the rule), which would leave the choice between them to chance.

  A rule that renames nothing is named in a warning (once per checkpoint
  and rule): it was most likely meant for other names.
  """
  mapped = {}
  applied = set()
  for stored in sorted(stored_names):
    name, used = stored, None
    for pattern, replacement, text in rules:
      new = pattern.sub(replacement, name)
      if new != name:
        name, used = new, text
        applied.add(text)
    if name in mapped:
      other, other_rule = mapped[name]
      rule = used or other_rule
      raise runtime.UserInputError(
          f'--checkpoint_var_map={rule!r} maps the checkpoint variables '
          f'{other!r} and {stored!r} onto one name, {name!r}: make the rules '
          'tell them apart')
    mapped[name] = (stored, used)
  names = tuple(sorted(stored_names))
  for _, _, text in rules:
    if text not in applied and (names, text) not in _REPORTED_RULES:
      _REPORTED_RULES.add((names, text))
      logging.warning('--checkpoint_var_map=%r renames none of the '
                      'checkpoint\'s %d variables (its names look like %s)',
                      text, len(names), _listing(list(names)))
  return mapped


_REPORTED_RULES = set()


def restore_var_map(prefix, variables=None, use_moving_averages=True,
                    name_rules=(), skip_missing=()):
  """Maps checkpoint names to variables of the current graph.

  A trainable variable comes from its `ExponentialMovingAverage` shadow
  when the checkpoint has one and `use_moving_averages` is set. With
  `name_rules` (`--checkpoint_var_map`), the checkpoint's names are
  rewritten before they are matched.

  Args:
    prefix: the checkpoint.
    variables: the variables to restore (default every global variable).
    use_moving_averages: prefer the shadows.
    name_rules: `REGEX=REPLACEMENT` strings or `parse_name_rules` output.
    skip_missing: variables left out when the checkpoint lacks them (the
      global step of a checkpoint another program wrote).

  Returns:
    `(var_map, used_averages)`: `{checkpoint name: variable}`.
  """
  rules = (name_rules if name_rules and not isinstance(name_rules[0], str)
           else parse_name_rules(name_rules))
  mapped = map_checkpoint_names(checkpoint_variables(prefix), rules)
  if variables is None:
    variables = tf.compat.v1.global_variables()
  trainable = {v.ref() for v in tf.compat.v1.trainable_variables()}
  skip = {v.ref() for v in skip_missing}
  var_map = {}
  used_averages = False
  for variable in variables:
    name = variable.op.name
    shadow = name + AVERAGE_SUFFIX
    if (use_moving_averages and variable.ref() in trainable
        and shadow in mapped):
      var_map[mapped[shadow][0]] = variable
      used_averages = True
    elif name in mapped:
      var_map[mapped[name][0]] = variable
    elif variable.ref() in skip:
      continue
    else:
      var_map[name] = variable  # Reported as missing by check_compatible.
  return var_map, used_averages


def _listing(names, limit=3):
  shown = ', '.join(repr(n) for n in names[:limit])
  return shown + (f' (+{len(names) - limit} more)' if len(names) > limit
                  else '')


def check_compatible(prefix, var_list, what='the model', optional=(),
                     name_rules=()):
  """Checks that checkpoint `prefix` holds every variable of `var_list`.

  Shapes and dtypes are compared (a checkpoint's int32 global step does not
  restore into an int64 one).

  Args:
    prefix: checkpoint prefix.
    var_list: dict `{checkpoint_name: variable}` or a list of variables.
    what: description of the graph for the message.
    optional: variables of `var_list` the checkpoint may lack.
    name_rules: the `--checkpoint_var_map` rules that produced the names
      (named in the message of a mismatch).

  Returns:
    The variables of `optional` that the checkpoint lacks.

  Raises:
    UserInputError: naming the checkpoint and the first mismatch.
  """
  stored = checkpoint_variables(prefix)
  dtypes = checkpoint_dtypes(prefix)
  rules = (name_rules if name_rules and not isinstance(name_rules[0], str)
           else parse_name_rules(name_rules))
  produced_by = {stored_name: rule for stored_name, rule in
                 map_checkpoint_names(stored, rules).values()}
  if isinstance(var_list, dict):
    items = sorted(var_list.items())
  else:
    items = sorted((v.op.name, v) for v in var_list)
  optional = {variable.ref() for variable in optional}
  missing, mismatched, missing_optional = [], [], []
  for name, variable in items:
    shape = tuple(variable.shape.as_list())
    dtype = variable.dtype.base_dtype
    rule = produced_by.get(name)
    via = (f' (named by --checkpoint_var_map={rule!r} for '
           f'{variable.op.name!r})' if rule else '')
    if name not in stored and variable.ref() in optional:
      missing_optional.append(variable)
    elif name not in stored:
      missing.append(name)
    elif stored[name] != shape:
      mismatched.append(f'{name} is {list(stored[name])} in the checkpoint, '
                        f'{list(shape)} in {what}{via}')
    elif name in dtypes and dtypes[name].base_dtype != dtype:
      mismatched.append(f'{name} is {dtypes[name].base_dtype.name} in the '
                        f'checkpoint, {dtype.name} in {what}{via}')
  if mismatched:
    raise runtime.UserInputError(
        f'checkpoint {prefix!r} is from a different model: {mismatched[0]}'
        + (f' (+{len(mismatched) - 1} more)' if len(mismatched) > 1 else ''))
  if missing:
    used = set(var_list) if isinstance(var_list, dict) else {
        n for n, _ in items}
    step = global_step_name(prefix)
    unused = sorted(n for n in stored if n not in used
                    and not n.endswith(AVERAGE_SUFFIX)
                    and n not in (GLOBAL_STEP, step))
    hint = (f'; the checkpoint\'s unmatched variables: {_listing(unused)}'
            ' (rename them with --checkpoint_var_map=REGEX=REPLACEMENT)'
            if unused else '')
    raise runtime.UserInputError(
        f'checkpoint {prefix!r} is from a different model: it has no '
        f'variable {_listing(missing)}{hint}')
  return missing_optional


@dataclasses.dataclass
class ResumePlan:
  """How a run resumes from a checkpoint (see `plan_resume`).

  Attributes:
    var_map: `{checkpoint name: variable}` restored by the Saver.
    fresh_variables: variables the checkpoint lacks; they are initialised.
    global_step_value: the checkpoint's step when its global step cannot be
      restored as it is (another program's int32 one), else None.
  """
  var_map: dict
  fresh_variables: list
  global_step_value: Optional[int] = None

  @property
  def plain(self):
    """True when a plain Saver restores it (a tf1cnn checkpoint)."""
    return (not self.fresh_variables and self.global_step_value is None
            and all(name == v.op.name for name, v in self.var_map.items()))


def plan_resume(prefix, variables, global_step, what, optional=(),
                name_rules=()):
  """Checks a checkpoint to resume against the graph; returns a ResumePlan.

  `optional` variables (the fp16 loss scale) and the global step may be
  missing: they start afresh. A global step of another integer dtype is
  read and assigned. `name_rules` rename the checkpoint's variables
  (`--checkpoint_var_map`).

  Raises:
    UserInputError: a missing or mis-shaped variable (see check_compatible).
  """
  dtypes = checkpoint_dtypes(prefix)
  step_value = None
  optional = [v for v in optional if v.ref() != global_step.ref()]
  others = [v for v in variables if v.ref() != global_step.ref()]
  var_map, _ = restore_var_map(prefix, others, use_moving_averages=False,
                               name_rules=name_rules, skip_missing=optional)
  fresh = check_compatible(prefix, var_map, what=what, optional=optional,
                           name_rules=name_rules)
  fresh_refs = {v.ref() for v in fresh}
  var_map = {k: v for k, v in var_map.items() if v.ref() not in fresh_refs}
  missing = [v for v in optional
             if v.ref() not in {x.ref() for x in var_map.values()}]
  fresh = list({v.ref(): v for v in fresh + missing}.values())
  step_name = global_step.op.name
  if step_name not in dtypes:
    stored_step = global_step_name(prefix)
    if stored_step is None:
      fresh.append(global_step)
    else:  # Another program's step under another name: read and assign.
      step_value = checkpoint_step(prefix, stored_step)
  elif dtypes[step_name].base_dtype != global_step.dtype.base_dtype:
    step_value = checkpoint_step(prefix, step_name)
  else:
    var_map[step_name] = global_step
  return ResumePlan(var_map, fresh, step_value)


class ResumeSaver(tf.compat.v1.train.Saver):
  """Saves every variable; resumes following a `ResumePlan`.

  `restore` restores the plan's `var_map`, initialises its fresh variables
  (an fp32 checkpoint resumed by an fp16 run has no loss-scale variables;
  another program's checkpoint may have no global step) and assigns a
  global step it could only read. The helper ops are built here, before the
  graph is finalised. Saving is the plain `Saver`'s.
  """

  def __init__(self, plan, global_step, **kwargs):
    super().__init__(**kwargs)
    self._restore_saver = tf.compat.v1.train.Saver(
        var_list=plan.var_map, save_relative_paths=True)
    after = [tf.compat.v1.variables_initializer(
        plan.fresh_variables,
        name='initialize_variables_missing_from_checkpoint')]
    if plan.global_step_value is not None:
      after.append(global_step.assign(tf.constant(
          plan.global_step_value, global_step.dtype.base_dtype)))
    self._after_restore = tf.group(*after)

  def restore(self, sess, save_path):
    self._restore_saver.restore(sess, save_path)
    sess.run(self._after_restore)


def write_labels(directory, class_names):
  """Writes labels.txt (atomically).

  Raises:
    UserInputError: the file cannot be written (naming it).
  """
  path = os.path.join(directory, LABELS_FILE)
  try:
    _atomic_write(path, ''.join(f'{name}\n' for name in class_names))
  except OSError as e:
    raise runtime.UserInputError(
        f'cannot write {path}: {e.strerror or e}') from None


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


def inspect(prefix, var_map=None):
  """Describes checkpoint `prefix` and, with `var_map`, what it restores.

  Args:
    prefix: the checkpoint.
    var_map: `{checkpoint name: variable}` as `restore_var_map` makes it
      for evaluation and export (moving-average shadows in place of the raw
      weights, `--checkpoint_var_map` applied); None: the checkpoint alone.

  Returns:
    dict with `stored` (`[{name, shape, dtype, restores, shadow_restored}]`,
    `restores` being the model variable it fills, or None, and
    `shadow_restored` whether its moving average fills that variable
    instead), `unmatched_model` (model variables nothing fills) and
    `mismatched` (`[{name, checkpoint, model}]` with shape/dtype text).
  """
  shapes = checkpoint_variables(prefix)
  dtypes = checkpoint_dtypes(prefix)
  by_stored = {}
  unmatched_model, mismatched = [], []
  for stored, variable in sorted((var_map or {}).items()):
    name = variable.op.name
    if stored not in shapes:
      unmatched_model.append(name)
      continue
    by_stored[stored] = name
    model = (list(variable.shape.as_list()), variable.dtype.base_dtype.name)
    found = (list(shapes[stored]), dtypes[stored].base_dtype.name)
    if model != found:
      mismatched.append(dict(name=name, checkpoint=f'{found[0]} {found[1]}',
                             model=f'{model[0]} {model[1]}'))
  stored = [dict(name=n, shape=list(shapes[n]),
                 dtype=dtypes[n].base_dtype.name, restores=by_stored.get(n),
                 shadow_restored=n + AVERAGE_SUFFIX in by_stored)
            for n in sorted(shapes)]
  return dict(stored=stored, unmatched_model=sorted(unmatched_model),
              mismatched=mismatched)
