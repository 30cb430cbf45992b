"""A TF 1.x training script that runs unmodified under `tf1cnn-run`.

    tf1cnn-run scripts/tf1_examples/queue_train.py --steps=30 --summary_json=run.json

It uses what TF 1.x scripts used: `tf.app.flags` and `tf.app.run`, a queue
input pipeline (`tf.train.slice_input_producer`, `tf.train.batch`,
`tf.train.start_queue_runners`), `tensorflow.contrib.slim`,
`tf.contrib.layers`, `tf.contrib.framework.arg_scope`, `tf.layers`,
`shape[1].value` and a helper module of its own folder (`queue_helpers.py`).
With `--summary_json` it writes its losses, `sys.argv`, `__file__` and the
working directory; with `--train_dir` a checkpoint.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os
import sys

import tensorflow as tf
import tensorflow.contrib.slim as slim
from tensorflow.contrib import layers
from tensorflow.contrib.framework import arg_scope

import queue_helpers

flags = tf.app.flags
flags.DEFINE_integer('steps', 30, 'Training steps.')
flags.DEFINE_integer('batch_size', 8, 'Images per batch.')
flags.DEFINE_float('learning_rate', 0.1, 'Gradient descent step size.')
flags.DEFINE_string('summary_json', '', 'Writes losses, argv, file, cwd here.')
flags.DEFINE_string('train_dir', '', 'Saves the final checkpoint here.')
FLAGS = flags.FLAGS


def inference(images):
  net = queue_helpers.conv_block(images, 4, 'block1')
  with arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                 weights_initializer=layers.xavier_initializer(seed=12),
                 weights_regularizer=layers.l2_regularizer(1e-3)):
    net = slim.conv2d(net, 6, [3, 3], scope='conv2')
  # TF 1.x static shapes: Dimension objects with .value.
  dim = net.shape[1].value * net.shape[2].value * net.shape[3].value
  net = tf.reshape(net, [-1, dim])
  logits = tf.layers.dense(
      net, 2, kernel_initializer=tf.glorot_uniform_initializer(seed=13),
      name='logits')
  return logits, dim


def main(argv):
  tf.set_random_seed(1)
  images, labels = queue_helpers.striped_images(64, 8)
  image, label = tf.train.slice_input_producer(
      [tf.constant(images), tf.constant(labels)], shuffle=False)
  image_batch, label_batch = tf.train.batch(
      [image, label], batch_size=FLAGS.batch_size, num_threads=1)
  logits, dim = inference(image_batch)
  loss = tf.losses.sparse_softmax_cross_entropy(label_batch, logits)
  total_loss = loss + tf.add_n(tf.losses.get_regularization_losses())
  global_step = tf.train.get_or_create_global_step()
  train_op = tf.train.GradientDescentOptimizer(FLAGS.learning_rate).minimize(
      total_loss, global_step=global_step)
  saver = tf.train.Saver()
  losses = []
  with tf.Session() as sess:
    sess.run([tf.global_variables_initializer(),
              tf.local_variables_initializer()])
    coord = tf.train.Coordinator()
    threads = tf.train.start_queue_runners(sess=sess, coord=coord)
    try:
      for _ in range(FLAGS.steps):
        _, value = sess.run([train_op, total_loss])
        losses.append(float(value))
    finally:
      coord.request_stop()
      coord.join(threads)
    if FLAGS.train_dir:
      saver.save(sess, os.path.join(FLAGS.train_dir, 'model.ckpt'),
                 global_step=global_step)
  print('step %d: loss %.4f (first %.4f)' % (len(losses), losses[-1], losses[0]))
  if FLAGS.summary_json:
    with open(FLAGS.summary_json, 'w') as f:
      json.dump({'losses': losses, 'argv': sys.argv, 'app_argv': argv,
                 'file': __file__, 'cwd': os.getcwd(), 'flat_dim': dim,
                 'variables': sorted(v.op.name for v in tf.global_variables())},
                f)


if __name__ == '__main__':
  tf.app.run()
