"""Building blocks shared by ResNet v1 and v2 (TF-Slim layout).

A ResNet body is a list of `Block`s; a block is a scope name (`block1` ..
`block4`), a unit function (a bottleneck) and one keyword dict per unit.
`stack_blocks_dense` builds them under `<block>/unit_<i>/` and, when an
`output_stride` is asked for, swaps the strides that would exceed it for
atrous rates (dense feature extraction).

`conv2d_same` is the strided convolution whose output does not depend on
the input size being even: it pads explicitly (as 'SAME' would for an odd
size) and convolves 'VALID'.

`resnet` builds either version's network around its bottleneck;
`resnet_family` makes a version's public functions (`resnet_v1`,
`resnet_v1_block`, `resnet_v1_50`, `resnet_v1_101` and their v2 twins).
"""

import collections
import contextlib

import tensorflow as tf

from tf1cnn.compat import slim

_V1 = tf.compat.v1


class Block(collections.namedtuple('Block', ['scope', 'unit_fn', 'args'])):
  """A group of residual units: scope name, unit function, per-unit kwargs.

  Each element of `args` is a dict such as
  `{'depth': 256, 'depth_bottleneck': 64, 'stride': 1}` passed to `unit_fn`.
  """


def subsample(inputs, factor, scope=None):
  """Keeps every `factor`-th row and column (a 1x1 max pool), or `inputs`."""
  if factor == 1:
    return inputs
  return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, rate=1, scope=None):
  """A `kernel_size` square convolution with input-size-independent padding.

  Stride 1 is a plain 'SAME' convolution. Larger strides pad
  `(k_eff - 1) // 2` before and the rest after, where
  `k_eff = kernel_size + (kernel_size - 1) * (rate - 1)`, then convolve
  'VALID'.

  Args:
    inputs: `[batch, height, width, channels]`.
    num_outputs: number of filters.
    kernel_size: side of the square kernel.
    stride: the stride.
    rate: atrous rate.
    scope: layer scope.

  Returns:
    The convolution's output.
  """
  if stride == 1:
    return slim.conv2d(inputs, num_outputs, kernel_size, stride=1, rate=rate,
                       padding='SAME', scope=scope)
  effective = kernel_size + (kernel_size - 1) * (rate - 1)
  before = (effective - 1) // 2
  after = effective - 1 - before
  inputs = tf.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])
  return slim.conv2d(inputs, num_outputs, kernel_size, stride=stride,
                     rate=rate, padding='VALID', scope=scope)


@slim.add_arg_scope
def stack_blocks_dense(net, blocks, output_stride=None,
                       outputs_collections=None):
  """Applies `blocks` in order, keeping the stride at `output_stride` if given.

  Once the product of the strides so far reaches `output_stride`, later
  units run with stride 1 and an atrous rate that grows by each skipped
  stride, so the receptive fields stay as in the strided net.

  Args:
    net: `[batch, height, width, channels]`.
    blocks: list of `Block`.
    output_stride: None (the blocks' own strides) or the wanted ratio of
      input to output resolution, counted from `net`.
    outputs_collections: collection for each block's output (aliased by
      the block's scope name).

  Returns:
    The last block's output.

  Raises:
    ValueError: `output_stride` cannot be reached with these strides.
  """
  current_stride = 1
  rate = 1
  for block in blocks:
    with _V1.variable_scope(block.scope, 'block', [net]) as sc:
      for index, unit in enumerate(block.args):
        if output_stride is not None and current_stride > output_stride:
          raise ValueError('The target output_stride cannot be reached.')
        with _V1.variable_scope(f'unit_{index + 1}', values=[net]):
          stride = unit.get('stride', 1)
          if output_stride is not None and current_stride == output_stride:
            net = block.unit_fn(net, rate=rate, **dict(unit, stride=1))
            rate *= stride
          else:
            net = block.unit_fn(net, rate=1, **unit)
            current_stride *= stride
      net = slim.utils.collect_named_outputs(outputs_collections, sc.name, net)
  if output_stride is not None and current_stride != output_stride:
    raise ValueError('The target output_stride cannot be reached.')
  return net


def resnet_arg_scope(weight_decay=0.0001, batch_norm_decay=0.997,
                     batch_norm_epsilon=1e-5, batch_norm_scale=True,
                     activation_fn=tf.nn.relu, use_batch_norm=True):
  """Layer defaults of the ResNets.

  Convolutions: He initialisation, L2 penalty `weight_decay`, ReLU, batch
  norm (with scale by default: `beta` and `gamma`); max pools pad 'SAME'.

  Args:
    weight_decay: L2 coefficient of the weights.
    batch_norm_decay: decay of the moving statistics.
    batch_norm_epsilon: added to the variance.
    batch_norm_scale: learn a `gamma` per channel.
    activation_fn: activation of the convolutions.
    use_batch_norm: batch norm after the convolutions (else biases).

  Returns:
    An arg_scope.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': batch_norm_scale,
      'updates_collections': _V1.GraphKeys.UPDATE_OPS,
  }
  with slim.arg_scope(
      [slim.conv2d],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=slim.variance_scaling_initializer(),
      activation_fn=activation_fn,
      normalizer_fn=slim.batch_norm if use_batch_norm else None,
      normalizer_params=batch_norm_params):
    with slim.arg_scope([slim.batch_norm], **batch_norm_params):
      with slim.arg_scope([slim.max_pool2d], padding='SAME') as scope:
        return scope


def bottleneck_block(unit_fn, scope, base_depth, num_units, stride):
  """A block of `num_units` `unit_fn` bottlenecks; only the last has `stride`.

  Args:
    unit_fn: the bottleneck function.
    scope: the block's scope name.
    base_depth: channels of the bottlenecks' inner convolutions (a quarter
      of their output channels).
    num_units: number of bottlenecks.
    stride: stride of the last bottleneck.

  Returns:
    A `Block`.
  """
  unit = {'depth': base_depth * 4, 'depth_bottleneck': base_depth}
  args = [dict(unit, stride=1) for _ in range(num_units - 1)]
  args.append(dict(unit, stride=stride))
  return Block(scope, unit_fn, args)


def resnet(inputs, blocks, unit_fn, version, num_classes=None,
           is_training=True, global_pool=True, output_stride=None,
           include_root_block=True, spatial_squeeze=True, reuse=None,
           scope=None):
  """Builds a ResNet v1 or v2 from `blocks`.

  Args:
    inputs: `[batch, height, width, channels]` float tensor.
    blocks: list of `Block`.
    unit_fn: the version's bottleneck function (its units' outputs go to the
      end points).
    version: 1, or 2 for pre-activation: conv1 then has neither batch norm
      nor activation and the last block is followed by `postnorm`.
    num_classes: logits width; None returns the pooled features.
    is_training: Python bool or boolean tensor (batch norm).
    global_pool: average the last map over all positions.
    output_stride: None or the input/output resolution ratio (a multiple of
      4 with the root block); atrous convolution keeps it.
    include_root_block: build conv1 and pool1.
    spatial_squeeze: squeeze the logits to `[batch, num_classes]` (needs
      `global_pool` or a 1x1 map).
    reuse: reuse the variables of `scope`.
    scope: variable scope (default `resnet_v1` or `resnet_v2`).

  Returns:
    `(net, end_points)`; end points keyed by scope, plus `predictions`.

  Raises:
    ValueError: an `output_stride` that cannot be reached.
  """
  preactivation = version == 2
  with _V1.variable_scope(scope, f'resnet_v{version}', [inputs],
                          reuse=reuse) as sc:
    collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, unit_fn, stack_blocks_dense],
                        outputs_collections=collection):
      with slim.arg_scope([slim.batch_norm], is_training=is_training):
        net = inputs
        if include_root_block:
          if output_stride is not None:
            if output_stride % 4 != 0:
              raise ValueError('The output_stride needs to be a multiple of 4.')
            output_stride //= 4
          # In v2 the first unit's preact normalises conv1, so conv1 has none.
          with (slim.arg_scope([slim.conv2d], activation_fn=None,
                               normalizer_fn=None) if preactivation
                else contextlib.nullcontext()):
            net = conv2d_same(net, 64, 7, stride=2, scope='conv1')
          net = slim.max_pool2d(net, [3, 3], stride=2, scope='pool1')
        net = stack_blocks_dense(net, blocks, output_stride)
        if preactivation:
          net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope='postnorm')
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], name='pool5', keepdims=True)
          pooled = net
        if num_classes is not None:
          net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                            normalizer_fn=None, scope='logits')
        end_points = slim.utils.convert_collection_to_dict(collection)
        if global_pool:
          end_points['global_pool'] = pooled
        if num_classes is not None:
          if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
            end_points[sc.name + '/spatial_squeeze'] = net
          end_points['predictions'] = slim.softmax(net, scope='predictions')
        return net, end_points


# Units per block of the published depths.
_DEPTHS = ((50, (3, 4, 6, 3)), (101, (3, 4, 23, 3)))


def _named(fn, name, module, doc, image_size=None):
  """`fn` under a public name (and with a `default_image_size`)."""
  fn.__name__ = fn.__qualname__ = name
  fn.__module__ = module
  fn.__doc__ = doc
  if image_size is not None:
    fn.default_image_size = image_size
  return fn


def resnet_family(unit_fn, version):
  """The public functions of ResNet `version` built on `unit_fn`.

  Args:
    unit_fn: the version's bottleneck (`resnet_v1.bottleneck`, ...).
    version: 1 or 2.

  Returns:
    `(resnet_vN, resnet_vN_block, resnet_vN_50, resnet_vN_101)`:
    `resnet_vN(inputs, blocks, num_classes=None, is_training=True,
    global_pool=True, output_stride=None, include_root_block=True,
    spatial_squeeze=True, reuse=None, scope=None)` (arguments as `resnet`),
    `resnet_vN_block(scope, base_depth, num_units, stride)` (see
    `bottleneck_block`) and the ResNet-50/101 functions, whose arguments are
    those of `resnet_vN` less `blocks` and `include_root_block`, with the
    default scope `resnet_vN_50` / `resnet_vN_101`.
  """
  name, module = f'resnet_v{version}', unit_fn.__module__

  def net_fn(inputs, blocks, num_classes=None, is_training=True,
             global_pool=True, output_stride=None, include_root_block=True,
             spatial_squeeze=True, reuse=None, scope=None):
    return resnet(inputs, blocks, unit_fn, version, num_classes, is_training,
                  global_pool, output_stride, include_root_block,
                  spatial_squeeze, reuse, scope)

  def block_fn(scope, base_depth, num_units, stride):
    return bottleneck_block(unit_fn, scope, base_depth, num_units, stride)

  def depth_fn(depth, units):
    def variant(inputs, num_classes=None, is_training=True, global_pool=True,
                output_stride=None, spatial_squeeze=True, reuse=None,
                scope=f'{name}_{depth}'):
      blocks = [block_fn(f'block{index + 1}', base_depth=base_depth,
                         num_units=count, stride=stride)
                for index, (base_depth, count, stride) in enumerate(
                    zip((64, 128, 256, 512), units, (2, 2, 2, 1)))]
      return net_fn(inputs, blocks, num_classes, is_training, global_pool,
                    output_stride, include_root_block=True,
                    spatial_squeeze=spatial_squeeze, reuse=reuse,
                    scope=scope)

    return _named(variant, f'{name}_{depth}', module,
                  f'ResNet-{depth} v{version} ({", ".join(map(str, units))} '
                  f'units); arguments as `{name}`.', 224)

  return (
      _named(net_fn, name, module,
             f'Builds a ResNet v{version} from `blocks`; arguments as '
             '`resnet_utils.resnet`.', 224),
      _named(block_fn, f'{name}_block', module,
             f'A block of `num_units` v{version} bottlenecks; only the last '
             'one has `stride`.'),
      *(depth_fn(depth, units) for depth, units in _DEPTHS))
