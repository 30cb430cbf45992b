"""Slim's variable helpers: model variables, lookup by scope, restoring.

* `variable` / `model_variable` create variables with
  `tf.compat.v1.get_variable` (so variable scopes, `reuse` and custom getters
  apply); model variables are also put in `GraphKeys.MODEL_VARIABLES`, which
  is what Slim layers use for every weight and batch-norm statistic. Both are
  `add_arg_scope` functions (`arg_scope([model_variable], device='/cpu:0')`).
* `get_variables(scope, suffix, collection)` and its shorthands filter a
  collection with Slim's regular-expression rules;
  `get_variables_to_restore(include, exclude)` selects by scope prefixes.
* `assign_from_checkpoint_fn(path, var_list)` returns `fn(session)` that
  restores with a `Saver`; `assign_from_values_fn` does the same from numpy.
"""

import re

from absl import logging
import numpy as np
import tensorflow as tf

from tf1cnn.compat.slim.ops.arg_scope import add_arg_scope

_V1 = tf.compat.v1
_KEYS = _V1.GraphKeys

__all__ = [
    'add_model_variable', 'assert_global_step', 'assert_or_get_global_step',
    'assign_from_checkpoint', 'assign_from_checkpoint_fn', 'assign_from_values',
    'assign_from_values_fn', 'create_global_step', 'filter_variables',
    'get_global_step', 'get_local_variables', 'get_model_variables',
    'get_or_create_global_step', 'get_trainable_variables',
    'get_unique_variable', 'get_variable_full_name', 'get_variables',
    'get_variables_by_name', 'get_variables_by_suffix',
    'get_variables_to_restore', 'global_variable', 'local_variable',
    'model_variable', 'variable', 'VARIABLES_TO_RESTORE',
]

VARIABLES_TO_RESTORE = '_variables_to_restore_'


def assert_global_step(global_step_tensor):
  """Checks that `global_step_tensor` is a scalar integer variable or tensor."""
  _V1.train.assert_global_step(global_step_tensor)


def assert_or_get_global_step(graph=None, global_step_tensor=None):
  """Checks `global_step_tensor`, or returns the graph's global step."""
  if global_step_tensor is None:
    return get_global_step(graph)
  assert_global_step(global_step_tensor)
  return global_step_tensor


def get_global_step(graph=None):
  """The graph's global step variable, or None."""
  return _V1.train.get_global_step(graph)


def create_global_step(graph=None):
  """Creates the graph's global step variable (it must not exist)."""
  return _V1.train.create_global_step(graph)


def get_or_create_global_step(graph=None):
  """The graph's global step variable, created when missing."""
  return _V1.train.get_or_create_global_step(graph)


def _untrained_variable(collection, initial_value, validate_shape, name,
                        use_resource):
  """A non-trainable `tf.compat.v1.Variable` in `collection` only."""
  return _V1.Variable(initial_value, trainable=False, collections=[collection],
                      validate_shape=validate_shape, name=name,
                      use_resource=use_resource)


def local_variable(initial_value, validate_shape=True, name=None,
                   use_resource=None):
  """A non-trainable variable in `LOCAL_VARIABLES` only."""
  return _untrained_variable(_KEYS.LOCAL_VARIABLES, initial_value,
                             validate_shape, name, use_resource)


def global_variable(initial_value, validate_shape=True, name=None,
                    use_resource=None):
  """A non-trainable variable in `GLOBAL_VARIABLES` only."""
  return _untrained_variable(_KEYS.GLOBAL_VARIABLES, initial_value,
                             validate_shape, name, use_resource)


@add_arg_scope
def variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
             trainable=True, collections=None, caching_device=None,
             device=None, partitioner=None, custom_getter=None,
             use_resource=None,
             synchronization=tf.VariableSynchronization.AUTO,
             aggregation=tf.VariableAggregation.NONE):
  """Gets or creates a variable through `tf.compat.v1.get_variable`.

  Args:
    name: the variable's name in the current variable scope.
    shape: its shape.
    dtype: its dtype.
    initializer: initializer for a new variable.
    regularizer: `fn(variable) -> loss`; the loss of a new variable goes to
      `REGULARIZATION_LOSSES`.
    trainable: also add it to `TRAINABLE_VARIABLES`.
    collections: collections to add it to; default `[GLOBAL_VARIABLES]`.
    caching_device: passed to get_variable.
    device: device to place the variable on ('' for the current one).
    partitioner: passed to get_variable.
    custom_getter: a getter `fn(name, ..., reuse=)` used instead of
      get_variable; it receives `get_variable`'s keyword arguments.
    use_resource: passed to get_variable.
    synchronization: passed to get_variable.
    aggregation: passed to get_variable.

  Returns:
    The variable.
  """
  if collections is None:
    collections = [_KEYS.GLOBAL_VARIABLES]
  collections = list(dict.fromkeys(collections))
  kwargs = dict(shape=shape, dtype=dtype, initializer=initializer,
                regularizer=regularizer, trainable=trainable,
                collections=collections, caching_device=caching_device,
                partitioner=partitioner, use_resource=use_resource,
                synchronization=synchronization, aggregation=aggregation)
  with tf.device(device or ''):
    if custom_getter is not None:
      return custom_getter(name, reuse=_V1.get_variable_scope().reuse,
                           **kwargs)
    return _V1.get_variable(name, **kwargs)


@add_arg_scope
def model_variable(name, shape=None, dtype=tf.float32, initializer=None,
                   regularizer=None, trainable=True, collections=None,
                   caching_device=None, device=None, partitioner=None,
                   custom_getter=None, use_resource=None,
                   synchronization=tf.VariableSynchronization.AUTO,
                   aggregation=tf.VariableAggregation.NONE):
  """Like `variable`, and also in `GLOBAL_VARIABLES` and `MODEL_VARIABLES`.

  Args: see `variable`; `collections` are added to, not replaced.

  Returns:
    The variable.
  """
  collections = list(collections or [])
  collections += [_KEYS.GLOBAL_VARIABLES, _KEYS.MODEL_VARIABLES]
  return variable(name, shape=shape, dtype=dtype, initializer=initializer,
                  regularizer=regularizer, trainable=trainable,
                  collections=collections, caching_device=caching_device,
                  device=device, partitioner=partitioner,
                  custom_getter=custom_getter, use_resource=use_resource,
                  synchronization=synchronization, aggregation=aggregation)


def add_model_variable(var):
  """Adds `var` to `MODEL_VARIABLES` unless it is there already."""
  if var not in _V1.get_collection(_KEYS.MODEL_VARIABLES):
    _V1.add_to_collection(_KEYS.MODEL_VARIABLES, var)


def get_variables(scope=None, suffix=None, collection=_KEYS.GLOBAL_VARIABLES):
  """The variables of `collection` whose names match `scope` and `suffix`.

  Args:
    scope: a variable scope or a name prefix (a regular expression matched
      at the start of the name, as collections filter).
    suffix: the name must contain `.*<suffix>:` after the scope.
    collection: the collection to search.

  Returns:
    A list of variables, in collection order.
  """
  if isinstance(scope, _V1.VariableScope):
    scope = scope.name
  if suffix is not None:
    if ':' not in suffix:
      suffix += ':'
    scope = (scope or '') + '.*' + suffix
  return _V1.get_collection(collection, scope)


def get_model_variables(scope=None, suffix=None):
  """`get_variables` over `MODEL_VARIABLES`."""
  return get_variables(scope, suffix, _KEYS.MODEL_VARIABLES)


def get_local_variables(scope=None, suffix=None):
  """`get_variables` over `LOCAL_VARIABLES`."""
  return get_variables(scope, suffix, _KEYS.LOCAL_VARIABLES)


def get_trainable_variables(scope=None, suffix=None):
  """`get_variables` over `TRAINABLE_VARIABLES`."""
  return get_variables(scope, suffix, _KEYS.TRAINABLE_VARIABLES)


def get_variables_to_restore(include=None, exclude=None):
  """Global variables under the `include` scopes and not under `exclude`.

  Args:
    include: list or tuple of scope prefixes; None selects every variable.
    exclude: list or tuple of scope prefixes to leave out.

  Returns:
    A list of variables, in collection order.

  Raises:
    TypeError: include or exclude is given but is not a list or tuple.
  """
  if include is None:
    selected = get_variables()
  else:
    if not isinstance(include, (list, tuple)):
      raise TypeError('include is provided but is not a list or a tuple.')
    selected = []
    for scope in include:
      selected += get_variables(scope)
  excluded = set()
  if exclude is not None:
    if not isinstance(exclude, (list, tuple)):
      raise TypeError('exclude is provided but is not a list or a tuple.')
    for scope in exclude:
      excluded.update(get_variables(scope))
  return [v for v in selected if v not in excluded]


def get_variables_by_suffix(suffix, scope=None):
  """Variables whose names end in `suffix`."""
  return get_variables(scope=scope, suffix=suffix)


def get_variables_by_name(given_name, scope=None):
  """Variables whose last name component is `given_name`."""
  suffix = '/' + given_name + ':|^' + given_name + ':'
  return get_variables(scope=scope, suffix=suffix)


def get_unique_variable(var_op_name):
  """The variable whose op name is exactly `var_op_name`.

  Raises:
    ValueError: no variable, or none with exactly that name.
  """
  candidates = get_variables(scope=var_op_name)
  if not candidates:
    raise ValueError(f"Couldn't find variable {var_op_name}")
  for candidate in candidates:
    if candidate.op.name == var_op_name:
      return candidate
  raise ValueError(f'Variable {var_op_name} does not uniquely identify a '
                   'variable')


def get_variable_full_name(var):
  """The checkpoint name of `var` (the full name for a partitioned slice)."""
  slice_info = getattr(var, '_save_slice_info', None)
  if slice_info:
    return slice_info.full_name
  return var.op.name


def filter_variables(var_list, include_patterns=None, exclude_patterns=None,
                     reg_search=True):
  """Variables whose names match any include and no exclude pattern.

  Args:
    var_list: the variables.
    include_patterns: regular expressions (or substrings with
      `reg_search=False`); None keeps every variable.
    exclude_patterns: patterns that drop a variable.
    reg_search: use `re.search` (True) or substring tests (False).

  Returns:
    The filtered list.
  """
  def _matches(name, pattern):
    return re.search(pattern, name) if reg_search else pattern in name

  result = []
  for var in var_list:
    name = var.op.name
    if include_patterns is not None and not any(
        _matches(name, p) for p in include_patterns):
      continue
    if exclude_patterns and any(_matches(name, p) for p in exclude_patterns):
      continue
    result.append(var)
  return result


def _variables_by_name(var_list):
  if isinstance(var_list, dict):
    return dict(var_list)
  return {get_variable_full_name(v): v for v in var_list}


def assign_from_values(var_names_to_values):
  """An assign op and its feed dict that set variables to numpy values.

  Args:
    var_names_to_values: dict of variable op name -> value.

  Returns:
    `(assign_op, feed_dict)`; run `session.run(assign_op, feed_dict)`.

  Raises:
    ValueError: a name matches no variable.
  """
  assign_ops = []
  feed_dict = {}
  for name in sorted(var_names_to_values):
    value = np.asarray(var_names_to_values[name])
    var = get_variables(name)
    if not var:
      raise ValueError(f'Variable {name} wasn\'t found')
    var = [v for v in var if v.op.name == name] or var
    if len(var) > 1:
      raise ValueError(f'Variable {name} doesn\'t uniquely identify a '
                       'variable')
    var = var[0]
    placeholder = _V1.placeholder(var.dtype.base_dtype, shape=var.get_shape(),
                                  name='placeholder/' + var.op.name)
    assign_ops.append(var.assign(placeholder))
    feed_dict[placeholder] = value.reshape(var.get_shape().as_list())
  return tf.group(*assign_ops), feed_dict


def assign_from_values_fn(var_names_to_values):
  """`fn(session)` that sets variables to numpy values (see assign_from_values)."""
  assign_op, feed_dict = assign_from_values(var_names_to_values)

  def callback(session):
    return session.run(assign_op, feed_dict)

  return callback


def assign_from_checkpoint(model_path, var_list, ignore_missing_vars=False):
  """An assign op and feed dict that load `var_list` from a checkpoint.

  Args:
    model_path: checkpoint prefix.
    var_list: list of variables (matched by checkpoint name) or a dict
      checkpoint name -> variable.
    ignore_missing_vars: skip variables the checkpoint lacks instead of failing.

  Returns:
    `(assign_op, feed_dict)`.

  Raises:
    ValueError: a variable is missing (and not ignored) or its shape differs.
  """
  reader = _V1.train.NewCheckpointReader(model_path)
  assign_ops = []
  feed_dict = {}
  for ckpt_name, var in _variables_by_name(var_list).items():
    if not reader.has_tensor(ckpt_name):
      if ignore_missing_vars:
        logging.warning('Variable %s missing in checkpoint %s', ckpt_name,
                        model_path)
        continue
      raise ValueError(f'Tensor {ckpt_name} is not found in {model_path} '
                       'checkpoint')
    value = reader.get_tensor(ckpt_name)
    if not var.get_shape().is_compatible_with(value.shape):
      raise ValueError(f'Total size of new array must be unchanged for '
                       f'{ckpt_name} lh_shape: [{var.get_shape()}], '
                       f'rh_shape: [{value.shape}]')
    placeholder = _V1.placeholder(var.dtype.base_dtype, shape=var.get_shape(),
                                  name='placeholder/' + var.op.name)
    assign_ops.append(var.assign(placeholder))
    feed_dict[placeholder] = value
  return tf.group(*assign_ops), feed_dict


def assign_from_checkpoint_fn(model_path, var_list, ignore_missing_vars=False,
                              reshape_variables=False):
  """`fn(session)` that restores `var_list` from a checkpoint with a Saver.

  Args:
    model_path: checkpoint prefix.
    var_list: list of variables or a dict checkpoint name -> variable.
    ignore_missing_vars: drop variables the checkpoint lacks (with a warning).
    reshape_variables: let the Saver restore tensors of another shape with
      the same number of elements.

  Returns:
    The function, or None (with a warning) when nothing is left to restore.

  Raises:
    ValueError: var_list is empty.
  """
  if not var_list:
    raise ValueError('var_list cannot be empty')
  if ignore_missing_vars:
    reader = _V1.train.NewCheckpointReader(model_path)
    available = {}
    for name, var in _variables_by_name(var_list).items():
      if reader.has_tensor(name):
        available[name] = var
      else:
        logging.warning('Variable %s missing in checkpoint %s', name,
                        model_path)
    var_list = available
  if not var_list:
    logging.warning('No Variables to restore')
    return None
  saver = _V1.train.Saver(var_list, reshape=reshape_variables)

  def callback(session):
    saver.restore(session, model_path)

  return callback
