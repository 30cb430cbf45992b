"""TF-Slim's `nets.resnet_v1` with the `tf_slim` wheel's API.

The wheel's (and `tensorflow.contrib.slim.nets`') ResNet v1 functions have
no `spatial_squeeze` argument: the logits of `num_classes` keep their
`[N, 1, 1, C]` shape, and `reuse` follows `include_root_block` (or
`output_stride`) directly. These wrap `tf1cnn.models.resnet_v1` (same
layers, variable names and end points) with that signature.
"""

from tf1cnn.models import resnet_utils
from tf1cnn.models import resnet_v1 as _resnet

bottleneck = _resnet.bottleneck
resnet_arg_scope = resnet_utils.resnet_arg_scope
resnet_v1_block = _resnet.resnet_v1_block


def resnet_v1(inputs, blocks, num_classes=None, is_training=True,
              global_pool=True, output_stride=None, include_root_block=True,
              reuse=None, scope=None):
  """ResNet v1 from `blocks`; returns `(net, end_points)`, unsqueezed."""
  return _resnet.resnet_v1(inputs, blocks, num_classes, is_training,
                           global_pool, output_stride, include_root_block,
                           spatial_squeeze=False, reuse=reuse, scope=scope)


def resnet_v1_50(inputs, num_classes=None, is_training=True,
                 global_pool=True, output_stride=None, reuse=None,
                 scope='resnet_v1_50'):
  """ResNet-50 v1; returns `(net, end_points)`, unsqueezed."""
  return _resnet.resnet_v1_50(inputs, num_classes, is_training, global_pool,
                              output_stride, spatial_squeeze=False,
                              reuse=reuse, scope=scope)


def resnet_v1_101(inputs, num_classes=None, is_training=True,
                  global_pool=True, output_stride=None, reuse=None,
                  scope='resnet_v1_101'):
  """ResNet-101 v1; returns `(net, end_points)`, unsqueezed."""
  return _resnet.resnet_v1_101(inputs, num_classes, is_training,
                               global_pool, output_stride,
                               spatial_squeeze=False, reuse=reuse,
                               scope=scope)


resnet_v1.default_image_size = 224
resnet_v1_50.default_image_size = 224
resnet_v1_101.default_image_size = 224
