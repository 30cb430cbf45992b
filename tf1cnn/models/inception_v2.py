"""Inception v2 (BN-Inception) in TF-Slim's layout.

Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift" (arXiv:1502.03167). Variable names are
those of TF-Slim's `inception_v2.ckpt` (`InceptionV2/...`).

End points at 224x224x3 (all SAME):

    Conv2d_1a_7x7   separable 7x7 / 2 (depthwise multiplier 8), 64,
                    biases and no batch norm                 112x112x64
    MaxPool_2a_3x3  3x3 / 2                                   56x56x64
    Conv2d_2b_1x1   64                                        56x56x64
    Conv2d_2c_3x3   192                                       56x56x192
    MaxPool_3a_3x3  3x3 / 2                                   28x28x192
    Mixed_3b, 3c                                              28x28x256, 320
    Mixed_4a        stride-2 reduction                        14x14x576
    Mixed_4b .. 4e                                            14x14x576 .. 576
    Mixed_5a        stride-2 reduction                         7x7x1024
    Mixed_5b, 5c                                               7x7x1024
    Logits          average pool (7x7 or the whole map if smaller), dropout,
                    1x1 conv `Conv2d_1c_1x1`

Every other convolution has batch norm without scale. Channel counts scale
with `depth_multiplier` (never below `min_depth`). At 1001 classes the net
has 11,199,137 parameters, 11,179,361 trainable (19,776 moving
statistics).
"""

import functools

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import inception_utils as iu

_V1 = tf.compat.v1

_REDUCE_INIT = iu.trunc_normal(0.09)   # 1x1 convs that feed a 3x3
_PROJECT_INIT = iu.trunc_normal(0.1)   # 1x1 convs after a pool


def _block(b0, b1_reduce, b1, b2_reduce, b2, b3, pool='avg'):
  """A non-reducing block: 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool-1x1."""
  pool_layer = (iu.avg_pool([3, 3], 'AvgPool_0a_3x3') if pool == 'avg' else
                iu.max_pool([3, 3], 'MaxPool_0a_3x3'))
  return [
      [iu.conv(b0, [1, 1], 'Conv2d_0a_1x1')],
      [iu.conv(b1_reduce, [1, 1], 'Conv2d_0a_1x1',
               weights_initializer=_REDUCE_INIT),
       iu.conv(b1, [3, 3], 'Conv2d_0b_3x3')],
      [iu.conv(b2_reduce, [1, 1], 'Conv2d_0a_1x1',
               weights_initializer=_REDUCE_INIT),
       iu.conv(b2, [3, 3], 'Conv2d_0b_3x3'),
       iu.conv(b2, [3, 3], 'Conv2d_0c_3x3')],
      [pool_layer,
       iu.conv(b3, [1, 1], 'Conv2d_0b_1x1', weights_initializer=_PROJECT_INIT)],
  ]


def _reduction(b0_reduce, b0, b1_reduce, b1):
  """A stride-2 block: 1x1-3x3/2 | 1x1-3x3-3x3/2 | max pool /2."""
  return [
      [iu.conv(b0_reduce, [1, 1], 'Conv2d_0a_1x1',
               weights_initializer=_REDUCE_INIT),
       iu.conv(b0, [3, 3], 'Conv2d_1a_3x3', stride=2)],
      [iu.conv(b1_reduce, [1, 1], 'Conv2d_0a_1x1',
               weights_initializer=_REDUCE_INIT),
       iu.conv(b1, [3, 3], 'Conv2d_0b_3x3'),
       iu.conv(b1, [3, 3], 'Conv2d_1a_3x3', stride=2)],
      [iu.max_pool([3, 3], 'MaxPool_1a_3x3', stride=2)],
  ]


_BLOCKS = (
    ('Mixed_3b', _block(64, 64, 64, 64, 96, 32)),
    ('Mixed_3c', _block(64, 64, 96, 64, 96, 64)),
    ('Mixed_4a', _reduction(128, 160, 64, 96)),
    ('Mixed_4b', _block(224, 64, 96, 96, 128, 128)),
    ('Mixed_4c', _block(192, 96, 128, 96, 128, 128)),
    ('Mixed_4d', _block(160, 128, 160, 128, 160, 96)),
    ('Mixed_4e', _block(96, 128, 192, 160, 192, 96)),
    ('Mixed_5a', _reduction(128, 192, 192, 256)),
    ('Mixed_5b', _block(352, 192, 320, 160, 224, 128)),
    ('Mixed_5c', _block(352, 192, 320, 192, 224, 128, pool='max')),
)


def _stages(depth):
  def stem_conv(net):
    # The first layer is separable; its depthwise multiplier follows the
    # output depth, capped at 8.
    return slim.separable_conv2d(
        net, depth(64), [7, 7], depth_multiplier=min(int(depth(64) / 3), 8),
        stride=2, weights_initializer=iu.trunc_normal(1.0),
        scope='Conv2d_1a_7x7')

  def pool(name):
    return name, lambda net: slim.max_pool2d(net, [3, 3], stride=2,
                                             scope=name)

  stages = [
      ('Conv2d_1a_7x7', stem_conv),
      pool('MaxPool_2a_3x3'),
      ('Conv2d_2b_1x1', lambda net: slim.conv2d(
          net, depth(64), [1, 1], weights_initializer=iu.trunc_normal(0.1),
          scope='Conv2d_2b_1x1')),
      ('Conv2d_2c_3x3', lambda net: slim.conv2d(
          net, depth(192), [3, 3], scope='Conv2d_2c_3x3')),
      pool('MaxPool_3a_3x3'),
  ]
  for name, branches in _BLOCKS:
    stages.append((name, functools.partial(
        iu.mixed_block, branches=branches, scope=name, depth=depth)))
  return stages


def inception_v2_base(inputs, final_endpoint='Mixed_5c', min_depth=16,
                      depth_multiplier=1.0, scope=None):
  """The convolutional trunk of Inception v2, up to `final_endpoint`.

  Args:
    inputs: `[batch, height, width, channels]` float tensor.
    final_endpoint: last end point to build (see the module docstring).
    min_depth: smallest number of filters of any convolution.
    depth_multiplier: scales every convolution's filters.
    scope: variable scope.

  Returns:
    `(net, end_points)`.

  Raises:
    ValueError: unknown `final_endpoint` or `depth_multiplier <= 0`.
  """
  depth = iu.depth_fn(depth_multiplier, min_depth)
  return iu.build_base(inputs, _stages(depth), final_endpoint, scope,
                       'InceptionV2',
                       [slim.conv2d, slim.max_pool2d, slim.avg_pool2d,
                        slim.separable_conv2d])


def inception_v2(inputs, num_classes=1000, is_training=True,
                 dropout_keep_prob=0.8, min_depth=16, depth_multiplier=1.0,
                 prediction_fn=None, spatial_squeeze=True, reuse=None,
                 scope='InceptionV2', global_pool=False):
  """Inception v2 classifier.

  Args:
    inputs: `[batch, height, width, channels]` float tensor (224 nominal).
    num_classes: number of logits.
    is_training: Python bool or boolean tensor (batch norm, dropout).
    dropout_keep_prob: keep probability before the logits.
    min_depth: smallest number of filters of any convolution.
    depth_multiplier: scales every convolution's filters.
    prediction_fn: logits -> predictions (default `slim.softmax`).
    spatial_squeeze: return `[batch, num_classes]` logits.
    reuse: reuse the variables of `scope`.
    scope: variable scope.
    global_pool: average over the whole final map instead of a 7x7 window.

  Returns:
    `(logits, end_points)`.

  Raises:
    ValueError: `depth_multiplier <= 0`.
  """
  iu.depth_fn(depth_multiplier, min_depth)  # Validates the multiplier.
  with iu.classifier_scope(inputs, scope, 'InceptionV2', reuse,
                           is_training) as sc:
    net, end_points = inception_v2_base(
        inputs, scope=sc, min_depth=min_depth,
        depth_multiplier=depth_multiplier)
    with _V1.variable_scope('Logits'):
      net = iu.pool_features(net, end_points, global_pool, [7, 7], 2,
                             'AvgPool_1a_{}x{}')
      net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
      logits = iu.conv_logits(net, num_classes, spatial_squeeze,
                              'Conv2d_1c_1x1')
    iu.add_predictions(end_points, logits, prediction_fn)
  return logits, end_points


inception_v2.default_image_size = 224


def inception_v2_arg_scope(weight_decay=0.00004,
                           batch_norm_var_collection='moving_vars'):
  """Inception v2 layer defaults (see `inception_utils.inception_arg_scope`)."""
  return iu.inception_arg_scope(
      weight_decay=weight_decay,
      batch_norm_var_collection=batch_norm_var_collection)
