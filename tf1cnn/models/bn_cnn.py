"""The batch-normalised all-convolutional CIFAR-10 network of seed 002.

Five 3x3 convolutions (stride 1, SAME, with biases), each followed by batch
norm and ReLU; a 2x2 / 2 SAME max pool after the first four; a 4x4 / 4 SAME
average pool; the `num_classes` channels of the last layer are the logits.
As in the seed, the batch norm is `tf.contrib.layers.batch_norm` with its
defaults apart from `decay=0.9`: a learned offset beta but no scale gamma
(`scale=False`), epsilon 1e-3.

Layers on 32x32x3 (output shape, parameters: conv weights + biases, batch
norm beta, moving statistics):

    conv1     conv 3x3x3x64, BN, ReLU       32x32x64    1,792 +  64 + 128
    pool1     max pool 2x2 / 2              16x16x64
    conv2     conv 3x3x64x64, BN, ReLU      16x16x64   36,928 +  64 + 128
    pool2     max pool 2x2 / 2               8x8x64
    conv3     conv 3x3x64x32, BN, ReLU       8x8x32    18,464 +  32 +  64
    pool3     max pool 2x2 / 2               4x4x32
    conv4     conv 3x3x32x16, BN, ReLU       4x4x16     4,624 +  16 +  32
    pool4     max pool 2x2 / 2               2x2x16
    conv5     conv 3x3x16x10, BN, ReLU       2x2x10     1,450 +  10 +  20
    avg_pool  avg pool 4x4 / 4 SAME          1x1x10  (the mean of the 2x2 map)
    logits    reshape to [batch, 10]         10

In all 63,816 parameters: 63,444 trainable (63,258 in the convolutions, 186
batch-norm offsets) and 372 non-trainable moving statistics, which is what a
Keras model of `Conv2D` and `BatchNormalization(scale=False)` layers reports.
With `batch_norm_scale=True` (the Keras default) 186 gammas are added:
64,002 in all, 63,630 trainable.

The logits pass through the last ReLU, as in the seed, so they are never
negative. The seed updates the moving statistics in place
(`updates_collections=None`); here the update ops go to `UPDATE_OPS`, which
the train op depends on, like every batch-norm model of the package.
"""

import tensorflow as tf

from tf1cnn import layers
from tf1cnn.models import registry

_V1 = tf.compat.v1

default_image_size = 32
default_channels = 3
default_num_classes = 10

BATCH_NORM_DECAY = 0.9
BATCH_NORM_EPSILON = 1e-3

# Filters of conv1..conv4; conv5 has one filter per class.
HIDDEN_FILTERS = (64, 64, 32, 16)

# Parameter counts on 32x32x3 with 10 classes and batch_norm_scale=False.
NUM_PARAMETERS = 63816
NUM_TRAINABLE_PARAMETERS = 63444
NUM_NON_TRAINABLE_PARAMETERS = 372


def _conv_bn_relu(name, inputs, out_channels, is_training, weight_decay,
                  batch_norm_decay, batch_norm_scale):
  """3x3 SAME convolution with bias, batch norm and ReLU in one scope."""
  in_channels = int(inputs.shape[-1])
  net = layers.conv_layer(name, inputs, [3, 3, in_channels, out_channels],
                          activation=None, weight_decay=weight_decay)
  # Re-entering the scope by name puts the batch norm next to the weights.
  with _V1.variable_scope(name):
    net = layers.batch_norm(net, is_training, decay=batch_norm_decay,
                            epsilon=BATCH_NORM_EPSILON,
                            scale=batch_norm_scale)
    return tf.nn.relu(net, name='relu')


@registry.register_model('bn_cnn', image_size=default_image_size,
                         channels=default_channels,
                         num_classes=default_num_classes,
                         logits_scopes=('bn_cnn/conv5',))
def bn_cnn(images, num_classes=default_num_classes, is_training=False,
           weight_decay=0.0, scope=None, batch_norm_decay=BATCH_NORM_DECAY,
           batch_norm_scale=False):
  """Builds the seed 002 network and returns `(logits, end_points)`.

  Args:
    images: `[batch, 32, 32, C]` float tensor. The final 4x4 / 4 SAME average
      pool reduces the 2x2 map of 32x32 inputs to 1x1; other sizes must
      leave a map of at most 4x4 after the four max pools.
    num_classes: number of output classes (the filters of conv5).
    is_training: Python bool or boolean tensor (batch norm mode).
    weight_decay: L2 coefficient for the convolution weights (the seed uses
      none).
    scope: variable scope of the model; defaults to 'bn_cnn'.
    batch_norm_decay: moving-average decay (0.9 in the seed).
    batch_norm_scale: learn a batch-norm scale gamma (the seed does not).

  Returns:
    `(logits, end_points)`: logits `[batch, num_classes]` and a dict with
    'conv1'..'conv5', 'pool1'..'pool4', 'avg_pool' and 'Logits'.

  Raises:
    ValueError: the input is too large for the final pool to reach 1x1.
  """
  end_points = {}
  unit_options = dict(is_training=is_training, weight_decay=weight_decay,
                      batch_norm_decay=batch_norm_decay,
                      batch_norm_scale=batch_norm_scale)
  with _V1.variable_scope(scope or 'bn_cnn', values=[images]):
    net = images
    for index, filters in enumerate(HIDDEN_FILTERS, start=1):
      net = _conv_bn_relu(f'conv{index}', net, filters, **unit_options)
      end_points[f'conv{index}'] = net
      net = layers.max_pool_lrn(f'pool{index}', net, 2, strides=2,
                                padding='SAME')
      end_points[f'pool{index}'] = net
    net = _conv_bn_relu('conv5', net, num_classes, **unit_options)
    end_points['conv5'] = net
    net = layers.avg_pool_lrn('avg_pool', net, 4, strides=4, padding='SAME')
    end_points['avg_pool'] = net
    spatial = net.shape[1:3].as_list()
    if spatial != [1, 1]:
      raise ValueError(f'bn_cnn: the average pool leaves a {spatial} map; '
                       'the input must be at most 64x64 (32x32 for CIFAR-10)')
    logits = tf.reshape(net, [-1, num_classes], name='logits')
  end_points['Logits'] = logits
  return logits, end_points
