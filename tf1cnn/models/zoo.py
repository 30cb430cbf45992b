"""TF-Slim model-zoo networks as tf1cnn builders.

Each builder has tf1cnn's signature

    logits, end_points = builder(images, num_classes=<zoo default>,
                                 is_training=False,
                                 weight_decay=<the net's default>,
                                 scope=None, <net options>)

opens the net's own arg scope (as Slim's `nets_factory` does) and returns
`[batch, num_classes]` logits. Its variables are named exactly like the
published TF-Slim ImageNet checkpoint of the same name, so such a checkpoint
restores into it. `end_points['Logits']` is always the logits.

The builders register themselves in the model factory under their zoo
names (`tf1cnn.models.get_network_fn('inception_v1', ...)`). Attributes:
`default_image_size`, `default_channels` (3),
`default_num_classes` (1000 for vgg, alexnet and resnet_v1, whose
checkpoints have no background class; 1001 for the others) and
`default_preprocessing` ('vgg': mean subtraction on 0-255 pixels;
'inception': pixels scaled to [-1, 1]).

`ZOO_NETWORKS` maps the zoo names to the builders. Each builder's
`logits_scopes` (registry metadata; `ZOO_LOGITS_SCOPES` collects them) are
the scopes a warm start from a zoo checkpoint leaves out by default when the
classes differ (TF-Slim's `--checkpoint_exclude_scopes` recipe), which are
also the scopes to train for a last-layer fine-tune.
"""

import functools

from tf1cnn.compat import slim
from tf1cnn.models import alexnet as alexnet_lib
from tf1cnn.models import inception_v1 as inception_v1_lib
from tf1cnn.models import inception_v2 as inception_v2_lib
from tf1cnn.models import inception_v3 as inception_v3_lib
from tf1cnn.models import mobilenet_v1 as mobilenet_v1_lib
from tf1cnn.models import registry
from tf1cnn.models import resnet_utils
from tf1cnn.models import resnet_v1 as resnet_v1_lib
from tf1cnn.models import resnet_v2 as resnet_v2_lib
from tf1cnn.models import vgg as vgg_lib


def _build(net_fn, arg_scope_fn, arguments):
  """Calls `net_fn` inside its arg scope with a builder's arguments.

  Args:
    net_fn: the net (`vgg.vgg_16`, ...).
    arg_scope_fn: `fn(weight_decay) -> arg scope` of the net.
    arguments: the builder's `locals()`: `images`, `weight_decay`, `scope`
      (None keeps the net's default) and the net's keyword arguments
      (`num_classes`, `is_training` and the net options).

  Returns:
    `(logits, end_points)`, with `end_points['Logits']` the logits.
  """
  options = dict(arguments)
  images = options.pop('images')
  arg_scope = arg_scope_fn(weight_decay=options.pop('weight_decay'))
  if options['scope'] is None:
    del options['scope']
  with slim.arg_scope(arg_scope):
    logits, end_points = net_fn(images, **options)
  end_points = dict(end_points)
  end_points['Logits'] = logits
  return logits, end_points


def vgg_16(images, num_classes=1000, is_training=False, weight_decay=5e-4,
           scope=None, dropout_keep_prob=0.5, fc_conv_padding='VALID',
           global_pool=False):
  """VGG-16 in `vgg.vgg_arg_scope`; returns `(logits, end_points)`."""
  return _build(vgg_lib.vgg_16, vgg_lib.vgg_arg_scope, locals())


def vgg_19(images, num_classes=1000, is_training=False, weight_decay=5e-4,
           scope=None, dropout_keep_prob=0.5, fc_conv_padding='VALID',
           global_pool=False):
  """VGG-19 in `vgg.vgg_arg_scope`; returns `(logits, end_points)`."""
  return _build(vgg_lib.vgg_19, vgg_lib.vgg_arg_scope, locals())


def alexnet_v2(images, num_classes=1000, is_training=False,
               weight_decay=5e-4, scope=None, dropout_keep_prob=0.5,
               global_pool=False):
  """AlexNet v2 (`alexnet.alexnet_v2`); returns `(logits, end_points)`."""
  return _build(alexnet_lib.alexnet_v2, alexnet_lib.alexnet_v2_arg_scope,
                locals())


def inception_v1(images, num_classes=1001, is_training=False,
                 weight_decay=4e-5, scope=None, dropout_keep_prob=0.8,
                 global_pool=False):
  """Inception v1 with batch norm; returns `(logits, end_points)`."""
  return _build(inception_v1_lib.inception_v1,
                inception_v1_lib.inception_v1_arg_scope, locals())


def inception_v2(images, num_classes=1001, is_training=False,
                 weight_decay=4e-5, scope=None, dropout_keep_prob=0.8,
                 depth_multiplier=1.0, min_depth=16, global_pool=False):
  """Inception v2 (BN-Inception); returns `(logits, end_points)`."""
  return _build(inception_v2_lib.inception_v2,
                inception_v2_lib.inception_v2_arg_scope, locals())


def inception_v3(images, num_classes=1001, is_training=False,
                 weight_decay=4e-5, scope=None, dropout_keep_prob=0.8,
                 depth_multiplier=1.0, min_depth=16, create_aux_logits=True,
                 global_pool=False):
  """Inception v3 with the auxiliary head; returns `(logits, end_points)`.

  `end_points['AuxLogits']` holds the auxiliary logits (Slim's recipe adds
  their loss with weight 0.4 while training).
  """
  return _build(inception_v3_lib.inception_v3,
                inception_v3_lib.inception_v3_arg_scope, locals())


def _resnet(net_fn, default_num_classes, description):
  """The builder of a zoo ResNet (in `resnet_utils.resnet_arg_scope`).

  Args:
    net_fn: `resnet_v1.resnet_v1_50`, ...; its name is the builder's.
    default_num_classes: the builder's default `num_classes`.
    description: the start of the builder's docstring.

  Returns:
    `builder(images, num_classes=default_num_classes, is_training=False,
    weight_decay=1e-4, scope=None, global_pool=True, output_stride=None)`.
  """

  def builder(images, num_classes=default_num_classes, is_training=False,
              weight_decay=1e-4, scope=None, global_pool=True,
              output_stride=None):
    arguments = dict(locals())
    del arguments['net_fn']  # A variable of the closure, not an argument.
    return _build(net_fn, resnet_utils.resnet_arg_scope, arguments)

  builder.__name__ = builder.__qualname__ = net_fn.__name__
  builder.__doc__ = f'{description}; returns `(logits, end_points)`.'
  return builder


resnet_v1_50 = _resnet(resnet_v1_lib.resnet_v1_50, 1000, 'ResNet-50 v1')
resnet_v1_101 = _resnet(resnet_v1_lib.resnet_v1_101, 1000, 'ResNet-101 v1')
resnet_v2_50 = _resnet(resnet_v2_lib.resnet_v2_50, 1001, 'ResNet-50 v2')
resnet_v2_101 = _resnet(resnet_v2_lib.resnet_v2_101, 1001, 'ResNet-101 v2')


def mobilenet_v1(images, num_classes=1001, is_training=False,
                 weight_decay=4e-5, scope=None, dropout_keep_prob=0.999,
                 depth_multiplier=1.0, min_depth=8, global_pool=False):
  """MobileNet v1 (width `depth_multiplier`); returns `(logits, end_points)`."""
  return _build(mobilenet_v1_lib.mobilenet_v1,
                functools.partial(mobilenet_v1_lib.mobilenet_v1_arg_scope,
                                  is_training=None), locals())


_VGG, _INCEPTION = 'vgg', 'inception'

for _builder, _size, _classes, _preprocessing, _logits in (
    (vgg_16, 224, 1000, _VGG, ['vgg_16/fc8']),
    (vgg_19, 224, 1000, _VGG, ['vgg_19/fc8']),
    (alexnet_v2, 224, 1000, _VGG, ['alexnet_v2/fc8']),
    (inception_v1, 224, 1001, _INCEPTION, ['InceptionV1/Logits']),
    (inception_v2, 224, 1001, _INCEPTION, ['InceptionV2/Logits']),
    (inception_v3, 299, 1001, _INCEPTION,
     ['InceptionV3/Logits', 'InceptionV3/AuxLogits']),
    (resnet_v1_50, 224, 1000, _VGG, ['resnet_v1_50/logits']),
    (resnet_v1_101, 224, 1000, _VGG, ['resnet_v1_101/logits']),
    (resnet_v2_50, 224, 1001, _INCEPTION, ['resnet_v2_50/logits']),
    (resnet_v2_101, 224, 1001, _INCEPTION, ['resnet_v2_101/logits']),
    (mobilenet_v1, 224, 1001, _INCEPTION, ['MobilenetV1/Logits']),
):
  # Registered under their function names, the zoo's names.
  registry.register_model(_builder.__name__, image_size=_size, channels=3,
                          num_classes=_classes,
                          preprocessing=_preprocessing,
                          logits_scopes=_logits)(_builder)
del _builder, _size, _classes, _preprocessing, _logits

ZOO_NETWORKS = {
    'vgg_16': vgg_16,
    'vgg_19': vgg_19,
    'inception_v1': inception_v1,
    'inception_v2': inception_v2,
    'inception_v3': inception_v3,
    'resnet_v1_50': resnet_v1_50,
    'resnet_v1_101': resnet_v1_101,
    'resnet_v2_50': resnet_v2_50,
    'resnet_v2_101': resnet_v2_101,
    'mobilenet_v1': mobilenet_v1,
    'alexnet_v2': alexnet_v2,
}

# The classifier scopes, from the registry's `logits_scopes` (kept under
# this name for code written against earlier releases).
ZOO_LOGITS_SCOPES = {name: list(builder.logits_scopes)
                     for name, builder in ZOO_NETWORKS.items()}
