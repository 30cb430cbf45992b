"""Optimizers, learning-rate schedules and gradient clipping (TF-Slim's).

`learning_rate_schedule(optim, global_step, steps_per_epoch, total_steps)`
gives the learning-rate tensor of `--lr_schedule`:

* `fixed`: `learning_rate`;
* `exponential`: `learning_rate * lr_decay_rate ^ floor(step / decay_steps)`
  (staircase, as TF-Slim's `exponential`);
* `polynomial`: TF-Slim's `polynomial` (`tf.train.polynomial_decay`, power
  1.0, no cycle): from `learning_rate` down to `end_learning_rate` over
  `decay_steps`, then `end_learning_rate`;
* `cosine`: cosine decay to 0 over the whole run;

where `decay_steps = lr_decay_epochs * steps_per_epoch` (TF-Slim's
`num_epochs_per_decay`). `warmup_epochs` multiplies any of them by a
linear ramp.

`make_optimizer(name, learning_rate, momentum, **hyperparameters)` builds
the `tf.compat.v1.train` optimizer with TF-Slim's hyperparameter names
(`from_config(optim, learning_rate)` reads them from an
`OptimizerConfig`):

| optimizer | hyperparameters (default when not given) |
|---|---|
| adam | `adam_beta1` 0.9, `adam_beta2` 0.999, `opt_epsilon` (TF's 1e-8) |
| momentum | `momentum` 0.9 |
| sgd | - |
| rmsprop | `rmsprop_decay` 0.9, `rmsprop_momentum` (`momentum`), `opt_epsilon` (TF's 1e-10) |
| adadelta | `adadelta_rho` 0.95, `opt_epsilon` (TF's 1e-8) |
| adagrad | `adagrad_initial_accumulator_value` 0.1 |
| ftrl | `ftrl_learning_rate_power` -0.5, `ftrl_initial_accumulator_value` 0.1, `ftrl_l1` 0, `ftrl_l2` 0 |

TF-Slim's `--opt_epsilon` defaults to 1.0; tf1cnn leaves it unset (None),
which keeps each optimizer's TensorFlow default, so a run without the flag
trains as before. Pass `--opt_epsilon=1.0` for Slim's behaviour.

`clip_gradients(grads_and_vars, clip_norm)` rescales gradients by their
global norm (`tf.clip_by_global_norm`; TF-Slim's `create_train_op` clips
each gradient by its own norm instead).
"""

import dataclasses
import math

import tensorflow as tf

from tf1cnn import config as config_lib

_V1 = tf.compat.v1

# The optimizers' own hyperparameters (TF-Slim's flag names), fields of
# `config.OptimizerConfig`.
HYPERPARAMETERS = (
    'adam_beta1', 'adam_beta2', 'opt_epsilon', 'rmsprop_decay',
    'rmsprop_momentum', 'adadelta_rho', 'adagrad_initial_accumulator_value',
    'ftrl_learning_rate_power', 'ftrl_initial_accumulator_value', 'ftrl_l1',
    'ftrl_l2')
# Their defaults: `OptimizerConfig`'s, TF-Slim's train_image_classifier.py
# values (`opt_epsilon` excepted, see the module doc).
DEFAULTS = {
    name: value
    for name, value in dataclasses.asdict(config_lib.OptimizerConfig()).items()
    if name in HYPERPARAMETERS}


def learning_rate_schedule(config, global_step, steps_per_epoch, total_steps):
  """Returns the learning-rate tensor for `config.lr_schedule`.

  Args:
    config: the OptimizerConfig.
    global_step: the global step tensor.
    steps_per_epoch: steps in one epoch (float).
    total_steps: planned number of steps (for cosine decay).

  Raises:
    ValueError: `lr_decay_epochs` not above 0 for a schedule that decays
      per that period (`config.validate` refuses it first).
  """
  if config.lr_schedule in ('exponential', 'polynomial') and not (
      config.lr_decay_epochs > 0):
    raise ValueError(
        f'--lr_decay_epochs={config.lr_decay_epochs!r}: must be > 0 with '
        f'--lr_schedule={config.lr_schedule} (its decay period in epochs)')
  step = tf.cast(global_step, tf.float32)
  base = tf.constant(config.learning_rate, tf.float32)
  decay_steps = max(1.0, config.lr_decay_epochs * steps_per_epoch)
  if config.lr_schedule == 'fixed':
    lr = base
  elif config.lr_schedule == 'exponential':
    lr = base * tf.pow(config.lr_decay_rate, tf.floor(step / decay_steps))
  elif config.lr_schedule == 'polynomial':
    end = config.end_learning_rate
    progress = tf.minimum(step, decay_steps) / decay_steps
    lr = (base - end) * tf.pow(1.0 - progress, 1.0) + end
  elif config.lr_schedule == 'cosine':
    progress = tf.minimum(step / float(max(1, total_steps)), 1.0)
    lr = base * 0.5 * (1.0 + tf.cos(math.pi * progress))
  else:
    raise ValueError(f'lr_schedule {config.lr_schedule!r}')
  if config.warmup_epochs > 0:
    warmup_steps = config.warmup_epochs * steps_per_epoch
    lr = lr * tf.minimum(1.0, (step + 1.0) / warmup_steps)
  return tf.identity(lr, name='learning_rate')


def make_optimizer(name, learning_rate, momentum=0.9, **hyperparameters):
  """Returns a `tf.compat.v1.train` optimizer by name.

  Args:
    name: one of `tf1cnn.config.OPTIMIZERS`.
    learning_rate: float or tensor.
    momentum: of `momentum`, and of `rmsprop` unless `rmsprop_momentum`.
    **hyperparameters: TF-Slim's names (`DEFAULTS`); None or missing keeps
      the default.

  Raises:
    ValueError: an unknown name or hyperparameter.
  """
  unknown = set(hyperparameters) - set(DEFAULTS)
  if unknown:
    raise ValueError(f'unknown optimizer hyperparameter(s) {sorted(unknown)}')
  h = dict(DEFAULTS)
  h.update({k: v for k, v in hyperparameters.items() if v is not None})
  # Only an epsilon that was given is passed: TF's own default otherwise.
  epsilon = {} if h['opt_epsilon'] is None else dict(epsilon=h['opt_epsilon'])
  if name == 'adam':
    return _V1.train.AdamOptimizer(learning_rate, beta1=h['adam_beta1'],
                                   beta2=h['adam_beta2'], **epsilon)
  if name == 'momentum':
    return _V1.train.MomentumOptimizer(learning_rate, momentum)
  if name == 'sgd':
    return _V1.train.GradientDescentOptimizer(learning_rate)
  if name == 'rmsprop':
    rms_momentum = (momentum if h['rmsprop_momentum'] is None
                    else h['rmsprop_momentum'])
    return _V1.train.RMSPropOptimizer(learning_rate, decay=h['rmsprop_decay'],
                                      momentum=rms_momentum, **epsilon)
  if name == 'adadelta':
    return _V1.train.AdadeltaOptimizer(learning_rate, rho=h['adadelta_rho'],
                                       **epsilon)
  if name == 'adagrad':
    return _V1.train.AdagradOptimizer(
        learning_rate,
        initial_accumulator_value=h['adagrad_initial_accumulator_value'])
  if name == 'ftrl':
    return _V1.train.FtrlOptimizer(
        learning_rate, learning_rate_power=h['ftrl_learning_rate_power'],
        initial_accumulator_value=h['ftrl_initial_accumulator_value'],
        l1_regularization_strength=h['ftrl_l1'],
        l2_regularization_strength=h['ftrl_l2'])
  raise ValueError(f'optimizer {name!r}')


def from_config(config, learning_rate):
  """`make_optimizer` with the hyperparameters of an OptimizerConfig."""
  values = dataclasses.asdict(config)
  return make_optimizer(
      config.optimizer, learning_rate, config.momentum,
      **{name: values[name] for name in HYPERPARAMETERS})


def clip_gradients(grads_and_vars, clip_norm):
  """Rescales the gradients so that their global norm is at most `clip_norm`.

  Variables without a gradient keep None. A non-finite global norm gives
  non-finite gradients, which fp16 loss scaling detects and skips.

  Args:
    grads_and_vars: `[(gradient or None, variable)]`, unscaled (after the
      fp16 loss scale and the tower average).
    clip_norm: the largest global norm; 0 or None returns them unchanged.

  Returns:
    `[(gradient, variable)]` in the same order.
  """
  if not clip_norm:
    return list(grads_and_vars)
  pairs = list(grads_and_vars)
  present = [i for i, (g, _) in enumerate(pairs) if g is not None]
  if not present:
    return pairs
  with tf.name_scope('clip_gradients'):
    clipped, _ = tf.clip_by_global_norm([pairs[i][0] for i in present],
                                        clip_norm)
  for i, gradient in zip(present, clipped):
    pairs[i] = (gradient, pairs[i][1])
  return pairs
