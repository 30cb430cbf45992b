"""A TF 1.x Estimator model_fn whose evaluation uses moving averages.

Training keeps `tf.train.ExponentialMovingAverage` shadows of the trainable
variables (the train op runs the optimizer step, then `ema.apply`);
evaluation, prediction and export restore the shadows in place of the raw
weights through a `tf.train.Scaffold(saver=tf.train.Saver(
ema.variables_to_restore()))`, the TF 1.15 idiom. Run it with the MNIST
program:

    python scripts/tf1_examples/estimator_mnist_cnn.py --model=ema \
        --data_dir=../shared/data/fashion_mnist --model_dir=runs/est_ema
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))
sys.path.insert(0, _HERE)
import tf1cnn.compat.v1 as tf  # pylint: disable=wrong-import-position

NUM_CLASSES = 10


def small_cnn(images, params):
  net = tf.layers.conv2d(images, params.get('filters', 8), 3, padding='same',
                         activation=tf.nn.relu, name='conv1')
  net = tf.layers.max_pooling2d(net, 2, 2, name='pool1')
  net = tf.layers.flatten(net)
  return tf.layers.dense(net, params.get('num_classes', NUM_CLASSES),
                         name='logits')


def model_fn(features, labels, mode, params):
  """Estimator model_fn; features {'x': images}."""
  images = features['x'] if isinstance(features, dict) else features
  logits = small_cnn(images, params)
  predictions = {'classes': tf.argmax(logits, axis=1),
                 'probabilities': tf.nn.softmax(logits)}
  ema = tf.train.ExponentialMovingAverage(params.get('ema_decay', 0.9))
  if mode == tf.estimator.ModeKeys.TRAIN:
    loss = tf.losses.sparse_softmax_cross_entropy(labels=labels,
                                                  logits=logits)
    optimizer = tf.train.GradientDescentOptimizer(
        params.get('learning_rate', 0.05))
    step = optimizer.minimize(loss, tf.train.get_global_step())
    with tf.control_dependencies([step]):
      train_op = ema.apply(tf.trainable_variables())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
  scaffold = tf.train.Scaffold(saver=tf.train.Saver(
      ema.variables_to_restore()))
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions=predictions,
                                      scaffold=scaffold)
  loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, scaffold=scaffold,
      eval_metric_ops={'accuracy': tf.metrics.accuracy(
          labels, predictions['classes'])})
