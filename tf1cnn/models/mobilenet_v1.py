"""MobileNet v1 in TF-Slim's layout.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications" (arXiv:1704.04861). Variable names are those of
the published `mobilenet_v1_1.0_224` checkpoint:

    MobilenetV1/Conv2d_0/weights                    3x3x3x32, stride 2
    MobilenetV1/Conv2d_<i>_depthwise/depthwise_weights   3x3xCx1
    MobilenetV1/Conv2d_<i>_pointwise/weights        1x1xCxD
    .../BatchNorm/{beta,gamma,moving_mean,moving_variance}  after each conv
    MobilenetV1/Logits/Conv2d_1c_1x1/{weights,biases}   1x1x1024xnum_classes

for i = 1..13 with pointwise depths 64, 128, 128, 256, 256, 512 (x6), 1024,
1024 and stride 2 at i = 2, 4, 6, 12 (output stride 32). Activations are
ReLU6; the convolutions have no biases (batch norm follows each one).

Parameters of the 1.0 / 224 net at 1001 classes (the zoo's checkpoint):
3,185,088 convolution weights (TF-Slim's per-layer table), 21,888 batch-norm
betas and gammas and as many moving statistics (10,944 channels), 1,026,025
in the logits layer: 4,233,001 trainable, 4,254,889 in all. (Keras'
MobileNet, 1000 classes, reports 4,231,976 trainable / 4,253,864 total.)
"""

import collections

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import inception_utils

_V1 = tf.compat.v1

Conv = collections.namedtuple('Conv', ['kernel', 'stride', 'depth'])
DepthSepConv = collections.namedtuple('DepthSepConv',
                                      ['kernel', 'stride', 'depth'])

# Layer 0 is a full convolution, layers 1-13 depthwise separable ones.
MOBILENET_V1_CONV_DEFS = (
    [Conv([3, 3], 2, 32)] +
    [DepthSepConv([3, 3], stride, depth) for stride, depth in (
        (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
        (1, 512), (1, 512), (1, 512), (1, 512), (1, 512),
        (2, 1024), (1, 1024))])


def _pad_fixed(inputs, kernel_size, rate=1):
  """Pads as 'SAME' would for a stride-1 `kernel_size` conv, at any size."""
  pads = []
  for k in kernel_size:
    effective = k + (k - 1) * (rate - 1)
    before = (effective - 1) // 2
    pads.append([before, effective - 1 - before])
  return tf.pad(inputs, [[0, 0], pads[0], pads[1], [0, 0]])


def mobilenet_v1_base(inputs, final_endpoint='Conv2d_13_pointwise',
                      min_depth=8, depth_multiplier=1.0, conv_defs=None,
                      output_stride=None, use_explicit_padding=False,
                      scope=None):
  """The convolutional trunk of MobileNet v1, up to `final_endpoint`.

  Args:
    inputs: `[batch, height, width, channels]` float tensor.
    final_endpoint: `Conv2d_0` or `Conv2d_<i>_depthwise|pointwise`.
    min_depth: smallest number of filters of a pointwise convolution.
    depth_multiplier: scales the filters of the full and pointwise convs.
    conv_defs: list of `Conv` / `DepthSepConv` (default the 14 layers above).
    output_stride: None, 8, 16 or 32; beyond it strides turn into atrous
      rates of the depthwise convolutions.
    use_explicit_padding: pad explicitly and convolve 'VALID' (same output
      shape as 'SAME').
    scope: variable scope.

  Returns:
    `(net, end_points)`.

  Raises:
    ValueError: bad `depth_multiplier`, `output_stride` or `final_endpoint`.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  if output_stride is not None and output_stride not in (8, 16, 32):
    raise ValueError('output_stride must be 8, 16 or 32, got '
                     f'{output_stride}')
  conv_defs = MOBILENET_V1_CONV_DEFS if conv_defs is None else conv_defs
  padding = 'VALID' if use_explicit_padding else 'SAME'
  end_points = {}
  with _V1.variable_scope(scope, 'MobilenetV1', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                        padding=padding):
      current_stride, rate = 1, 1
      net = inputs
      for index, conv_def in enumerate(conv_defs):
        if output_stride is not None and current_stride == output_stride:
          layer_stride, layer_rate = 1, rate
          rate *= conv_def.stride
        else:
          layer_stride, layer_rate = conv_def.stride, 1
          current_stride *= conv_def.stride
        base = f'Conv2d_{index}'
        if isinstance(conv_def, Conv):
          if use_explicit_padding:
            net = _pad_fixed(net, conv_def.kernel)
          net = slim.conv2d(net, depth(conv_def.depth), conv_def.kernel,
                            stride=conv_def.stride,
                            normalizer_fn=slim.batch_norm, scope=base)
          end_points[base] = net
          if base == final_endpoint:
            return net, end_points
        elif isinstance(conv_def, DepthSepConv):
          if use_explicit_padding:
            net = _pad_fixed(net, conv_def.kernel, layer_rate)
          # num_outputs=None: a depthwise convolution only.
          net = slim.separable_conv2d(
              net, None, conv_def.kernel, depth_multiplier=1,
              stride=layer_stride, rate=layer_rate,
              normalizer_fn=slim.batch_norm, scope=base + '_depthwise')
          end_points[base + '_depthwise'] = net
          if base + '_depthwise' == final_endpoint:
            return net, end_points
          net = slim.conv2d(net, depth(conv_def.depth), [1, 1], stride=1,
                            normalizer_fn=slim.batch_norm,
                            scope=base + '_pointwise')
          end_points[base + '_pointwise'] = net
          if base + '_pointwise' == final_endpoint:
            return net, end_points
        else:
          raise ValueError(f'Unknown layer type {type(conv_def).__name__} '
                           f'for layer {index}')
  raise ValueError(f'Unknown final endpoint {final_endpoint!r}')


def mobilenet_v1(inputs, num_classes=1000, dropout_keep_prob=0.999,
                 is_training=True, min_depth=8, depth_multiplier=1.0,
                 conv_defs=None, prediction_fn=None, spatial_squeeze=True,
                 reuse=None, scope='MobilenetV1', global_pool=False):
  """MobileNet v1 classifier.

  Args:
    inputs: `[batch, height, width, channels]` float tensor (224 nominal).
    num_classes: number of logits; 0 or None returns the pooled features.
    dropout_keep_prob: keep probability before the logits.
    is_training: Python bool or boolean tensor (batch norm, dropout).
    min_depth: smallest number of filters of a pointwise convolution.
    depth_multiplier: width multiplier (1.0, 0.75, 0.5, 0.25 in the zoo).
    conv_defs: layer list (default `MOBILENET_V1_CONV_DEFS`).
    prediction_fn: logits -> predictions (default `slim.softmax`).
    spatial_squeeze: return `[batch, num_classes]` logits.
    reuse: reuse the variables of `scope`.
    scope: variable scope.
    global_pool: average over the whole final map instead of a 7x7 window.

  Returns:
    `(logits, end_points)`.

  Raises:
    ValueError: `inputs` is not rank 4.
  """
  if inputs.get_shape().ndims != 4:
    raise ValueError('MobileNet v1 needs [batch, height, width, channels] '
                     f'inputs, got shape {inputs.get_shape()}')
  with inception_utils.classifier_scope(inputs, scope, 'MobilenetV1', reuse,
                                        is_training) as sc:
    net, end_points = mobilenet_v1_base(
        inputs, scope=sc, min_depth=min_depth,
        depth_multiplier=depth_multiplier, conv_defs=conv_defs)
    with _V1.variable_scope('Logits'):
      net = inception_utils.pool_features(net, end_points, global_pool,
                                          [7, 7], 2, 'AvgPool_1a',
                                          end_point=True)
      if not num_classes:
        return net, end_points
      net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
      logits = inception_utils.conv_logits(net, num_classes, spatial_squeeze,
                                           'Conv2d_1c_1x1')
    inception_utils.add_predictions(end_points, logits, prediction_fn)
  return logits, end_points


mobilenet_v1.default_image_size = 224


def mobilenet_v1_arg_scope(is_training=True, weight_decay=0.00004,
                           stddev=0.09, regularize_depthwise=False,
                           batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                           batch_norm_updates_collections=_V1.GraphKeys
                           .UPDATE_OPS):
  """MobileNet v1 layer defaults.

  Truncated-normal(`stddev`) weights, ReLU6, batch norm with beta and gamma
  after every convolution, L2 `weight_decay` on the full and pointwise
  convolutions (on the depthwise ones only with `regularize_depthwise`).

  Args:
    is_training: batch-norm mode (None leaves it to the net; the net's own
      `is_training` wins anyway).
    weight_decay: L2 coefficient.
    stddev: standard deviation of the weight initialiser.
    regularize_depthwise: also penalise the depthwise weights.
    batch_norm_decay: decay of the moving statistics.
    batch_norm_epsilon: added to the variance.
    batch_norm_updates_collections: collection of the moving-statistic
      updates.

  Returns:
    An arg_scope.
  """
  batch_norm_params = {
      'center': True,
      'scale': True,
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'updates_collections': batch_norm_updates_collections,
  }
  if is_training is not None:
    batch_norm_params['is_training'] = is_training
  regularizer = slim.l2_regularizer(weight_decay)
  depthwise_regularizer = regularizer if regularize_depthwise else None
  with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                      weights_initializer=_V1.truncated_normal_initializer(
                          stddev=stddev),
                      activation_fn=tf.nn.relu6,
                      normalizer_fn=slim.batch_norm):
    with slim.arg_scope([slim.batch_norm], **batch_norm_params):
      with slim.arg_scope([slim.conv2d], weights_regularizer=regularizer):
        with slim.arg_scope([slim.separable_conv2d],
                            weights_regularizer=depthwise_regularizer) as sc:
          return sc
