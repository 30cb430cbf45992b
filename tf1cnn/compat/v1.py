"""A TF 1.x drop-in for TensorFlow 2.21: `import tf1cnn.compat.v1 as tf`.

Every name of `tensorflow.compat.v1` is forwarded to it (`tf.nn`,
`tf.placeholder`, `tf.train`, `tf.Session`, `tf.app.flags`, `tf.app.run`,
`tf.disable_v2_behavior`, ...). On top of it this module adds what TF 1.15
code used and TensorFlow 2.21 no longer has without Keras:

* `tf.layers`: `tf1cnn.compat.tf_layers`, TF 1.15's layers on `tf.nn`
  (same signatures, variable names, collections and reuse);
* `tf.contrib`: `tf1cnn.compat.contrib` (`tf.contrib.slim`,
  `tf.contrib.layers`, `tf.contrib.framework`, backed by
  `tf1cnn.compat.slim`);
* `tf.compat.v1` (this module again) and `tf.compat.v2`;
* `tf.app.flags.FLAGS` / `tf.flags.FLAGS` that parse `sys.argv` on the first
  read of a flag, as TF 1.x's did (absl's own FLAGS refuses reads before
  `tf.app.run` has parsed them);
* `tf.estimator`: `tf1cnn.compat.estimator`, imported on first access.

Importing this module changes nothing in the process (no tf1cnn module has
import-time side effects). TF 1.x code switches to TF 1.x behaviour the way
TF 1.x code ported to TensorFlow 2 does, with `tf.disable_v2_behavior()`
right after the import (graph mode, `tf.Dimension` shapes with `.value`,
reference variables, v1 control flow: queue input pipelines and
`shape[1].value` then work as written); `tf1cnn-run script.py` does it for
an unmodified script (`use_tf1_behaviour`):

    import tf1cnn.compat.v1 as tf
    tf.disable_v2_behavior()
    x = tf.placeholder(tf.float32, [None, 28, 28, 1])
    net = tf.layers.conv2d(x, 32, 5, activation=tf.nn.relu)

Nothing here imports Keras, tf_keras or tf_slim. A name found neither here
nor in `tensorflow.compat.v1` (e.g. `tf.contrib.learn`,
`tf.layers.InputSpec`, or a misspelt `tf.layres`) raises
`tf1cnn.compat.missing.NotProvidedError`, an AttributeError naming the TF 1.x
symbol (with the closest real names for a misspelling), at the attribute
access.
"""

# Private names: everything public in this module is TF 1.x API.
import importlib as _importlib
import sys as _sys
import types as _types

import tensorflow as _tf

from tf1cnn.compat import contrib
from tf1cnn.compat import missing as _missing
from tf1cnn.compat import tf_layers as layers

_TF1 = _tf.compat.v1

__version__ = _tf.__version__

_ESTIMATOR_MODULE = 'tf1cnn.compat.estimator'

_HINTS = {
    'estimator': f'TensorFlow 2.16 removed tf.estimator and {_ESTIMATOR_MODULE} '
                 'is not in this installation; write the training loop with '
                 'tf.train and a Session',
}

# Names defined here, in front of tensorflow.compat.v1's.
_OWN = ('layers', 'contrib', 'compat', 'estimator', 'app', 'flags',
        'use_tf1_behaviour')


def _estimator():
  """tf1cnn.compat.estimator, or NotProvidedError for tf.estimator."""
  try:
    return _importlib.import_module(_ESTIMATOR_MODULE)
  except ModuleNotFoundError as e:
    if e.name != _ESTIMATOR_MODULE:
      raise
    raise _missing.not_provided('tf.estimator', _HINTS['estimator']) from None


class _Compat(_types.ModuleType):
  """`tf.compat`: `v1` is this drop-in, the rest is TensorFlow's tf.compat."""

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    if name == 'v1':
      return _sys.modules[__name__]
    if name == 'v2':
      return _tf.compat.v2
    try:
      return getattr(_TF1.compat, name)
    except AttributeError:
      raise _missing.not_provided(f'tf.compat.{name}') from None

  def __dir__(self):
    return sorted(set(dir(_TF1.compat)) | {'v1', 'v2'})


compat = _Compat('tf1cnn.compat.v1.compat',
                 'tf.compat: v1 is tf1cnn.compat.v1, v2 and the helpers '
                 '(as_bytes, as_text, ...) are TensorFlow\'s.')


class _FlagsParsedOnFirstRead:
  """TF 1.x's `tf.app.flags.FLAGS`: reading a flag parses `sys.argv` first.

  TF 1.x scripts read `FLAGS.x` without `tf.app.run` (at import, or from a
  plain `main()`); absl's FLAGS refuses a read before parsing. This wrapper
  of absl's FLAGS parses `sys.argv` (known flags only, as TF 1.x did) on the
  first read of a defined flag; everything else is absl's FLAGS itself.
  """

  def __init__(self, flag_values):
    object.__setattr__(self, '_flag_values', flag_values)

  def __getattr__(self, name):
    values = self._flag_values
    if (not name.startswith('__') and name in values and
        not values.is_parsed()):
      values(_sys.argv, known_only=True)
    return getattr(values, name)

  def __setattr__(self, name, value):
    setattr(self._flag_values, name, value)

  def __delattr__(self, name):
    delattr(self._flag_values, name)

  def __call__(self, *args, **kwargs):
    return self._flag_values(*args, **kwargs)

  def __contains__(self, name):
    return name in self._flag_values

  def __iter__(self):
    return iter(self._flag_values)

  def __len__(self):
    return len(self._flag_values)

  def __getitem__(self, name):
    return self._flag_values[name]

  def __setitem__(self, name, flag):
    self._flag_values[name] = flag

  def __dir__(self):
    return dir(self._flag_values)

  def __str__(self):
    return str(self._flag_values)


class _Flags(_types.ModuleType):
  """`tf.flags` / `tf.app.flags`: absl.flags with TF 1.x's FLAGS."""

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    try:
      return getattr(_TF1.flags, name)
    except AttributeError:
      raise _missing.not_provided(f'tf.flags.{name}') from None

  def __dir__(self):
    return sorted(set(dir(_TF1.flags)) | {'FLAGS'})


class _App(_types.ModuleType):
  """`tf.app`: TensorFlow's `run`, and `flags` with TF 1.x's FLAGS."""

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    try:
      return getattr(_TF1.app, name)
    except AttributeError:
      raise _missing.not_provided(f'tf.app.{name}') from None

  def __dir__(self):
    return sorted(set(dir(_TF1.app)) | {'flags'})


flags = _Flags('tf1cnn.compat.v1.flags',
               'tf.flags: absl.flags; FLAGS parses sys.argv on its first read.')
flags.FLAGS = _FlagsParsedOnFirstRead(_TF1.flags.FLAGS)
app = _App('tf1cnn.compat.v1.app', 'tf.app: run and flags.')
app.flags = flags


def __getattr__(name):
  if name.startswith('__'):
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  if name == 'estimator':
    return _estimator()
  try:
    return getattr(_TF1, name)
  except AttributeError:
    raise _missing.not_provided(f'tf.{name}', _HINTS.get(name),
                                available=_OWN) from None


def __dir__():
  return sorted(set(dir(_TF1)) | set(_OWN) | {'__version__'})


def use_tf1_behaviour():
  """Switches the process to TF 1.x behaviour, as `import tensorflow` gave it.

  `tf.compat.v1.disable_v2_behavior()` (graph mode, `tf.Dimension` shapes
  with `.value`, reference variables, v1 control flow) without its
  deprecation notice; idempotent. `tf.disable_v2_behavior()` does the same
  with the notice. `tf1cnn-run` calls it before a script starts.
  """
  logger = _tf.get_logger()
  level = logger.level
  logger.setLevel('ERROR')
  try:
    _TF1.disable_v2_behavior()
  finally:
    logger.setLevel(level)
