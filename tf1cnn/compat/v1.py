"""A TF 1.x drop-in for TensorFlow 2.21: `import tf1cnn.compat.v1 as tf`.

Every name of `tensorflow.compat.v1` is forwarded to it (`tf.nn`,
`tf.placeholder`, `tf.train`, `tf.Session`, `tf.app.flags`, `tf.app.run`,
`tf.disable_v2_behavior`, ...). On top of it this module adds what TF 1.15
code used and TensorFlow 2.21 no longer has without Keras:

* `tf.layers`: `tf1cnn.compat.tf_layers`, TF 1.15's layers on `tf.nn`
  (same signatures, variable names, collections and reuse);
* `tf.contrib`: `tf1cnn.compat.contrib` (`tf.contrib.slim`,
  `tf.contrib.layers`, `tf.contrib.framework`, backed by
  `tf1cnn.compat.slim`).

Nothing here imports Keras, tf_keras or tf_slim. A name found neither here
nor in `tensorflow.compat.v1` (e.g. `tf.estimator`, `tf.contrib.learn`,
`tf.layers.InputSpec`) raises `tf1cnn.compat.missing.NotProvidedError`, an
AttributeError naming the TF 1.x symbol, at the attribute access.

Graph mode is still the caller's choice, as in TF 1.x scripts ported to 2.x:

    import tf1cnn.compat.v1 as tf
    tf.disable_v2_behavior()   # or tf1cnn.runtime.use_graph_mode()
    x = tf.placeholder(tf.float32, [None, 28, 28, 1])
    net = tf.layers.conv2d(x, 32, 5, activation=tf.nn.relu)
"""

# Private names: everything public in this module is TF 1.x API.
import tensorflow as _tf

from tf1cnn.compat import contrib
from tf1cnn.compat import missing as _missing
from tf1cnn.compat import tf_layers as layers

_TF1 = _tf.compat.v1

__version__ = _tf.__version__

_HINTS = {
    'estimator': 'TensorFlow 2.16 removed tf.estimator; write the training '
                 'loop with tf.train and a Session',
}

# Names defined here, in front of tensorflow.compat.v1's.
_OWN = ('layers', 'contrib')


def __getattr__(name):
  if name.startswith('__'):
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  try:
    return getattr(_TF1, name)
  except AttributeError:
    raise _missing.not_provided(f'tf.{name}', _HINTS.get(name)) from None


def __dir__():
  return sorted(set(dir(_TF1)) | set(_OWN) | {'__version__'})

