"""A small Inception network for Fashion-MNIST (the Keras model of seed 000).

Seed 000 builds three Keras models: `ConvBNRelu` (conv + batch norm + ReLU),
`InceptionBlk` (four parallel branches concatenated on the channels) and
`Inception(num_layers, num_classes, init_ch=16)`. This module rebuilds them in
graph mode. Every convolution of the seed uses `ConvBNRelu`'s default kernel
size, 3x3 (the seed passes no other size anywhere), with a bias, as Keras
`Conv2D` has one, followed by a Keras-style batch norm (beta, gamma and the
two moving statistics; momentum 0.99, epsilon 1e-3).

`inception_block(ch, stride)`, with input `C` channels and output `4 * ch`:

    conv1                 conv 3x3 / stride, ch            branch 1
    conv2                 conv 3x3 / stride, ch            branch 2
    conv3_1 -> conv3_2    conv 3x3 / stride, ch -> conv 3x3 / 1, ch
    pool -> pool_conv     max pool 3x3 / 1 SAME -> conv 3x3 / stride, ch
    concat                the four branches on the channel axis

Layers of `Inception(2, 10)` on 28x28x1 (output shape, parameters):

    stem                    ConvBNRelu 16                 28x28x16       224
    blocks/mixed_1a         InceptionBlk(16, stride 2)    14x14x64    11,920
    blocks/mixed_1b         InceptionBlk(16, stride 1)    14x14x64    39,568
    blocks/mixed_2a         InceptionBlk(32, stride 2)     7x7x128    83,744
    blocks/mixed_2b         InceptionBlk(32, stride 1)     7x7x128   157,472
    global_pool             global average pooling         128             0
    logits                  dense 128 -> 10               10          1,290

In all 294,218 parameters: 293,226 trainable and 992 non-trainable (the
moving means and variances of the 21 batch norms), split 224 / 292,704 /
1,290 over the stem, the blocks and the dense layer, exactly as the Keras
model summary of seed 000 reports.

Variables are named like `inception/stem/weights`,
`inception/blocks/mixed_1a/conv3_2/biases` and
`inception/blocks/mixed_2b/pool_conv/batch_norm/moving_mean`.
"""

import tensorflow as tf

from tf1cnn import layers
from tf1cnn.models import registry

_V1 = tf.compat.v1

default_image_size = 28
default_channels = 1
default_num_classes = 10

# The seed's Keras BatchNormalization defaults.
BATCH_NORM_DECAY = layers.KERAS_BATCH_NORM_DECAY
BATCH_NORM_EPSILON = layers.KERAS_BATCH_NORM_EPSILON

# Parameter counts of Inception(2, 10) on 28x28x1, as in seed 000's summary.
NUM_PARAMETERS = 294218
NUM_TRAINABLE_PARAMETERS = 293226
NUM_NON_TRAINABLE_PARAMETERS = 992
NUM_STEM_PARAMETERS = 224
NUM_BLOCK_PARAMETERS = 292704
NUM_LOGITS_PARAMETERS = 1290


def conv_bn_relu(name, inputs, out_channels, is_training, kernel_size=3,
                 stride=1, padding='SAME', weight_decay=0.0,
                 batch_norm_decay=BATCH_NORM_DECAY):
  """Convolution with bias, batch norm and ReLU (seed 000's `ConvBNRelu`).

  The convolution and its batch norm share `variable_scope(name)`:
  `<name>/weights`, `<name>/biases` and `<name>/batch_norm/{beta, gamma,
  moving_mean, moving_variance}`.

  Args:
    name: variable scope of the unit.
    inputs: NHWC float tensor with a static channel dimension.
    out_channels: number of filters.
    is_training: Python bool or boolean tensor (batch statistics and moving
      statistics updates while training).
    kernel_size: square kernel size.
    stride: convolution stride.
    padding: 'SAME' or 'VALID'.
    weight_decay: L2 coefficient for the convolution weights.
    batch_norm_decay: moving-average decay of the batch norm.

  Returns:
    The activation tensor.
  """
  in_channels = int(inputs.shape[-1])
  net = layers.conv_layer(
      name, inputs, [kernel_size, kernel_size, in_channels, out_channels],
      strides=stride, padding=padding, activation=None,
      weight_decay=weight_decay)
  # Re-entering the scope by name puts the batch norm next to the weights.
  with _V1.variable_scope(name):
    net = layers.batch_norm(net, is_training, decay=batch_norm_decay,
                            epsilon=BATCH_NORM_EPSILON)
    return tf.nn.relu(net, name='relu')


def inception_block(name, inputs, channels, stride, is_training,
                    weight_decay=0.0, batch_norm_decay=BATCH_NORM_DECAY):
  """Seed 000's `InceptionBlk`: four branches concatenated on the channels.

  Args:
    name: variable scope of the block.
    inputs: NHWC float tensor.
    channels: filters of every branch; the block outputs `4 * channels`.
    stride: stride of the first convolution of every branch (2 halves the
      spatial size).
    is_training: Python bool or boolean tensor.
    weight_decay: L2 coefficient for the convolution weights.
    batch_norm_decay: moving-average decay of the batch norms.

  Returns:
    The concatenated tensor `[batch, H / stride, W / stride, 4 * channels]`.
  """
  unit_options = dict(is_training=is_training, weight_decay=weight_decay,
                      batch_norm_decay=batch_norm_decay)
  with _V1.variable_scope(name) as scope:
    branch_1 = conv_bn_relu('conv1', inputs, channels, stride=stride,
                            **unit_options)
    branch_2 = conv_bn_relu('conv2', inputs, channels, kernel_size=3,
                            stride=stride, **unit_options)
    branch_3 = conv_bn_relu('conv3_1', inputs, channels, kernel_size=3,
                            stride=stride, **unit_options)
    branch_3 = conv_bn_relu('conv3_2', branch_3, channels, kernel_size=3,
                            stride=1, **unit_options)
    branch_4 = layers.max_pool_lrn('pool', inputs, 3, strides=1,
                                   padding='SAME')
    branch_4 = conv_bn_relu('pool_conv', branch_4, channels, stride=stride,
                            **unit_options)
    net = tf.concat([branch_1, branch_2, branch_3, branch_4], axis=3,
                    name='concat')
    return layers.log_output_shape(scope.name, net)


@registry.register_model('inception', image_size=default_image_size,
                         channels=default_channels,
                         num_classes=default_num_classes,
                         logits_scopes=('inception/logits',))
def inception(images, num_classes=default_num_classes, is_training=False,
              weight_decay=0.0, scope=None, num_layers=2, init_ch=16,
              batch_norm_decay=BATCH_NORM_DECAY):
  """Builds seed 000's `Inception(num_layers, num_classes, init_ch)`.

  One `ConvBNRelu(init_ch)` stem, then for each of `num_layers` blocks a
  stride-2 and a stride-1 inception block of the same width, the width
  doubling after every block; global average pooling and a dense layer.

  Args:
    images: `[batch, H, W, C]` float tensor (28x28x1 for Fashion-MNIST).
    num_classes: number of output classes.
    is_training: Python bool or boolean tensor (batch norm mode).
    weight_decay: L2 coefficient for all weights (the seed uses none).
    scope: variable scope of the model; defaults to 'inception'.
    num_layers: number of stride-2/stride-1 block pairs.
    init_ch: filters of the stem and of the first pair of blocks.
    batch_norm_decay: moving-average decay of the batch norms (Keras 0.99).

  Returns:
    `(logits, end_points)`: logits `[batch, num_classes]` and a dict with
    'stem', 'mixed_<i>a', 'mixed_<i>b' for i in 1..num_layers,
    'global_pool' and 'Logits'.
  """
  end_points = {}
  with _V1.variable_scope(scope or 'inception', values=[images]):
    net = conv_bn_relu('stem', images, init_ch, is_training=is_training,
                       weight_decay=weight_decay,
                       batch_norm_decay=batch_norm_decay)
    end_points['stem'] = net
    channels = init_ch
    with _V1.variable_scope('blocks'):
      for block_index in range(1, num_layers + 1):
        for suffix, stride in (('a', 2), ('b', 1)):
          block_name = f'mixed_{block_index}{suffix}'
          net = inception_block(block_name, net, channels, stride,
                                is_training=is_training,
                                weight_decay=weight_decay,
                                batch_norm_decay=batch_norm_decay)
          end_points[block_name] = net
        channels *= 2
    net = tf.reduce_mean(net, axis=[1, 2], name='global_pool')
    end_points['global_pool'] = net
    logits = layers.local_layer('logits', net, [None, num_classes],
                                activation=None, weight_decay=weight_decay)
  end_points['Logits'] = logits
  return logits, end_points
