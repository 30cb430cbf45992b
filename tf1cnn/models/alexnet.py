"""AlexNet v2 ("one weird trick" variant, no LRN) in TF-Slim's layout.

Krizhevsky, "One weird trick for parallelizing convolutional neural networks"
(arXiv:1404.5997). Fully connected layers are convolutions, as in TF-Slim's
model zoo, so the variable names are those of a Slim `alexnet_v2` checkpoint:

    alexnet_v2/conv1   11x11 / 4, 64, VALID       54x54x64    (224x224 input)
    alexnet_v2/pool1   3x3 / 2 max, VALID         26x26x64
    alexnet_v2/conv2   5x5, 192                   26x26x192
    alexnet_v2/pool2   3x3 / 2 max                12x12x192
    alexnet_v2/conv3   3x3, 384
    alexnet_v2/conv4   3x3, 384
    alexnet_v2/conv5   3x3, 256                   12x12x256
    alexnet_v2/pool5   3x3 / 2 max                5x5x256
    alexnet_v2/fc6     5x5 VALID, 4096            1x1x4096
    alexnet_v2/fc7     1x1, 4096
    alexnet_v2/fc8     1x1, num_classes, linear

Every layer has `weights` and `biases`. At 1000 classes: 50,303,912
parameters, all trainable (26,218,496 of them in fc6).
"""

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import vgg

_V1 = tf.compat.v1


def alexnet_v2_arg_scope(weight_decay=0.0005):
  """Layer defaults: ReLU, biases 0.1, L2 decay; SAME convs, VALID pools."""
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      biases_initializer=_V1.constant_initializer(0.1),
                      weights_regularizer=slim.l2_regularizer(weight_decay)):
    with slim.arg_scope([slim.conv2d], padding='SAME'):
      with slim.arg_scope([slim.max_pool2d], padding='VALID') as scope:
        return scope


def alexnet_v2(inputs, num_classes=1000, is_training=True,
               dropout_keep_prob=0.5, spatial_squeeze=True,
               scope='alexnet_v2', global_pool=False):
  """Builds AlexNet v2.

  Args:
    inputs: `[batch, 224, 224, channels]` float tensor.
    num_classes: width of fc8.
    is_training: Python bool or boolean tensor; turns dropout on.
    dropout_keep_prob: keep probability after fc6 and fc7.
    spatial_squeeze: drop the 1x1 spatial axes of the logits.
    scope: variable scope of the net.
    global_pool: average fc7 over its spatial axes before fc8 (for inputs
      larger than 224).

  Returns:
    `(logits, end_points)`, end points keyed by layer scope.
  """
  with _V1.variable_scope(scope, 'alexnet_v2', [inputs]) as sc:
    collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                        outputs_collections=[collection]):
      net = slim.conv2d(inputs, 64, [11, 11], 4, padding='VALID',
                        scope='conv1')
      net = slim.max_pool2d(net, [3, 3], 2, scope='pool1')
      net = slim.conv2d(net, 192, [5, 5], scope='conv2')
      net = slim.max_pool2d(net, [3, 3], 2, scope='pool2')
      for name, filters in (('conv3', 384), ('conv4', 384), ('conv5', 256)):
        net = slim.conv2d(net, filters, [3, 3], scope=name)
      net = slim.max_pool2d(net, [3, 3], 2, scope='pool5')
      # The classifier starts from a narrower initialisation.
      with slim.arg_scope(
          [slim.conv2d],
          weights_initializer=_V1.truncated_normal_initializer(0.0, 0.005),
          biases_initializer=_V1.constant_initializer(0.1)):
        return vgg.classifier(net, sc, collection, [5, 5], 'VALID',
                              num_classes, is_training, dropout_keep_prob,
                              spatial_squeeze, global_pool,
                              biases_initializer=_V1.zeros_initializer())


alexnet_v2.default_image_size = 224
