"""Seed 003's LeNet-5 as TF1 code, with the blog series' own layer helpers.

Unchanged TF 1.x style (`tensorflow.compat.v1`, `variable_scope`,
`get_variable` named `weights_<scope>`, a Python `batch_size` in the
reshape, `get_shape()[1].value`), trained, evaluated and exported by tf1cnn
as it is:

    tf1cnn-train --model=scripts/tf1_examples/blog_lenet5.py:inference \
        --data_dir=data/sample --image_size=150 --max_steps=500

A checkpoint this code wrote with its own training loop restores into
tf1cnn's `lenet5` with the names mapped:

    tf1cnn-eval --model=lenet5 --checkpoint_path=CKPT --data_dir=PHOTOS \
        --checkpoint_var_map='^(\w+)/(weights|biases)_\1$=\1/\2'
"""

import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

default_image_size = 150


def Conv_layer(names, input, w_shape, b_shape, strid):  # pylint: disable=invalid-name,redefined-builtin
  """The series' convolution helper: conv, bias, ReLU."""
  with tf.variable_scope(names) as scope:
    weights = tf.get_variable(
        'weights_{}'.format(names), shape=w_shape, dtype=tf.float32,
        initializer=tf.truncated_normal_initializer(stddev=0.1))
    biases = tf.get_variable(
        'biases_{}'.format(names), shape=b_shape, dtype=tf.float32,
        initializer=tf.constant_initializer(0.1))
    conv = tf.nn.conv2d(input, weights, strides=[1, strid[0], strid[1], 1],
                        padding='SAME')
    return tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)


def local_layer(names, input, w_shape, b_shape):  # pylint: disable=redefined-builtin
  """The series' fully connected helper: matmul, bias, ReLU."""
  with tf.variable_scope(names) as scope:
    weights = tf.get_variable(
        'weights_{}'.format(names), shape=w_shape, dtype=tf.float32,
        initializer=tf.truncated_normal_initializer(stddev=0.005))
    biases = tf.get_variable(
        'biases_{}'.format(names), shape=b_shape, dtype=tf.float32,
        initializer=tf.constant_initializer(0.1))
    return tf.nn.relu(tf.matmul(input, weights) + biases, name=scope.name)


def Avg_pool_lrn(names, input, ksize, is_lrn):  # pylint: disable=invalid-name,redefined-builtin
  """Seed 003's pooling helper."""
  with tf.variable_scope(names):
    out = tf.nn.avg_pool(input, ksize=ksize, strides=[1, 2, 2, 1],
                         padding='SAME', name='max_pool_{}'.format(names))
    if is_lrn:
      out = tf.nn.lrn(out, depth_radius=4, bias=1.0, alpha=0.001 / 9.0,
                      beta=0.75, name='lrn_{}'.format(names))
    return out


def inference(images, batch_size, n_classes, drop_rate):
  """Seed 003's network function (its `drop_rate` is unused, as there)."""
  del drop_rate
  conv1 = Conv_layer(names='conv1_scope', input=images, w_shape=[5, 5, 3, 6],
                     b_shape=[6], strid=[1, 1])
  down_sample1 = Avg_pool_lrn(names='avg_pooling1', input=conv1,
                              ksize=[1, 2, 2, 1], is_lrn=False)
  conv2 = Conv_layer(names='conv2_scope', input=down_sample1,
                     w_shape=[5, 5, 6, 16], b_shape=[16], strid=[1, 1])
  down_sample2 = Avg_pool_lrn(names='avg_pooling2', input=conv2,
                              ksize=[1, 2, 2, 1], is_lrn=False)
  conv3 = Conv_layer(names='conv3_scope', input=down_sample2,
                     w_shape=[5, 5, 16, 120], b_shape=[120], strid=[1, 1])
  reshape = tf.reshape(conv3, shape=[batch_size, -1])
  dim = reshape.get_shape()[1].value
  local_1 = local_layer(names='local1_scope', input=reshape,
                        w_shape=[dim, 84], b_shape=[84])
  with tf.variable_scope('softmax_linear'):
    weights = tf.Variable(tf.truncated_normal(shape=[84, n_classes],
                                              stddev=0.005, dtype=tf.float32),
                          name='softmax_linear', dtype=tf.float32)
    biases = tf.Variable(tf.constant(value=0.1, dtype=tf.float32,
                                     shape=[n_classes]),
                         name='biases', dtype=tf.float32)
    softmax_linear = tf.add(tf.matmul(local_1, weights), biases,
                            name='softmax_linear')
  return softmax_linear


inference.default_image_size = default_image_size
inference.default_channels = 3
