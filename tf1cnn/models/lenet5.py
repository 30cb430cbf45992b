"""LeNet-5 for 150x150 colour images (the cat/dog network of seed 003).

    conv1_scope   conv 5x5x3x6, stride 1, SAME, ReLU        150x150x6
    avg_pooling1  avg pool 2x2 / 2, SAME                     75x75x6
    conv2_scope   conv 5x5x6x16, ReLU                        75x75x16
    avg_pooling2  avg pool 2x2 / 2                           38x38x16
    conv3_scope   conv 5x5x16x120, ReLU                      38x38x120
    local1_scope  fully connected 173,280 -> 84, ReLU        84
    (dropout at `drop_rate` while training)
    softmax_linear  84 -> n_classes, weights `softmax_linear/softmax_linear`

At 150x150x3 and 2 classes it has 14,606,766 trainable parameters
(456 + 2,416 + 48,120 + 14,555,604 + 170); almost all of them are in
`local1_scope`, which sees the un-pooled 38x38x120 conv3 map.
"""

import contextlib

import tensorflow as tf

from tf1cnn import layers
from tf1cnn.models import registry

_V1 = tf.compat.v1

default_image_size = 150
default_channels = 3
default_num_classes = 2
NUM_PARAMETERS_150_2 = 14606766


def inference(images, batch_size, n_classes, drop_rate, is_training=False,
              weight_decay=0.0, end_points=None):
  """Builds LeNet-5 exactly as seed 003 does and returns the logits.

  Args:
    images: `[batch, H, W, 3]` float tensor.
    batch_size: static batch size or None (the reshape uses -1 either way).
    n_classes: number of output classes.
    drop_rate: dropout rate after local1 while training (0 disables it).
    is_training: Python bool or boolean tensor; enables dropout.
    weight_decay: L2 coefficient for all weights.
    end_points: optional dict that receives the named layer outputs.

  Returns:
    Logits `[batch, n_classes]`, named `softmax_linear/softmax_linear`.
  """
  del batch_size  # The flattening infers the batch dimension.
  ep = end_points if end_points is not None else {}
  conv1 = layers.conv_layer('conv1_scope', images, [5, 5, 3, 6], [6],
                            weight_decay=weight_decay)
  ep['conv1_scope'] = conv1
  pool1 = layers.avg_pool_lrn('avg_pooling1', conv1, [1, 2, 2, 1], is_lrn=False)
  ep['avg_pooling1'] = pool1
  conv2 = layers.conv_layer('conv2_scope', pool1, [5, 5, 6, 16], [16],
                            weight_decay=weight_decay)
  ep['conv2_scope'] = conv2
  pool2 = layers.avg_pool_lrn('avg_pooling2', conv2, [1, 2, 2, 1], is_lrn=False)
  ep['avg_pooling2'] = pool2
  conv3 = layers.conv_layer('conv3_scope', pool2, [5, 5, 16, 120], [120],
                            weight_decay=weight_decay)
  ep['conv3_scope'] = conv3
  local1 = layers.local_layer('local1_scope', conv3, [None, 84], [84],
                              weight_decay=weight_decay)
  ep['local1_scope'] = local1
  local1 = layers.dropout(local1, drop_rate, is_training)
  with _V1.variable_scope('softmax_linear') as scope:
    weights = _V1.get_variable(
        'softmax_linear', shape=[84, n_classes], dtype=tf.float32,
        initializer=_V1.truncated_normal_initializer(stddev=0.005))
    layers.add_weight_decay(weights, weight_decay)
    biases = _V1.get_variable('biases', shape=[n_classes], dtype=tf.float32,
                              initializer=_V1.constant_initializer(0.1))
    logits = tf.add(tf.matmul(local1, weights), biases, name='softmax_linear')
    layers.log_output_shape(scope.name, logits)
  ep['softmax_linear'] = logits
  return logits


# SAME padding builds at any size; below 17 the second pooling's output
# (ceil(size / 4)) is smaller than conv3's 5x5 kernel, which then sees only
# padding at its borders.
@registry.register_model('lenet5', image_size=default_image_size,
                         channels=default_channels,
                         num_classes=default_num_classes, min_image_size=17,
                         logits_scopes=('softmax_linear',))
def lenet5(images, num_classes=default_num_classes, is_training=False,
           weight_decay=0.0, drop_rate=0.0, scope=None):
  """Factory form: returns `(logits, end_points)`."""
  end_points = {}
  with _V1.variable_scope(scope) if scope else contextlib.nullcontext():
    logits = inference(images, None, num_classes, drop_rate,
                       is_training=is_training, weight_decay=weight_decay,
                       end_points=end_points)
  end_points['Logits'] = logits
  return logits, end_points
