"""TF 1.x `tf.layers` rebuilt on `tf.nn` and `tf.compat.v1` variable scopes.

TensorFlow 2.21 only offers `tf.compat.v1.layers` through the separate tf_keras
package. This module gives TF 1.15 code the same API without Keras:

    import tf1cnn.compat.v1 as tf
    net = tf.layers.conv2d(images, 32, 3, padding='same', activation=tf.nn.relu)
    net = tf.layers.batch_normalization(net, training=is_training)
    net = tf.layers.max_pooling2d(net, 2, 2)
    logits = tf.layers.dense(tf.layers.flatten(net), 10)

What matches TF 1.15:

* signatures and defaults of the functions (`conv1d/2d/3d`,
  `conv2d_transpose`, `conv3d_transpose`, `separable_conv1d/2d`, `dense`,
  `batch_normalization`, `dropout`, `flatten`, `max_pooling1d/2d/3d`,
  `average_pooling1d/2d/3d`) and of the classes (`Conv2D`, `Dense`, ...);
* variable names: `<layer>/kernel`, `<layer>/bias`,
  `<layer>/{gamma,beta,moving_mean,moving_variance}`,
  `<layer>/{depthwise_kernel,pointwise_kernel}`. An unnamed layer takes the
  default name (`conv2d`, `dense`, `batch_normalization`, ...) made unique by
  `variable_scope(None, default_name=...)`, so repeats are `conv2d_1`,
  `conv2d_2`, ... counted per graph and per enclosing variable scope; a named
  layer opens `variable_scope(name)` as is;
* `reuse=True` / `tf.AUTO_REUSE` share variables, and a layer object called
  again reuses its own variables;
* initializers: `kernel_initializer=None` takes the enclosing variable scope's
  initializer, else Glorot uniform; biases start at zero;
* collections: trainable variables in `TRAINABLE_VARIABLES`, batch norm's
  moving statistics only in `GLOBAL_VARIABLES`; the moving-statistics updates
  `moving -= (moving - batch) * (1 - momentum)` in `UPDATE_OPS` (not for a
  layer built with `trainable=False`, as in TF 1.x); regularizer
  losses (once per created variable, and activity losses divided by the batch
  size) in `REGULARIZATION_LOSSES`;
* `training` may be a Python bool or a boolean tensor (a `tf.cond` is built);
* batch norm uses the fused kernel for 4-D inputs with the channel axis at 1
  or 3 (as TF 1.15 did, the moving variance then follows the kernel's
  Bessel-corrected batch variance) and `tf.nn.moments` otherwise.

Not supported (a `missing.UnsupportedArgumentError`, which is a
`runtime.UserInputError` and a ValueError): batch renormalisation
(`renorm=True`), `virtual_batch_size`, `adjustment`. Names tf.layers had and
this module lacks (`InputSpec`, `experimental`) raise
`missing.NotProvidedError`.
"""

import numbers
import re

import numpy as np
import tensorflow as tf

from tf1cnn import normalization
from tf1cnn import runtime
from tf1cnn.compat import missing

_V1 = tf.compat.v1

# Default initializers of the TF 1.15 signatures. Building an initializer
# object touches no graph.
_ZEROS = _V1.zeros_initializer()
_ONES = _V1.ones_initializer()

_ACTIVATIONS = {
    'linear': None,
    'relu': tf.nn.relu,
    'relu6': tf.nn.relu6,
    'elu': tf.nn.elu,
    'selu': tf.nn.selu,
    'sigmoid': tf.nn.sigmoid,
    'tanh': tf.nn.tanh,
    'softmax': tf.nn.softmax,
    'softplus': tf.nn.softplus,
    'softsign': tf.nn.softsign,
    'swish': tf.nn.silu,
}

_FORMATS = {
    (1, 'channels_last'): 'NWC', (1, 'channels_first'): 'NCW',
    (2, 'channels_last'): 'NHWC', (2, 'channels_first'): 'NCHW',
    (3, 'channels_last'): 'NDHWC', (3, 'channels_first'): 'NCDHW',
}


# ---------------------------------------------------------------------------
# Argument helpers.


def _tuple(value, rank, what):
  """An int or a sequence of `rank` ints as a tuple of ints."""
  if isinstance(value, numbers.Integral):
    return (int(value),) * rank
  try:
    values = tuple(int(v) for v in value)
  except TypeError:
    raise ValueError(f'{what} must be an int or {rank} ints, got {value!r}') from None
  if len(values) != rank:
    raise ValueError(f'{what} must be an int or {rank} ints, got {value!r}')
  return values


def _padding(value, allow_causal=False):
  """'valid', 'same' (or 'causal' for conv1d), case-insensitive."""
  padding = str(value).lower()
  allowed = ('valid', 'same', 'causal') if allow_causal else ('valid', 'same')
  if padding not in allowed:
    raise ValueError(f'padding must be one of {allowed}, got {value!r}')
  return padding


def _data_format(value):
  data_format = 'channels_last' if value is None else str(value).lower()
  if data_format not in ('channels_last', 'channels_first'):
    raise ValueError("data_format must be 'channels_last' or 'channels_first', "
                     f'got {value!r}')
  return data_format


def _activation(value):
  """A callable, None, or the name of a common activation ('relu', ...)."""
  if value is None or callable(value):
    return value
  if isinstance(value, str) and value.lower() in _ACTIVATIONS:
    return _ACTIVATIONS[value.lower()]
  raise ValueError(f'activation must be a callable, None or one of '
                   f'{sorted(_ACTIVATIONS)}, got {value!r}')


def _initializer(value):
  """A callable initializer, None, or a `tf.compat.v1.initializers` name."""
  if value is None or callable(value):
    return value
  if isinstance(value, str):
    factory = getattr(_V1.initializers, value.lower(), None)
    if factory is not None:
      return factory()
  raise ValueError(f'initializer must be a callable, None or the name of a '
                   f'tf.initializers function, got {value!r}')


def _static_bool(value):
  """True/False when `value` (a bool or a boolean tensor) is known statically.

  Returns None for a tensor whose value is only known when the graph runs.
  """
  if value is None:
    return False
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, numbers.Integral) and value in (0, 1):
    return bool(value)
  if isinstance(value, tf.Variable):
    return None
  if tf.is_tensor(value):
    if value.dtype.base_dtype != tf.bool:
      raise TypeError(f'training must be a Python bool or a boolean tensor, '
                      f'got a {value.dtype.name} tensor {value.name}')
    static = tf.get_static_value(value)
    return None if static is None else bool(static)
  raise TypeError('training must be a Python bool or a boolean tensor, got '
                  f'{value!r}')


def _smart_cond(pred, true_fn, false_fn):
  """`true_fn()` or `false_fn()` when `pred` is static, else a `tf.cond`."""
  static = _static_bool(pred)
  if static is None:
    return tf.cond(pred, true_fn, false_fn)
  return true_fn() if static else false_fn()


def _snake_case(class_name):
  """'MyCustomLayer' -> 'my_custom_layer' (default names of user subclasses)."""
  # An underscore before each capitalised word, then between a lower-case
  # letter and a capital: 'Conv2DTranspose' -> 'conv2d_transpose'.
  name = re.sub(r'(?<=.)([A-Z][a-z])', r'_\1', class_name)
  name = re.sub(r'([a-z])([A-Z])', r'\1_\2', name)
  return name.lower()


def _arguments(local_vars, *drop):
  """A function's arguments, from `locals()` taken on entry, as keywords.

  Args:
    local_vars: the `locals()` of a function before it binds other names.
    *drop: argument names to leave out.

  Returns:
    A dict of the arguments less `self`, the `__class__` cell of a
    zero-argument `super()` and `drop`, with a `**kwargs` dict merged in.
  """
  arguments = {key: value for key, value in local_vars.items()
               if key not in ('self', '__class__', 'kwargs') + drop}
  arguments.update(local_vars.get('kwargs', {}))
  return arguments


def _add_to_collection(key, items):
  """Adds `items` to the graph collection `key`, skipping ones already in it."""
  collection = _V1.get_collection_ref(key)
  present = {id(item) for item in collection}
  for item in items:
    if id(item) not in present:
      collection.append(item)
      present.add(id(item))


def _as_update(result):
  """A Tensor or Operation for UPDATE_OPS from an assign's return value."""
  if isinstance(result, (tf.Tensor, tf.Operation)):
    return result
  return result.op


# ---------------------------------------------------------------------------
# Base class.


class Layer:
  """Base of the tf.layers classes: scopes, variables, losses and updates.

  A subclass creates its variables in `build(input_shape)` with `add_weight`
  and computes its output in `call(inputs, ...)`. Calling the layer the first
  time opens its variable scope (see the module docstring); later calls reuse
  the variables.

  Args:
    trainable: whether the layer's variables go to TRAINABLE_VARIABLES.
    name: variable scope name; None for the class's default name, made
      unique per graph and enclosing scope.
    dtype: variable dtype; None takes the first input's floating dtype.
    activity_regularizer: callable on the output; its value divided by the
      batch size goes to REGULARIZATION_LOSSES.
  """

  _DEFAULT_NAME = None

  def __init__(self, trainable=True, name=None, dtype=None,
               activity_regularizer=None, **kwargs):
    scope = kwargs.pop('_scope', None)
    self._reuse = kwargs.pop('_reuse', None)
    if kwargs:
      raise TypeError(f'{type(self).__name__}: unexpected keyword arguments '
                      f'{sorted(kwargs)}')
    self.trainable = trainable
    self.built = False
    self._name = name
    self._base_name = name or self._DEFAULT_NAME or _snake_case(
        type(self).__name__)
    self._dtype = tf.as_dtype(dtype) if dtype is not None else None
    self._activity_regularizer = activity_regularizer
    self._trainable_weights = []
    self._non_trainable_weights = []
    self._updates = []
    self._losses = []
    self._scope = None
    if scope:
      with _V1.variable_scope(scope) as captured:
        self._scope = captured

  # -- properties --------------------------------------------------------

  @property
  def name(self):
    """The given name, else the last part of the variable scope (or default)."""
    if self._name:
      return self._name
    if self._scope is not None:
      return self._scope.name.split('/')[-1]
    return self._base_name

  @property
  def dtype(self):
    return self._dtype

  @property
  def scope_name(self):
    if self._scope is None:
      raise ValueError(f'layer {self.name} has no scope yet: it is set the '
                       'first time the layer is called')
    return self._scope.name

  @property
  def trainable_weights(self):
    return list(self._trainable_weights) if self.trainable else []

  @property
  def non_trainable_weights(self):
    if self.trainable:
      return list(self._non_trainable_weights)
    return self._trainable_weights + self._non_trainable_weights

  @property
  def weights(self):
    return self.trainable_weights + self.non_trainable_weights

  trainable_variables = trainable_weights
  non_trainable_variables = non_trainable_weights
  variables = weights

  @property
  def updates(self):
    """The update ops; none for a layer built with trainable=False (TF 1.x)."""
    return list(self._updates) if self.trainable else []

  @property
  def losses(self):
    return list(self._losses)

  # -- variables, losses, updates -----------------------------------------

  def add_weight(self, name, shape, dtype=None, initializer=None,
                 regularizer=None, trainable=True, constraint=None, **kwargs):
    """Creates (or, when reusing, gets) `<layer scope>/<name>`.

    Args:
      name: variable name inside the layer's scope.
      shape: variable shape.
      dtype: defaults to the layer's dtype.
      initializer: None for the scope's initializer, else Glorot uniform.
      regularizer: callable on the variable; its loss goes to
        REGULARIZATION_LOSSES when the variable is created (not on reuse).
      trainable: False for statistics such as batch norm's moving mean.
      constraint: projection applied by optimizers after each update.
      **kwargs: passed to `tf.compat.v1.get_variable` (e.g. synchronization).

    Returns:
      The variable.
    """
    dtype = tf.as_dtype(dtype or self._dtype or tf.float32)
    trainable = bool(trainable) and bool(self.trainable)
    existing = {id(v) for v in _V1.global_variables()}
    variable = _V1.get_variable(
        name, shape=shape, dtype=dtype, initializer=_initializer(initializer),
        trainable=trainable, constraint=constraint, **kwargs)
    if trainable:
      self._trainable_weights.append(variable)
    else:
      self._non_trainable_weights.append(variable)
    if regularizer is not None and id(variable) not in existing:
      with _V1.name_scope(name + '/Regularizer'):
        loss = regularizer(variable)
      if loss is not None:
        self.add_loss(loss)
    return variable

  add_variable = add_weight

  def add_loss(self, loss):
    """Records a loss tensor and adds it to REGULARIZATION_LOSSES."""
    self._losses.append(loss)
    _add_to_collection(_V1.GraphKeys.REGULARIZATION_LOSSES, [loss])

  def add_update(self, update):
    """Records an update op; UPDATE_OPS gets it when the call ends."""
    self._updates.append(_as_update(update))

  # -- calling -------------------------------------------------------------

  def build(self, input_shape):
    """Creates the variables; `input_shape` is a `tf.TensorShape`."""
    del input_shape

  def call(self, inputs, **kwargs):
    raise NotImplementedError(f'{type(self).__name__}.call')

  def _set_scope(self, scope=None):
    if self._scope is not None:
      return
    if self._reuse:
      with _V1.variable_scope(scope if scope is not None
                              else self._base_name) as captured:
        self._scope = captured
    else:
      with _V1.variable_scope(scope, default_name=self._base_name) as captured:
        self._scope = captured

  def __call__(self, inputs, *args, **kwargs):
    """Builds the layer's ops on `inputs` inside its variable scope."""
    runtime.require_graph_mode(f'tf.layers.{type(self).__name__}')
    self._set_scope(kwargs.pop('scope', None))
    reuse = True if self.built else self._reuse
    with _V1.variable_scope(self._scope, reuse=reuse,
                            auxiliary_name_scope=False) as scope:
      with _V1.name_scope(scope.original_name_scope):
        if isinstance(inputs, (list, tuple, dict)):
          inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
          input_shape = tf.nest.map_structure(lambda t: t.shape, inputs)
          first = tf.nest.flatten(inputs)[0]
        else:
          inputs = first = tf.convert_to_tensor(inputs)
          input_shape = inputs.shape
        if not self.built:
          if self._dtype is None:
            self._dtype = (first.dtype.base_dtype
                           if first.dtype.is_floating else tf.float32)
          self.build(input_shape)
          self.built = True
        outputs = self.call(inputs, *args, **kwargs)
        if self._activity_regularizer is not None:
          with _V1.name_scope('ActivityRegularizer'):
            loss = tf.convert_to_tensor(self._activity_regularizer(outputs))
            batch_size = tf.cast(tf.shape(outputs)[0], loss.dtype)
            self.add_loss(loss / batch_size)
    _add_to_collection(_V1.GraphKeys.UPDATE_OPS, self.updates)
    return outputs

  def apply(self, inputs, *args, **kwargs):
    return self(inputs, *args, **kwargs)


# ---------------------------------------------------------------------------
# Layers with a kernel and a bias.


class _KernelLayer(Layer):
  """Base of the layers computing `activation(op(inputs, kernel) + bias)`."""

  def _set_kernel_options(self, activation, use_bias, kernel_initializer,
                          bias_initializer, kernel_regularizer,
                          bias_regularizer, kernel_constraint,
                          bias_constraint):
    """Stores the activation and the kernel's and bias's options."""
    self.activation = _activation(activation)
    self.use_bias = use_bias
    self.kernel_initializer = kernel_initializer
    self.bias_initializer = bias_initializer
    self.kernel_regularizer = kernel_regularizer
    self.bias_regularizer = bias_regularizer
    self.kernel_constraint = kernel_constraint
    self.bias_constraint = bias_constraint
    self.kernel = None
    self.bias = None

  def _build_kernel(self, shape):
    self.kernel = self.add_weight(
        'kernel', shape, initializer=self.kernel_initializer,
        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)

  def _build_bias(self, units):
    if self.use_bias:
      self.bias = self.add_weight(
          'bias', (units,), initializer=self.bias_initializer,
          regularizer=self.bias_regularizer, constraint=self.bias_constraint)

  def _add_bias(self, outputs):
    return tf.nn.bias_add(outputs, self.bias)

  def _bias_and_activation(self, outputs):
    if self.use_bias:
      outputs = self._add_bias(outputs)
    if self.activation is not None:
      outputs = self.activation(outputs)
    return outputs


# ---------------------------------------------------------------------------
# Convolutions.


class _Conv(_KernelLayer):
  """N-D convolution: `activation(conv(inputs, kernel) + bias)`."""

  _RANK = None

  def __init__(self, filters, kernel_size, strides=1, padding='valid',
               data_format='channels_last', dilation_rate=1, activation=None,
               use_bias=True, kernel_initializer=None,
               bias_initializer=_ZEROS, kernel_regularizer=None,
               bias_regularizer=None, activity_regularizer=None,
               kernel_constraint=None, bias_constraint=None, trainable=True,
               name=None, **kwargs):
    super().__init__(trainable=trainable, name=name,
                     activity_regularizer=activity_regularizer, **kwargs)
    rank = self._RANK
    self.filters = int(filters)
    self.kernel_size = _tuple(kernel_size, rank, 'kernel_size')
    self.strides = _tuple(strides, rank, 'strides')
    self.padding = _padding(padding, allow_causal=self._allows_causal())
    self.data_format = _data_format(data_format)
    self.dilation_rate = _tuple(dilation_rate, rank, 'dilation_rate')
    self._set_kernel_options(activation, use_bias, kernel_initializer,
                             bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint,
                             bias_constraint)

  def _allows_causal(self):
    return self._RANK == 1

  @property
  def _tf_format(self):
    return _FORMATS[(self._RANK, self.data_format)]

  def _channels(self, input_shape):
    """The input's channel count (must be static)."""
    if input_shape.rank != self._RANK + 2:
      raise ValueError(f'{self.name}: expected a {self._RANK + 2}-D input, '
                       f'got shape {input_shape}')
    axis = 1 if self.data_format == 'channels_first' else -1
    channels = tf.compat.dimension_value(input_shape[axis])
    if channels is None:
      raise ValueError(f'{self.name}: the channel dimension of the input must '
                       f'be known, got shape {input_shape}')
    return int(channels)

  def _kernel_shape(self, channels):
    return self.kernel_size + (channels, self.filters)

  def build(self, input_shape):
    self._build_kernel(self._kernel_shape(self._channels(input_shape)))
    self._build_bias(self.filters)

  def _add_bias(self, outputs):
    if self._RANK == 1 and self.data_format == 'channels_first':
      return outputs + tf.reshape(self.bias, (1, self.filters, 1))
    return tf.nn.bias_add(outputs, self.bias, data_format=self._tf_format)

  def call(self, inputs):
    padding = self.padding
    if padding == 'causal':
      time_axis = 2 if self.data_format == 'channels_first' else 1
      pads = [[0, 0], [0, 0], [0, 0]]
      pads[time_axis][0] = self.dilation_rate[0] * (self.kernel_size[0] - 1)
      inputs = tf.pad(inputs, pads)
      padding = 'valid'
    outputs = tf.nn.convolution(
        inputs, self.kernel, strides=list(self.strides),
        padding=padding.upper(), dilations=list(self.dilation_rate),
        data_format=self._tf_format, name=f'Conv{self._RANK}D')
    return self._bias_and_activation(outputs)


class Conv1D(_Conv):
  """1-D convolution layer (TF 1.15 `tf.layers.Conv1D`); 'causal' padding ok."""
  _RANK = 1
  _DEFAULT_NAME = 'conv1d'


class Conv2D(_Conv):
  """2-D convolution layer (TF 1.15 `tf.layers.Conv2D`)."""
  _RANK = 2
  _DEFAULT_NAME = 'conv2d'


class Conv3D(_Conv):
  """3-D convolution layer (TF 1.15 `tf.layers.Conv3D`)."""
  _RANK = 3
  _DEFAULT_NAME = 'conv3d'


class _ConvTranspose(_Conv):
  """Transposed convolution; the kernel is `[*kernel_size, filters, in]`."""

  def __init__(self, filters, kernel_size, strides=1, padding='valid',
               data_format='channels_last', activation=None, use_bias=True,
               kernel_initializer=None, bias_initializer=_ZEROS,
               kernel_regularizer=None, bias_regularizer=None,
               activity_regularizer=None, kernel_constraint=None,
               bias_constraint=None, trainable=True, name=None, **kwargs):
    # As _Conv without dilation_rate.
    super().__init__(**_arguments(locals()))

  def _allows_causal(self):
    return False

  def _kernel_shape(self, channels):
    return self.kernel_size + (self.filters, channels)

  def _output_length(self, length, kernel, stride):
    """Spatial output size for an input size (int or scalar tensor)."""
    if self.padding == 'valid':
      return length * stride + max(kernel - stride, 0)
    return length * stride

  def call(self, inputs):
    dynamic = tf.shape(inputs)
    first = 2 if self.data_format == 'channels_first' else 1
    spatial = []
    for i in range(self._RANK):
      axis = first + i
      length = tf.compat.dimension_value(inputs.shape[axis])
      if length is None:
        length = dynamic[axis]
      spatial.append(self._output_length(length, self.kernel_size[i],
                                         self.strides[i]))
    if self.data_format == 'channels_first':
      output_shape = [dynamic[0], self.filters] + spatial
    else:
      output_shape = [dynamic[0]] + spatial + [self.filters]
    outputs = tf.nn.conv_transpose(
        inputs, self.kernel, tf.stack(output_shape),
        strides=list(self.strides), padding=self.padding.upper(),
        data_format=self._tf_format, name=f'conv{self._RANK}d_transpose')
    static = [tf.compat.dimension_value(inputs.shape[0])]
    static += [s if isinstance(s, int) else None for s in spatial]
    if self.data_format == 'channels_first':
      static.insert(1, self.filters)
    else:
      static.append(self.filters)
    outputs.set_shape(static)
    return self._bias_and_activation(outputs)


class Conv2DTranspose(_ConvTranspose):
  """2-D transposed convolution (TF 1.15 `tf.layers.Conv2DTranspose`)."""
  _RANK = 2
  _DEFAULT_NAME = 'conv2d_transpose'


class Conv3DTranspose(_ConvTranspose):
  """3-D transposed convolution (TF 1.15 `tf.layers.Conv3DTranspose`)."""
  _RANK = 3
  _DEFAULT_NAME = 'conv3d_transpose'


class _SeparableConv(_Conv):
  """Depthwise then pointwise convolution."""

  def __init__(self, filters, kernel_size, strides=1, padding='valid',
               data_format='channels_last', dilation_rate=1,
               depth_multiplier=1, activation=None, use_bias=True,
               depthwise_initializer=None, pointwise_initializer=None,
               bias_initializer=_ZEROS, depthwise_regularizer=None,
               pointwise_regularizer=None, bias_regularizer=None,
               activity_regularizer=None, depthwise_constraint=None,
               pointwise_constraint=None, bias_constraint=None,
               trainable=True, name=None, **kwargs):
    super().__init__(
        filters, kernel_size, strides=strides, padding=padding,
        data_format=data_format, dilation_rate=dilation_rate,
        activation=activation, use_bias=use_bias,
        bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
        activity_regularizer=activity_regularizer,
        bias_constraint=bias_constraint, trainable=trainable, name=name,
        **kwargs)
    self.depth_multiplier = int(depth_multiplier)
    self.depthwise_initializer = depthwise_initializer
    self.pointwise_initializer = pointwise_initializer
    self.depthwise_regularizer = depthwise_regularizer
    self.pointwise_regularizer = pointwise_regularizer
    self.depthwise_constraint = depthwise_constraint
    self.pointwise_constraint = pointwise_constraint
    self.depthwise_kernel = None
    self.pointwise_kernel = None

  def _allows_causal(self):
    return False

  def build(self, input_shape):
    channels = self._channels(input_shape)
    self.depthwise_kernel = self.add_weight(
        'depthwise_kernel',
        self.kernel_size + (channels, self.depth_multiplier),
        initializer=self.depthwise_initializer,
        regularizer=self.depthwise_regularizer,
        constraint=self.depthwise_constraint)
    self.pointwise_kernel = self.add_weight(
        'pointwise_kernel',
        (1,) * self._RANK + (channels * self.depth_multiplier, self.filters),
        initializer=self.pointwise_initializer,
        regularizer=self.pointwise_regularizer,
        constraint=self.pointwise_constraint)
    self._build_bias(self.filters)

  def call(self, inputs):
    channels_first = self.data_format == 'channels_first'
    depthwise, pointwise = self.depthwise_kernel, self.pointwise_kernel
    strides, dilations = self.strides, self.dilation_rate
    if self._RANK == 1:
      # Run the 1-D case as 2-D with a height of one. The stride goes on
      # both spatial axes, as TF 1.15 did: the height of one stays one, and
      # TensorFlow's Eigen depthwise kernel (CPUs without oneDNN) refuses
      # unequal row and column strides.
      inputs = tf.expand_dims(inputs, 2 if channels_first else 1)
      depthwise = tf.expand_dims(depthwise, 0)
      pointwise = tf.expand_dims(pointwise, 0)
      strides, dilations = strides * 2, (1,) + dilations
    if channels_first:
      full_strides = (1, 1) + strides
      data_format = 'NCHW'
    else:
      full_strides = (1,) + strides + (1,)
      data_format = 'NHWC'
    outputs = _V1.nn.separable_conv2d(
        inputs, depthwise, pointwise, strides=full_strides,
        padding=self.padding.upper(), rate=dilations, data_format=data_format)
    if self._RANK == 1:
      outputs = tf.squeeze(outputs, [2 if channels_first else 1])
    return self._bias_and_activation(outputs)


class SeparableConv1D(_SeparableConv):
  """1-D depthwise-separable convolution (TF 1.15 `tf.layers.SeparableConv1D`)."""
  _RANK = 1
  _DEFAULT_NAME = 'separable_conv1d'


class SeparableConv2D(_SeparableConv):
  """2-D depthwise-separable convolution (TF 1.15 `tf.layers.SeparableConv2D`)."""
  _RANK = 2
  _DEFAULT_NAME = 'separable_conv2d'


# ---------------------------------------------------------------------------
# Dense, dropout, flatten.


class Dense(_KernelLayer):
  """Fully connected layer: `activation(inputs @ kernel + bias)`.

  An input of rank > 2 is contracted over its last axis.
  """

  _DEFAULT_NAME = 'dense'

  def __init__(self, units, activation=None, use_bias=True,
               kernel_initializer=None, bias_initializer=_ZEROS,
               kernel_regularizer=None, bias_regularizer=None,
               activity_regularizer=None, kernel_constraint=None,
               bias_constraint=None, trainable=True, name=None, **kwargs):
    super().__init__(trainable=trainable, name=name,
                     activity_regularizer=activity_regularizer, **kwargs)
    self.units = int(units)
    self._set_kernel_options(activation, use_bias, kernel_initializer,
                             bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint,
                             bias_constraint)

  def build(self, input_shape):
    if input_shape.rank is None or input_shape.rank < 2:
      raise ValueError(f'{self.name}: dense needs an input of rank >= 2, got '
                       f'shape {input_shape}')
    last = tf.compat.dimension_value(input_shape[-1])
    if last is None:
      raise ValueError(f'{self.name}: the last dimension of the input must be '
                       f'known, got shape {input_shape}')
    self._build_kernel((int(last), self.units))
    self._build_bias(self.units)

  def call(self, inputs):
    rank = inputs.shape.rank
    if rank == 2:
      outputs = tf.matmul(inputs, self.kernel)
    else:
      outputs = tf.tensordot(inputs, self.kernel, [[rank - 1], [0]])
      outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
    return self._bias_and_activation(outputs)


class Dropout(Layer):
  """Dropout: in training, zeroes a `rate` fraction and scales the rest up.

  `call(inputs, training=False)`: `training` is a bool or a boolean tensor.
  """

  _DEFAULT_NAME = 'dropout'

  def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None,
               **kwargs):
    super().__init__(name=name, **kwargs)
    self.rate = rate
    self.noise_shape = noise_shape
    self.seed = seed

  def _noise_shape(self, inputs):
    if self.noise_shape is None:
      return None
    dynamic = tf.shape(inputs)
    return [dynamic[i] if dim is None else dim
            for i, dim in enumerate(self.noise_shape)]

  def call(self, inputs, training=False):
    if isinstance(self.rate, numbers.Real) and self.rate == 0:
      return tf.identity(inputs)

    def dropped():
      return tf.nn.dropout(inputs, rate=self.rate,
                           noise_shape=self._noise_shape(inputs),
                           seed=self.seed)

    return _smart_cond(training, dropped, lambda: tf.identity(inputs))


class Flatten(Layer):
  """Flattens all but the batch dimension (channels-last order)."""

  _DEFAULT_NAME = 'flatten'

  def __init__(self, data_format='channels_last', name=None, **kwargs):
    super().__init__(name=name, **kwargs)
    self.data_format = _data_format(data_format)

  def call(self, inputs):
    rank = inputs.shape.rank
    if rank is None:
      raise ValueError(f'{self.name}: flatten needs an input of known rank')
    if self.data_format == 'channels_first' and rank > 2:
      inputs = tf.transpose(inputs, [0] + list(range(2, rank)) + [1])
    if rank == 1:
      return tf.expand_dims(inputs, 1)
    features = inputs.shape[1:]
    batch = tf.compat.dimension_value(inputs.shape[0])
    if features.is_fully_defined():
      new_shape = [-1, int(np.prod(features.as_list()))]
    elif batch is not None:
      new_shape = [int(batch), -1]
    else:
      new_shape = [tf.shape(inputs)[0], -1]
    return tf.reshape(inputs, new_shape)


# ---------------------------------------------------------------------------
# Pooling.


class _Pooling(Layer):
  """Max or average pooling over 1, 2 or 3 spatial dimensions."""

  _RANK = None
  _MAX = True

  def __init__(self, pool_size, strides, padding='valid',
               data_format='channels_last', name=None, **kwargs):
    super().__init__(name=name, **kwargs)
    self.pool_size = _tuple(pool_size, self._RANK, 'pool_size')
    self.strides = _tuple(strides, self._RANK, 'strides')
    self.padding = _padding(padding)
    self.data_format = _data_format(data_format)

  def call(self, inputs):
    if inputs.shape.rank != self._RANK + 2:
      raise ValueError(f'{self.name}: expected a {self._RANK + 2}-D input, got '
                       f'shape {inputs.shape}')
    channels_first = self.data_format == 'channels_first'
    pool_size, strides = self.pool_size, self.strides
    if self._RANK == 1:
      # Pool [N, W, 1, C] (or [N, C, W, 1]) in 2-D, as TF 1.15 did.
      inputs = tf.expand_dims(inputs, 3 if channels_first else 2)
      pool_size, strides = pool_size + (1,), strides + (1,)
    rank = max(self._RANK, 2)
    if channels_first:
      ksize, full_strides = (1, 1) + pool_size, (1, 1) + strides
    else:
      ksize, full_strides = (1,) + pool_size + (1,), (1,) + strides + (1,)
    if rank == 2:
      pool = _V1.nn.max_pool if self._MAX else _V1.nn.avg_pool
    else:
      pool = tf.nn.max_pool3d if self._MAX else tf.nn.avg_pool3d
    outputs = pool(inputs, ksize=list(ksize), strides=list(full_strides),
                   padding=self.padding.upper(),
                   data_format=_FORMATS[(rank, self.data_format)])
    if self._RANK == 1:
      outputs = tf.squeeze(outputs, [3 if channels_first else 2])
    return outputs


class MaxPooling1D(_Pooling):
  """1-D max pooling (TF 1.15 `tf.layers.MaxPooling1D`)."""
  _RANK, _MAX, _DEFAULT_NAME = 1, True, 'max_pooling1d'


class MaxPooling2D(_Pooling):
  """2-D max pooling (TF 1.15 `tf.layers.MaxPooling2D`)."""
  _RANK, _MAX, _DEFAULT_NAME = 2, True, 'max_pooling2d'


class MaxPooling3D(_Pooling):
  """3-D max pooling (TF 1.15 `tf.layers.MaxPooling3D`)."""
  _RANK, _MAX, _DEFAULT_NAME = 3, True, 'max_pooling3d'


class AveragePooling1D(_Pooling):
  """1-D average pooling (TF 1.15 `tf.layers.AveragePooling1D`)."""
  _RANK, _MAX, _DEFAULT_NAME = 1, False, 'average_pooling1d'


class AveragePooling2D(_Pooling):
  """2-D average pooling (TF 1.15 `tf.layers.AveragePooling2D`)."""
  _RANK, _MAX, _DEFAULT_NAME = 2, False, 'average_pooling2d'


class AveragePooling3D(_Pooling):
  """3-D average pooling (TF 1.15 `tf.layers.AveragePooling3D`)."""
  _RANK, _MAX, _DEFAULT_NAME = 3, False, 'average_pooling3d'


# ---------------------------------------------------------------------------
# Batch normalization.


class BatchNormalization(Layer):
  """Batch normalization (Ioffe & Szegedy, 2015) with TF 1.15's behaviour.

  `call(inputs, training=False)`: with `training` True the batch statistics
  normalise the input and two update ops (moving mean, moving variance) go to
  UPDATE_OPS; with False the moving statistics are used and nothing is
  updated; a boolean tensor chooses at run time (the update ops then leave
  the statistics unchanged when it is False).
  """

  _DEFAULT_NAME = 'batch_normalization'

  def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
               scale=True, beta_initializer=_ZEROS, gamma_initializer=_ONES,
               moving_mean_initializer=_ZEROS,
               moving_variance_initializer=_ONES, beta_regularizer=None,
               gamma_regularizer=None, beta_constraint=None,
               gamma_constraint=None, renorm=False, renorm_clipping=None,
               renorm_momentum=0.99, fused=None, trainable=True,
               virtual_batch_size=None, adjustment=None, name=None, **kwargs):
    super().__init__(trainable=trainable, name=name, **kwargs)
    del renorm_clipping, renorm_momentum  # Only meaningful with renorm.
    for arg, value, default in (('renorm', renorm, False),
                                ('virtual_batch_size', virtual_batch_size, None),
                                ('adjustment', adjustment, None)):
      if value != default:
        raise missing.UnsupportedArgumentError(
            f'tf.layers.batch_normalization({arg}={value!r}) is not supported '
            f'by tf1cnn.compat; leave {arg}={default!r}')
    self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
    self.momentum = momentum
    self.epsilon = epsilon
    self.center = center
    self.scale = scale
    self.beta_initializer = beta_initializer
    self.gamma_initializer = gamma_initializer
    self.moving_mean_initializer = moving_mean_initializer
    self.moving_variance_initializer = moving_variance_initializer
    self.beta_regularizer = beta_regularizer
    self.gamma_regularizer = gamma_regularizer
    self.beta_constraint = beta_constraint
    self.gamma_constraint = gamma_constraint
    self.fused = fused
    self.gamma = self.beta = self.moving_mean = self.moving_variance = None

  def _param_dtype(self):
    if self._dtype in (tf.float16, tf.bfloat16):
      return tf.float32
    return self._dtype

  def build(self, input_shape):
    rank = input_shape.rank
    if rank is None:
      raise ValueError(f'{self.name}: batch normalization needs an input of '
                       'known rank')
    axes = self.axis if isinstance(self.axis, list) else [self.axis]
    normalized = []
    for a in axes:
      if not -rank <= int(a) < rank:
        raise ValueError(f'{self.name}: axis {a} is out of range for an input '
                         f'of rank {rank}')
      normalized.append(int(a) % rank)
    if len(set(normalized)) != len(normalized):
      raise ValueError(f'{self.name}: duplicate axis in {self.axis}')
    self._axes = normalized
    dims = {}
    for a in normalized:
      dims[a] = tf.compat.dimension_value(input_shape[a])
      if dims[a] is None:
        raise ValueError(f'{self.name}: axis {a} of the input must be known, '
                         f'got shape {input_shape}')
    fusable = (rank == 4 and normalized in ([1], [3]) and
               self._dtype in (tf.float16, tf.bfloat16, tf.float32))
    # As in TF 1.15: fused=None or True uses the fused kernel where it can.
    self._use_fused = fusable and self.fused is not False
    if len(normalized) == 1:
      self._param_shape = (dims[normalized[0]],)
    else:
      self._param_shape = tuple(dims.get(i, 1) for i in range(rank))
    dtype = self._param_dtype()
    if self.scale:
      self.gamma = self.add_weight(
          'gamma', self._param_shape, dtype=dtype,
          initializer=self.gamma_initializer,
          regularizer=self.gamma_regularizer,
          constraint=self.gamma_constraint)
    if self.center:
      self.beta = self.add_weight(
          'beta', self._param_shape, dtype=dtype,
          initializer=self.beta_initializer,
          regularizer=self.beta_regularizer, constraint=self.beta_constraint)
    statistics = dict(
        dtype=dtype, trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.MEAN)
    self.moving_mean = self.add_weight(
        'moving_mean', self._param_shape,
        initializer=self.moving_mean_initializer, **statistics)
    self.moving_variance = self.add_weight(
        'moving_variance', self._param_shape,
        initializer=self.moving_variance_initializer, **statistics)

  def call(self, inputs, training=False):
    static = _static_bool(training)
    if self._use_fused:
      return self._fused_call(inputs, training, static)
    return self._moments_call(inputs, training, static)

  def _fused_call(self, inputs, training, static):
    dtype = self._param_dtype()
    gamma = (self.gamma if self.scale else
             tf.constant(1.0, dtype=dtype, shape=self._param_shape))
    beta = (self.beta if self.center else
            tf.constant(0.0, dtype=dtype, shape=self._param_shape))
    data_format = 'NCHW' if self._axes == [1] else 'NHWC'

    def batch_stats():
      return _V1.nn.fused_batch_norm(
          inputs, gamma, beta, epsilon=self.epsilon, is_training=True,
          data_format=data_format)

    def moving_stats():
      return _V1.nn.fused_batch_norm(
          inputs, gamma, beta, mean=self.moving_mean,
          variance=self.moving_variance, epsilon=self.epsilon,
          is_training=False, data_format=data_format)

    outputs, mean, variance = _smart_cond(training, batch_stats, moving_stats)
    if static is not False:
      if static is None:
        # momentum 1 leaves the statistics unchanged when training is False.
        momentum = tf.cond(training, lambda: tf.constant(self.momentum),
                           lambda: tf.constant(1.0))
      else:
        momentum = tf.convert_to_tensor(self.momentum)
      for variable, value in ((self.moving_mean, mean),
                              (self.moving_variance, variance)):
        self.add_update(
            normalization.assign_moving_average(variable, value, momentum))
    return outputs

  def _moments_call(self, inputs, training, static):
    outputs, updates = normalization.normalize_with_moments(
        inputs, self._axes, self._param_dtype(), self.moving_mean,
        self.moving_variance, self.beta, self.gamma, self.epsilon,
        self.momentum, training, static)
    for update in updates:
      self.add_update(update)
    return outputs


# ---------------------------------------------------------------------------
# Functional interface (TF 1.15 signatures).


def _apply_layer(layer_class, arguments, *call_args):
  """Builds `layer_class` from a functional form's arguments and applies it.

  Args:
    layer_class: the layer class.
    arguments: the function's `locals()`: `inputs`, `reuse`, the arguments
      in `call_args` and the keyword arguments of `layer_class` (`name`
      among them, which is also the layer's scope).
    *call_args: names of the arguments of the layer's call (`training`).

  Returns:
    The layer's output.
  """
  arguments = dict(arguments)
  inputs = arguments.pop('inputs')
  reuse = arguments.pop('reuse')
  call_kwargs = {key: arguments.pop(key) for key in call_args}
  layer = layer_class(**arguments, _reuse=reuse, _scope=arguments['name'])
  return layer(inputs, **call_kwargs)


def conv1d(inputs, filters, kernel_size, strides=1, padding='valid',
           data_format='channels_last', dilation_rate=1, activation=None,
           use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
           kernel_regularizer=None, bias_regularizer=None,
           activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
  """1-D convolution; see `Conv1D`. Variables `<name>/kernel`, `<name>/bias`."""
  return _apply_layer(Conv1D, locals())


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding='valid',
           data_format='channels_last', dilation_rate=(1, 1), activation=None,
           use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
           kernel_regularizer=None, bias_regularizer=None,
           activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
  """2-D convolution; see `Conv2D`. Variables `<name>/kernel`, `<name>/bias`.

  Args:
    inputs: 4-D tensor.
    filters: number of output channels.
    kernel_size: int or (height, width).
    strides: int or pair.
    padding: 'valid' or 'same' (any case).
    data_format: 'channels_last' (NHWC) or 'channels_first' (NCHW).
    dilation_rate: int or pair.
    activation: callable (e.g. `tf.nn.relu`) or None for linear.
    use_bias: add a bias.
    kernel_initializer: None for the scope's initializer, else Glorot uniform.
    bias_initializer: zeros.
    kernel_regularizer, bias_regularizer: callables on the variable; the loss
      goes to REGULARIZATION_LOSSES.
    activity_regularizer: callable on the output (divided by the batch size).
    kernel_constraint, bias_constraint: projections applied by optimizers.
    trainable: add the variables to TRAINABLE_VARIABLES.
    name: variable scope; None for `conv2d`, `conv2d_1`, ...
    reuse: True or `tf.AUTO_REUSE` to share the variables of `name`.

  Returns:
    The output tensor.
  """
  return _apply_layer(Conv2D, locals())


def conv3d(inputs, filters, kernel_size, strides=(1, 1, 1), padding='valid',
           data_format='channels_last', dilation_rate=(1, 1, 1),
           activation=None, use_bias=True, kernel_initializer=None,
           bias_initializer=_ZEROS, kernel_regularizer=None,
           bias_regularizer=None, activity_regularizer=None,
           kernel_constraint=None, bias_constraint=None, trainable=True,
           name=None, reuse=None):
  """3-D convolution; see `Conv3D`. Variables `<name>/kernel`, `<name>/bias`."""
  return _apply_layer(Conv3D, locals())


def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1),
                     padding='valid', data_format='channels_last',
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=_ZEROS, kernel_regularizer=None,
                     bias_regularizer=None, activity_regularizer=None,
                     kernel_constraint=None, bias_constraint=None,
                     trainable=True, name=None, reuse=None):
  """2-D transposed convolution; kernel `[kh, kw, filters, in_channels]`."""
  return _apply_layer(Conv2DTranspose, locals())


def conv3d_transpose(inputs, filters, kernel_size, strides=(1, 1, 1),
                     padding='valid', data_format='channels_last',
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=_ZEROS, kernel_regularizer=None,
                     bias_regularizer=None, activity_regularizer=None,
                     kernel_constraint=None, bias_constraint=None,
                     trainable=True, name=None, reuse=None):
  """3-D transposed convolution; kernel `[kd, kh, kw, filters, in_channels]`."""
  return _apply_layer(Conv3DTranspose, locals())


def separable_conv1d(inputs, filters, kernel_size, strides=1, padding='valid',
                     data_format='channels_last', dilation_rate=1,
                     depth_multiplier=1, activation=None, use_bias=True,
                     depthwise_initializer=None, pointwise_initializer=None,
                     bias_initializer=_ZEROS, depthwise_regularizer=None,
                     pointwise_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, depthwise_constraint=None,
                     pointwise_constraint=None, bias_constraint=None,
                     trainable=True, name=None, reuse=None):
  """1-D separable convolution; see `SeparableConv1D`."""
  return _apply_layer(SeparableConv1D, locals())


def separable_conv2d(inputs, filters, kernel_size, strides=(1, 1),
                     padding='valid', data_format='channels_last',
                     dilation_rate=(1, 1), depth_multiplier=1, activation=None,
                     use_bias=True, depthwise_initializer=None,
                     pointwise_initializer=None, bias_initializer=_ZEROS,
                     depthwise_regularizer=None, pointwise_regularizer=None,
                     bias_regularizer=None, activity_regularizer=None,
                     depthwise_constraint=None, pointwise_constraint=None,
                     bias_constraint=None, trainable=True, name=None,
                     reuse=None):
  """2-D separable convolution: variables `depthwise_kernel`,
  `pointwise_kernel` and `bias`; see `SeparableConv2D`."""
  return _apply_layer(SeparableConv2D, locals())


def dense(inputs, units, activation=None, use_bias=True,
          kernel_initializer=None, bias_initializer=_ZEROS,
          kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None,
          bias_constraint=None, trainable=True, name=None, reuse=None):
  """Fully connected layer; variables `<name>/kernel` `[in, units]`, `bias`."""
  return _apply_layer(Dense, locals())


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False,
            name=None):
  """Dropout of a `rate` fraction when `training` (bool or boolean tensor)."""
  layer = Dropout(rate, noise_shape=noise_shape, seed=seed, name=name)
  return layer(inputs, training=training)


def flatten(inputs, name=None, data_format='channels_last'):
  """Reshapes `[batch, ...]` to `[batch, features]`."""
  return Flatten(name=name, data_format=data_format)(inputs)


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3,
                        center=True, scale=True, beta_initializer=_ZEROS,
                        gamma_initializer=_ONES,
                        moving_mean_initializer=_ZEROS,
                        moving_variance_initializer=_ONES,
                        beta_regularizer=None, gamma_regularizer=None,
                        beta_constraint=None, gamma_constraint=None,
                        training=False, trainable=True, name=None, reuse=None,
                        renorm=False, renorm_clipping=None,
                        renorm_momentum=0.99, fused=None,
                        virtual_batch_size=None, adjustment=None):
  """Batch normalization; see `BatchNormalization`.

  Variables `<name>/{gamma,beta,moving_mean,moving_variance}`; the moving
  statistics are not trainable. In training the update ops go to UPDATE_OPS:
  run them with the train op, e.g.

      with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = optimizer.minimize(loss)

  Raises:
    missing.UnsupportedArgumentError: renorm, virtual_batch_size or
      adjustment was set.
  """
  return _apply_layer(BatchNormalization, locals(), 'training')


def _pooling_function(layer_class):
  def pool(inputs, pool_size, strides, padding='valid',
           data_format='channels_last', name=None):
    return layer_class(pool_size, strides, padding=padding,
                       data_format=data_format, name=name)(inputs)
  pool.__name__ = layer_class._DEFAULT_NAME  # pylint: disable=protected-access
  pool.__qualname__ = pool.__name__
  pool.__doc__ = (f'{layer_class.__doc__.rstrip(".")}: `pool_size` and '
                  '`strides` are ints or tuples; padding "valid" or "same".')
  return pool


max_pooling1d = _pooling_function(MaxPooling1D)
max_pooling2d = _pooling_function(MaxPooling2D)
max_pooling3d = _pooling_function(MaxPooling3D)
average_pooling1d = _pooling_function(AveragePooling1D)
average_pooling2d = _pooling_function(AveragePooling2D)
average_pooling3d = _pooling_function(AveragePooling3D)

_NOT_PROVIDED_HINTS = {
    'InputSpec': 'input checks are done by each layer',
    'experimental': 'keras_style_scope and set_keras_style need Keras',
}


def __getattr__(name):
  if name.startswith('__'):
    raise AttributeError(name)
  raise missing.not_provided(f'tf.layers.{name}', _NOT_PROVIDED_HINTS.get(name))
