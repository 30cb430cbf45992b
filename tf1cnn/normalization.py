"""The one batch-normalisation formula behind every batch-norm layer.

`tf1cnn.layers.batch_norm`, `tf.layers.batch_normalization`
(`tf1cnn.compat.tf_layers`) and Slim's `batch_norm`
(`tf1cnn.compat.slim.layers.layers`) differ in their variable names, defaults
and code paths (fused kernels, in-place updates), which they keep; what they
share lives here:

* `assign_moving_average`: the ExponentialMovingAverage rule
  `moving -= (1 - decay) * (moving - batch)`, one `assign_sub` op (the caller
  puts it in UPDATE_OPS or runs it in place);
* `normalize_with_moments`: the batch statistics from `tf.nn.moments` in
  training, the moving ones otherwise, the update ops of both statistics and
  `tf.nn.batch_normalization` with offset `beta` and scale `gamma`.

`training` is a Python bool or a boolean tensor; with a tensor, `tf.cond`
chooses at run time and the update ops leave the statistics unchanged when
it is False.
"""

import tensorflow as tf

_V1 = tf.compat.v1

_LOW_PRECISION = (tf.float16, tf.bfloat16)


def assign_moving_average(variable, value, decay, name='AssignMovingAvg'):
  """`variable -= (variable - value) * (1 - decay)`; returns the assign op.

  Args:
    variable: the moving statistic.
    value: the batch statistic (cast to the variable's dtype).
    decay: the moving-average decay, a Python number (`1 - decay` is then
      computed in double precision and rounded once) or a scalar tensor.
    name: the name scope, which also names the assign op.

  Returns:
    The `assign_sub` op's output.
  """
  with _V1.name_scope(name) as scope:
    with _V1.colocate_with(variable):
      one_minus_decay = tf.convert_to_tensor(1.0 - decay, name='decay')
      dtype = variable.dtype.base_dtype
      if one_minus_decay.dtype != dtype:
        one_minus_decay = tf.cast(one_minus_decay, dtype)
      delta = (variable - tf.cast(value, dtype)) * one_minus_decay
      return _V1.assign_sub(variable, delta, name=scope)


def _cond(training, static, true_fn, false_fn):
  """`true_fn()` / `false_fn()` when `static` is known, else a `tf.cond`."""
  if static is None:
    return tf.cond(training, true_fn, false_fn)
  return true_fn() if static else false_fn()


def normalize_with_moments(inputs, axes, param_dtype, moving_mean,
                           moving_variance, beta, gamma, epsilon, decay,
                           training, static):
  """Batch normalisation through `tf.nn.moments` (the non-fused kernels).

  float16 and bfloat16 inputs are normalised in float32 and cast back.

  Args:
    inputs: a tensor of known rank.
    axes: the kept (channel) axes, non-negative; a single axis takes
      parameters of shape `[C]`, several take parameters of the input's
      rank (size 1 on the reduced axes).
    param_dtype: the dtype of the variables, in which the moments are taken.
    moving_mean: the moving mean variable.
    moving_variance: the moving variance variable.
    beta: the offset (None for none).
    gamma: the scale (None for none).
    epsilon: added to the variance.
    decay: the moving-average decay (Python number).
    training: a Python bool or a scalar boolean tensor.
    static: the value of `training` when known before the graph runs (True
      or False), else None.

  Returns:
    `(outputs, updates)`: the normalised tensor, shaped like `inputs`, and the
    two update ops (none when `static` is False).
  """
  input_dtype = inputs.dtype.base_dtype
  x = tf.cast(inputs, tf.float32) if input_dtype in _LOW_PRECISION else inputs
  rank = x.shape.rank
  reduction_axes = [i for i in range(rank) if i not in axes]
  broadcast_shape = [1] * rank
  broadcast_shape[axes[0]] = moving_mean.shape[0]
  reshape = len(axes) == 1 and reduction_axes != list(range(rank - 1))

  def broadcast(value):
    if value is not None and reshape:
      return tf.reshape(value, broadcast_shape)
    return value

  updates = []
  if static is False:
    mean, variance = moving_mean, moving_variance
  else:
    batch_mean, batch_variance = tf.nn.moments(
        tf.cast(x, param_dtype), reduction_axes, keepdims=len(axes) > 1)
    mean = _cond(training, static, lambda: batch_mean,
                 lambda: tf.convert_to_tensor(moving_mean))
    variance = _cond(training, static, lambda: batch_variance,
                     lambda: tf.convert_to_tensor(moving_variance))
    for variable, value in ((moving_mean, batch_mean),
                            (moving_variance, batch_variance)):
      updates.append(_cond(
          training, static,
          lambda var=variable, val=value: assign_moving_average(
              var, val, decay),
          lambda var=variable: tf.identity(var)))
  dtype = x.dtype
  scale = None if gamma is None else tf.cast(gamma, dtype)
  offset = None if beta is None else tf.cast(beta, dtype)
  outputs = tf.nn.batch_normalization(
      x, broadcast(tf.cast(mean, dtype)), broadcast(tf.cast(variance, dtype)),
      broadcast(offset), broadcast(scale), epsilon)
  if input_dtype in _LOW_PRECISION:
    outputs = tf.cast(outputs, input_dtype)
  outputs.set_shape(inputs.shape)
  return outputs, updates
