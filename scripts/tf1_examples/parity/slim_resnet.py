"""A tiny ResNet-v1 from the `tf_slim` wheel, trained the TF-Slim way.

A TF 1.x program in the style of TF-Slim's `train_image_classifier.py`:
the network is `tf_slim.nets.resnet_v1.resnet_v1` with two small blocks,
built under its arg scope (`tiny_resnet_arg_scope`: weight decay into
`REGULARIZATION_LOSSES`, batch norm whose moving statistics are updated by
`UPDATE_OPS`), Slim's Inception-style preprocessing (`x / 255 * 2 - 1`),
`tf.losses.sparse_softmax_cross_entropy` + `tf.losses.get_total_loss()`
and Adam.

    python slim_resnet.py --batches=B.npz --train_dir=DIR [--init_from=I.npz]

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
import tf_slim as slim
from tf_slim.nets import resnet_v1

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_string('train_dir', '/tmp/slim_resnet', 'Output directory.')
flags.DEFINE_string('batches', '', 'The .npz of input batches.')
flags.DEFINE_string('init_from', '', 'The .npz of initial variables.')
flags.DEFINE_integer('max_steps', 20, 'Training steps.')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_float('weight_decay', 1e-3, 'L2 weight decay of the arg scope.')

NUM_CLASSES = 2


def preprocess_image(image):
  """Slim's Inception-style scaling of 0-255 pixels to [-1, 1]."""
  image = tf.cast(image, tf.float32) / 255.0
  image = tf.subtract(image, 0.5)
  return tf.multiply(image, 2.0)


def tiny_resnet(images, num_classes, is_training):
  """resnet_v1's root block and two one-unit blocks; returns logits."""
  blocks = [
      resnet_v1.resnet_v1_block('block1', base_depth=4, num_units=1,
                                stride=2),
      resnet_v1.resnet_v1_block('block2', base_depth=8, num_units=1,
                                stride=1),
  ]
  net, end_points = resnet_v1.resnet_v1(
      images, blocks, num_classes, is_training=is_training, global_pool=True,
      scope='tiny_resnet')
  logits = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
  return logits, end_points


def tiny_resnet_arg_scope(weight_decay=1e-3):
  return resnet_v1.resnet_arg_scope(weight_decay=weight_decay,
                                    batch_norm_decay=0.9)


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
    with slim.arg_scope(tiny_resnet_arg_scope(FLAGS.weight_decay)):
      logits, _ = tiny_resnet(preprocess_image(images), NUM_CLASSES, False)
    saver = tf.train.Saver(slim.get_variables_to_restore())
    with tf.Session() as sess:
      saver.restore(sess, checkpoint)
      return sess.run(logits, {images: eval_images})


def main(_):
  tf.gfile.MakeDirs(FLAGS.train_dir)
  data = np.load(FLAGS.batches)
  batches, labels_of = data['images'], data['labels']
  images = tf.placeholder(tf.float32, [None] + list(batches.shape[2:]))
  labels = tf.placeholder(tf.int32, [None])
  with slim.arg_scope(tiny_resnet_arg_scope(FLAGS.weight_decay)):
    logits, _ = tiny_resnet(preprocess_image(images), NUM_CLASSES, True)
  tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
  total_loss = tf.losses.get_total_loss()
  global_step = tf.train.get_or_create_global_step()
  optimizer = tf.train.AdamOptimizer(FLAGS.learning_rate)
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = optimizer.minimize(total_loss, global_step=global_step)
  saver = tf.train.Saver()
  history = []
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    initial_values(sess)
    for step in range(FLAGS.max_steps):
      i = step % len(batches)
      _, value = sess.run([train_op, total_loss],
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
