"""Helpers shared by the Slim layers: output aliases, static conditions, dims.

The names match `tf_slim.layers.utils`:

* `collect_named_outputs(collections, alias, outputs)` adds `outputs` to
  `collections` (when any are given) and records `alias` on the tensor, so that
  `convert_collection_to_dict(collection)` can rebuild Slim's `end_points`
  dictionary keyed by layer scope;
* `constant_value`, `static_cond`, `smart_cond` pick a branch at graph-build
  time when the predicate is a Python bool or a constant tensor, and build a
  `tf.cond` otherwise (an `is_training` placeholder);
* `last_dimension`, `channel_dimension`, `two_element_tuple`,
  `n_positive_integers` check static shapes and layer arguments.
"""

import collections as _collections

import tensorflow as tf

_V1 = tf.compat.v1

__all__ = [
    'append_tensor_alias', 'channel_dimension', 'collect_named_outputs',
    'constant_value', 'convert_collection_to_dict', 'first_dimension',
    'gather_tensors_aliases', 'get_tensor_aliases', 'get_variable_collections',
    'last_dimension', 'n_positive_integers', 'smart_cond', 'static_cond',
    'two_element_tuple',
]


def collect_named_outputs(collections, alias, outputs):
  """Adds `outputs` to each of `collections` under the name `alias`.

  Args:
    collections: a collection name, a list of names, or None (nothing is added).
    alias: the end-point name, usually the layer's scope name; a trailing `/`
      (a name scope) is dropped.
    outputs: the tensor to record.

  Returns:
    `outputs`, unchanged.
  """
  if collections:
    append_tensor_alias(outputs, alias)
    _V1.add_to_collections(collections, outputs)
  return outputs


def append_tensor_alias(tensor, alias):
  """Adds `alias` to `tensor.aliases` (a list attribute created when missing)."""
  if alias.endswith('/'):
    alias = alias[:-1]
  aliases = getattr(tensor, 'aliases', None)
  if aliases is None:
    tensor.aliases = [alias]
  else:
    aliases.append(alias)
  return tensor


def get_tensor_aliases(tensor):
  """The aliases of `tensor`, or its op-level name when it has none."""
  aliases = getattr(tensor, 'aliases', None)
  if aliases is not None:
    return aliases
  name = tensor.name
  return [name[:-2]] if name.endswith(':0') else [name]


def gather_tensors_aliases(tensors):
  """All aliases of a list of tensors, in order."""
  result = []
  for tensor in tensors:
    result.extend(get_tensor_aliases(tensor))
  return result


def convert_collection_to_dict(collection, clear_collection=False):
  """An OrderedDict alias -> tensor over a graph collection.

  Args:
    collection: the collection name (e.g. a net's `end_points_collection`).
    clear_collection: also empty the collection afterwards.

  Returns:
    The OrderedDict, in collection order; a tensor with several aliases
    appears once per alias.
  """
  result = _collections.OrderedDict()
  for tensor in _V1.get_collection(collection):
    for alias in get_tensor_aliases(tensor):
      result[alias] = tensor
  if clear_collection:
    _V1.get_default_graph().clear_collection(collection)
  return result


def constant_value(value_or_tensor_or_var, dtype=None):
  """The static value of a Python value or tensor, or None when unknown.

  Variables never have a static value.

  Args:
    value_or_tensor_or_var: a Python value, a `Tensor` or a `Variable`.
    dtype: optional dtype a tensor or variable must have.

  Raises:
    ValueError: the value is None, or the dtype does not match.
  """
  value = value_or_tensor_or_var
  if value is None:
    raise ValueError('value_or_tensor_or_var cannot be None')
  if isinstance(value, tf.Variable):
    if dtype and value.dtype.base_dtype != dtype:
      raise ValueError(f'It has the wrong type {value.dtype} instead of {dtype}')
    return None
  if isinstance(value, tf.Tensor):
    if dtype and value.dtype != dtype:
      raise ValueError(f'It has the wrong type {value.dtype} instead of {dtype}')
    return tf.get_static_value(value)
  return value


def static_cond(pred, fn1, fn2):
  """Calls `fn1()` if the Python bool `pred` is true, else `fn2()`."""
  if not callable(fn1):
    raise TypeError('fn1 must be callable.')
  if not callable(fn2):
    raise TypeError('fn2 must be callable.')
  return fn1() if pred else fn2()


def smart_cond(pred, fn1, fn2, name=None):
  """`static_cond` when `pred` has a static value, else `tf.cond`."""
  value = constant_value(pred)
  if value is not None:
    return static_cond(value, fn1, fn2)
  return tf.cond(pred, fn1, fn2, name=name)


def get_variable_collections(variables_collections, name):
  """The collections for variable `name`: a dict is looked up, a list kept."""
  if isinstance(variables_collections, dict):
    return variables_collections.get(name, None)
  return variables_collections


def _dimension(shape, index, min_rank):
  dims = tf.TensorShape(shape).dims
  if dims is None:
    raise ValueError('dims of shape must be known but is None')
  if len(dims) < min_rank:
    raise ValueError(f'rank of shape must be at least {min_rank} not: '
                     f'{len(dims)}')
  value = tf.compat.dimension_value(dims[index])
  if value is None:
    raise ValueError(f'dimension {index} of shape must be known but is None: '
                     f'{shape}')
  return value


def last_dimension(shape, min_rank=1):
  """The static size of the last dimension of `shape` (must be known)."""
  return _dimension(shape, -1, min_rank)


def first_dimension(shape, min_rank=1):
  """The static size of the first dimension of `shape` (must be known)."""
  return _dimension(shape, 0, min_rank)


def channel_dimension(shape, data_format, min_rank=1):
  """The channel count: dimension 1 for 'channels_first', else the last."""
  index = 1 if data_format == 'channels_first' else -1
  return _dimension(shape, index, min_rank)


def two_element_tuple(int_or_tuple):
  """An int, a 2-list/tuple or a 2-long TensorShape as a pair.

  Raises:
    ValueError: anything else.
  """
  if isinstance(int_or_tuple, (list, tuple)):
    if len(int_or_tuple) != 2:
      raise ValueError(f'Must be a list with 2 elements: {int_or_tuple}')
    return int(int_or_tuple[0]), int(int_or_tuple[1])
  if isinstance(int_or_tuple, int):
    return int(int_or_tuple), int(int_or_tuple)
  if isinstance(int_or_tuple, tf.TensorShape) and len(int_or_tuple) == 2:
    return int_or_tuple[0], int_or_tuple[1]
  raise ValueError('Must be an int, a list with 2 elements or a TensorShape of '
                   'length 2')


def n_positive_integers(n, value):
  """`value` (an int or a length-n sequence) as a tuple of n positive ints.

  Raises:
    ValueError: n is not a positive integer, or value has the wrong length or
      a value below 1.
  """
  if int(n) != n or n < 1:
    raise ValueError('n must be a positive integer')
  n = int(n)
  if isinstance(value, (list, tuple, tf.TensorShape)):
    if len(value) != n:
      raise ValueError(f'Expected sequence of {n} positive integers, but '
                       f'received {value!r}')
    try:
      values = tuple(int(v) for v in value)
    except (TypeError, ValueError) as e:
      raise ValueError(f'Expected sequence of {n} positive integers, but '
                       f'received {value!r}') from e
  else:
    values = (int(value),) * n
  for v in values:
    if v < 1:
      raise ValueError(f'expected positive integer, but received {v}')
  return values
