"""Graph-mode layer helpers in the classic TF1 style.

Every layer opens a `tf.compat.v1.variable_scope(name)` and creates its
variables with `tf.compat.v1.get_variable`, so that:

* checkpoints hold readable names: `<scope>/weights`, `<scope>/biases`,
  `<scope>/batch_norm/{beta,gamma,moving_mean,moving_variance}`;
* the same layer can be rebuilt with `reuse=True` (towers, an eval graph that
  shares the training variables).

L2 weight decay (`weight_decay * sum(w**2) / 2`, i.e. `tf.nn.l2_loss`) is added
to `tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES`; `tf1cnn.training` adds that
collection to the training loss. Batch norm puts its moving-statistics update
ops in `tf.compat.v1.GraphKeys.UPDATE_OPS` and the train op depends on them.

Each layer logs its output shape once per graph through absl logging.

The capitalised functions (`Conv_layer`, `local_layer` with `names=`/`input=`,
`Avg_pool_lrn`) keep the exact call signatures of the classic blog code, so
models written against it run unchanged.
"""

import math
import weakref

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import normalization
from tf1cnn import runtime

_V1 = tf.compat.v1

# Graphs -> set of scope names whose output shape was already logged.
_LOGGED_SHAPES = weakref.WeakKeyDictionary()

# Collection holding every layer output, by scope name (like slim end points).
LAYER_OUTPUTS = 'tf1cnn_layer_outputs'


def log_output_shape(scope_name, tensor):
  """Logs `tensor`'s static shape once per graph and scope name.

  Also adds the tensor to the `LAYER_OUTPUTS` collection.
  """
  graph = tensor.graph
  seen = _LOGGED_SHAPES.setdefault(graph, set())
  if scope_name not in seen:
    seen.add(scope_name)
    logging.info('layer %-28s output %s', scope_name, tensor.shape)
    graph.add_to_collection(LAYER_OUTPUTS, tensor)
  return tensor


def _pair(value, what):
  """Turns an int or a pair into a pair of ints."""
  if isinstance(value, int):
    return (value, value)
  value = tuple(int(v) for v in value)
  if len(value) == 4:  # NHWC form, e.g. [1, 2, 2, 1]
    return (value[1], value[2])
  if len(value) != 2:
    raise ValueError(f'{what} must be an int, a pair or an NHWC 4-tuple, got {value}')
  return value


def variance_scaling_initializer(fan_in):
  """He-style truncated normal initializer for a ReLU layer with `fan_in` inputs."""
  # 0.87962566 corrects the stddev of a normal truncated at two sigmas.
  stddev = math.sqrt(2.0 / max(1, fan_in)) / 0.87962566103423978
  return _V1.truncated_normal_initializer(stddev=stddev)


def add_weight_decay(weights, weight_decay):
  """Adds `weight_decay * l2_loss(weights)` to REGULARIZATION_LOSSES.

  Args:
    weights: the variable to regularise.
    weight_decay: the L2 coefficient; 0 or None adds nothing.

  Returns:
    The regularisation tensor, or None.
  """
  if not weight_decay:
    return None
  decay = tf.multiply(tf.nn.l2_loss(weights), float(weight_decay),
                      name='weight_loss')
  _V1.add_to_collection(_V1.GraphKeys.REGULARIZATION_LOSSES, decay)
  return decay


def conv_layer(name, inputs, w_shape, b_shape=None, strides=(1, 1),
               padding='SAME', activation=tf.nn.relu, weight_decay=0.0,
               weights_initializer=None, use_bias=True):
  """2-D convolution with bias and activation under `variable_scope(name)`.

  Args:
    name: variable scope; variables are `<name>/weights` and `<name>/biases`.
    inputs: NHWC float tensor.
    w_shape: `[kh, kw, in_channels, out_channels]`.
    b_shape: `[out_channels]`; defaults to `w_shape[-1:]`.
    strides: `(sh, sw)`, an int, or an NHWC 4-tuple.
    padding: 'SAME' or 'VALID'.
    activation: applied to the output; None for linear.
    weight_decay: L2 coefficient for the weights.
    weights_initializer: defaults to He truncated normal over the fan-in.
    use_bias: set False when batch norm follows (its beta is the bias).

  Returns:
    The output tensor.
  """
  runtime.require_graph_mode('conv_layer')
  w_shape = [int(d) for d in w_shape]
  if len(w_shape) != 4:
    raise ValueError(f'{name}: w_shape must be [kh, kw, cin, cout], got {w_shape}')
  in_channels = inputs.shape[-1]
  if in_channels is not None and int(in_channels) != w_shape[2]:
    raise ValueError(f'{name}: input has {int(in_channels)} channels but '
                     f'w_shape expects {w_shape[2]}')
  sh, sw = _pair(strides, f'{name}: strides')
  with _V1.variable_scope(name) as scope:
    fan_in = w_shape[0] * w_shape[1] * w_shape[2]
    weights = _V1.get_variable(
        'weights', shape=w_shape, dtype=tf.float32,
        initializer=weights_initializer or variance_scaling_initializer(fan_in))
    add_weight_decay(weights, weight_decay)
    out = tf.nn.conv2d(inputs, weights, strides=[1, sh, sw, 1],
                       padding=padding)
    if use_bias:
      b_shape = list(b_shape) if b_shape is not None else [w_shape[-1]]
      biases = _V1.get_variable('biases', shape=b_shape, dtype=tf.float32,
                                initializer=_V1.constant_initializer(0.1))
      out = tf.nn.bias_add(out, biases)
    if activation is not None:
      out = activation(out, name='activation')
    return log_output_shape(scope.name, out)


def flatten(inputs, name='flatten'):
  """Reshapes `[batch, d1, d2, ...]` to `[batch, d1*d2*...]` (batch may be None)."""
  dims = inputs.shape[1:]
  if not dims.is_fully_defined():
    raise ValueError(f'{name}: cannot flatten {inputs.shape}: the feature '
                     'dimensions must be static')
  return tf.reshape(inputs, [-1, int(np.prod(dims.as_list()))], name=name)


def local_layer(name=None, inputs=None, w_shape=None, b_shape=None,
                activation=tf.nn.relu, weight_decay=0.0,
                weights_initializer=None, biases_initializer=None, *,
                names=None, input=None):  # pylint: disable=redefined-builtin
  """Fully connected layer; flattens a rank>2 input first.

  Both call styles work:
    local_layer('local1', x, [dim, 84])
    local_layer(names='local1_scope', input=x, w_shape=[dim, 84], b_shape=[84])

  Args:
    name: variable scope (`names` in the classic signature).
    inputs: tensor (`input` in the classic signature).
    w_shape: `[in_dim, out_dim]`; `in_dim` may be None or -1 to take it from
      the (flattened) input.
    b_shape: `[out_dim]`; defaults to `w_shape[-1:]`.
    activation: None for a linear layer.
    weight_decay: L2 coefficient for the weights.
    weights_initializer: defaults to He truncated normal over the fan-in.
    biases_initializer: defaults to the constant 0.1 of the classic code.

  Returns:
    The output tensor `[batch, out_dim]`.
  """
  runtime.require_graph_mode('local_layer')
  name = name if name is not None else names
  inputs = inputs if inputs is not None else input
  if name is None or inputs is None or w_shape is None:
    raise TypeError('local_layer needs a name, an input tensor and w_shape')
  if inputs.shape.rank != 2:
    inputs = flatten(inputs, name=f'{name}_flatten')
  in_dim = int(inputs.shape[-1])
  w_shape = list(w_shape)
  if w_shape[0] is None or int(w_shape[0]) == -1:
    w_shape[0] = in_dim
  w_shape = [int(d) for d in w_shape]
  if w_shape[0] != in_dim:
    raise ValueError(f'{name}: input has {in_dim} features but w_shape '
                     f'expects {w_shape[0]}')
  with _V1.variable_scope(name) as scope:
    weights = _V1.get_variable(
        'weights', shape=w_shape, dtype=tf.float32,
        initializer=weights_initializer or variance_scaling_initializer(w_shape[0]))
    add_weight_decay(weights, weight_decay)
    b_shape = list(b_shape) if b_shape is not None else [w_shape[-1]]
    biases = _V1.get_variable(
        'biases', shape=b_shape, dtype=tf.float32,
        initializer=biases_initializer or _V1.constant_initializer(0.1))
    out = tf.nn.bias_add(tf.matmul(inputs, weights), biases)
    if activation is not None:
      out = activation(out, name='activation')
    return log_output_shape(scope.name, out)


def _pool_lrn(pool_fn, kind, name, inputs, ksize, is_lrn, strides, padding):
  runtime.require_graph_mode(f'{kind}_pool_lrn')
  kh, kw = _pair(ksize, f'{name}: ksize')
  sh, sw = _pair(strides, f'{name}: strides')
  with _V1.variable_scope(name) as scope:
    out = pool_fn(inputs, ksize=[1, kh, kw, 1], strides=[1, sh, sw, 1],
                  padding=padding, name=f'{kind}_pool')
    if is_lrn:
      out = tf.nn.lrn(out, depth_radius=4, bias=1.0, alpha=0.001 / 9.0,
                      beta=0.75, name='lrn')
    return log_output_shape(scope.name, out)


def avg_pool_lrn(name, inputs, ksize, is_lrn=False, strides=(2, 2),
                 padding='SAME'):
  """Average pooling (2x2 stride, SAME by default) with optional LRN.

  LRN uses the classic constants: depth_radius=4, bias=1, alpha=0.001/9,
  beta=0.75.
  """
  return _pool_lrn(tf.nn.avg_pool2d, 'avg', name, inputs, ksize, is_lrn,
                   strides, padding)


def max_pool_lrn(name, inputs, ksize, is_lrn=False, strides=(2, 2),
                 padding='SAME'):
  """Max pooling (2x2 stride, SAME by default) with optional LRN."""
  return _pool_lrn(tf.nn.max_pool2d, 'max', name, inputs, ksize, is_lrn,
                   strides, padding)


def _as_bool_tensor_or_python(is_training):
  if isinstance(is_training, (bool, np.bool_)):
    return bool(is_training)
  return tf.convert_to_tensor(is_training, dtype=tf.bool)


# Keras BatchNormalization defaults (momentum and epsilon), which the seed
# models built with Keras layers used.
KERAS_BATCH_NORM_DECAY = 0.99
KERAS_BATCH_NORM_EPSILON = 1e-3


def batch_norm(inputs, is_training, decay=0.9, epsilon=1e-3, center=True,
               scale=True, name='batch_norm',
               updates_collections=_V1.GraphKeys.UPDATE_OPS):
  """Batch normalisation over all axes but the last (channels).

  Training mode normalises with the batch statistics from `tf.nn.moments`
  and updates the moving statistics with the ExponentialMovingAverage rule
  `moving -= (1 - decay) * (moving - batch_stat)` (the update that
  `tf.compat.v1.train.ExponentialMovingAverage(decay).apply` performs). The
  moving statistics are plain variables `<name>/moving_mean` (initialised to 0)
  and `<name>/moving_variance` (initialised to 1), so checkpoints carry stable,
  readable names and `reuse=True` shares them between towers. Eval mode
  normalises with the moving statistics.

  Args:
    inputs: tensor with a static last dimension.
    is_training: Python bool, or a scalar boolean tensor (for example a
      `tf.compat.v1.placeholder_with_default(False, [])`) so one graph can
      train and evaluate.
    decay: moving-average decay.
    epsilon: added to the variance.
    center: learn an offset `beta`.
    scale: learn a scale `gamma`.
    name: variable scope.
    updates_collections: collection for the update ops; None runs the update
      in place through a control dependency on the output.

  Returns:
    The normalised tensor, same shape as `inputs`.
  """
  runtime.require_graph_mode('batch_norm')
  channels = inputs.shape[-1]
  if channels is None:
    raise ValueError(f'{name}: the channel dimension must be static')
  channels = int(channels)
  training = _as_bool_tensor_or_python(is_training)
  with _V1.variable_scope(name) as scope:
    beta = (_V1.get_variable('beta', [channels], tf.float32,
                             initializer=_V1.zeros_initializer())
            if center else None)
    gamma = (_V1.get_variable('gamma', [channels], tf.float32,
                              initializer=_V1.ones_initializer())
             if scale else None)
    stat_collections = [_V1.GraphKeys.GLOBAL_VARIABLES]
    moving_mean = _V1.get_variable(
        'moving_mean', [channels], tf.float32,
        initializer=_V1.zeros_initializer(), trainable=False,
        collections=stat_collections)
    moving_variance = _V1.get_variable(
        'moving_variance', [channels], tf.float32,
        initializer=_V1.ones_initializer(), trainable=False,
        collections=stat_collections)

    out, updates = normalization.normalize_with_moments(
        inputs, [inputs.shape.rank - 1], tf.float32, moving_mean,
        moving_variance, beta, gamma, epsilon, decay, training,
        training if isinstance(training, bool) else None)
    if updates and updates_collections is None:
      with tf.control_dependencies(updates):
        out = tf.identity(out)
    elif updates:
      for update in updates:
        _V1.add_to_collection(updates_collections, update)
    return log_output_shape(scope.name, out)


def dropout(inputs, drop_rate, is_training, seed=None, name='dropout'):
  """Dropout with rate `drop_rate` while training, identity in eval mode.

  Args:
    inputs: tensor.
    drop_rate: fraction of units to drop (0 disables dropout).
    is_training: Python bool or boolean tensor.
    seed: op-level seed.
    name: name scope.
  """
  runtime.require_graph_mode('dropout')
  training = _as_bool_tensor_or_python(is_training)
  if not drop_rate or training is False:
    return inputs
  with tf.name_scope(name):
    if training is True:
      return tf.nn.dropout(inputs, rate=drop_rate, seed=seed)
    return tf.cond(training,
                   lambda: tf.nn.dropout(inputs, rate=drop_rate, seed=seed),
                   lambda: tf.identity(inputs))


# ---------------------------------------------------------------------------
# The classic signatures, as the blog code calls them.
# ---------------------------------------------------------------------------

def Conv_layer(names, input, w_shape, b_shape, strid):  # pylint: disable=invalid-name,redefined-builtin
  """Classic helper: SAME conv + bias + ReLU under `variable_scope(names)`."""
  return conv_layer(names, input, w_shape, b_shape, strides=strid)


def Avg_pool_lrn(names, input, ksize, is_lrn):  # pylint: disable=invalid-name,redefined-builtin
  """Classic helper: 2x2-stride SAME average pooling, optional LRN."""
  return avg_pool_lrn(names, input, ksize, is_lrn)


def Max_pool_lrn(names, input, ksize, is_lrn):  # pylint: disable=invalid-name,redefined-builtin
  """Classic helper: 2x2-stride SAME max pooling, optional LRN."""
  return max_pool_lrn(names, input, ksize, is_lrn)
