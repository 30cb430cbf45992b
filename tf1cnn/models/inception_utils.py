"""Shared pieces of the Inception v1/v2/v3 nets (TF-Slim layout).

An Inception ("Mixed") block is a set of parallel branches concatenated on
the channel axis. Here each block is data: a list of branches, each a list
of layer specs built by `conv`, `max_pool`, `avg_pool` and `split` (two or
more layers applied to the same input and concatenated, as in v3's last
blocks). `mixed_block` turns such a spec into ops under
`<block>/Branch_<i>/<layer name>`, the variable names of TF-Slim's Inception
checkpoints.

Also here: the arg scope all three nets share (`inception_arg_scope`), the
stage runner that stops at a requested end point (`run_stages`, inside the
trunk's scope with `build_base`), and the classifier pieces the Inception
nets and MobileNet v1 share: `classifier_scope`, `pool_features` (whose
window shrinks for inputs smaller than the default), `conv_logits` and
`add_predictions`.
"""

import collections
import contextlib

import tensorflow as tf

from tf1cnn.compat import slim

_V1 = tf.compat.v1

ConvSpec = collections.namedtuple('ConvSpec',
                                  ['depth', 'kernel', 'name', 'options'])
PoolSpec = collections.namedtuple('PoolSpec',
                                  ['kind', 'kernel', 'name', 'options'])
SplitSpec = collections.namedtuple('SplitSpec', ['layers'])


def conv(depth, kernel, name, **options):
  """A `slim.conv2d` of `depth` filters (before the depth multiplier)."""
  return ConvSpec(depth, list(kernel), name, options)


def max_pool(kernel, name, **options):
  """A `slim.max_pool2d` layer."""
  return PoolSpec('max', list(kernel), name, options)


def avg_pool(kernel, name, **options):
  """A `slim.avg_pool2d` layer."""
  return PoolSpec('avg', list(kernel), name, options)


def split(*layers):
  """Layers that all read the same input; their outputs are concatenated."""
  return SplitSpec(list(layers))


def trunc_normal(stddev):
  """Truncated normal initializer with mean 0."""
  return _V1.truncated_normal_initializer(0.0, stddev)


def _apply(net, layer, depth):
  if isinstance(layer, SplitSpec):
    return tf.concat([_apply(net, part, depth) for part in layer.layers], 3)
  if isinstance(layer, ConvSpec):
    return slim.conv2d(net, depth(layer.depth), layer.kernel,
                       scope=layer.name, **layer.options)
  pool = slim.max_pool2d if layer.kind == 'max' else slim.avg_pool2d
  return pool(net, layer.kernel, scope=layer.name, **layer.options)


def mixed_block(net, branches, scope, depth=lambda d: d):
  """Builds an Inception block.

  Args:
    net: the block's input.
    branches: list of branches, each a list of layer specs applied in order.
    scope: the block's variable scope (`Mixed_5b`, ...).
    depth: maps a spec's nominal depth to the filters used.

  Returns:
    The branches' outputs concatenated on axis 3.
  """
  with _V1.variable_scope(scope):
    outputs = []
    for index, branch in enumerate(branches):
      with _V1.variable_scope(f'Branch_{index}'):
        out = net
        for layer in branch:
          out = _apply(out, layer, depth)
      outputs.append(out)
    return tf.concat(outputs, 3)


def run_stages(net, stages, final_endpoint, end_points):
  """Applies `(name, fn)` stages in order, recording each output.

  Args:
    net: the input of the first stage.
    stages: iterable of `(end point name, fn(net) -> net)`.
    final_endpoint: the name of the last stage to build.
    end_points: dict that receives every stage's output.

  Returns:
    The output of `final_endpoint`.

  Raises:
    ValueError: `final_endpoint` is not one of the stages.
  """
  names = [name for name, _ in stages]
  if final_endpoint not in names:
    raise ValueError(f'Unknown final endpoint {final_endpoint!r}; valid: '
                     f'{", ".join(names)}')
  for name, stage in stages:
    net = stage(net)
    end_points[name] = net
    if name == final_endpoint:
      return net
  raise AssertionError('unreachable')


def build_base(inputs, stages, final_endpoint, scope, default_scope,
               same_padded):
  """A net's trunk: `run_stages` in its variable scope.

  Args:
    inputs: `[batch, height, width, channels]` float tensor.
    stages: iterable of `(end point name, fn(net) -> net)`.
    final_endpoint: the name of the last stage to build.
    scope: variable scope (string or scope object).
    default_scope: the scope's name when `scope` is None.
    same_padded: the layer functions that default to stride 1 and 'SAME'
      padding in the trunk.

  Returns:
    `(net, end_points)`.

  Raises:
    ValueError: `final_endpoint` is not one of the stages.
  """
  end_points = {}
  with _V1.variable_scope(scope, default_scope, [inputs]):
    with slim.arg_scope(same_padded, stride=1, padding='SAME'):
      net = run_stages(inputs, stages, final_endpoint, end_points)
  return net, end_points


@contextlib.contextmanager
def classifier_scope(inputs, scope, default_scope, reuse, is_training):
  """The variable scope of a classifier, batch norm and dropout in its mode.

  Args:
    inputs: the net's input.
    scope: variable scope (None for `default_scope`).
    default_scope: the scope's name when `scope` is None.
    reuse: reuse the variables of `scope`.
    is_training: Python bool or boolean tensor for `slim.batch_norm` and
      `slim.dropout`.

  Yields:
    The variable scope.
  """
  with _V1.variable_scope(scope, default_scope, [inputs], reuse=reuse) as sc:
    with slim.arg_scope([slim.batch_norm, slim.dropout],
                        is_training=is_training):
      yield sc


def pool_features(net, end_points, global_pool, kernel_size, stride, scope,
                  end_point=False, shrink=True):
  """Average-pools the final feature map before the logits.

  Args:
    net: the final map.
    end_points: dict; gets `global_pool` (or, with `end_point`, `scope`).
    global_pool: average over the whole map instead of a window.
    kernel_size: the window, e.g. `[7, 7]`.
    stride: the window's stride.
    scope: the pool's scope; `{}` fields are filled with the window's size.
    end_point: record the windowed pool's output under its scope name.
    shrink: clip the window to the map's static size (`reduced_kernel_size`).

  Returns:
    The pooled map.
  """
  if global_pool:
    net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
    end_points['global_pool'] = net
    return net
  kernel = reduced_kernel_size(net, kernel_size) if shrink else kernel_size
  scope = scope.format(*kernel)
  net = slim.avg_pool2d(net, kernel, stride=stride, padding='VALID',
                        scope=scope)
  if end_point:
    end_points[scope] = net
  return net


def conv_logits(net, num_classes, spatial_squeeze, scope, **options):
  """A linear 1x1 convolution to `num_classes`, squeezed to 2-D if asked.

  Args:
    net: the pooled features.
    num_classes: number of logits.
    spatial_squeeze: squeeze the 1x1 spatial axes (`SpatialSqueeze`).
    scope: the convolution's scope.
    **options: more `slim.conv2d` arguments.

  Returns:
    The logits.
  """
  logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                       normalizer_fn=None, scope=scope, **options)
  if spatial_squeeze:
    logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
  return logits


def add_predictions(end_points, logits, prediction_fn):
  """Records `Logits` and `Predictions` (`prediction_fn` or softmax)."""
  end_points['Logits'] = logits
  end_points['Predictions'] = (prediction_fn or slim.softmax)(
      logits, scope='Predictions')


def reduced_kernel_size(tensor, kernel_size):
  """`kernel_size` clipped to the static spatial size of `tensor`, if known."""
  shape = tensor.get_shape().as_list()
  if shape[1] is None or shape[2] is None:
    return list(kernel_size)
  return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1])]


def depth_fn(depth_multiplier, min_depth):
  """Returns `d -> max(int(d * depth_multiplier), min_depth)`.

  Raises:
    ValueError: `depth_multiplier` is not positive.
  """
  if depth_multiplier <= 0:
    raise ValueError('depth_multiplier must be greater than zero, got '
                     f'{depth_multiplier}')
  return lambda d: max(int(d * depth_multiplier), min_depth)


def inception_arg_scope(weight_decay=0.00004, use_batch_norm=True,
                        batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                        batch_norm_var_collection='moving_vars',
                        use_fused_batchnorm=None):
  """The layer defaults shared by the Inception nets.

  Convolutions: He (variance-scaling) initialisation, ReLU, L2 penalty
  `weight_decay` (also on fully connected layers), batch norm without a
  scale (so no `gamma`) whose moving statistics also go to the collection
  `batch_norm_var_collection`.

  Args:
    weight_decay: L2 coefficient of the weights.
    use_batch_norm: batch norm after every convolution (else biases).
    batch_norm_decay: decay of the moving statistics.
    batch_norm_epsilon: added to the variance.
    batch_norm_var_collection: extra collection of the moving statistics.
    use_fused_batchnorm: `fused` argument of `slim.batch_norm` (None leaves
      it out).

  Returns:
    An arg_scope.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'updates_collections': _V1.GraphKeys.UPDATE_OPS,
      'variables_collections': {
          'beta': None,
          'gamma': None,
          'moving_mean': [batch_norm_var_collection],
          'moving_variance': [batch_norm_var_collection],
      },
  }
  if use_fused_batchnorm is not None:
    batch_norm_params['fused'] = use_fused_batchnorm
  if use_batch_norm:
    normalizer_fn, normalizer_params = slim.batch_norm, batch_norm_params
  else:
    normalizer_fn, normalizer_params = None, {}
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_regularizer=slim.l2_regularizer(weight_decay)):
    with slim.arg_scope(
        [slim.conv2d],
        weights_initializer=slim.variance_scaling_initializer(),
        activation_fn=tf.nn.relu,
        normalizer_fn=normalizer_fn,
        normalizer_params=normalizer_params) as scope:
      return scope
