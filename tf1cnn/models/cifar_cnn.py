"""The two-convolution CIFAR-100 network of seed 001.

Two 5x5 SAME convolutions with ReLU, each followed by a 2x2 / 2 SAME max
pool, then two dense layers. The seed regularises the convolution kernels
with Keras `kernel_regularizer=keras.regularizers.l2(0.01)`; Keras adds
`0.01 * sum(w**2)`, while the weight decay of `tf1cnn.layers` adds
`weight_decay * tf.nn.l2_loss(w) = weight_decay * sum(w**2) / 2`, so the
convolutions get `2 * keras_conv_l2 = 0.02` (plus the model's uniform
`weight_decay`) to add the same penalty.

Layers on 32x32x3 with 100 classes (output shape, parameters):

    conv1    conv 5x5x3x32, SAME, ReLU       32x32x32        2,432
    pool1    max pool 2x2 / 2 SAME           16x16x32
    conv2    conv 5x5x32x32, SAME, ReLU      16x16x32       25,632
    pool2    max pool 2x2 / 2 SAME            8x8x32
    fc1      dense 2,048 -> 1,024, ReLU      1,024       2,098,176
    (dropout at `drop_rate` while training; 0, i.e. none, by default)
    logits   dense 1,024 -> 100              100           102,500

In all 2,228,740 parameters, all trainable; with 10 classes (CIFAR-10) the
logits layer has 10,250 and the model 2,136,490. The seed names the widths
of both convolutions (32); it gives the dense layers only as "two fully
connected layers", and the hidden one has the 1,024 units of the course code
the seed summarises (`hidden_units`), the output one a unit per class. That
course code widens the second convolution to 64 filters
(`conv2_filters=64`: 4,351,524 parameters with 100 classes).
"""

import tensorflow as tf

from tf1cnn import layers
from tf1cnn.models import registry

_V1 = tf.compat.v1

default_image_size = 32
default_channels = 3
default_num_classes = 100

# The seed's Keras regulariser on the convolution kernels: l2(0.01).
KERAS_CONV_L2 = 0.01

# Parameter counts on 32x32x3 with the default options.
NUM_PARAMETERS = 2228740
NUM_PARAMETERS_10_CLASSES = 2136490
NUM_PARAMETERS_CONV2_64 = 4351524


def keras_l2_to_weight_decay(keras_l2):
  """Converts a Keras `l2(c)` coefficient into the `tf.nn.l2_loss` one.

  Keras adds `c * sum(w**2)`; `layers.add_weight_decay` adds
  `weight_decay * sum(w**2) / 2`, so the same penalty needs `2 * c`.
  """
  return 2.0 * keras_l2


@registry.register_model('cifar_cnn', image_size=default_image_size,
                         channels=default_channels,
                         num_classes=default_num_classes,
                         logits_scopes=('cifar_cnn/logits',))
def cifar_cnn(images, num_classes=default_num_classes, is_training=False,
              weight_decay=0.0, scope=None, keras_conv_l2=KERAS_CONV_L2,
              drop_rate=0.0, hidden_units=1024, conv2_filters=32):
  """Builds the seed 001 network and returns `(logits, end_points)`.

  Args:
    images: `[batch, H, W, C]` float tensor (32x32x3 for CIFAR).
    num_classes: number of output classes (100 for CIFAR-100).
    is_training: Python bool or boolean tensor (enables dropout).
    weight_decay: `tf.nn.l2_loss` coefficient for all weights, on top of the
      convolutions' own regulariser.
    scope: variable scope of the model; defaults to 'cifar_cnn'.
    keras_conv_l2: the seed's Keras `l2` coefficient on the convolution
      kernels (0.01); 0 disables it.
    drop_rate: dropout rate after fc1 while training.
    hidden_units: width of fc1.
    conv2_filters: filters of conv2.

  Returns:
    `(logits, end_points)`: logits `[batch, num_classes]` and a dict with
    'conv1', 'pool1', 'conv2', 'pool2', 'fc1' and 'Logits'.
  """
  end_points = {}
  conv_decay = weight_decay + keras_l2_to_weight_decay(keras_conv_l2)
  in_channels = int(images.shape[-1])
  with _V1.variable_scope(scope or 'cifar_cnn', values=[images]):
    net = layers.conv_layer('conv1', images, [5, 5, in_channels, 32],
                            weight_decay=conv_decay)
    end_points['conv1'] = net
    net = layers.max_pool_lrn('pool1', net, 2, strides=2, padding='SAME')
    end_points['pool1'] = net
    net = layers.conv_layer('conv2', net, [5, 5, 32, conv2_filters],
                            weight_decay=conv_decay)
    end_points['conv2'] = net
    net = layers.max_pool_lrn('pool2', net, 2, strides=2, padding='SAME')
    end_points['pool2'] = net
    net = layers.local_layer('fc1', net, [None, hidden_units],
                             weight_decay=weight_decay)
    end_points['fc1'] = net
    net = layers.dropout(net, drop_rate, is_training)
    logits = layers.local_layer('logits', net, [hidden_units, num_classes],
                                activation=None, weight_decay=weight_decay)
  end_points['Logits'] = logits
  return logits, end_points
