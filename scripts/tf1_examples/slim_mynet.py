"""A TF-Slim-style network: `mynet` with its `mynet_arg_scope`.

TF-Slim's nets keep their weight decay and initializers in an arg scope
function beside the network (nets_factory pairs `cifarnet` with
`cifarnet_arg_scope`); tf1cnn applies `<function>_arg_scope()` around the
function the same way, with `--weight_decay` as its `weight_decay` when
that flag is set:

    tf1cnn-train --model=scripts/tf1_examples/slim_mynet.py:mynet \
        --dataset=cifar10 --data_dir=PATH --max_steps=2000

`--model_arg_scope=none` trains it without the arg scope,
`--model_arg_scope=NAME` with another function of the module. Slim comes
from `tf1cnn.compat.v1`'s `tf.contrib.slim` (TF-Slim's layer API on
`tf.nn`); the same code runs on the real `tf_slim` package.
"""

import tf1cnn.compat.v1 as tf

slim = tf.contrib.slim


def trunc_normal(stddev):
  return tf.truncated_normal_initializer(stddev=stddev)


def mynet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5,
          scope='MyNet'):
  """Two conv/pool stages and two fully connected layers.

  Args:
    images: `[batch, height, width, channels]`.
    num_classes: logits width.
    is_training: dropout on or off (bool or boolean tensor).
    dropout_keep_prob: kept fraction of the first fully connected layer.
    scope: variable scope.

  Returns:
    `(logits, end_points)`.
  """
  end_points = {}
  with tf.variable_scope(scope, 'MyNet', [images]):
    net = slim.conv2d(images, 32, [5, 5], scope='conv1')
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
    net = slim.conv2d(net, 64, [5, 5], scope='conv2')
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool2')
    net = slim.flatten(net)
    net = slim.fully_connected(net, 128, scope='fc3')
    end_points['fc3'] = net
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                       scope='dropout3')
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  biases_initializer=tf.zeros_initializer(),
                                  weights_initializer=trunc_normal(1 / 128.0),
                                  weights_regularizer=None, scope='logits')
  end_points['Logits'] = logits
  return logits, end_points


mynet.default_image_size = 24


def mynet_arg_scope(weight_decay=0.004):
  """The weight decay and initializers of `mynet`'s layers."""
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_initializer=tf.truncated_normal_initializer(stddev=5e-2),
      biases_initializer=tf.constant_initializer(0.1),
      weights_regularizer=slim.l2_regularizer(weight_decay),
      activation_fn=tf.nn.relu) as sc:
    return sc


def mynet_plain_arg_scope(weight_decay=0.0):
  """Another arg scope of the module: initializers only, no decay."""
  del weight_decay
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=tf.truncated_normal_initializer(
                          stddev=5e-2)) as sc:
    return sc
