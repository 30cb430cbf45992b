"""ResNet v1 (post-activation bottlenecks) in TF-Slim's layout.

He et al., "Deep Residual Learning for Image Recognition"
(arXiv:1512.03385). Variable names are those of TF-Slim's
`resnet_v1_50.ckpt` / `resnet_v1_101.ckpt`:

    <scope>/conv1                       7x7 / 2, 64, batch norm + ReLU
    <scope>/pool1                       3x3 / 2 max pool, SAME
    <scope>/block<b>/unit_<u>/bottleneck_v1/
        shortcut                        1x1 projection (first unit of a block)
        conv1, conv2, conv3             1x1 -> 3x3 -> 1x1, batch norm each
    <scope>/logits                      1x1 conv on the global average pool

Blocks 1-4 have 64, 128, 256, 512 bottleneck channels (x4 outputs) and
3, 4, 6, 3 units (ResNet-50) or 3, 4, 23, 3 (ResNet-101); each of blocks 1-3
subsamples by 2 in its last unit. Every batch norm has `beta`, `gamma` and
the moving statistics. At 1000 classes: resnet_v1_50 25,610,152 parameters
(25,557,032 trainable), resnet_v1_101 44,654,504 (44,549,160 trainable).
"""

import tensorflow as tf

from tf1cnn.compat import slim
from tf1cnn.models import resnet_utils

_V1 = tf.compat.v1

resnet_arg_scope = resnet_utils.resnet_arg_scope


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1,
               outputs_collections=None, scope=None):
  """A v1 bottleneck: relu(shortcut + 1x1 -> 3x3 -> 1x1 (linear)).

  Args:
    inputs: `[batch, height, width, channels]`.
    depth: output channels.
    depth_bottleneck: channels of the inner 1x1 and 3x3 convolutions.
    stride: stride of the unit (on the 3x3 and the shortcut).
    rate: atrous rate of the 3x3.
    outputs_collections: collection for the unit's output.
    scope: unit scope (default `bottleneck_v1`).

  Returns:
    The unit's output.
  """
  with _V1.variable_scope(scope, 'bottleneck_v1', [inputs]) as sc:
    depth_in = inputs.get_shape().as_list()[-1]
    if depth == depth_in:
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = slim.conv2d(inputs, depth, [1, 1], stride=stride,
                             activation_fn=None, scope='shortcut')
    residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], stride=1,
                           scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride,
                                        rate=rate, scope='conv2')
    residual = slim.conv2d(residual, depth, [1, 1], stride=1,
                           activation_fn=None, scope='conv3')
    output = tf.nn.relu(shortcut + residual)
    return slim.utils.collect_named_outputs(outputs_collections, sc.name,
                                            output)


(resnet_v1, resnet_v1_block, resnet_v1_50,
 resnet_v1_101) = resnet_utils.resnet_family(bottleneck, version=1)
