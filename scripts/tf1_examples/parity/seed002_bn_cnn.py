"""Seed 002's batch-norm CNN with its contrib import, trained by its own loop.

A TF 1.x program as the seed writes it: `import tensorflow as tf`,
`from tensorflow.contrib.layers.python.layers import batch_norm` with
`decay=0.9, updates_collections=None` (the moving statistics are updated in
place, inside the forward pass), the classic `init_cnn` helpers, 32x32x3
inputs, mean softmax cross-entropy and Adam.

    python seed002_bn_cnn.py --batches=B.npz --train_dir=DIR [--init_from=I.npz]

`--batches` holds `images` `[steps, batch, 32, 32, 3]` (0-255 pixels),
`labels` `[steps, batch]` and `eval_images` `[n, 32, 32, 3]`. Without
`--init_from` the initial variables are written to `DIR/init.npz`. The
program writes `DIR/model.ckpt-<step>` and `DIR/results.npz`: `losses`,
`eval_logits` (the restored checkpoint, batch norm in inference mode) and
`var/<name>` for every global variable after the last step.
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.contrib.layers.python.layers import batch_norm

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_string('train_dir', '/tmp/seed002_bn_cnn', 'Output directory.')
flags.DEFINE_string('batches', '', 'The .npz of input batches.')
flags.DEFINE_string('init_from', '', 'The .npz of initial variables.')
flags.DEFINE_integer('max_steps', 20, 'Training steps.')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')

NUM_CLASSES = 2


class init_cnn:  # pylint: disable=invalid-name

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
  del name
  if train is not False:
    return batch_norm(value, decay=0.9, updates_collections=None,
                      is_training=True)
  return batch_norm(value, decay=0.9, updates_collections=None,
                    is_training=False)


def bn_cnn(images, num_classes, is_training):
  """The seed's graph from `x_images` to `y_pool` (logits)."""
  x_images = tf.reshape(images, [-1, 32, 32, 3])
  train = is_training
  w_conv1 = init_cnn.weight_variable([3, 3, 3, 16])
  b_conv1 = init_cnn.bias_variable([16])
  h_conv1 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(x_images, w_conv1) + b_conv1), train))
  h_pool1 = init_cnn.max_pool_2x2(h_conv1)
  w_conv2 = init_cnn.weight_variable([3, 3, 16, 16])
  b_conv2 = init_cnn.bias_variable([16])
  h_conv2 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool1, w_conv2) + b_conv2), train))
  h_pool2 = init_cnn.max_pool_2x2(h_conv2)
  w_conv3 = init_cnn.weight_variable([3, 3, 16, 8])
  b_conv3 = init_cnn.bias_variable([8])
  h_conv3 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool2, w_conv3) + b_conv3), train))
  h_pool3 = init_cnn.max_pool_2x2(h_conv3)
  w_conv5 = init_cnn.weight_variable([3, 3, 8, num_classes])
  b_conv5 = init_cnn.bias_variable([num_classes])
  h_conv5 = tf.nn.relu(batch_norm_layer(
      (init_cnn.conv2d(h_pool3, w_conv5) + b_conv5), train))
  h_pool5 = init_cnn.avg_pool_4x4(h_conv5)
  return tf.reshape(h_pool5, shape=[-1, num_classes])


def initial_values(sess):
  """Loads `--init_from`, or writes the random start to `init.npz`."""
  if FLAGS.init_from:
    values = np.load(FLAGS.init_from)
    for var in tf.global_variables():
      if var.op.name in values:
        var.load(values[var.op.name], sess)
  else:
    np.savez(os.path.join(FLAGS.train_dir, 'init.npz'),
             **{v.op.name: sess.run(v) for v in tf.global_variables()})


def evaluate(eval_images, checkpoint):
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 32, 32, 3])
    y_pool = bn_cnn(tf.image.per_image_standardization(x), NUM_CLASSES, False)
    saver = tf.train.Saver()
    with tf.Session() as sess:
      saver.restore(sess, checkpoint)
      return sess.run(y_pool, {x: eval_images})


def main(_):
  tf.gfile.MakeDirs(FLAGS.train_dir)
  data = np.load(FLAGS.batches)
  batches, labels_of = data['images'], data['labels']
  x = tf.placeholder(tf.float32, [None, 32, 32, 3])
  y = tf.placeholder(tf.int32, [None])
  y_pool = bn_cnn(tf.image.per_image_standardization(x), NUM_CLASSES, True)
  cross_entropy = tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=y_pool))
  global_step = tf.train.get_or_create_global_step()
  optimizer = tf.train.AdamOptimizer(FLAGS.learning_rate).minimize(
      cross_entropy, global_step=global_step)
  saver = tf.train.Saver()
  history = []
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    initial_values(sess)
    for step in range(FLAGS.max_steps):
      i = step % len(batches)
      _, value = sess.run([optimizer, cross_entropy],
                          {x: batches[i], y: labels_of[i]})
      history.append(value)
      print('step %d, loss %.6f' % (step, value))
    checkpoint = saver.save(sess, os.path.join(FLAGS.train_dir, 'model.ckpt'),
                            global_step=global_step)
    final = {'var/' + v.op.name: sess.run(v) for v in tf.global_variables()}
  np.savez(os.path.join(FLAGS.train_dir, 'results.npz'),
           losses=np.array(history, np.float64),
           eval_logits=evaluate(data['eval_images'], checkpoint), **final)


if __name__ == '__main__':
  tf.app.run()
