"""Slim's weight initializers (the `tf.contrib.layers` semantics).

`variance_scaling_initializer(factor=2.0, mode='FAN_IN', uniform=False)`
draws from a normal truncated at two standard deviations with stddev
`sqrt(1.3 * factor / n)` (1.3 roughly undoes the truncation), or from
`U(-sqrt(3 * factor / n), +sqrt(3 * factor / n))` when `uniform`, where n is
the fan-in, the fan-out or their mean. For a kernel `[k1, ..., in, out]` the
fans are `in * prod(k)` and `out * prod(k)`. `xavier_initializer` is the
FAN_AVG, factor-1 case (uniform by default).
"""

import math

import tensorflow as tf

__all__ = [
    'trunc_normal', 'variance_scaling_initializer', 'xavier_initializer',
    'xavier_initializer_conv2d',
]


def xavier_initializer(uniform=True, seed=None, dtype=tf.float32):
  """Glorot initializer: `variance_scaling_initializer(1.0, 'FAN_AVG', uniform)`."""
  return variance_scaling_initializer(factor=1.0, mode='FAN_AVG',
                                      uniform=uniform, seed=seed, dtype=dtype)


xavier_initializer_conv2d = xavier_initializer


def variance_scaling_initializer(factor=2.0, mode='FAN_IN', uniform=False,
                                 seed=None, dtype=tf.float32):
  """He / Glorot style initializer with contrib's scaling rules.

  Args:
    factor: the variance scale (2.0: He for ReLU layers).
    mode: 'FAN_IN', 'FAN_OUT' or 'FAN_AVG'.
    uniform: uniform instead of truncated normal draws.
    seed: op-level random seed.
    dtype: a floating-point dtype.

  Returns:
    An initializer `fn(shape, dtype=dtype, partition_info=None)`.

  Raises:
    TypeError: dtype is not floating point, or mode is unknown.
  """
  dtype = tf.as_dtype(dtype)
  if not dtype.is_floating:
    raise TypeError('Cannot create initializer for non-floating point type.')
  if mode not in ('FAN_IN', 'FAN_OUT', 'FAN_AVG'):
    raise TypeError(f'Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]')

  def _initializer(shape, dtype=dtype, partition_info=None):  # pylint: disable=unused-argument
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
      raise TypeError('Cannot create initializer for non-floating point type.')
    shape = [int(d) for d in shape]
    if shape:
      fan_in = float(shape[-2] if len(shape) > 1 else shape[-1])
      fan_out = float(shape[-1])
    else:
      fan_in = fan_out = 1.0
    receptive = 1.0
    for dim in shape[:-2]:
      receptive *= float(dim)
    fan_in *= receptive
    fan_out *= receptive
    n = {'FAN_IN': fan_in, 'FAN_OUT': fan_out,
         'FAN_AVG': (fan_in + fan_out) / 2.0}[mode]
    if uniform:
      limit = math.sqrt(3.0 * factor / n)
      return tf.random.uniform(shape, -limit, limit, dtype, seed=seed)
    stddev = math.sqrt(1.3 * factor / n)
    return tf.random.truncated_normal(shape, 0.0, stddev, dtype, seed=seed)

  return _initializer


def trunc_normal(stddev):
  """`truncated_normal_initializer(0.0, stddev)`, as the Slim nets define it."""
  return tf.compat.v1.truncated_normal_initializer(0.0, stddev)
