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
from tf1cnn.compat.slim.layers import trunc_normal
from tf1cnn.compat.slim.layers import variance_scaling_initializer
from tf1cnn.compat.slim.layers import xavier_initializer
from tf1cnn.compat.slim.layers import xavier_initializer_conv2d
from tf1cnn.compat.slim.layers import avg_pool2d
from tf1cnn.compat.slim.layers import avg_pool3d
from tf1cnn.compat.slim.layers import batch_norm
from tf1cnn.compat.slim.layers import bias_add
from tf1cnn.compat.slim.layers import conv1d
from tf1cnn.compat.slim.layers import conv2d
from tf1cnn.compat.slim.layers import conv2d_transpose
from tf1cnn.compat.slim.layers import conv3d
from tf1cnn.compat.slim.layers import convolution
from tf1cnn.compat.slim.layers import convolution1d
from tf1cnn.compat.slim.layers import convolution2d
from tf1cnn.compat.slim.layers import convolution2d_transpose
from tf1cnn.compat.slim.layers import convolution3d
from tf1cnn.compat.slim.layers import dropout
from tf1cnn.compat.slim.layers import elu
from tf1cnn.compat.slim.layers import flatten
from tf1cnn.compat.slim.layers import fully_connected
from tf1cnn.compat.slim.layers import layer_norm
from tf1cnn.compat.slim.layers import linear
from tf1cnn.compat.slim.layers import max_pool2d
from tf1cnn.compat.slim.layers import max_pool3d
from tf1cnn.compat.slim.layers import one_hot_encoding
from tf1cnn.compat.slim.layers import pool
from tf1cnn.compat.slim.layers import relu
from tf1cnn.compat.slim.layers import relu6
from tf1cnn.compat.slim.layers import repeat
from tf1cnn.compat.slim.layers import separable_conv2d
from tf1cnn.compat.slim.layers import separable_convolution2d
from tf1cnn.compat.slim.layers import softmax
from tf1cnn.compat.slim.layers import stack
from tf1cnn.compat.slim.layers import apply_regularization
from tf1cnn.compat.slim.layers import l1_l2_regularizer
from tf1cnn.compat.slim.layers import l1_regularizer
from tf1cnn.compat.slim.layers import l2_regularizer
from tf1cnn.compat.slim.layers import sum_regularizer
from tf1cnn.compat.slim.ops.arg_scope import add_arg_scope
from tf1cnn.compat.slim.ops.arg_scope import arg_scope
from tf1cnn.compat.slim.ops.arg_scope import arg_scope_func_key
from tf1cnn.compat.slim.ops.arg_scope import arg_scoped_arguments
from tf1cnn.compat.slim.ops.arg_scope import current_arg_scope
from tf1cnn.compat.slim.ops.arg_scope import has_arg_scope
from tf1cnn.compat.slim.ops.variables import add_model_variable
from tf1cnn.compat.slim.ops.variables import assert_global_step
from tf1cnn.compat.slim.ops.variables import assert_or_get_global_step
from tf1cnn.compat.slim.ops.variables import assign_from_checkpoint
from tf1cnn.compat.slim.ops.variables import assign_from_checkpoint_fn
from tf1cnn.compat.slim.ops.variables import assign_from_values
from tf1cnn.compat.slim.ops.variables import assign_from_values_fn
from tf1cnn.compat.slim.ops.variables import create_global_step
from tf1cnn.compat.slim.ops.variables import filter_variables
from tf1cnn.compat.slim.ops.variables import get_global_step
from tf1cnn.compat.slim.ops.variables import get_local_variables
from tf1cnn.compat.slim.ops.variables import get_model_variables
from tf1cnn.compat.slim.ops.variables import get_or_create_global_step
from tf1cnn.compat.slim.ops.variables import get_trainable_variables
from tf1cnn.compat.slim.ops.variables import get_unique_variable
from tf1cnn.compat.slim.ops.variables import get_variable_full_name
from tf1cnn.compat.slim.ops.variables import get_variables
from tf1cnn.compat.slim.ops.variables import get_variables_by_name
from tf1cnn.compat.slim.ops.variables import get_variables_by_suffix
from tf1cnn.compat.slim.ops.variables import get_variables_to_restore
from tf1cnn.compat.slim.ops.variables import global_variable
from tf1cnn.compat.slim.ops.variables import local_variable
from tf1cnn.compat.slim.ops.variables import model_variable
from tf1cnn.compat.slim.ops.variables import variable
from tf1cnn.compat.slim.ops.variables import VARIABLES_TO_RESTORE


def __getattr__(name):
  """A TF-Slim name this module lacks: a clear NotProvidedError."""
  if name.startswith('__'):
    raise AttributeError(name)
  from tf1cnn.compat import missing  # pylint: disable=g-import-not-at-top
  raise missing.not_provided(f'slim.{name}')
