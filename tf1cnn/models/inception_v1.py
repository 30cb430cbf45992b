"""Inception v1 (GoogLeNet) with batch norm, in TF-Slim's layout.

Szegedy et al., "Going deeper with convolutions" (arXiv:1409.4842), with a
batch norm (no scale) after every convolution as in TF-Slim's model zoo;
variable names are those of `inception_v1.ckpt` (`InceptionV1/...`).

End points at 224x224x3 (all convolutions and pools SAME):

    Conv2d_1a_7x7   7x7 / 2, 64          112x112x64
    MaxPool_2a_3x3  3x3 / 2               56x56x64
    Conv2d_2b_1x1   64                    56x56x64
    Conv2d_2c_3x3   192                   56x56x192
    MaxPool_3a_3x3  3x3 / 2               28x28x192
    Mixed_3b, 3c                          28x28x256, 28x28x480
    MaxPool_4a_3x3  3x3 / 2               14x14x480
    Mixed_4b .. 4f                        14x14x512 .. 14x14x832
    MaxPool_5a_2x2  2x2 / 2                7x7x832
    Mixed_5b, 5c                           7x7x832, 7x7x1024
    Logits          7x7 average pool, dropout, 1x1 conv `Conv2d_0c_1x1`

Each Mixed block: Branch_0 1x1; Branch_1 1x1 -> 3x3; Branch_2 1x1 -> 3x3;
Branch_3 3x3 max pool -> 1x1. At 1001 classes the net has 6,633,209
parameters, 6,618,649 trainable (the other 14,560 are the moving statistics).
"""

import functools

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import inception_utils as iu

_V1 = tf.compat.v1

# Block name -> (Branch_0, Branch_1 reduce, Branch_1, Branch_2 reduce,
# Branch_2, Branch_3 pool projection) filters.
_BLOCKS = (
    ('Mixed_3b', (64, 96, 128, 16, 32, 32)),
    ('Mixed_3c', (128, 128, 192, 32, 96, 64)),
    ('Mixed_4b', (192, 96, 208, 16, 48, 64)),
    ('Mixed_4c', (160, 112, 224, 24, 64, 64)),
    ('Mixed_4d', (128, 128, 256, 24, 64, 64)),
    ('Mixed_4e', (112, 144, 288, 32, 64, 64)),
    ('Mixed_4f', (256, 160, 320, 32, 128, 128)),
    ('Mixed_5b', (256, 160, 320, 32, 128, 128)),
    ('Mixed_5c', (384, 192, 384, 48, 128, 128)),
)


def _branches(block, filters):
  b0, b1_reduce, b1, b2_reduce, b2, b3 = filters
  # The published checkpoint names Mixed_5b's second Branch_2 conv 0a.
  b2_name = 'Conv2d_0a_3x3' if block == 'Mixed_5b' else 'Conv2d_0b_3x3'
  return [
      [iu.conv(b0, [1, 1], 'Conv2d_0a_1x1')],
      [iu.conv(b1_reduce, [1, 1], 'Conv2d_0a_1x1'),
       iu.conv(b1, [3, 3], 'Conv2d_0b_3x3')],
      [iu.conv(b2_reduce, [1, 1], 'Conv2d_0a_1x1'),
       iu.conv(b2, [3, 3], b2_name)],
      [iu.max_pool([3, 3], 'MaxPool_0a_3x3'),
       iu.conv(b3, [1, 1], 'Conv2d_0b_1x1')],
  ]


def _stages():
  blocks = dict(_BLOCKS)

  def block(name):
    return name, functools.partial(iu.mixed_block,
                                   branches=_branches(name, blocks[name]),
                                   scope=name)

  def conv(name, depth, kernel, **options):
    return name, lambda net: slim.conv2d(net, depth, kernel, scope=name,
                                         **options)

  def pool(name, kernel):
    return name, lambda net: slim.max_pool2d(net, kernel, stride=2,
                                             scope=name)

  return [
      conv('Conv2d_1a_7x7', 64, [7, 7], stride=2),
      pool('MaxPool_2a_3x3', [3, 3]),
      conv('Conv2d_2b_1x1', 64, [1, 1]),
      conv('Conv2d_2c_3x3', 192, [3, 3]),
      pool('MaxPool_3a_3x3', [3, 3]),
      block('Mixed_3b'), block('Mixed_3c'),
      pool('MaxPool_4a_3x3', [3, 3]),
      block('Mixed_4b'), block('Mixed_4c'), block('Mixed_4d'),
      block('Mixed_4e'), block('Mixed_4f'),
      pool('MaxPool_5a_2x2', [2, 2]),
      block('Mixed_5b'), block('Mixed_5c'),
  ]


def inception_v1_base(inputs, final_endpoint='Mixed_5c', scope='InceptionV1'):
  """The convolutional trunk of Inception v1, up to `final_endpoint`.

  Args:
    inputs: `[batch, height, width, channels]` float tensor.
    final_endpoint: name of the last end point to build (see the module
      docstring).
    scope: variable scope (string or scope object).

  Returns:
    `(net, end_points)`.

  Raises:
    ValueError: unknown `final_endpoint`.
  """
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=iu.trunc_normal(0.01)):
    return iu.build_base(inputs, _stages(), final_endpoint, scope,
                         'InceptionV1', [slim.conv2d, slim.max_pool2d])


def inception_v1(inputs, num_classes=1000, is_training=True,
                 dropout_keep_prob=0.8, prediction_fn=None,
                 spatial_squeeze=True, reuse=None, scope='InceptionV1',
                 global_pool=False):
  """Inception v1 classifier.

  Args:
    inputs: `[batch, 224, 224, channels]` float tensor (other sizes need
      `global_pool=True`).
    num_classes: number of logits.
    is_training: Python bool or boolean tensor (batch norm, dropout).
    dropout_keep_prob: keep probability before the logits.
    prediction_fn: logits -> predictions (default `slim.softmax`).
    spatial_squeeze: return `[batch, num_classes]` logits.
    reuse: reuse the variables of `scope`.
    scope: variable scope.
    global_pool: average the final map over all positions instead of a
      fixed 7x7 window.

  Returns:
    `(logits, end_points)`; end points include `Logits` and `Predictions`.
  """
  with iu.classifier_scope(inputs, scope, 'InceptionV1', reuse,
                           is_training) as sc:
    net, end_points = inception_v1_base(inputs, scope=sc)
    with _V1.variable_scope('Logits'):
      # A fixed 7x7 window, as in TF-Slim (no shrinking for small inputs).
      net = iu.pool_features(net, end_points, global_pool, [7, 7], 1,
                             'AvgPool_0a_7x7', end_point=True, shrink=False)
      net = slim.dropout(net, dropout_keep_prob, scope='Dropout_0b')
      logits = iu.conv_logits(net, num_classes, spatial_squeeze,
                              'Conv2d_0c_1x1')
      iu.add_predictions(end_points, logits, prediction_fn)
  return logits, end_points


inception_v1.default_image_size = 224


def inception_v1_arg_scope(weight_decay=0.00004, use_batch_norm=True,
                           batch_norm_var_collection='moving_vars'):
  """Inception v1 layer defaults (see `inception_utils.inception_arg_scope`)."""
  return iu.inception_arg_scope(
      weight_decay=weight_decay, use_batch_norm=use_batch_norm,
      batch_norm_var_collection=batch_norm_var_collection)
