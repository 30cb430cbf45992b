"""TF 1.x `tf.contrib` for `tf1cnn.compat.v1`: slim, layers and framework.

Only the parts of `tf.contrib` that convolutional-network code used are here,
all backed by `tf1cnn.compat.slim` (imported on first use, so this module
loads without it):

* `tf.contrib.slim` and `tf.contrib.layers`: the slim module itself
  (`tf.contrib.layers.xavier_initializer`, `l2_regularizer`, `conv2d`, ...);
* `tf.contrib.framework`: slim's names (`arg_scope`, `add_arg_scope`,
  `get_variables_to_restore`, `assign_from_checkpoint_fn`, ...) plus
  `get_global_step`, `get_or_create_global_step`, `list_variables` and
  `load_variable` from `tf.compat.v1.train`.

Any other `tf.contrib.<name>` (`learn`, `rnn`, `estimator`, ...) raises
`missing.NotProvidedError` naming it.
"""

import importlib
import types

import tensorflow as tf

from tf1cnn.compat import missing

_SLIM_MODULE = 'tf1cnn.compat.slim'

_FROM_TRAIN = ('get_global_step', 'get_or_create_global_step',
               'list_variables', 'load_variable')

_HINTS = {
    'learn': 'write the training loop with tf.train and a Session',
    'estimator': 'write the training loop with tf.train and a Session',
    'rnn': 'tf1cnn covers convolutional networks only',
    'keras': 'tf1cnn never imports Keras',
}


def _slim(symbol):
  """Imports tf1cnn.compat.slim; NotProvidedError for `symbol` if it is absent."""
  try:
    return importlib.import_module(_SLIM_MODULE)
  except ModuleNotFoundError as e:
    if e.name != _SLIM_MODULE:
      raise
    raise missing.not_provided(
        symbol, f'it needs {_SLIM_MODULE}, which this checkout lacks') from e


class _Framework(types.ModuleType):
  """`tf.contrib.framework`: slim's arg scopes and variable helpers."""

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    if name in _FROM_TRAIN:
      return getattr(tf.compat.v1.train, name)
    symbol = f'tf.contrib.framework.{name}'
    value = getattr(_slim(symbol), name, None)
    if value is None:
      raise missing.not_provided(symbol)
    return value

  def __dir__(self):
    return sorted(set(_FROM_TRAIN) | {'arg_scope', 'add_arg_scope',
                                      'get_variables_to_restore',
                                      'assign_from_checkpoint_fn'})


framework = _Framework(
    'tf1cnn.compat.contrib.framework',
    'tf.contrib.framework: arg_scope, add_arg_scope, get_variables_to_restore, '
    'assign_from_checkpoint_fn (from tf1cnn.compat.slim) and the global-step '
    'helpers of tf.compat.v1.train.')


def __getattr__(name):
  if name.startswith('__'):
    raise AttributeError(name)
  if name in ('slim', 'layers'):
    return _slim(f'tf.contrib.{name}')
  raise missing.not_provided(f'tf.contrib.{name}', _HINTS.get(name))


def __dir__():
  return sorted(set(globals()) | {'slim', 'layers'})
