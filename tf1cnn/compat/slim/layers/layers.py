"""TF-Slim's layer functions on `tf.nn` and `tf.compat.v1` graph mode.

Same names, signatures, defaults, variable names and collections as
`tf_slim.layers.layers`, built directly on `tf.nn` ops (no Keras layers):

* `conv2d` (`convolution2d`, `convolution` for 1-3 spatial dims, with `rate`),
  `separable_conv2d` (`num_outputs=None`: depthwise only), `conv2d_transpose`,
  `fully_connected` (also `linear`, `relu`, `relu6`, `elu`), `bias_add`:
  variables `<scope>/weights` and `<scope>/biases` (or `depthwise_weights`,
  `pointwise_weights`) in `MODEL_VARIABLES`, default scopes `Conv`,
  `fully_connected`, ... made unique as `Conv_1`, `Conv_2` by
  `variable_scope`'s default names; the bias is dropped when a
  `normalizer_fn` is given; `activation_fn` defaults to ReLU;
* `batch_norm` with Slim's three numerical paths (see its docstring);
* `max_pool2d`, `avg_pool2d` (kernel 2x2-style args, stride 2, VALID),
  3-D pools, `pool`, `dropout` (keep_prob 0.5), `flatten`,
  `one_hot_encoding`, `softmax`, `layer_norm`;
* `repeat` and `stack`, which name their layers `<name>_1`, `<name>_2`, ...
  inside a `Repeat` / `Stack` (or the given) scope.

Every layer with `outputs_collections` adds its output under its scope name,
which `utils.convert_collection_to_dict` turns into a net's `end_points`.
"""

import functools
import numbers

import tensorflow as tf

from tf1cnn import normalization
from tf1cnn import runtime
from tf1cnn.compat.slim.layers import initializers
from tf1cnn.compat.slim.layers import utils
from tf1cnn.compat.slim.ops import variables
from tf1cnn.compat.slim.ops.arg_scope import add_arg_scope

_V1 = tf.compat.v1
_UPDATE_OPS = _V1.GraphKeys.UPDATE_OPS

__all__ = [
    'avg_pool2d', 'avg_pool3d', 'batch_norm', 'bias_add', 'conv1d', 'conv2d',
    'conv3d', 'conv2d_transpose', 'convolution', 'convolution1d',
    'convolution2d', 'convolution2d_transpose', 'convolution3d', 'dropout',
    'elu', 'flatten', 'fully_connected', 'layer_norm', 'linear', 'max_pool2d',
    'max_pool3d', 'one_hot_encoding', 'pool', 'relu', 'relu6', 'repeat',
    'separable_conv2d', 'separable_convolution2d', 'softmax', 'stack',
]

DATA_FORMAT_NCHW = 'NCHW'
DATA_FORMAT_NHWC = 'NHWC'
DATA_FORMAT_NCDHW = 'NCDHW'
DATA_FORMAT_NDHWC = 'NDHWC'

# tf.nn data formats by input rank, channels last / first.
_FORMATS = {3: ('NWC', 'NCW'), 4: ('NHWC', 'NCHW'), 5: ('NDHWC', 'NCDHW')}


def _collections_for(variables_collections, name):
  """The extra collections of variable `name` as a list."""
  found = utils.get_variable_collections(variables_collections, name)
  if found is None:
    return None
  if isinstance(found, str):
    return [found]
  return list(found)


def _model_variable(name, shape, dtype, initializer, regularizer, trainable,
                    variables_collections, collection_key=None):
  """A model variable with the collections Slim gives it."""
  return variables.model_variable(
      name, shape=shape, dtype=dtype, initializer=initializer,
      regularizer=regularizer, trainable=trainable,
      collections=_collections_for(variables_collections,
                                   collection_key or name))


def _biases(num_outputs, dtype, normalizer_fn, biases_initializer,
            biases_regularizer, trainable, variables_collections):
  """A layer's `biases`; None with a normalizer or no initializer (Slim)."""
  if normalizer_fn or not biases_initializer:
    return None
  return _model_variable('biases', [num_outputs], dtype, biases_initializer,
                         biases_regularizer, trainable, variables_collections)


def _channels_first(data_format):
  return bool(data_format) and data_format.startswith('NC')


def _finish(outputs, normalizer_fn, normalizer_params, activation_fn,
            outputs_collections, alias):
  """Normalizer, activation, then the outputs collection (Slim's order)."""
  if normalizer_fn is not None:
    outputs = normalizer_fn(outputs, **(normalizer_params or {}))
  if activation_fn is not None:
    outputs = activation_fn(outputs)
  return utils.collect_named_outputs(outputs_collections, alias, outputs)


# -----------------------------------------------------------------------------
# Convolutions and fully connected layers.


@add_arg_scope
def convolution(inputs, num_outputs, kernel_size, stride=1, padding='SAME',
                data_format=None, rate=1, activation_fn=tf.nn.relu,
                normalizer_fn=None, normalizer_params=None,
                weights_initializer=initializers.xavier_initializer(),
                weights_regularizer=None,
                biases_initializer=_V1.zeros_initializer(),
                biases_regularizer=None, reuse=None,
                variables_collections=None, outputs_collections=None,
                trainable=True, scope=None, conv_dims=None):
  """An N-D convolution (N = 1, 2, 3 from the input rank), Slim style.

  Args:
    inputs: a rank-3, 4 or 5 tensor, channels last unless `data_format`
      starts with 'NC'.
    num_outputs: number of filters.
    kernel_size: an int or a list of N ints.
    stride: an int or a list of N ints.
    padding: 'SAME' or 'VALID'.
    data_format: None, 'NWC', 'NCW', 'NHWC', 'NCHW', 'NDHWC' or 'NCDHW'.
    rate: dilation rate, an int or N ints (with stride 1).
    activation_fn: applied last; None for linear.
    normalizer_fn: e.g. `batch_norm`, applied before the activation; the bias
      is then not created.
    normalizer_params: keyword arguments for `normalizer_fn`.
    weights_initializer: initializer of `weights` (Glorot uniform).
    weights_regularizer: `fn(weights) -> loss` for REGULARIZATION_LOSSES.
    biases_initializer: initializer of `biases`; None for no bias.
    biases_regularizer: `fn(biases) -> loss`.
    reuse: reuse the variables of `scope`.
    variables_collections: extra collections for the variables (a list, or a
      dict keyed by 'weights' / 'biases').
    outputs_collections: collections to add the output to.
    trainable: add the variables to TRAINABLE_VARIABLES.
    scope: variable scope; default 'Conv' made unique.
    conv_dims: the expected number of spatial dims, or None.

  Returns:
    The output tensor.

  Raises:
    ValueError: bad data_format, input rank or unknown channel count.
  """
  runtime.require_graph_mode('slim.convolution')
  if data_format not in (None, 'NWC', 'NCW', 'NHWC', 'NCHW', 'NDHWC', 'NCDHW'):
    raise ValueError(f'Invalid data_format: {data_format!r}')
  with _V1.variable_scope(scope, 'Conv', [inputs], reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.get_shape().ndims
    if conv_dims is not None and conv_dims + 2 != rank:
      raise ValueError(f'Convolution expects input with rank {conv_dims + 2}, '
                       f'got {rank}')
    if rank not in _FORMATS:
      raise ValueError(f'Convolution not supported for input with rank {rank}')
    spatial = rank - 2
    first = _channels_first(data_format)
    tf_format = _FORMATS[rank][1 if first else 0]
    kernel = utils.n_positive_integers(spatial, kernel_size)
    strides = utils.n_positive_integers(spatial, stride)
    dilations = utils.n_positive_integers(spatial, rate)
    in_channels = utils.channel_dimension(
        inputs.get_shape(), 'channels_first' if first else 'channels_last',
        min_rank=rank)
    dtype = inputs.dtype.base_dtype
    weights = _model_variable(
        'weights', list(kernel) + [in_channels, num_outputs], dtype,
        weights_initializer, weights_regularizer, trainable,
        variables_collections)
    biases = _biases(num_outputs, dtype, normalizer_fn, biases_initializer,
                     biases_regularizer, trainable, variables_collections)
    outputs = tf.nn.convolution(inputs, weights, strides=list(strides),
                                padding=padding.upper(),
                                dilations=list(dilations),
                                data_format=tf_format)
    if biases is not None:
      outputs = tf.nn.bias_add(outputs, biases, data_format=tf_format)
    return _finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                   outputs_collections, sc.name)


def _fixed_rank_convolution(conv_dims, name):
  """convolution1d/2d/3d: `convolution` with a fixed number of spatial dims."""

  def conv(inputs, num_outputs, kernel_size, stride=1, padding='SAME',
           data_format=None, rate=1, activation_fn=tf.nn.relu,
           normalizer_fn=None, normalizer_params=None,
           weights_initializer=initializers.xavier_initializer(),
           weights_regularizer=None,
           biases_initializer=_V1.zeros_initializer(),
           biases_regularizer=None, reuse=None, variables_collections=None,
           outputs_collections=None, trainable=True, scope=None):
    return convolution(
        inputs, num_outputs, kernel_size, stride=stride, padding=padding,
        data_format=data_format, rate=rate, activation_fn=activation_fn,
        normalizer_fn=normalizer_fn, normalizer_params=normalizer_params,
        weights_initializer=weights_initializer,
        weights_regularizer=weights_regularizer,
        biases_initializer=biases_initializer,
        biases_regularizer=biases_regularizer, reuse=reuse,
        variables_collections=variables_collections,
        outputs_collections=outputs_collections, trainable=trainable,
        scope=scope, conv_dims=conv_dims)

  conv.__name__ = conv.__qualname__ = name
  conv.__doc__ = (f'`convolution` on rank-{conv_dims + 2} inputs '
                  f'({conv_dims} spatial dims); same arguments.')
  return add_arg_scope(conv)


convolution1d = _fixed_rank_convolution(1, 'convolution1d')
convolution2d = _fixed_rank_convolution(2, 'convolution2d')
convolution3d = _fixed_rank_convolution(3, 'convolution3d')


def _deconv_length(size, kernel, padding, stride):
  """Output length of a transposed convolution (Keras' rule, no dilation)."""
  if size is None:
    return None
  if padding == 'VALID':
    return size * stride + max(kernel - stride, 0)
  return size * stride


@add_arg_scope
def convolution2d_transpose(
    inputs, num_outputs, kernel_size, stride=1, padding='SAME',
    data_format=DATA_FORMAT_NHWC, activation_fn=tf.nn.relu,
    normalizer_fn=None, normalizer_params=None,
    weights_initializer=initializers.xavier_initializer(),
    weights_regularizer=None, biases_initializer=_V1.zeros_initializer(),
    biases_regularizer=None, reuse=None, variables_collections=None,
    outputs_collections=None, trainable=True, scope=None):
  """A 2-D transposed convolution ("deconvolution"), Slim style.

  `weights` has shape `[kh, kw, num_outputs, in_channels]`; with 'SAME'
  padding the output is `stride` times the input size, with 'VALID'
  `size * stride + max(kernel - stride, 0)`. Other arguments as `convolution`;
  default scope 'Conv2d_transpose'.

  Returns:
    The output tensor.

  Raises:
    ValueError: data_format is neither NHWC nor NCHW.
  """
  runtime.require_graph_mode('slim.conv2d_transpose')
  with _V1.variable_scope(scope, 'Conv2d_transpose', [inputs],
                          reuse=reuse) as sc:
    if data_format not in (DATA_FORMAT_NCHW, DATA_FORMAT_NHWC):
      raise ValueError('data_format has to be either NCHW or NHWC.')
    inputs = tf.convert_to_tensor(inputs)
    first = data_format == DATA_FORMAT_NCHW
    kh, kw = utils.n_positive_integers(2, kernel_size)
    sh, sw = utils.n_positive_integers(2, stride)
    padding = padding.upper()
    in_channels = utils.channel_dimension(
        inputs.get_shape(), 'channels_first' if first else 'channels_last',
        min_rank=4)
    dtype = inputs.dtype.base_dtype
    weights = _model_variable('weights', [kh, kw, num_outputs, in_channels],
                              dtype, weights_initializer, weights_regularizer,
                              trainable, variables_collections)
    biases = _biases(num_outputs, dtype, normalizer_fn, biases_initializer,
                     biases_regularizer, trainable, variables_collections)
    h_axis, w_axis = (2, 3) if first else (1, 2)
    static = inputs.get_shape().as_list()
    dynamic = tf.shape(inputs)
    height = static[h_axis] if static[h_axis] is not None else dynamic[h_axis]
    width = static[w_axis] if static[w_axis] is not None else dynamic[w_axis]
    out_h = _deconv_length(height, kh, padding, sh)
    out_w = _deconv_length(width, kw, padding, sw)
    if first:
      output_shape = tf.stack([dynamic[0], num_outputs, out_h, out_w])
      strides = (1, 1, sh, sw)
    else:
      output_shape = tf.stack([dynamic[0], out_h, out_w, num_outputs])
      strides = (1, sh, sw, 1)
    outputs = _V1.nn.conv2d_transpose(inputs, weights, output_shape,
                                      strides=strides, padding=padding,
                                      data_format=data_format)
    static_h = _deconv_length(static[h_axis], kh, padding, sh)
    static_w = _deconv_length(static[w_axis], kw, padding, sw)
    if first:
      outputs.set_shape([static[0], num_outputs, static_h, static_w])
    else:
      outputs.set_shape([static[0], static_h, static_w, num_outputs])
    if biases is not None:
      outputs = tf.nn.bias_add(outputs, biases, data_format=data_format)
    return _finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                   outputs_collections, sc.name)


@add_arg_scope
def separable_convolution2d(
    inputs, num_outputs, kernel_size, depth_multiplier=1, stride=1,
    padding='SAME', data_format=DATA_FORMAT_NHWC, rate=1,
    activation_fn=tf.nn.relu, normalizer_fn=None, normalizer_params=None,
    weights_initializer=initializers.xavier_initializer(),
    pointwise_initializer=None, weights_regularizer=None,
    biases_initializer=_V1.zeros_initializer(), biases_regularizer=None,
    reuse=None, variables_collections=None, outputs_collections=None,
    trainable=True, scope=None):
  """A depthwise-separable 2-D convolution, Slim style.

  With `num_outputs` set: a depthwise convolution (`depthwise_weights`,
  `[kh, kw, in, depth_multiplier]`) followed by a 1x1 convolution
  (`pointwise_weights`, `[1, 1, in * depth_multiplier, num_outputs]`). With
  `num_outputs=None` only the depthwise step is done (MobileNet's use), and its
  output has `in * depth_multiplier` channels. Default scope
  'SeparableConv2d'. `pointwise_initializer` defaults to
  `weights_initializer`; `weights_regularizer` applies to both kernels. Other
  arguments as `convolution`.

  Returns:
    The output tensor.

  Raises:
    ValueError: data_format is neither NHWC nor NCHW.
  """
  runtime.require_graph_mode('slim.separable_conv2d')
  if data_format not in (DATA_FORMAT_NCHW, DATA_FORMAT_NHWC):
    raise ValueError('data_format has to be either NCHW or NHWC.')
  with _V1.variable_scope(scope, 'SeparableConv2d', [inputs],
                          reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    if pointwise_initializer is None:
      pointwise_initializer = weights_initializer
    first = data_format == DATA_FORMAT_NCHW
    kh, kw = utils.two_element_tuple(kernel_size)
    sh, sw = utils.two_element_tuple(stride)
    dilations = utils.two_element_tuple(rate)
    in_channels = utils.channel_dimension(
        inputs.get_shape(), 'channels_first' if first else 'channels_last',
        min_rank=4)
    dtype = inputs.dtype.base_dtype
    strides = [1, 1, sh, sw] if first else [1, sh, sw, 1]
    depthwise = _model_variable(
        'depthwise_weights', [kh, kw, in_channels, depth_multiplier], dtype,
        weights_initializer, weights_regularizer, trainable,
        variables_collections, 'weights')
    if num_outputs is not None:
      pointwise = _model_variable(
          'pointwise_weights',
          [1, 1, in_channels * depth_multiplier, num_outputs], dtype,
          pointwise_initializer, weights_regularizer, trainable,
          variables_collections, 'weights')
      biases = _biases(num_outputs, dtype, normalizer_fn, biases_initializer,
                       biases_regularizer, trainable, variables_collections)
      outputs = _V1.nn.separable_conv2d(inputs, depthwise, pointwise,
                                        strides=strides,
                                        padding=padding.upper(),
                                        rate=dilations,
                                        data_format=data_format)
      if biases is not None:
        outputs = tf.nn.bias_add(outputs, biases, data_format=data_format)
      if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    else:
      outputs = _V1.nn.depthwise_conv2d(inputs, depthwise, strides, padding,
                                        rate=dilations,
                                        data_format=data_format)
      if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
      elif biases_initializer is not None:
        biases = _model_variable('biases', [in_channels * depth_multiplier],
                                 dtype, biases_initializer,
                                 biases_regularizer, trainable,
                                 variables_collections)
        outputs = tf.nn.bias_add(outputs, biases, data_format=data_format)
    return _finish(outputs, None, None, activation_fn, outputs_collections,
                   sc.name)


@add_arg_scope
def fully_connected(inputs, num_outputs, activation_fn=tf.nn.relu,
                    normalizer_fn=None, normalizer_params=None,
                    weights_initializer=initializers.xavier_initializer(),
                    weights_regularizer=None,
                    biases_initializer=_V1.zeros_initializer(),
                    biases_regularizer=None, reuse=None,
                    variables_collections=None, outputs_collections=None,
                    trainable=True, scope=None):
  """A fully connected layer: `activation(inputs @ weights + biases)`.

  Inputs of rank > 2 are contracted over their last dimension only (no
  flattening). `weights` is `[in, num_outputs]`. Default scope
  'fully_connected'. Other arguments as `convolution`.

  Returns:
    The output tensor.

  Raises:
    ValueError: num_outputs is not an int, or the last input dimension is
      unknown.
  """
  runtime.require_graph_mode('slim.fully_connected')
  if not isinstance(num_outputs, int):
    raise ValueError(f'num_outputs type should be one of [int], got '
                     f'{type(num_outputs)}.')
  with _V1.variable_scope(scope, 'fully_connected', [inputs],
                          reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.get_shape().ndims
    if rank is not None and rank < 2:
      raise ValueError(f'Inputs {inputs.name} must have rank at least 2')
    in_dim = utils.last_dimension(inputs.get_shape(), min_rank=2)
    dtype = inputs.dtype.base_dtype
    weights = _model_variable('weights', [in_dim, num_outputs], dtype,
                              weights_initializer, weights_regularizer,
                              trainable, variables_collections)
    biases = _biases(num_outputs, dtype, normalizer_fn, biases_initializer,
                     biases_regularizer, trainable, variables_collections)
    if rank == 2:
      outputs = tf.matmul(inputs, weights)
    else:
      outputs = tf.tensordot(inputs, weights, [[rank - 1], [0]])
      outputs.set_shape(inputs.get_shape().as_list()[:-1] + [num_outputs])
    if biases is not None:
      outputs = tf.nn.bias_add(outputs, biases)
    return _finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                   outputs_collections, sc.name)


@add_arg_scope
def bias_add(inputs, activation_fn=None,
             initializer=_V1.zeros_initializer(), regularizer=None,
             reuse=None, variables_collections=None, outputs_collections=None,
             trainable=True, data_format=DATA_FORMAT_NHWC, scope=None):
  """Adds a learned per-channel `biases` variable (scope 'BiasAdd').

  Returns:
    The output tensor.

  Raises:
    ValueError: bad data_format, unknown rank or channel count.
  """
  runtime.require_graph_mode('slim.bias_add')
  if data_format not in (DATA_FORMAT_NCHW, DATA_FORMAT_NHWC):
    raise ValueError('data_format has to be either NCHW or NHWC.')
  with _V1.variable_scope(scope, 'BiasAdd', [inputs], reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.get_shape().ndims
    if rank is None:
      raise ValueError('Dims of shape must be known but is None')
    if rank != 4 and data_format == DATA_FORMAT_NCHW:
      raise ValueError('Data format NCHW only supports 4D Tensor')
    axis = 1 if data_format == DATA_FORMAT_NCHW else -1
    channels = tf.compat.dimension_value(inputs.get_shape().dims[axis])
    if channels is None:
      raise ValueError('`C` dimension must be known but is None')
    biases = _model_variable('biases', [channels], inputs.dtype.base_dtype,
                             initializer, regularizer, trainable,
                             variables_collections)
    outputs = tf.nn.bias_add(inputs, biases, data_format=data_format)
    return _finish(outputs, None, None, activation_fn, outputs_collections,
                   sc.name)


# -----------------------------------------------------------------------------
# Normalization.


def _slim_updates(is_training, updates_collections, decay, moving_mean,
                  moving_variance, mean, variance, dependents, otherwise):
  """Slim's own updates of the moving statistics toward `mean`, `variance`.

  Args:
    is_training: bool or bool tensor; the statistics move only in training.
    updates_collections: None to run the updates in place, else the
      collections that receive the update ops.
    decay: moving average decay (a Python number).
    moving_mean: the moving mean variable.
    moving_variance: the moving variance variable.
    mean: the batch mean.
    variance: the batch variance.
    dependents: `fn()` building the tensors that must wait for in-place
      updates.
    otherwise: `fn()` giving those tensors when not training.

  Returns:
    With `updates_collections=None`, `dependents()` (after the updates) or
    `otherwise()` by `is_training`; else None.
  """

  def updates():
    return (normalization.assign_moving_average(moving_mean, mean, decay),
            normalization.assign_moving_average(moving_variance, variance,
                                                decay))

  if updates_collections is None:
    def forced():
      with tf.control_dependencies(updates()):
        return dependents()

    return utils.smart_cond(is_training, forced, otherwise)
  update_mean, update_variance = utils.smart_cond(
      is_training, updates, lambda: (moving_mean, moving_variance))
  _V1.add_to_collections(updates_collections, update_mean)
  _V1.add_to_collections(updates_collections, update_variance)
  return None


class _BatchNormParams:
  """Creates batch norm's variables in Slim's order for the chosen path."""

  def __init__(self, params_shape, dtype, center, scale, param_initializers,
               param_regularizers, trainable, variables_collections,
               gamma_first):
    inits = param_initializers or {}
    regs = param_regularizers or {}
    self.beta = self.gamma = None

    def make_beta():
      self.beta = _model_variable(
          'beta', params_shape, dtype,
          inits.get('beta', _V1.zeros_initializer()), regs.get('beta'),
          trainable, variables_collections)

    def make_gamma():
      self.gamma = _model_variable(
          'gamma', params_shape, dtype,
          inits.get('gamma', _V1.ones_initializer()), regs.get('gamma'),
          trainable, variables_collections)

    makers = [(scale, make_gamma), (center, make_beta)]
    if not gamma_first:
      makers.reverse()
    for wanted, make in makers:
      if wanted:
        make()
    scope = _V1.get_variable_scope()
    partitioner = scope.partitioner
    scope.set_partitioner(None)
    try:
      self.moving_mean = _model_variable(
          'moving_mean', params_shape, dtype,
          inits.get('moving_mean', _V1.zeros_initializer()), None, False,
          variables_collections)
      self.moving_variance = _model_variable(
          'moving_variance', params_shape, dtype,
          inits.get('moving_variance', _V1.ones_initializer()), None, False,
          variables_collections)
    finally:
      scope.set_partitioner(partitioner)


@add_arg_scope
def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001,
               activation_fn=None, param_initializers=None,
               param_regularizers=None, updates_collections=_UPDATE_OPS,
               is_training=True, reuse=None, variables_collections=None,
               outputs_collections=None, trainable=True, batch_weights=None,
               fused=None, data_format=DATA_FORMAT_NHWC,
               zero_debias_moving_mean=False, scope=None, renorm=False,
               renorm_clipping=None, renorm_decay=0.99, adjustment=None):
  """Batch normalization (Ioffe & Szegedy, 2015), Slim style.

  Variables (scope 'BatchNorm'): `beta` (if `center`), `gamma` (if `scale`),
  `moving_mean` and `moving_variance` (non-trainable), all model variables.
  Training mode normalises with the batch statistics and moves the moving
  statistics by `moving -= (1 - decay) * (moving - batch)`; eval mode uses
  the moving statistics. `is_training` may be a bool tensor (a `tf.cond` then
  picks the mode at run time and the update ops always run, moving nothing in
  eval mode when they come from the default path).

  As in TF-Slim, three code paths give slightly different numbers:

  * the default (`updates_collections=UPDATE_OPS`, rank 4, `fused` None or
    True): the fused kernel; the moving variance follows the unbiased
    (n / (n - 1)) batch variance; the updates go to UPDATE_OPS;
  * rank 2 with `fused`, or `updates_collections` other than UPDATE_OPS with
    `fused`: the fused kernel again (rank 2 reshaped to rank 4), with
    `updates_collections=None` running the updates in place (the output
    depends on them), otherwise adding them to those collections;
  * `fused=False`: `tf.nn.moments` and `tf.nn.batch_normalization`; the
    moving variance follows the biased batch variance.

  Args:
    inputs: a tensor of rank >= 2 (rank 2 or 4 on the fused paths).
    decay: moving average decay.
    center: add the `beta` offset.
    scale: multiply by `gamma` (off by default: a following ReLU layer makes it
      redundant).
    epsilon: added to the variance.
    activation_fn: applied to the output; None for linear.
    param_initializers: dict of initializers keyed by 'beta', 'gamma',
      'moving_mean', 'moving_variance'.
    param_regularizers: dict of regularizers keyed by 'beta', 'gamma'.
    updates_collections: where the update ops go; None for in-place updates.
    is_training: bool or bool tensor.
    reuse: reuse the variables of `scope`.
    variables_collections: extra collections (list, or dict keyed by name).
    outputs_collections: collections to add the output to.
    trainable: put beta and gamma in TRAINABLE_VARIABLES.
    batch_weights: per-example weights for the moments (non-fused path).
    fused: None or True for the fused kernel where possible.
    data_format: 'NHWC' or 'NCHW'.
    zero_debias_moving_mean: not supported (must be False).
    scope: variable scope; default 'BatchNorm' made unique.
    renorm: not supported (must be False).
    renorm_clipping: unused (renorm is not supported).
    renorm_decay: unused (renorm is not supported).
    adjustment: not supported (must be None).

  Returns:
    The normalised tensor.

  Raises:
    ValueError: bad data_format, unknown rank or channel count, or fused=True
      on a rank the fused kernel cannot take.
    NotImplementedError: renorm, adjustment or zero_debias_moving_mean.
  """
  del renorm_clipping, renorm_decay
  runtime.require_graph_mode('slim.batch_norm')
  if renorm or adjustment is not None or zero_debias_moving_mean:
    raise NotImplementedError(
        'tf1cnn.compat.slim.batch_norm does not implement renorm, adjustment '
        'or zero_debias_moving_mean')
  if data_format not in (DATA_FORMAT_NCHW, DATA_FORMAT_NHWC):
    raise ValueError('data_format has to be either NCHW or NHWC.')
  if fused is None:
    fused = True
  inputs = tf.convert_to_tensor(inputs)
  rank = inputs.get_shape().ndims
  if rank is None:
    raise ValueError(f'Inputs {inputs.name} has undefined rank.')
  default_updates = (isinstance(updates_collections, str) and
                     updates_collections == _UPDATE_OPS)
  if (fused and batch_weights is None and rank in (2, 4) and
      (rank == 2 or not default_updates)):
    path = _batch_norm_fused_slim
  elif batch_weights is None and default_updates:
    path = (_batch_norm_fused_default if fused and rank in (4, 5)
            else _batch_norm_moments_default)
  else:
    path = _batch_norm_moments
  with _V1.variable_scope(scope, 'BatchNorm', [inputs], reuse=reuse) as sc:
    outputs = path(inputs, decay=decay, center=center, scale=scale,
                   epsilon=epsilon, param_initializers=param_initializers,
                   param_regularizers=param_regularizers,
                   updates_collections=updates_collections,
                   is_training=is_training,
                   variables_collections=variables_collections,
                   trainable=trainable, batch_weights=batch_weights,
                   data_format=data_format)
    if activation_fn is not None:
      outputs = activation_fn(outputs)
    return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


def _params_shape(inputs, data_format):
  shape = inputs.get_shape()
  params_shape = shape[1:2] if data_format == DATA_FORMAT_NCHW else shape[-1:]
  if not params_shape.is_fully_defined():
    raise ValueError(f'Inputs {inputs.name} has undefined channels dimension '
                     f'{params_shape}.')
  return params_shape.as_list()


def _default_path_params(inputs, data_format, center, scale,
                         param_initializers, param_regularizers,
                         variables_collections, trainable):
  """The parameters of the default-collection paths (gamma made first).

  Returns:
    `(params_shape, param_dtype, params)`: float32 parameters for float16 and
    bfloat16 inputs, else the input's dtype, and the `_BatchNormParams`.
  """
  params_shape = _params_shape(inputs, data_format)
  param_dtype = (tf.float32 if inputs.dtype.base_dtype in (tf.float16,
                                                           tf.bfloat16)
                 else inputs.dtype.base_dtype)
  params = _BatchNormParams(params_shape, param_dtype, center, scale,
                            param_initializers, param_regularizers, trainable,
                            variables_collections, gamma_first=True)
  return params_shape, param_dtype, params


def _batch_norm_fused_slim(inputs, decay, center, scale, epsilon,
                           param_initializers, param_regularizers,
                           updates_collections, is_training,
                           variables_collections, trainable, data_format,
                           **unused):
  """Slim's own fused path (rank 2 or 4; custom or no updates collections)."""
  del unused
  original_shape = inputs.get_shape()
  original_inputs = inputs
  if original_shape.ndims == 2:
    channels = tf.compat.dimension_value(original_shape[-1])
    if channels is None:
      raise ValueError('`C` dimension must be known but is None')
    new_shape = ([-1, channels, 1, 1] if data_format == DATA_FORMAT_NCHW
                 else [-1, 1, 1, channels])
    inputs = tf.reshape(inputs, new_shape)
  params_shape = _params_shape(inputs, data_format)
  params = _BatchNormParams(params_shape, tf.float32, center, scale,
                            param_initializers, param_regularizers, trainable,
                            variables_collections, gamma_first=False)
  beta = params.beta if center else tf.constant(0.0, tf.float32, params_shape)
  gamma = params.gamma if scale else tf.constant(1.0, tf.float32,
                                                 params_shape)
  moving_mean, moving_variance = params.moving_mean, params.moving_variance

  def training():
    return _V1.nn.fused_batch_norm(inputs, gamma, beta, epsilon=epsilon,
                                   data_format=data_format)

  def inference():
    return _V1.nn.fused_batch_norm(inputs, gamma, beta, mean=moving_mean,
                                   variance=moving_variance, epsilon=epsilon,
                                   is_training=False, data_format=data_format)

  outputs, mean, variance = utils.smart_cond(is_training, training, inference)
  training_value = utils.constant_value(is_training)
  if training_value is None or training_value:
    forced = _slim_updates(is_training, updates_collections, decay,
                           moving_mean, moving_variance, mean, variance,
                           lambda: tf.identity(outputs), lambda: outputs)
    if forced is not None:
      outputs = forced
  outputs.set_shape(inputs.get_shape())
  if original_shape.ndims == 2:
    dims = original_shape.as_list()
    if sum(d is None for d in dims) <= 1:
      outputs = tf.reshape(outputs, [-1 if d is None else d for d in dims])
    else:
      outputs = tf.reshape(outputs, tf.shape(original_inputs))
  return outputs


def _batch_norm_fused_default(inputs, decay, center, scale, epsilon,
                              param_initializers, param_regularizers,
                              is_training, variables_collections, trainable,
                              data_format, **unused):
  """The default path: fused kernel, biased variance into UPDATE_OPS."""
  del unused
  rank = inputs.get_shape().ndims
  params_shape, param_dtype, params = _default_path_params(
      inputs, data_format, center, scale, param_initializers,
      param_regularizers, variables_collections, trainable)
  beta = params.beta if center else tf.constant(0.0, param_dtype,
                                                params_shape)
  gamma = params.gamma if scale else tf.constant(1.0, param_dtype,
                                                 params_shape)
  moving_mean, moving_variance = params.moving_mean, params.moving_variance
  if data_format == DATA_FORMAT_NCHW:
    tf_format = 'NCHW' if rank == 4 else 'NCDHW'
  else:
    tf_format = 'NHWC' if rank == 4 else 'NDHWC'

  # The fused kernel's batch variance is the unbiased (n / (n - 1)) one; it
  # goes into the moving average unchanged, as in TF-Slim.
  def training():
    return _V1.nn.fused_batch_norm(
        inputs, gamma, beta, mean=moving_mean, variance=moving_variance,
        epsilon=epsilon, is_training=True, data_format=tf_format,
        exponential_avg_factor=None)

  def inference():
    return _V1.nn.fused_batch_norm(
        inputs, gamma, beta, mean=moving_mean, variance=moving_variance,
        epsilon=epsilon, is_training=False, data_format=tf_format)

  outputs, mean, variance = utils.smart_cond(is_training, training, inference)
  training_value = utils.constant_value(is_training)
  if training_value is None or training_value:
    if training_value is None:
      momentum = utils.smart_cond(is_training, lambda: tf.constant(decay),
                                  lambda: tf.constant(1.0))
    else:
      momentum = tf.convert_to_tensor(decay)
    for variable, value in ((moving_mean, mean), (moving_variance, variance)):
      _V1.add_to_collection(_UPDATE_OPS, normalization.assign_moving_average(
          variable, value, momentum))
  return outputs


def _batch_norm_moments_default(inputs, decay, center, scale, epsilon,
                                param_initializers, param_regularizers,
                                is_training, variables_collections, trainable,
                                data_format, **unused):
  """The default-collection path with fused=False: tf.nn.moments."""
  del unused
  _, param_dtype, params = _default_path_params(
      inputs, data_format, center, scale, param_initializers,
      param_regularizers, variables_collections, trainable)
  training_value = utils.constant_value(is_training)
  outputs, updates = normalization.normalize_with_moments(
      inputs, [1 if data_format == DATA_FORMAT_NCHW
               else inputs.get_shape().ndims - 1], param_dtype,
      params.moving_mean, params.moving_variance, params.beta, params.gamma,
      epsilon, decay, is_training,
      None if training_value is None else bool(training_value))
  for update in updates:
    _V1.add_to_collection(_UPDATE_OPS, update)
  return outputs


def _batch_norm_moments(inputs, decay, center, scale, epsilon,
                        param_initializers, param_regularizers,
                        updates_collections, is_training,
                        variables_collections, trainable, batch_weights,
                        data_format, **unused):
  """Slim's legacy path: moments, custom or in-place updates, batch weights."""
  del unused, param_regularizers  # Slim ignores them on this path.
  shape = inputs.get_shape()
  rank = shape.ndims
  dtype = inputs.dtype.base_dtype
  if batch_weights is not None:
    batch_weights = tf.convert_to_tensor(batch_weights)
    shape[0:1].assert_is_compatible_with(batch_weights.get_shape())
    batch_weights = tf.reshape(batch_weights, [-1] + [1] * (rank - 1))
  params_shape = _params_shape(inputs, data_format)
  if data_format == DATA_FORMAT_NCHW:
    moments_axes = [0] + list(range(2, rank))
    broadcast_shape = [1, params_shape[0]] + [1] * (rank - 2)
  else:
    moments_axes = list(range(rank - 1))
    broadcast_shape = None
  params = _BatchNormParams(params_shape, dtype, center, scale,
                            param_initializers, None, trainable,
                            variables_collections, gamma_first=False)
  beta, gamma = params.beta, params.gamma
  moving_mean, moving_variance = params.moving_mean, params.moving_variance
  training_value = utils.constant_value(is_training)
  if training_value is None or training_value:
    keep = data_format == DATA_FORMAT_NCHW
    if batch_weights is None:
      mean, variance = tf.nn.moments(inputs, moments_axes, keepdims=keep)
    else:
      mean, variance = tf.nn.weighted_moments(inputs, moments_axes,
                                              batch_weights, keepdims=keep)
    if keep:
      mean = tf.reshape(mean, [-1])
      variance = tf.reshape(variance, [-1])
    moving = lambda: (moving_mean, moving_variance)
    forced = _slim_updates(
        is_training, updates_collections, decay, moving_mean,
        moving_variance, mean, variance,
        lambda: (tf.identity(mean), tf.identity(variance)), moving)
    if forced is None:
      batch = (mean, variance)
      mean, variance = utils.smart_cond(is_training, lambda: batch, moving)
    else:
      mean, variance = forced
  else:
    mean, variance = moving_mean, moving_variance
  if broadcast_shape is not None:
    mean = tf.reshape(mean, broadcast_shape)
    variance = tf.reshape(variance, broadcast_shape)
    beta = None if beta is None else tf.reshape(beta, broadcast_shape)
    gamma = None if gamma is None else tf.reshape(gamma, broadcast_shape)
  outputs = tf.nn.batch_normalization(inputs, mean, variance, beta, gamma,
                                      epsilon)
  outputs.set_shape(shape)
  return outputs


@add_arg_scope
def layer_norm(inputs, center=True, scale=True, activation_fn=None, reuse=None,
               variables_collections=None, outputs_collections=None,
               trainable=True, begin_norm_axis=1, begin_params_axis=-1,
               scope=None):
  """Layer normalization (Ba et al., 2016), Slim style (scope 'LayerNorm').

  Normalises over dimensions `begin_norm_axis:` with epsilon 1e-12; `beta` and
  `gamma` have shape `inputs.shape[begin_params_axis:]`.

  Returns:
    The normalised tensor.

  Raises:
    ValueError: unknown rank, bad axes or undefined parameter dims.
  """
  runtime.require_graph_mode('slim.layer_norm')
  with _V1.variable_scope(scope, 'LayerNorm', [inputs], reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    shape = inputs.get_shape()
    rank = shape.ndims
    if rank is None:
      raise ValueError(f'Inputs {inputs.name} has undefined rank.')
    dtype = inputs.dtype.base_dtype
    if begin_norm_axis < 0:
      begin_norm_axis = rank + begin_norm_axis
    if begin_params_axis >= rank or begin_norm_axis >= rank:
      raise ValueError(f'begin_params_axis ({begin_params_axis}) and '
                       f'begin_norm_axis ({begin_norm_axis}) must be < rank '
                       f'({rank})')
    params_shape = shape[begin_params_axis:]
    if not params_shape.is_fully_defined():
      raise ValueError(f'Inputs {inputs.name}: shape[{begin_params_axis}:] is '
                       f'not fully defined: {shape}')
    params_shape = params_shape.as_list()
    beta = gamma = None
    if center:
      beta = _model_variable('beta', params_shape, dtype,
                             _V1.zeros_initializer(), None, trainable,
                             variables_collections)
    if scale:
      gamma = _model_variable('gamma', params_shape, dtype,
                              _V1.ones_initializer(), None, trainable,
                              variables_collections)
    axes = list(range(begin_norm_axis, rank))
    mean, variance = tf.nn.moments(inputs, axes, keepdims=True)
    outputs = tf.nn.batch_normalization(inputs, mean, variance, offset=beta,
                                        scale=gamma, variance_epsilon=1e-12)
    outputs.set_shape(shape)
    return _finish(outputs, None, None, activation_fn, outputs_collections,
                   sc.name)


# -----------------------------------------------------------------------------
# Pooling, dropout, reshaping.


def _pool_nd(rank, pool_fn, default_name, inputs, kernel_size, stride,
             padding, data_format, outputs_collections, scope):
  """`pool_fn` over the `rank` (2 or 3) spatial dims of a 4-D or 5-D input."""
  channels_last, channels_first = _FORMATS[rank + 2]
  if data_format not in (channels_first, channels_last):
    raise ValueError(f'data_format has to be either {channels_first} or '
                     f'{channels_last}.')
  with _V1.name_scope(scope, default_name, [inputs]) as sc:
    inputs = tf.convert_to_tensor(inputs)
    kernel = list(utils.n_positive_integers(rank, kernel_size))
    strides = list(utils.n_positive_integers(rank, stride))
    if data_format == channels_first:
      ksize, strides = [1, 1] + kernel, [1, 1] + strides
    else:
      ksize, strides = [1] + kernel + [1], [1] + strides + [1]
    outputs = pool_fn(inputs, ksize=ksize, strides=strides,
                      padding=padding.upper(), data_format=data_format)
    return utils.collect_named_outputs(outputs_collections, sc, outputs)


def _pool_layer(name, rank, pool_fn, default_name, default_format, doc):
  """The Slim pooling function `name` (`_pool_nd` under an arg scope)."""

  def pool_layer(inputs, kernel_size, stride=2, padding='VALID',
                 data_format=default_format, outputs_collections=None,
                 scope=None):
    runtime.require_graph_mode(f'slim.{name}')
    return _pool_nd(rank, pool_fn, default_name, inputs, kernel_size, stride,
                    padding, data_format, outputs_collections, scope)

  pool_layer.__name__ = pool_layer.__qualname__ = name
  pool_layer.__doc__ = doc
  return add_arg_scope(pool_layer)


max_pool2d = _pool_layer(
    'max_pool2d', 2, tf.nn.max_pool2d, 'MaxPool2D', DATA_FORMAT_NHWC,
    """2-D max pooling (name scope 'MaxPool2D').

    Args:
      inputs: a 4-D tensor.
      kernel_size: an int or `[kh, kw]`.
      stride: an int or `[sh, sw]`.
      padding: 'VALID' or 'SAME'.
      data_format: 'NHWC' or 'NCHW'.
      outputs_collections: collections to add the output to.
      scope: name scope.

    Returns:
      The pooled tensor.
    """)
avg_pool2d = _pool_layer(
    'avg_pool2d', 2, tf.nn.avg_pool2d, 'AvgPool2D', DATA_FORMAT_NHWC,
    "2-D average pooling (name scope 'AvgPool2D'); arguments as max_pool2d.")
max_pool3d = _pool_layer(
    'max_pool3d', 3, tf.nn.max_pool3d, 'MaxPool3D', DATA_FORMAT_NDHWC,
    "3-D max pooling (name scope 'MaxPool3D').")
avg_pool3d = _pool_layer(
    'avg_pool3d', 3, tf.nn.avg_pool3d, 'AvgPool3D', DATA_FORMAT_NDHWC,
    "3-D average pooling (name scope 'AvgPool3D').")


@add_arg_scope
def pool(inputs, kernel_size, pooling_type, padding='VALID', data_format=None,
         dilation_rate=1, stride=1, outputs_collections=None, scope=None):
  """N-D pooling with `tf.nn.pool` (name scope '<type>_pool').

  Args:
    inputs: rank N + 2 tensor.
    kernel_size: int or N ints.
    pooling_type: 'AVG' or 'MAX'.
    padding: 'VALID' or 'SAME'.
    data_format: None or a channels-last / channels-first format.
    dilation_rate: int or N ints.
    stride: int or N ints.
    outputs_collections: collections to add the output to.
    scope: name scope.

  Returns:
    The pooled tensor.
  """
  runtime.require_graph_mode('slim.pool')
  with _V1.name_scope(scope, f'{pooling_type.lower()}_pool', [inputs]) as sc:
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.get_shape().ndims
    if rank is None:
      raise ValueError('Rank of inputs must be known')
    if rank < 3:
      raise ValueError('Rank of inputs must be >= 3')
    n = rank - 2
    outputs = tf.nn.pool(
        inputs, window_shape=utils.n_positive_integers(n, kernel_size),
        pooling_type=pooling_type, padding=padding.upper(),
        dilations=utils.n_positive_integers(n, dilation_rate),
        strides=utils.n_positive_integers(n, stride), data_format=data_format)
    return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def dropout(inputs, keep_prob=0.5, noise_shape=None, is_training=True,
            outputs_collections=None, scope=None, seed=None):
  """Dropout in training mode, identity otherwise (variable scope 'Dropout').

  Kept activations are scaled by `1 / keep_prob`, so eval needs no rescale.

  Args:
    inputs: the tensor.
    keep_prob: probability of keeping each element (float or scalar tensor).
    noise_shape: shape of the keep/drop mask, broadcast over `inputs`.
    is_training: bool or bool tensor.
    outputs_collections: collections to add the output to.
    scope: variable scope.
    seed: op-level random seed.

  Returns:
    The output tensor.
  """
  runtime.require_graph_mode('slim.dropout')
  with _V1.variable_scope(scope, 'Dropout', [inputs]) as sc:
    inputs = tf.convert_to_tensor(inputs)
    rate = 1 - keep_prob
    if isinstance(rate, numbers.Real) and rate == 0:
      outputs = tf.identity(inputs)
    else:
      outputs = utils.smart_cond(
          is_training,
          lambda: tf.nn.dropout(inputs, rate=rate, noise_shape=noise_shape,
                                seed=seed),
          lambda: tf.identity(inputs))
    return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


@add_arg_scope
def flatten(inputs, outputs_collections=None, scope=None):
  """Flattens all but the first dimension (name scope 'Flatten').

  Returns:
    A `[batch, k]` tensor (`[batch, 1]` for rank-1 inputs).

  Raises:
    ValueError: the rank is unknown.
  """
  runtime.require_graph_mode('slim.flatten')
  with _V1.name_scope(scope, 'Flatten', [inputs]) as sc:
    inputs = tf.convert_to_tensor(inputs)
    shape = inputs.get_shape()
    if shape.ndims is None:
      raise ValueError('Inputs must have a defined rank.')
    if shape.ndims == 1:
      outputs = tf.expand_dims(inputs, axis=1)
    else:
      batch = tf.compat.dimension_value(shape[0])
      rest = shape[1:]
      if rest.is_fully_defined():
        outputs = tf.reshape(inputs, [-1, rest.num_elements()])
      elif batch is not None:
        outputs = tf.reshape(inputs, [int(batch), -1])
      else:
        outputs = tf.reshape(inputs, [tf.shape(inputs)[0], -1])
    return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def one_hot_encoding(labels, num_classes, on_value=1.0, off_value=0.0,
                     outputs_collections=None, scope=None):
  """One-hot encodes integer labels (name scope 'OneHotEncoding')."""
  runtime.require_graph_mode('slim.one_hot_encoding')
  with _V1.name_scope(scope, 'OneHotEncoding', [labels, num_classes]) as sc:
    labels = tf.convert_to_tensor(labels)
    if labels.dtype == tf.int32:
      labels = tf.cast(labels, tf.int64)
    outputs = tf.one_hot(labels, num_classes, on_value=on_value,
                         off_value=off_value)
    return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def softmax(logits, scope=None):
  """Softmax over the last dimension of a rank >= 2 tensor ('softmax' scope)."""
  runtime.require_graph_mode('slim.softmax')
  with _V1.variable_scope(scope, 'softmax', [logits]):
    logits = tf.convert_to_tensor(logits)
    classes = utils.last_dimension(logits.get_shape(), min_rank=2)
    flat = tf.reshape(logits, [-1, classes])
    predictions = tf.reshape(tf.nn.softmax(flat), tf.shape(logits))
    predictions.set_shape(logits.get_shape())
    return predictions


# -----------------------------------------------------------------------------
# Layer composition.


def _layer_name(layer, fallback):
  if hasattr(layer, '__name__'):
    return layer.__name__
  func = getattr(layer, 'func', None)
  if func is not None and hasattr(func, '__name__'):
    return func.__name__
  return fallback


def repeat(inputs, repetitions, layer, *args, **kwargs):
  """Applies `layer` `repetitions` times with the same arguments.

  The layers are scoped `<scope>/<scope>_1`, `<scope>/<scope>_2`, ... where
  `scope` is the `scope` keyword (default: the layer function's name, inside a
  'Repeat' variable scope).

  Args:
    inputs: the first layer's input.
    repetitions: how many layers.
    layer: the layer function, e.g. `conv2d`.
    *args: positional arguments after the input.
    **kwargs: keyword arguments, including `scope`.

  Returns:
    The last layer's output.
  """
  scope = kwargs.pop('scope', None)
  with _V1.variable_scope(scope, 'Repeat', [inputs]):
    outputs = tf.convert_to_tensor(inputs)
    name = scope if scope is not None else _layer_name(layer, 'repeat')
    for i in range(repetitions):
      kwargs['scope'] = f'{name}_{i + 1}'
      outputs = layer(outputs, *args, **kwargs)
    return outputs


@add_arg_scope
def stack(inputs, layer, stack_args, **kwargs):
  """Applies `layer` once per entry of `stack_args`, chaining the outputs.

  `stack(x, fully_connected, [32, 64])` is two fully connected layers of 32
  and 64 units scoped `<scope>/<scope>_1` and `<scope>/<scope>_2` (default
  scope: the layer's name inside a 'Stack' variable scope). A tuple entry
  gives several positional arguments.

  Returns:
    The last layer's output.

  Raises:
    ValueError: stack_args is not a list or tuple.
  """
  scope = kwargs.pop('scope', None)
  if not isinstance(stack_args, (list, tuple)):
    raise ValueError('stack_args need to be a list or tuple')
  with _V1.variable_scope(scope, 'Stack', [inputs]):
    outputs = tf.convert_to_tensor(inputs)
    name = scope if scope is not None else _layer_name(layer, 'stack')
    for i, layer_args in enumerate(stack_args):
      kwargs['scope'] = f'{name}_{i + 1}'
      if not isinstance(layer_args, (list, tuple)):
        layer_args = [layer_args]
      outputs = layer(outputs, *layer_args, **kwargs)
    return outputs


# -----------------------------------------------------------------------------
# Aliases, as in tf_slim.

conv1d = convolution1d
conv2d = convolution2d
conv3d = convolution3d
conv2d_transpose = convolution2d_transpose
separable_conv2d = separable_convolution2d
elu = functools.partial(fully_connected, activation_fn=tf.nn.elu)
relu = functools.partial(fully_connected, activation_fn=tf.nn.relu)
relu6 = functools.partial(fully_connected, activation_fn=tf.nn.relu6)
linear = functools.partial(fully_connected, activation_fn=None)
