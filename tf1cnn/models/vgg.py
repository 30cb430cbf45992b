"""VGG 11/16/19 (configurations A, D, E) in TF-Slim's layout.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (arXiv:1409.1556). The three fully connected layers are 7x7 and
1x1 convolutions, as in TF-Slim's model zoo, so the variables load from the
published `vgg_16.ckpt` / `vgg_19.ckpt` unchanged:

    <scope>/conv<b>/conv<b>_<i>/{weights,biases}   3x3 SAME convolutions + ReLU
    <scope>/pool<b>                                 2x2 / 2 max pool
    <scope>/fc6/{weights,biases}                    7x7x512x4096, VALID
    <scope>/fc7/{weights,biases}                    1x1x4096x4096
    <scope>/fc8/{weights,biases}                    1x1x4096xnum_classes, linear

Convolutions per block: vgg_a 1,1,2,2,2; vgg_16 2,2,3,3,3; vgg_19 2,2,4,4,4,
with 64, 128, 256, 512, 512 filters. At 224x224x3 and 1000 classes vgg_16 has
138,357,544 parameters and vgg_19 143,667,240 (all trainable); 102,764,544 of
them are fc6's.

    with slim.arg_scope(vgg.vgg_arg_scope(weight_decay=5e-4)):
      logits, end_points = vgg.vgg_16(images, num_classes=1000,
                                      is_training=False)
"""

import tensorflow as tf

from tf1cnn.compat import slim

_V1 = tf.compat.v1

# Number of 3x3 convolutions in each of the five blocks, and their filters.
_BLOCK_FILTERS = (64, 128, 256, 512, 512)
_BLOCK_REPEATS = {
    'vgg_a': (1, 1, 2, 2, 2),
    'vgg_16': (2, 2, 3, 3, 3),
    'vgg_19': (2, 2, 4, 4, 4),
}


def vgg_arg_scope(weight_decay=0.0005):
  """The layer defaults of the VGG nets.

  ReLU convolutions with zero-initialised biases and an L2 penalty of
  `weight_decay` on the weights; convolutions pad 'SAME'.

  Args:
    weight_decay: L2 coefficient of the weights.

  Returns:
    An arg_scope to open around `vgg_16` and friends.
  """
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      weights_regularizer=slim.l2_regularizer(weight_decay),
                      biases_initializer=_V1.zeros_initializer()):
    with slim.arg_scope([slim.conv2d], padding='SAME') as scope:
      return scope


def _vgg(inputs, variant, num_classes, is_training, dropout_keep_prob,
         spatial_squeeze, scope, fc_conv_padding, global_pool):
  """Builds one of the VGG configurations; see `vgg_16` for the arguments."""
  repeats = _BLOCK_REPEATS[variant]
  with _V1.variable_scope(scope, variant, [inputs]) as sc:
    collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                        outputs_collections=collection):
      net = inputs
      for block, (count, filters) in enumerate(
          zip(repeats, _BLOCK_FILTERS), start=1):
        net = slim.repeat(net, count, slim.conv2d, filters, [3, 3],
                          scope=f'conv{block}')
        net = slim.max_pool2d(net, [2, 2], scope=f'pool{block}')
      return classifier(net, sc, collection, [7, 7], fc_conv_padding,
                        num_classes, is_training, dropout_keep_prob,
                        spatial_squeeze, global_pool)


def classifier(net, sc, collection, fc6_kernel, fc6_padding, num_classes,
               is_training, dropout_keep_prob, spatial_squeeze, global_pool,
               **fc8_options):
  """The fully connected layers of VGG and AlexNet v2, as convolutions.

  fc6 (a `fc6_kernel` convolution of 4096 filters), dropout6, fc7 (1x1,
  4096), dropout7 and the linear 1x1 fc8; then the end points.

  Args:
    net: the last pool's output.
    sc: the net's variable scope.
    collection: the collection of the layers' outputs.
    fc6_kernel: fc6's kernel size.
    fc6_padding: fc6's padding.
    num_classes: width of fc8.
    is_training: Python bool or boolean tensor; turns dropout on.
    dropout_keep_prob: keep probability after fc6 and fc7.
    spatial_squeeze: drop the 1x1 spatial axes of the logits.
    global_pool: average fc7 over its spatial axes before fc8.
    **fc8_options: more `slim.conv2d` arguments of fc8.

  Returns:
    `(logits, end_points)`, end points keyed by layer scope.
  """
  net = slim.conv2d(net, 4096, fc6_kernel, padding=fc6_padding, scope='fc6')
  net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                     scope='dropout6')
  net = slim.conv2d(net, 4096, [1, 1], scope='fc7')
  if global_pool:
    net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
  net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                     scope='dropout7')
  net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                    normalizer_fn=None, scope='fc8', **fc8_options)
  end_points = slim.utils.convert_collection_to_dict(collection)
  if global_pool:
    end_points['global_pool'] = net
  if spatial_squeeze:
    net = tf.squeeze(net, [1, 2], name='fc8/squeezed')
    end_points[sc.name + '/fc8'] = net
  return net, end_points


def vgg_a(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
          spatial_squeeze=True, scope='vgg_a', fc_conv_padding='VALID',
          global_pool=False):
  """VGG configuration A (11 weight layers); arguments as `vgg_16`."""
  return _vgg(inputs, 'vgg_a', num_classes, is_training, dropout_keep_prob,
              spatial_squeeze, scope, fc_conv_padding, global_pool)


def vgg_16(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
           spatial_squeeze=True, scope='vgg_16', fc_conv_padding='VALID',
           global_pool=False):
  """VGG configuration D (16 weight layers).

  Args:
    inputs: `[batch, 224, 224, channels]` float tensor (other sizes need
      `fc_conv_padding='SAME'` or give a spatial output).
    num_classes: width of fc8.
    is_training: Python bool or boolean tensor; turns dropout on.
    dropout_keep_prob: keep probability of the dropout after fc6 and fc7.
    spatial_squeeze: drop the 1x1 spatial axes of the logits.
    scope: variable scope of the net.
    fc_conv_padding: padding of the 7x7 fc6 convolution.
    global_pool: average fc7 over its spatial axes before fc8.

  Returns:
    `(logits, end_points)`; logits `[batch, num_classes]` when squeezed,
    end points keyed by layer scope (`vgg_16/conv1/conv1_1`, ...).
  """
  return _vgg(inputs, 'vgg_16', num_classes, is_training, dropout_keep_prob,
              spatial_squeeze, scope, fc_conv_padding, global_pool)


def vgg_19(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
           spatial_squeeze=True, scope='vgg_19', fc_conv_padding='VALID',
           global_pool=False):
  """VGG configuration E (19 weight layers); arguments as `vgg_16`."""
  return _vgg(inputs, 'vgg_19', num_classes, is_training, dropout_keep_prob,
              spatial_squeeze, scope, fc_conv_padding, global_pool)


vgg_a.default_image_size = 224
vgg_16.default_image_size = 224
vgg_19.default_image_size = 224
