"""ResNet v2 (pre-activation bottlenecks) in TF-Slim's layout.

He et al., "Identity Mappings in Deep Residual Networks" (arXiv:1603.05027).
Variable names are those of TF-Slim's `resnet_v2_50.ckpt` /
`resnet_v2_101.ckpt`:

    <scope>/conv1                       7x7 / 2, 64, biases, no batch norm
    <scope>/pool1                       3x3 / 2 max pool, SAME
    <scope>/block<b>/unit_<u>/bottleneck_v2/
        preact                          batch norm + ReLU of the unit input
        shortcut                        1x1 projection with biases (first unit)
        conv1, conv2                    1x1 -> 3x3, batch norm + ReLU
        conv3                           1x1 with biases, linear
    <scope>/postnorm                    batch norm + ReLU after the last block
    <scope>/logits                      1x1 conv on the global average pool

Units per block as in v1 (3, 4, 6, 3 for ResNet-50; 3, 4, 23, 3 for
ResNet-101), strides in the last unit of blocks 1-3. The zoo's v2
checkpoints have 1001 classes: resnet_v2_50 25,615,849 parameters
(25,570,409 trainable), resnet_v2_101 44,677,609 (44,579,945 trainable).
"""

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import resnet_utils

_V1 = tf.compat.v1

resnet_arg_scope = resnet_utils.resnet_arg_scope


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1,
               outputs_collections=None, scope=None):
  """A v2 bottleneck: shortcut + (BN-ReLU -> 1x1 -> 3x3 -> 1x1).

  Arguments and return value as `resnet_v1.bottleneck`; the default scope
  is `bottleneck_v2`.
  """
  with _V1.variable_scope(scope, 'bottleneck_v2', [inputs]) as sc:
    depth_in = inputs.get_shape().as_list()[-1]
    preact = slim.batch_norm(inputs, activation_fn=tf.nn.relu, scope='preact')
    if depth == depth_in:
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = slim.conv2d(preact, depth, [1, 1], stride=stride,
                             normalizer_fn=None, activation_fn=None,
                             scope='shortcut')
    residual = slim.conv2d(preact, depth_bottleneck, [1, 1], stride=1,
                           scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride,
                                        rate=rate, scope='conv2')
    residual = slim.conv2d(residual, depth, [1, 1], stride=1,
                           normalizer_fn=None, activation_fn=None,
                           scope='conv3')
    output = shortcut + residual
    return slim.utils.collect_named_outputs(outputs_collections, sc.name,
                                            output)


(resnet_v2, resnet_v2_block, resnet_v2_50,
 resnet_v2_101) = resnet_utils.resnet_family(bottleneck, version=2)
