"""A `tf.layers` + `tf.contrib.layers` CNN, trained by its own loop.

A TF 1.x program in the style of the TensorFlow 1.x guides:
`tf.layers.conv2d` / `batch_normalization` / `max_pooling2d` / `dense` with
`tf.contrib.layers.xavier_initializer` and
`tf.contrib.layers.l2_regularizer` (the weight decay lands in
`REGULARIZATION_LOSSES`), `tf.contrib.layers.flatten`, the loss from
`tf.losses` plus `tf.losses.get_regularization_loss()`, batch norm's
`UPDATE_OPS` run before each step, and SGD.

    python layers_contrib.py --batches=B.npz --train_dir=DIR [--init_from=I.npz]

`--batches` holds `images` `[steps, batch, H, W, 3]` (0-255 pixels),
`labels` `[steps, batch]` and `eval_images` `[n, H, W, 3]`. Without
`--init_from` the initial variables are written to `DIR/init.npz`. The
program writes `DIR/model.ckpt-<step>` and `DIR/results.npz`: `losses`,
`eval_logits` and `var/<name>` for every global variable after the last
step.
"""

import os

import numpy as np
import tensorflow as tf

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_string('train_dir', '/tmp/layers_contrib', 'Output directory.')
flags.DEFINE_string('batches', '', 'The .npz of input batches.')
flags.DEFINE_string('init_from', '', 'The .npz of initial variables.')
flags.DEFINE_integer('max_steps', 20, 'Training steps.')
flags.DEFINE_float('learning_rate', 0.05, 'SGD learning rate.')
flags.DEFINE_float('weight_decay', 0.01, 'L2 scale of the weights.')

NUM_CLASSES = 2


def cnn(images, num_classes, is_training, weight_decay=0.01):
  """conv-BN-pool, conv-pool, dense, dense; returns the logits."""
  regularizer = tf.contrib.layers.l2_regularizer(scale=weight_decay)
  net = tf.layers.conv2d(
      images, 8, [3, 3], padding='same', use_bias=False,
      kernel_initializer=tf.contrib.layers.xavier_initializer(),
      kernel_regularizer=regularizer, name='conv1')
  net = tf.layers.batch_normalization(net, momentum=0.9,
                                      training=is_training, name='bn1')
  net = tf.nn.relu(net)
  net = tf.layers.max_pooling2d(net, [2, 2], 2, name='pool1')
  net = tf.layers.conv2d(
      net, 16, [3, 3], padding='same', activation=tf.nn.relu,
      kernel_initializer=tf.contrib.layers.xavier_initializer(),
      kernel_regularizer=regularizer, name='conv2')
  net = tf.layers.max_pooling2d(net, [2, 2], 2, name='pool2')
  net = tf.contrib.layers.flatten(net)
  net = tf.layers.dense(net, 32, activation=tf.nn.relu,
                        kernel_regularizer=regularizer, name='fc3')
  return tf.layers.dense(net, num_classes, kernel_regularizer=regularizer,
                         name='fc4')


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
    images = tf.placeholder(tf.float32, [None] + list(eval_images.shape[1:]))
    logits = cnn(tf.image.per_image_standardization(images), NUM_CLASSES,
                 False, FLAGS.weight_decay)
    saver = tf.train.Saver()
    with tf.Session() as sess:
      saver.restore(sess, checkpoint)
      return sess.run(logits, {images: eval_images})


def main(_):
  tf.gfile.MakeDirs(FLAGS.train_dir)
  data = np.load(FLAGS.batches)
  batches, labels_of = data['images'], data['labels']
  images = tf.placeholder(tf.float32, [None] + list(batches.shape[2:]))
  labels = tf.placeholder(tf.int32, [None])
  logits = cnn(tf.image.per_image_standardization(images), NUM_CLASSES, True,
               FLAGS.weight_decay)
  loss = (tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
          + tf.losses.get_regularization_loss())
  global_step = tf.train.get_or_create_global_step()
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = tf.train.GradientDescentOptimizer(
        FLAGS.learning_rate).minimize(loss, global_step=global_step)
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
