"""Seed 003's blog LeNet-5 with its own helpers, trained by its own loop.

A TF 1.x program as the blog series writes it (`tensorflow.compat.v1`, so it
also runs on plain TensorFlow 2): `variable_scope` helpers with
`get_variable` named `weights_<scope>`, a Python `batch_size` in the
reshape, per-image standardisation, mean softmax cross-entropy and Adam.

    python blog_lenet5.py --batches=B.npz --train_dir=DIR [--init_from=I.npz]

`--batches` holds `images` `[steps, batch, H, W, 3]` (0-255 pixels),
`labels` `[steps, batch]` and `eval_images` `[n, H, W, 3]`. Without
`--init_from` the initial variables are written to `DIR/init.npz`. The
program writes `DIR/model.ckpt-<step>` and `DIR/results.npz`: `losses` (one
per step), `eval_logits` (the restored checkpoint on `eval_images`) and
`var/<name>` for every global variable after the last step.
"""

import os

import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_string('train_dir', '/tmp/blog_lenet5', 'Output directory.')
flags.DEFINE_string('batches', '', 'The .npz of input batches.')
flags.DEFINE_string('init_from', '', 'The .npz of initial variables.')
flags.DEFINE_integer('max_steps', 20, 'Training steps.')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')

N_CLASSES = 2


def Conv_layer(names, input, w_shape, b_shape, strid):  # pylint: disable=invalid-name,redefined-builtin
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
  with tf.variable_scope(names) as scope:
    weights = tf.get_variable(
        'weights_{}'.format(names), shape=w_shape, dtype=tf.float32,
        initializer=tf.truncated_normal_initializer(stddev=0.005))
    biases = tf.get_variable(
        'biases_{}'.format(names), shape=b_shape, dtype=tf.float32,
        initializer=tf.constant_initializer(0.1))
    return tf.nn.relu(tf.matmul(input, weights) + biases, name=scope.name)


def Avg_pool_lrn(names, input, ksize, is_lrn):  # pylint: disable=invalid-name,redefined-builtin
  with tf.variable_scope(names):
    out = tf.nn.avg_pool(input, ksize=ksize, strides=[1, 2, 2, 1],
                         padding='SAME', name='max_pool_{}'.format(names))
    if is_lrn:
      out = tf.nn.lrn(out, depth_radius=4, bias=1.0, alpha=0.001 / 9.0,
                      beta=0.75, name='lrn_{}'.format(names))
    return out


def inference(images, batch_size, n_classes, drop_rate=0.0):
  """The blog's network; `drop_rate` is unused, as there."""
  del drop_rate
  conv1 = Conv_layer('conv1_scope', images, [5, 5, 3, 6], [6], [1, 1])
  pool1 = Avg_pool_lrn('avg_pooling1', conv1, [1, 2, 2, 1], is_lrn=True)
  conv2 = Conv_layer('conv2_scope', pool1, [5, 5, 6, 16], [16], [1, 1])
  pool2 = Avg_pool_lrn('avg_pooling2', conv2, [1, 2, 2, 1], is_lrn=False)
  conv3 = Conv_layer('conv3_scope', pool2, [5, 5, 16, 120], [120], [1, 1])
  reshape = tf.reshape(conv3, shape=[batch_size, -1])
  dim = reshape.get_shape()[1].value
  local_1 = local_layer('local1_scope', reshape, [dim, 84], [84])
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


def losses(logits, labels):
  with tf.variable_scope('loss'):
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        logits=logits, labels=labels, name='xentropy_per_example')
    return tf.reduce_mean(cross_entropy, name='loss')


def trainning(loss, learning_rate):
  with tf.name_scope('optimizer'):
    optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
    global_step = tf.Variable(0, name='global_step', trainable=False,
                              dtype=tf.int64)
    return optimizer.minimize(loss, global_step=global_step), global_step


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
    images = tf.placeholder(tf.float32, eval_images.shape)
    logits = inference(tf.image.per_image_standardization(images),
                       eval_images.shape[0], N_CLASSES)
    saver = tf.train.Saver()
    with tf.Session() as sess:
      saver.restore(sess, checkpoint)
      return sess.run(logits, {images: eval_images})


def main(_):
  tf.gfile.MakeDirs(FLAGS.train_dir)
  data = np.load(FLAGS.batches)
  batches, labels_of = data['images'], data['labels']
  images = tf.placeholder(tf.float32, batches.shape[1:])
  labels = tf.placeholder(tf.int32, labels_of.shape[1:])
  logits = inference(tf.image.per_image_standardization(images),
                     batches.shape[1], N_CLASSES)
  loss = losses(logits, labels)
  train_op, global_step = trainning(loss, FLAGS.learning_rate)
  saver = tf.train.Saver()
  history = []
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    initial_values(sess)
    for step in range(FLAGS.max_steps):
      i = step % len(batches)
      _, value = sess.run([train_op, loss],
                          {images: batches[i], labels: labels_of[i]})
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
