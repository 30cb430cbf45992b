"""Seed 002's batch-norm CNN for CIFAR-10, as TF1 code on tf1cnn's drop-in.

The seed imports `from tensorflow.contrib.layers.python.layers import
batch_norm`, which TensorFlow 2 no longer has. The one change that makes the
code run is the import: `tf1cnn.compat.v1` is `tensorflow.compat.v1` plus
`tf.contrib` (here `tf.contrib.layers.batch_norm`, TF-Slim's batch norm with
its defaults). The `init_cnn` helpers are the classic TF tutorial ones. The
network is wrapped in the factory signature so tf1cnn can train it:

    tf1cnn-train --model=scripts/tf1_examples/seed002_bn_cnn.py:bn_cnn \
        --dataset=cifar10 --data_dir=PATH --max_steps=2000 --batch_size=128
"""

import tf1cnn.compat.v1 as tf

tf.disable_v2_behavior()
batch_norm = tf.contrib.layers.batch_norm  # was: from tensorflow.contrib...


class init_cnn:  # pylint: disable=invalid-name
  """The classic tutorial helpers the seed calls `init_cnn.*`."""

  @staticmethod
  def weight_variable(shape):
    return tf.Variable(tf.truncated_normal(shape, stddev=0.1))

  @staticmethod
  def bias_variable(shape):
    return tf.Variable(tf.constant(0.1, shape=shape))

  @staticmethod
  def conv2d(x, w):
    return tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding='SAME')

  @staticmethod
  def max_pool_2x2(x):
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                          padding='SAME')

  @staticmethod
  def avg_pool_4x4(x):
    return tf.nn.avg_pool(x, ksize=[1, 4, 4, 1], strides=[1, 4, 4, 1],
                          padding='SAME')


def batch_norm_layer(value, train=False, name='batch_norm'):
  """The seed's helper; `train` may be a boolean tensor (tf1cnn's)."""
  del name
  if train is not False:
    return batch_norm(value, decay=0.9, updates_collections=None,
                      is_training=train)
  return batch_norm(value, decay=0.9, updates_collections=None,
                    is_training=False)


def bn_cnn(images, num_classes, is_training):
  """The seed's graph from `x_images` to `y_pool` (logits)."""
  x_images = tf.reshape(images, [-1, 32, 32, 3])
  train = is_training

  w_conv1 = init_cnn.weight_variable([3, 3, 3, 64])
  b_conv1 = init_cnn.bias_variable([64])
  h_conv1 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(x_images, w_conv1) + b_conv1), train))
  h_pool1 = init_cnn.max_pool_2x2(h_conv1)

  w_conv2 = init_cnn.weight_variable([3, 3, 64, 64])
  b_conv2 = init_cnn.bias_variable([64])
  h_conv2 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool1, w_conv2) + b_conv2), train))
  h_pool2 = init_cnn.max_pool_2x2(h_conv2)

  w_conv3 = init_cnn.weight_variable([3, 3, 64, 32])
  b_conv3 = init_cnn.bias_variable([32])
  h_conv3 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool2, w_conv3) + b_conv3), train))
  h_pool3 = init_cnn.max_pool_2x2(h_conv3)

  w_conv4 = init_cnn.weight_variable([3, 3, 32, 16])
  b_conv4 = init_cnn.bias_variable([16])
  h_conv4 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool3, w_conv4) + b_conv4), train))
  h_pool4 = init_cnn.max_pool_2x2(h_conv4)

  w_conv5 = init_cnn.weight_variable([3, 3, 16, num_classes])
  b_conv5 = init_cnn.bias_variable([num_classes])
  h_conv5 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool4, w_conv5) + b_conv5), train))
  h_pool5 = init_cnn.avg_pool_4x4(h_conv5)

  y_pool = tf.reshape(h_pool5, shape=[-1, num_classes])
  return y_pool


bn_cnn.default_image_size = 32
bn_cnn.default_channels = 3
