"""The real libraries tf1cnn's compatibility layer is tested against.

Test-only: the `test` extra installs TF-Slim 1.1 and tf_keras 2.21. On
TensorFlow 2.21, TF-Slim's layers import `tf_keras.legacy_tf_layers`, which
the tf_keras wheel ships as `tf_keras.src.legacy_tf_layers`; aliasing those
modules (and `TF_USE_LEGACY_KERAS=1`) makes real TF-Slim and the Keras-2
`tf.compat.v1.layers` usable as references. The library never imports them.

    tf_slim = reference_libs.real_tf_slim()          # the real package
    tf_layers = reference_libs.real_tf_layers()      # tf.compat.v1.layers
    vgg = reference_libs.real_slim_net('vgg')        # tf_slim.nets.vgg
    source = reference_libs.slim_net_source('vgg')   # its file's text
"""

import importlib
import os
import sys

_ALIASED = False


def _alias_legacy_layers():
  global _ALIASED
  if _ALIASED:
    return
  os.environ['TF_USE_LEGACY_KERAS'] = '1'
  legacy = importlib.import_module('tf_keras.src.legacy_tf_layers')
  sys.modules.setdefault('tf_keras.legacy_tf_layers', legacy)
  for name in ('base', 'core', 'convolutional', 'normalization', 'pooling',
               'variable_scope_shim'):
    try:
      module = importlib.import_module(f'tf_keras.src.legacy_tf_layers.{name}')
    except ImportError:
      continue
    sys.modules.setdefault(f'tf_keras.legacy_tf_layers.{name}', module)
  _ALIASED = True


def real_tf_slim():
  """Returns the real `tf_slim` package, with its layers usable."""
  _alias_legacy_layers()
  return importlib.import_module('tf_slim')


def real_tf_layers():
  """Returns the real `tf.compat.v1.layers` module (Keras-2 legacy layers)."""
  _alias_legacy_layers()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.compat.v1.layers


def real_slim_net(name):
  """Returns `tf_slim.nets.<name>` from the installed wheel."""
  real_tf_slim()
  return importlib.import_module(f'tf_slim.nets.{name}')


def slim_net_source(name):
  """The source text of `tf_slim/nets/<name>.py` in the installed wheel."""
  real_tf_slim()
  spec = importlib.util.find_spec(f'tf_slim.nets.{name}')
  with open(spec.origin, encoding='utf-8') as f:
    return f.read()
