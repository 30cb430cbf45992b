"""Runs a TF 1.x program on the real libraries: the parity suite's original.

    python tests/parity_original.py PROGRAM.py [program flags ...]

TensorFlow 2.21 has no `tensorflow.contrib`, and its `import tensorflow as
tf` is TF2. This runner executes the unmodified program file with its
`import tensorflow` answered by the real `tf.compat.v1` (graph mode), its
`tf.layers` by the real Keras-2 `tf.compat.v1.layers`, `tf.contrib.layers`
and `tf.contrib.slim` (and `tensorflow.contrib.layers.python.layers`) by the
real TF-Slim package, which is the TF 1.15 contrib code moved to its modern
name, and `tf_slim` by itself (all loaded by `reference_libs`). Only the
program's own import statements are redirected (through its module's
`__import__`); TensorFlow and TF-Slim import each other as usual.
`import tensorflow.compat.v1` gets the real module unchanged.

TF-Slim 1.1's `utils.constant_value` (reached by `batch_norm` with
`updates_collections=None`) looks up `ops.Tensor`, which TensorFlow 2.21
moved to `tensorflow.python.framework.tensor`; the runner gives the old name
back (the class itself, `tf.Tensor`) so that the real code runs unchanged.
"""

import builtins
import os
import runpy
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reference_libs  # pylint: disable=g-import-not-at-top,wrong-import-position

_TF_SLIM = reference_libs.real_tf_slim()
_TF_LAYERS = reference_libs.real_tf_layers()
import tensorflow as _REAL_TF  # pylint: disable=g-import-not-at-top,wrong-import-position
from tf_slim.layers import layers as _SLIM_LAYERS  # pylint: disable=g-import-not-at-top,wrong-import-position

from tensorflow.python.framework import ops as _tf_ops  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import,wrong-import-position

_V1 = _REAL_TF.compat.v1
_V1.disable_v2_behavior()
if not hasattr(_tf_ops, 'Tensor'):
  _tf_ops.Tensor = _REAL_TF.Tensor


def _contrib_layers():
  """TF 1.15's `tf.contrib.layers`: Slim's layers, initializers, regularizers."""
  module = types.ModuleType('tensorflow.contrib.layers')
  for name in dir(_TF_SLIM):
    if not name.startswith('_'):
      setattr(module, name, getattr(_TF_SLIM, name))
  python = types.ModuleType('tensorflow.contrib.layers.python')
  python.layers = _SLIM_LAYERS
  module.python = python
  return module


class _TF1(types.ModuleType):
  """`tensorflow` as a TF 1.x program sees it: the real `tf.compat.v1`."""

  def __getattr__(self, name):
    return getattr(_V1, name)


_CONTRIB = types.ModuleType('tensorflow.contrib')
_CONTRIB.layers = _contrib_layers()
_CONTRIB.slim = _TF_SLIM
_TF = _TF1('tensorflow')
_TF.contrib = _CONTRIB
_TF.layers = _TF_LAYERS
_TF.compat = _REAL_TF.compat

_FROM = {
    'tensorflow': _TF,
    'tensorflow.contrib': _CONTRIB,
    'tensorflow.contrib.layers': _CONTRIB.layers,
    'tensorflow.contrib.layers.python.layers': _SLIM_LAYERS,
    'tensorflow.contrib.slim': _TF_SLIM,
}


def _import(name, globals=None, locals=None, fromlist=(), level=0):  # pylint: disable=redefined-builtin
  if level == 0 and (name == 'tensorflow' or
                     name.startswith('tensorflow.contrib')):
    if fromlist:
      if name not in _FROM:
        raise ImportError(f'no module named {name!r} in the reference set')
      return _FROM[name]
    return _TF
  return builtins.__import__(name, globals, locals, fromlist, level)


def main():
  program = sys.argv[1]
  sys.argv = sys.argv[1:]
  sys.path.insert(0, os.path.dirname(os.path.abspath(program)))
  own_builtins = dict(builtins.__dict__, __import__=_import)
  runpy.run_path(program, init_globals={'__builtins__': own_builtins},
                 run_name='__main__')


if __name__ == '__main__':
  main()
