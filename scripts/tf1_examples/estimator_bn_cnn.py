"""A TF 1.x Estimator model_fn with batch normalization and `UPDATE_OPS`.

The TF 1.15 idiom: `tf.layers.batch_normalization(training=...)` after each
convolution, and the train op made under
`tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS))` so
the moving mean and variance follow the batches; evaluation and export use
the moving statistics. Run it with the MNIST program:

    python scripts/tf1_examples/estimator_mnist_cnn.py --model=bn \
        --data_dir=../shared/data/fashion_mnist --model_dir=runs/est_bn
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))
sys.path.insert(0, _HERE)
import tf1cnn.compat.v1 as tf  # pylint: disable=wrong-import-position

NUM_CLASSES = 10


def bn_cnn(images, training, params):
  """Input batch norm, conv-BN-ReLU, pooling, a dense layer; logits."""
  momentum = params.get('bn_momentum', 0.9)
  net = tf.layers.batch_normalization(images, momentum=momentum,
                                      training=training, name='input_bn')
  net = tf.layers.conv2d(net, params.get('filters', 8), 3, padding='same',
                         use_bias=False, name='conv1')
  net = tf.layers.batch_normalization(net, momentum=momentum,
                                      training=training, name='conv1_bn')
  net = tf.nn.relu(net)
  net = tf.layers.max_pooling2d(net, 2, 2, name='pool1')
  net = tf.layers.flatten(net)
  return tf.layers.dense(net, params.get('num_classes', NUM_CLASSES),
                         name='logits')


def model_fn(features, labels, mode, params):
  """Estimator model_fn; features {'x': images}."""
  images = features['x'] if isinstance(features, dict) else features
  training = mode == tf.estimator.ModeKeys.TRAIN
  logits = bn_cnn(images, training, params)
  predictions = {'classes': tf.argmax(logits, axis=1),
                 'probabilities': tf.nn.softmax(logits)}
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions=predictions)
  loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
  if training:
    optimizer = tf.train.GradientDescentOptimizer(
        params.get('learning_rate', 0.05))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train_op = optimizer.minimize(loss, tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, predictions=predictions,
      eval_metric_ops={'accuracy': tf.metrics.accuracy(
          labels, predictions['classes'])})
