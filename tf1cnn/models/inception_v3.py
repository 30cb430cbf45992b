"""Inception v3 in TF-Slim's layout, with the auxiliary classifier.

Szegedy et al., "Rethinking the Inception Architecture for Computer Vision"
(arXiv:1512.00567). Variable names are those of TF-Slim's
`inception_v3.ckpt` (`InceptionV3/...`), including its historical quirks
(`Mixed_5c/Branch_1/Conv_1_0c_5x5`, the 3x3 kernels of `Mixed_6a`'s
`Conv2d_1a_1x1`).

End points at 299x299x3:

    Conv2d_1a_3x3   3x3 / 2 VALID, 32      149x149x32
    Conv2d_2a_3x3   3x3 VALID, 32          147x147x32
    Conv2d_2b_3x3   3x3 SAME, 64           147x147x64
    MaxPool_3a_3x3  3x3 / 2 VALID           73x73x64
    Conv2d_3b_1x1   80                      73x73x80
    Conv2d_4a_3x3   3x3 VALID, 192          71x71x192
    MaxPool_5a_3x3  3x3 / 2 VALID           35x35x192
    Mixed_5b, 5c, 5d                        35x35x256, 288, 288
    Mixed_6a        reduction               17x17x768
    Mixed_6b .. 6e  factorised 7x7          17x17x768
    Mixed_7a        reduction                8x8x1280
    Mixed_7b, 7c    split 1x3 / 3x1          8x8x2048
    AuxLogits       from Mixed_6e: 5x5 / 3 avg pool, 1x1 128, 5x5 768,
                    1x1 num_classes (`Conv2d_2b_1x1`)
    Logits          8x8 average pool, dropout, 1x1 conv `Conv2d_1c_1x1`

Every convolution but the two classifiers' last has batch norm without
scale. At 1001 classes: 27,182,194 parameters, 27,145,970 trainable (36,224
moving statistics), 3,328,361 of them in the auxiliary head.
"""

import functools

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import inception_utils as iu

_V1 = tf.compat.v1


def _block_35(pool_filters, quirky_names=False):
  """35x35 block; Mixed_5c names its 5x5 branch differently."""
  if quirky_names:
    branch_5x5 = [iu.conv(48, [1, 1], 'Conv2d_0b_1x1'),
                  iu.conv(64, [5, 5], 'Conv_1_0c_5x5')]
  else:
    branch_5x5 = [iu.conv(48, [1, 1], 'Conv2d_0a_1x1'),
                  iu.conv(64, [5, 5], 'Conv2d_0b_5x5')]
  return [
      [iu.conv(64, [1, 1], 'Conv2d_0a_1x1')],
      branch_5x5,
      [iu.conv(64, [1, 1], 'Conv2d_0a_1x1'),
       iu.conv(96, [3, 3], 'Conv2d_0b_3x3'),
       iu.conv(96, [3, 3], 'Conv2d_0c_3x3')],
      [iu.avg_pool([3, 3], 'AvgPool_0a_3x3'),
       iu.conv(pool_filters, [1, 1], 'Conv2d_0b_1x1')],
  ]


def _block_17(width):
  """17x17 block with 7x7 convolutions factorised into 1x7 and 7x1."""
  return [
      [iu.conv(192, [1, 1], 'Conv2d_0a_1x1')],
      [iu.conv(width, [1, 1], 'Conv2d_0a_1x1'),
       iu.conv(width, [1, 7], 'Conv2d_0b_1x7'),
       iu.conv(192, [7, 1], 'Conv2d_0c_7x1')],
      [iu.conv(width, [1, 1], 'Conv2d_0a_1x1'),
       iu.conv(width, [7, 1], 'Conv2d_0b_7x1'),
       iu.conv(width, [1, 7], 'Conv2d_0c_1x7'),
       iu.conv(width, [7, 1], 'Conv2d_0d_7x1'),
       iu.conv(192, [1, 7], 'Conv2d_0e_1x7')],
      [iu.avg_pool([3, 3], 'AvgPool_0a_3x3'),
       iu.conv(192, [1, 1], 'Conv2d_0b_1x1')],
  ]


def _block_8(second_split_name):
  """8x8 block whose 3x3 paths end in parallel 1x3 and 3x1 convolutions."""
  return [
      [iu.conv(320, [1, 1], 'Conv2d_0a_1x1')],
      [iu.conv(384, [1, 1], 'Conv2d_0a_1x1'),
       iu.split(iu.conv(384, [1, 3], 'Conv2d_0b_1x3'),
                iu.conv(384, [3, 1], second_split_name))],
      [iu.conv(448, [1, 1], 'Conv2d_0a_1x1'),
       iu.conv(384, [3, 3], 'Conv2d_0b_3x3'),
       iu.split(iu.conv(384, [1, 3], 'Conv2d_0c_1x3'),
                iu.conv(384, [3, 1], 'Conv2d_0d_3x1'))],
      [iu.avg_pool([3, 3], 'AvgPool_0a_3x3'),
       iu.conv(192, [1, 1], 'Conv2d_0b_1x1')],
  ]


_VALID_2 = dict(stride=2, padding='VALID')

# The layers that default to stride 1 and 'SAME' in the trunk and aux head.
_SAME_PADDED = (slim.conv2d, slim.max_pool2d, slim.avg_pool2d)

_BLOCKS = (
    ('Mixed_5b', _block_35(32)),
    ('Mixed_5c', _block_35(64, quirky_names=True)),
    ('Mixed_5d', _block_35(64)),
    ('Mixed_6a', [
        [iu.conv(384, [3, 3], 'Conv2d_1a_1x1', **_VALID_2)],
        [iu.conv(64, [1, 1], 'Conv2d_0a_1x1'),
         iu.conv(96, [3, 3], 'Conv2d_0b_3x3'),
         iu.conv(96, [3, 3], 'Conv2d_1a_1x1', **_VALID_2)],
        [iu.max_pool([3, 3], 'MaxPool_1a_3x3', **_VALID_2)],
    ]),
    ('Mixed_6b', _block_17(128)),
    ('Mixed_6c', _block_17(160)),
    ('Mixed_6d', _block_17(160)),
    ('Mixed_6e', _block_17(192)),
    ('Mixed_7a', [
        [iu.conv(192, [1, 1], 'Conv2d_0a_1x1'),
         iu.conv(320, [3, 3], 'Conv2d_1a_3x3', **_VALID_2)],
        [iu.conv(192, [1, 1], 'Conv2d_0a_1x1'),
         iu.conv(192, [1, 7], 'Conv2d_0b_1x7'),
         iu.conv(192, [7, 1], 'Conv2d_0c_7x1'),
         iu.conv(192, [3, 3], 'Conv2d_1a_3x3', **_VALID_2)],
        [iu.max_pool([3, 3], 'MaxPool_1a_3x3', **_VALID_2)],
    ]),
    ('Mixed_7b', _block_8('Conv2d_0b_3x1')),
    ('Mixed_7c', _block_8('Conv2d_0c_3x1')),
)

# The stem: (end point, depth or None for a pool, kernel, stride, padding).
_STEM = (
    ('Conv2d_1a_3x3', 32, [3, 3], 2, 'VALID'),
    ('Conv2d_2a_3x3', 32, [3, 3], 1, 'VALID'),
    ('Conv2d_2b_3x3', 64, [3, 3], 1, 'SAME'),
    ('MaxPool_3a_3x3', None, [3, 3], 2, 'VALID'),
    ('Conv2d_3b_1x1', 80, [1, 1], 1, 'VALID'),
    ('Conv2d_4a_3x3', 192, [3, 3], 1, 'VALID'),
    ('MaxPool_5a_3x3', None, [3, 3], 2, 'VALID'),
)


def _stem_layer(name, filters, kernel, stride, padding, depth):
  if filters is None:
    return lambda net: slim.max_pool2d(net, kernel, stride=stride,
                                       padding=padding, scope=name)
  return lambda net: slim.conv2d(net, depth(filters), kernel, stride=stride,
                                 padding=padding, scope=name)


def _stages(depth):
  stages = [(row[0], _stem_layer(*row, depth=depth)) for row in _STEM]
  for name, branches in _BLOCKS:
    stages.append((name, functools.partial(
        iu.mixed_block, branches=branches, scope=name, depth=depth)))
  return stages


def inception_v3_base(inputs, final_endpoint='Mixed_7c', min_depth=16,
                      depth_multiplier=1.0, scope=None):
  """The convolutional trunk of Inception v3, up to `final_endpoint`.

  Arguments, return value and errors as `inception_v2.inception_v2_base`
  (the end points are those of the module docstring).
  """
  depth = iu.depth_fn(depth_multiplier, min_depth)
  return iu.build_base(inputs, _stages(depth), final_endpoint, scope,
                       'InceptionV3', _SAME_PADDED)


def _aux_logits(net, num_classes, depth, spatial_squeeze):
  """The auxiliary classifier on Mixed_6e."""
  with _V1.variable_scope('AuxLogits'):
    net = slim.avg_pool2d(net, [5, 5], stride=3, padding='VALID',
                          scope='AvgPool_1a_5x5')
    net = slim.conv2d(net, depth(128), [1, 1], scope='Conv2d_1b_1x1')
    kernel = iu.reduced_kernel_size(net, [5, 5])
    net = slim.conv2d(net, depth(768), kernel, padding='VALID',
                      weights_initializer=iu.trunc_normal(0.01),
                      scope='Conv2d_2a_{}x{}'.format(*kernel))
    return iu.conv_logits(net, num_classes, spatial_squeeze, 'Conv2d_2b_1x1',
                          weights_initializer=iu.trunc_normal(0.001))


def inception_v3(inputs, num_classes=1000, is_training=True,
                 dropout_keep_prob=0.8, min_depth=16, depth_multiplier=1.0,
                 prediction_fn=None, spatial_squeeze=True, reuse=None,
                 create_aux_logits=True, scope='InceptionV3',
                 global_pool=False):
  """Inception v3 classifier.

  Arguments, return value and errors as `inception_v2.inception_v2`, except
  that `inputs` are 299x299 nominal (at least 75; on small inputs the pools of
  both heads shrink to the map), `global_pool` replaces an 8x8 window, and:

  Args:
    create_aux_logits: build the auxiliary head (`end_points['AuxLogits']`).
  """
  depth = iu.depth_fn(depth_multiplier, min_depth)
  with iu.classifier_scope(inputs, scope, 'InceptionV3', reuse,
                           is_training) as sc:
    net, end_points = inception_v3_base(
        inputs, scope=sc, min_depth=min_depth,
        depth_multiplier=depth_multiplier)
    if create_aux_logits and num_classes:
      with slim.arg_scope(_SAME_PADDED, stride=1, padding='SAME'):
        end_points['AuxLogits'] = _aux_logits(
            end_points['Mixed_6e'], num_classes, depth, spatial_squeeze)
    with _V1.variable_scope('Logits'):
      net = iu.pool_features(net, end_points, global_pool, [8, 8], 2,
                             'AvgPool_1a_{}x{}')
      net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
      end_points['PreLogits'] = net
      logits = iu.conv_logits(net, num_classes, spatial_squeeze,
                              'Conv2d_1c_1x1')
    iu.add_predictions(end_points, logits, prediction_fn)
  return logits, end_points


inception_v3.default_image_size = 299


def inception_v3_arg_scope(weight_decay=0.00004,
                           batch_norm_var_collection='moving_vars',
                           batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                           use_fused_batchnorm=True):
  """Inception v3 layer defaults (see `inception_utils.inception_arg_scope`)."""
  return iu.inception_arg_scope(
      weight_decay=weight_decay, batch_norm_decay=batch_norm_decay,
      batch_norm_epsilon=batch_norm_epsilon,
      batch_norm_var_collection=batch_norm_var_collection,
      use_fused_batchnorm=use_fused_batchnorm)
