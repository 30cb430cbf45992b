"""`tf.estimator.experimental`: early stopping from the evaluation summaries.

`stop_if_higher_hook`, `stop_if_lower_hook` (a metric crossed a threshold),
`stop_if_no_increase_hook`, `stop_if_no_decrease_hook` (no improvement for
N steps) read what `Estimator.evaluate` wrote: the event files of the eval
directory (`model_dir/eval` unless `eval_dir` is given), one value per
metric and checkpoint step (`read_eval_metrics`). Evaluations before
`min_steps` are ignored. The hooks check every `run_every_secs` (or
`run_every_steps`) during training. On the chief the hook sets a boolean
variable `signal_early_stopping/STOP` and stops; other workers' hooks stop
when they see it set (`make_early_stopping_hook`).
"""

import collections
import operator
import os

from absl import logging
import tensorflow as tf

from tf1cnn.compat.estimator import errors

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

_V1 = tf.compat.v1


def read_eval_metrics(eval_dir):
  """The evaluation metrics in `eval_dir`'s event files.

  Args:
    eval_dir: a folder of `events.out.tfevents.*` files.

  Returns:
    An OrderedDict global step -> {tag: value}, by step.
  """
  by_step = collections.defaultdict(dict)
  if tf.io.gfile.exists(eval_dir):
    pattern = os.path.join(eval_dir, 'events.out.tfevents.*')
    for path in sorted(tf.io.gfile.glob(pattern)):
      for event in _V1.train.summary_iterator(path):
        if not event.HasField('summary'):
          continue
        values = {v.tag: v.simple_value for v in event.summary.value
                  if v.HasField('simple_value')}
        if values:
          by_step[event.step].update(values)
  return collections.OrderedDict(sorted(by_step.items()))


def _stop_variable():
  with _V1.variable_scope('signal_early_stopping', values=[],
                          reuse=_V1.AUTO_REUSE):
    return _V1.get_variable(
        'STOP', shape=[], dtype=tf.bool,
        initializer=_V1.constant_initializer(False),
        collections=[_V1.GraphKeys.GLOBAL_VARIABLES], trainable=False)


class _StopOnPredicateHook(_V1.train.SessionRunHook):
  """The chief's hook: asks `should_stop_fn` now and then, stops if true."""

  def __init__(self, should_stop_fn, run_every_secs=60, run_every_steps=None):
    if not callable(should_stop_fn):
      raise TypeError('`should_stop_fn` must be callable.')
    self._should_stop_fn = should_stop_fn
    self._timer = _V1.train.SecondOrStepTimer(every_secs=run_every_secs,
                                              every_steps=run_every_steps)
    self._global_step = None
    self._stop_op = None

  def begin(self):
    self._global_step = _V1.train.get_or_create_global_step()
    self._stop_op = _V1.assign(_stop_variable(), True)

  def before_run(self, run_context):
    return _V1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    step = run_values.results
    if self._timer.should_trigger_for_step(step):
      self._timer.update_last_triggered_step(step)
      if self._should_stop_fn():
        logging.info('Requesting early stopping at global step %d', step)
        run_context.session.run(self._stop_op)
        run_context.request_stop()


class _CheckForStoppingHook(_V1.train.SessionRunHook):
  """A non-chief worker's hook: stops when the chief set the stop variable."""

  def begin(self):
    self._stop = _stop_variable()

  def before_run(self, run_context):
    return _V1.train.SessionRunArgs(self._stop)

  def after_run(self, run_context, run_values):
    if run_values.results:
      logging.info('Early stopping signalled by the chief.')
      run_context.request_stop()


def make_early_stopping_hook(estimator, should_stop_fn, run_every_secs=60,
                             run_every_steps=None):
  """A hook that stops training when `should_stop_fn()` returns True.

  Args:
    estimator: the Estimator (its config says whether this is the chief).
    should_stop_fn: a function of no arguments.
    run_every_secs: how often to call it, in seconds.
    run_every_steps: how often in steps (instead of seconds).

  Returns:
    A SessionRunHook for `Estimator.train(hooks=...)`.
  """
  if run_every_secs is not None and run_every_steps is not None:
    raise _Error('Only one of run_every_secs and run_every_steps can be '
                 'passed.')
  if estimator.config.is_chief:
    return _StopOnPredicateHook(should_stop_fn, run_every_secs,
                                run_every_steps)
  return _CheckForStoppingHook()


def _threshold_hook(estimator, metric_name, threshold, eval_dir, min_steps,
                    run_every_secs, run_every_steps, higher_is_better):
  eval_dir = eval_dir or estimator.eval_dir()
  better = operator.gt if higher_is_better else operator.lt
  word = 'greater than' if higher_is_better else 'less than'

  def crossed():
    for step, metrics in read_eval_metrics(eval_dir).items():
      if step < min_steps or metric_name not in metrics:
        continue
      value = metrics[metric_name]
      if better(value, threshold):
        logging.info('At step %s, metric "%s" has value %s which is %s the '
                     'configured threshold (%s) for early stopping.', step,
                     metric_name, value, word, threshold)
        return True
    return False

  return make_early_stopping_hook(estimator, crossed, run_every_secs,
                                  run_every_steps)


def _no_improvement_hook(estimator, metric_name, max_steps_without_improvement,
                         eval_dir, min_steps, run_every_secs, run_every_steps,
                         higher_is_better):
  eval_dir = eval_dir or estimator.eval_dir()
  better = operator.gt if higher_is_better else operator.lt
  word = 'increase' if higher_is_better else 'decrease'

  def stalled():
    best, best_step = None, None
    for step, metrics in read_eval_metrics(eval_dir).items():
      if step < min_steps or metric_name not in metrics:
        continue
      value = metrics[metric_name]
      if best is None or better(value, best):
        best, best_step = value, step
      if step - best_step >= max_steps_without_improvement:
        logging.info('No %s in metric "%s" for %s steps, which is greater '
                     'than or equal to max steps (%s) configured for early '
                     'stopping.', word, metric_name, step - best_step,
                     max_steps_without_improvement)
        return True
    return False

  return make_early_stopping_hook(estimator, stalled, run_every_secs,
                                  run_every_steps)


def stop_if_higher_hook(estimator, metric_name, threshold, eval_dir=None,
                        min_steps=0, run_every_secs=60, run_every_steps=None):
  """Stops training once an evaluation has `metric_name` > `threshold`."""
  return _threshold_hook(estimator, metric_name, threshold, eval_dir,
                         min_steps, run_every_secs, run_every_steps, True)


def stop_if_lower_hook(estimator, metric_name, threshold, eval_dir=None,
                       min_steps=0, run_every_secs=60, run_every_steps=None):
  """Stops training once an evaluation has `metric_name` < `threshold`."""
  return _threshold_hook(estimator, metric_name, threshold, eval_dir,
                         min_steps, run_every_secs, run_every_steps, False)


def stop_if_no_increase_hook(estimator, metric_name,
                             max_steps_without_increase, eval_dir=None,
                             min_steps=0, run_every_secs=60,
                             run_every_steps=None):
  """Stops training when `metric_name` has not risen for that many steps."""
  return _no_improvement_hook(estimator, metric_name,
                              max_steps_without_increase, eval_dir, min_steps,
                              run_every_secs, run_every_steps, True)


def stop_if_no_decrease_hook(estimator, metric_name,
                             max_steps_without_decrease, eval_dir=None,
                             min_steps=0, run_every_secs=60,
                             run_every_steps=None):
  """Stops training when `metric_name` has not fallen for that many steps."""
  return _no_improvement_hook(estimator, metric_name,
                              max_steps_without_decrease, eval_dir, min_steps,
                              run_every_secs, run_every_steps, False)
