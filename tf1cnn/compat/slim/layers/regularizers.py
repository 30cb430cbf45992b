"""Slim's weight regularizers (the `tf.contrib.layers` semantics).

`l2_regularizer(scale)(w)` is `scale * tf.nn.l2_loss(w)`, i.e.
`scale * sum(w ** 2) / 2`; `l1_regularizer(scale)(w)` is
`scale * sum(|w|)`. A scale of 0 gives a regularizer that returns None, so
no loss is recorded. Layers pass them as `weights_regularizer=` and their
losses land in `GraphKeys.REGULARIZATION_LOSSES`.
"""

import numbers

from absl import logging
import tensorflow as tf

_V1 = tf.compat.v1

__all__ = [
    'apply_regularization', 'l1_l2_regularizer', 'l1_regularizer',
    'l2_regularizer', 'sum_regularizer',
]


def _check_scale(scale):
  """Validates a regularizer scale; True when it disables the regularizer."""
  if isinstance(scale, numbers.Integral):
    raise ValueError(f'scale cannot be an integer: {scale}')
  if isinstance(scale, numbers.Real):
    if scale < 0.0:
      raise ValueError(f'Setting a scale less than 0 on a regularizer: {scale}')
    if scale == 0.0:
      logging.info('Scale of 0 disables regularizer.')
      return True
  return False


def _scaled_regularizer(scale, scope, default_name, penalty, fn_name):
  """`fn(weights) -> scale * penalty(weights)`, or a None-returning one.

  Args:
    scale: the regularizer's scale, checked by `_check_scale`.
    scope: optional name scope for the loss op.
    default_name: name scope used when `scope` is None.
    penalty: `fn(weights) -> unscaled scalar loss`.
    fn_name: `__name__` of the returned function.

  Returns:
    The regularizer function.

  Raises:
    ValueError: scale is an int or negative.
  """
  if _check_scale(scale):
    return lambda _: None

  def regularizer(weights):
    with _V1.name_scope(scope, default_name, [weights]) as name:
      my_scale = tf.convert_to_tensor(scale, dtype=weights.dtype.base_dtype,
                                      name='scale')
      return tf.multiply(my_scale, penalty(weights), name=name)

  regularizer.__name__ = fn_name
  return regularizer


def l1_regularizer(scale, scope=None):
  """`fn(weights) -> scale * sum(|weights|)`.

  Args:
    scale: a non-negative float (not an int); 0.0 disables it.
    scope: optional name scope for the loss op.

  Raises:
    ValueError: scale is an int or negative.
  """
  return _scaled_regularizer(scale, scope, 'l1_regularizer',
                             lambda weights: tf.reduce_sum(tf.abs(weights)),
                             'l1')


def l2_regularizer(scale, scope=None):
  """`fn(weights) -> scale * tf.nn.l2_loss(weights)` (= scale * sum(w^2) / 2).

  Arguments and errors as `l1_regularizer`.
  """
  return _scaled_regularizer(scale, scope, 'l2_regularizer', tf.nn.l2_loss,
                             'l2')


def l1_l2_regularizer(scale_l1=1.0, scale_l2=1.0, scope=None):
  """The sum of `l1_regularizer(scale_l1)` and `l2_regularizer(scale_l2)`.

  A zero scale drops that term. Raises ValueError for integer scales.
  """
  for value in (scale_l1, scale_l2):
    if isinstance(value, numbers.Integral):
      raise ValueError(f'scale cannot be an integer: {value}')
  scope = scope or 'l1_l2_regularizer'
  if scale_l1 == 0.0:
    return l2_regularizer(scale_l2, scope)
  if scale_l2 == 0.0:
    return l1_regularizer(scale_l1, scope)
  return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)],
                         scope=scope)


def sum_regularizer(regularizer_list, scope=None):
  """`fn(weights)` adding the losses of several regularizers (None if none)."""
  regularizers = [r for r in regularizer_list if r]

  def sum_reg(weights):
    with _V1.name_scope(scope, 'sum_regularizer', [weights]) as name:
      losses = [r(weights) for r in regularizers]
      losses = [loss for loss in losses if loss is not None]
      if not losses:
        return None
      return tf.add_n(losses, name=name)

  return sum_reg


def apply_regularization(regularizer, weights_list=None):
  """Sums `regularizer` over weights and records it as a regularization loss.

  Args:
    regularizer: `fn(weights) -> scalar or None`.
    weights_list: the weights; default the `GraphKeys.WEIGHTS` collection.

  Returns:
    The summed scalar penalty, also added to `REGULARIZATION_LOSSES`.

  Raises:
    ValueError: no weights, or a penalty is not a scalar.
  """
  if not weights_list:
    weights_list = _V1.get_collection(_V1.GraphKeys.WEIGHTS)
  if not weights_list:
    raise ValueError('No weights to regularize.')
  with _V1.name_scope('get_regularization_penalty', values=weights_list) as scope:
    penalties = []
    for weights in weights_list:
      penalty = regularizer(weights)
      if penalty is None:
        penalty = tf.constant(0.0)
      if penalty.get_shape().ndims != 0:
        raise ValueError(f'regularizer must return a scalar Tensor instead of '
                         f'a Tensor with rank {penalty.get_shape().ndims}.')
      penalties.append(penalty)
    total = tf.add_n(penalties, name=scope)
  _V1.add_to_collection(_V1.GraphKeys.REGULARIZATION_LOSSES, total)
  return total
