"""A CIFAR-10-tutorial-style program: weight decay in `'losses'`, EMA eval.

A TF 1.x program in the style of TensorFlow's CIFAR-10 tutorial
(`cifar10.py`): `_variable_with_weight_decay` adds `wd * l2_loss(var)` to
the `'losses'` collection, `loss()` adds the mean cross-entropy to it and
returns `tf.add_n` of the collection, `train()` applies SGD and then an
`ExponentialMovingAverage` of the trainable variables (with the global step
as `num_updates`), and the evaluation restores the averages in place of the
weights (`variables_to_restore()`). The network has the classic tutorial
signature `inference(images, batch_size, n_classes)`.

    python tutorial_ema.py --batches=B.npz --train_dir=DIR [--init_from=I.npz]

`--batches` holds `images` `[steps, batch, H, W, 3]` (0-255 pixels),
`labels` `[steps, batch]` and `eval_images` `[n, H, W, 3]`. Without
`--init_from` the initial variables are written to `DIR/init.npz`. The
program writes `DIR/model.ckpt-<step>` and `DIR/results.npz`: `losses`,
`eval_logits` (the averaged weights) and `var/<name>` for every global
variable (shadows included) after the last step.
"""

import os

import numpy as np
import tensorflow as tf

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_string('train_dir', '/tmp/tutorial_ema', 'Output directory.')
flags.DEFINE_string('batches', '', 'The .npz of input batches.')
flags.DEFINE_string('init_from', '', 'The .npz of initial variables.')
flags.DEFINE_integer('max_steps', 20, 'Training steps.')
flags.DEFINE_float('learning_rate', 0.05, 'SGD learning rate.')

NUM_CLASSES = 2
MOVING_AVERAGE_DECAY = 0.99
WEIGHT_DECAY = 0.004


def _variable_on_cpu(name, shape, initializer):
  with tf.device('/cpu:0'):
    return tf.get_variable(name, shape, initializer=initializer,
                           dtype=tf.float32)


def _variable_with_weight_decay(name, shape, stddev, wd):
  var = _variable_on_cpu(
      name, shape, tf.truncated_normal_initializer(stddev=stddev,
                                                   dtype=tf.float32))
  if wd is not None:
    weight_decay = tf.multiply(tf.nn.l2_loss(var), wd, name='weight_loss')
    tf.add_to_collection('losses', weight_decay)
  return var


def inference(images, batch_size, n_classes):
  """conv1, pool1, norm1, local3, softmax_linear; returns the logits."""
  with tf.variable_scope('conv1') as scope:
    kernel = _variable_with_weight_decay('weights', shape=[5, 5, 3, 16],
                                         stddev=5e-2, wd=None)
    conv = tf.nn.conv2d(images, kernel, [1, 1, 1, 1], padding='SAME')
    biases = _variable_on_cpu('biases', [16], tf.constant_initializer(0.0))
    conv1 = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
  pool1 = tf.nn.max_pool(conv1, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                         padding='SAME', name='pool1')
  norm1 = tf.nn.lrn(pool1, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                    name='norm1')
  with tf.variable_scope('local3') as scope:
    reshape = tf.reshape(norm1, [batch_size, -1])
    dim = reshape.get_shape()[1].value
    weights = _variable_with_weight_decay('weights', shape=[dim, 32],
                                          stddev=0.04, wd=WEIGHT_DECAY)
    biases = _variable_on_cpu('biases', [32], tf.constant_initializer(0.1))
    local3 = tf.nn.relu(tf.matmul(reshape, weights) + biases, name=scope.name)
  with tf.variable_scope('softmax_linear') as scope:
    weights = _variable_with_weight_decay('weights', [32, n_classes],
                                          stddev=1 / 32.0, wd=WEIGHT_DECAY)
    biases = _variable_on_cpu('biases', [n_classes],
                              tf.constant_initializer(0.0))
    softmax_linear = tf.add(tf.matmul(local3, weights), biases,
                            name=scope.name)
  return softmax_linear


def loss(logits, labels):
  labels = tf.cast(labels, tf.int64)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits, name='cross_entropy_per_example')
  cross_entropy_mean = tf.reduce_mean(cross_entropy, name='cross_entropy')
  tf.add_to_collection('losses', cross_entropy_mean)
  return tf.add_n(tf.get_collection('losses'), name='total_loss')


def train(total_loss, global_step):
  opt = tf.train.GradientDescentOptimizer(FLAGS.learning_rate)
  apply_gradient_op = opt.apply_gradients(opt.compute_gradients(total_loss),
                                          global_step=global_step)
  variable_averages = tf.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY,
                                                        global_step)
  with tf.control_dependencies([apply_gradient_op]):
    variables_averages_op = variable_averages.apply(tf.trainable_variables())
  return variables_averages_op


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
  """The tutorial's eval: the moving averages restored as the weights."""
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, eval_images.shape)
    logits = inference(tf.image.per_image_standardization(images),
                       eval_images.shape[0], NUM_CLASSES)
    variable_averages = tf.train.ExponentialMovingAverage(
        MOVING_AVERAGE_DECAY)
    saver = tf.train.Saver(variable_averages.variables_to_restore())
    with tf.Session() as sess:
      saver.restore(sess, checkpoint)
      return sess.run(logits, {images: eval_images})


def main(_):
  tf.gfile.MakeDirs(FLAGS.train_dir)
  data = np.load(FLAGS.batches)
  batches, labels_of = data['images'], data['labels']
  images = tf.placeholder(tf.float32, batches.shape[1:])
  labels = tf.placeholder(tf.int32, labels_of.shape[1:])
  global_step = tf.train.get_or_create_global_step()
  logits = inference(tf.image.per_image_standardization(images),
                     batches.shape[1], NUM_CLASSES)
  total_loss = loss(logits, labels)
  train_op = train(total_loss, global_step)
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
