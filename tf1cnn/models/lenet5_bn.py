"""LeNet-5 with batch norm for 28x28 grey images (seed 004's Keras network).

Keras `Conv2D` and `MaxPooling2D` default to VALID padding, and the seed
places batch norm between each convolution and its max pool, with the ReLU
after the pool. Batch norm has the Keras defaults: beta, gamma, the two
moving statistics, momentum 0.99, epsilon 1e-3.

Layers on 28x28x1 (output shape, parameters):

    conv1    conv 3x3x1x6, VALID, BN           26x26x6     60 + 24
    pool1    max pool 2x2 / 2 VALID, ReLU      13x13x6
    conv2    conv 3x3x6x16, VALID, BN          11x11x16   880 + 64
    pool2    max pool 2x2 / 2 VALID, ReLU       5x5x16
    fc1      dense 400 -> 120, ReLU            120      48,120
    fc2      dense 120 -> 84, ReLU             84       10,164
    logits   dense 84 -> 10                    10          850

In all 60,162 parameters: 60,118 trainable and 44 non-trainable (the moving
means and variances of the 6 + 16 batch-norm channels).
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

# Parameter counts on 28x28x1 with 10 classes.
NUM_PARAMETERS = 60162
NUM_TRAINABLE_PARAMETERS = 60118
NUM_NON_TRAINABLE_PARAMETERS = 44


def _conv_bn_pool_relu(index, inputs, out_channels, is_training, weight_decay,
                       batch_norm_decay):
  """VALID 3x3 conv with bias, batch norm, VALID 2x2 max pool, then ReLU."""
  conv_name = f'conv{index}'
  in_channels = int(inputs.shape[-1])
  net = layers.conv_layer(conv_name, inputs, [3, 3, in_channels, out_channels],
                          padding='VALID', activation=None,
                          weight_decay=weight_decay)
  # Re-entering the scope by name puts the batch norm next to the weights.
  with _V1.variable_scope(conv_name):
    conv = layers.batch_norm(net, is_training, decay=batch_norm_decay,
                             epsilon=BATCH_NORM_EPSILON)
  net = layers.max_pool_lrn(f'pool{index}', conv, 2, strides=2,
                            padding='VALID')
  return conv, tf.nn.relu(net, name=f'relu{index}')


@registry.register_model('lenet5_bn', image_size=default_image_size,
                         channels=default_channels,
                         num_classes=default_num_classes,
                         logits_scopes=('lenet5_bn/logits',))
def lenet5_bn(images, num_classes=default_num_classes, is_training=False,
              weight_decay=0.0, scope=None,
              batch_norm_decay=BATCH_NORM_DECAY):
  """Builds the seed 004 network and returns `(logits, end_points)`.

  Args:
    images: `[batch, 28, 28, C]` float tensor.
    num_classes: number of output classes.
    is_training: Python bool or boolean tensor (batch norm mode).
    weight_decay: L2 coefficient for all weights (the seed uses none).
    scope: variable scope of the model; defaults to 'lenet5_bn'.
    batch_norm_decay: moving-average decay of the batch norms (Keras 0.99).

  Returns:
    `(logits, end_points)`: logits `[batch, num_classes]` and a dict with
    'conv1', 'pool1', 'conv2', 'pool2' (after the ReLU), 'fc1', 'fc2' and
    'Logits'; 'conv<i>' is the batch-normalised convolution.
  """
  end_points = {}
  with _V1.variable_scope(scope or 'lenet5_bn', values=[images]):
    net = images
    for index, filters in ((1, 6), (2, 16)):
      conv, net = _conv_bn_pool_relu(index, net, filters, is_training,
                                     weight_decay, batch_norm_decay)
      end_points[f'conv{index}'] = conv
      end_points[f'pool{index}'] = net
    net = layers.local_layer('fc1', net, [None, 120],
                             weight_decay=weight_decay)
    end_points['fc1'] = net
    net = layers.local_layer('fc2', net, [120, 84], weight_decay=weight_decay)
    end_points['fc2'] = net
    logits = layers.local_layer('logits', net, [84, num_classes],
                                activation=None, weight_decay=weight_decay)
  end_points['Logits'] = logits
  return logits, end_points
