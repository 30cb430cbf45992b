"""TF-Slim's public API on tf.nn / tf.compat.v1 graph mode (no tf_slim, no Keras).

Replace `import tf_slim as slim` with

    from tf1cnn.compat import slim

and Slim code builds the same graph: the same variable names (`<scope>/weights`,
`<scope>/biases`, `<scope>/BatchNorm/{beta,gamma,moving_mean,moving_variance}`),
default scopes (`Conv`, `Conv_1`, `fully_connected`, ...), collections
(`MODEL_VARIABLES`, `UPDATE_OPS`, `REGULARIZATION_LOSSES`, outputs collections
for end points) and numerics. The module paths used by the Slim nets exist too:
`slim.layers` (`.layers`, `.initializers`, `.regularizers`, `.utils`),
`slim.ops.arg_scope`, `slim.ops.variables`; `slim.utils` is `slim.layers.utils`.

Not provided: `slim.learning`, `slim.evaluation`, `slim.losses`, `slim.metrics`,
`slim.data`, `slim.summaries`, `slim.nets` and a few rarely used layers
(`gdn`, `maxout`, `unit_norm`, `spatial_softmax`, `conv2d_in_plane`,
`images_to_sequence`, `dense_to_sparse`, `scale_gradient`, batch renorm).
"""

from tf1cnn.compat.slim import layers
from tf1cnn.compat.slim import ops
from tf1cnn.compat.slim import utils
from tf1cnn.compat.slim.layers import initializers
from tf1cnn.compat.slim.layers import regularizers
# Every public name of `slim.layers` and of `slim.ops` (each module's
# `__all__`), as tf_slim's own package does.
# pylint: disable=wildcard-import
from tf1cnn.compat.slim.layers import *
from tf1cnn.compat.slim.ops.arg_scope import *
from tf1cnn.compat.slim.ops.variables import *
# pylint: enable=wildcard-import


def __getattr__(name):
  """A TF-Slim name this module lacks: a clear NotProvidedError."""
  if name.startswith('__'):
    raise AttributeError(name)
  from tf1cnn.compat import missing  # pylint: disable=g-import-not-at-top
  raise missing.not_provided(f'slim.{name}')
