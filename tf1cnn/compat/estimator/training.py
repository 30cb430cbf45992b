"""`train_and_evaluate`, `TrainSpec`, `EvalSpec` and the exporters of TF 1.15.

`tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)` with TF
1.15's semantics on the Estimator of this package:

* Local (no `TF_CONFIG`, or one without a cluster): one `estimator.train`
  call up to `train_spec.max_steps`, with a `CheckpointSaverListener` that
  evaluates (and runs the exporters) after each new checkpoint, at most once
  every `eval_spec.throttle_secs`, and always after the final checkpoint.
  The checkpoint written when the session starts is not evaluated. Returns
  `(metrics of the last evaluation, results of its exporters)`.
* Distributed (`TF_CONFIG` names a cluster and this process's task), on
  TensorFlow's own runtime (`tf.distribute.Server`), parameter-server
  between-graph replication:
  - `chief` (and the legacy `master`, which also evaluates) and `worker`
    tasks start their server and call `estimator.train`, which places the
    variables with `replica_device_setter` and trains through
    `MonitoredTrainingSession(master=config.master, is_chief=...)`. A worker
    waits `min(60, 5 * (task index + 1))` seconds before it starts, as in
    TF. When its training returns, a trainer writes the marker
    `model_dir/cluster/<task type>_<index>.done`.
  - `ps` tasks serve. TF's ps joins its server for ever; here it stops (and
    `train_and_evaluate` returns) when the first of these happens, each
    looked at every second (files written before the ps started do not
    count):
      1. every chief / worker / master task of the cluster wrote its marker;
      2. the chief (or master) wrote its marker `PS_GRACE_SECS` ago (a
         worker that died does not keep the ps up);
      3. someone wrote `model_dir/cluster/stop` (a manual stop);
      4. nothing changed in `model_dir`'s checkpoints or markers for
         `TF1CNN_PS_IDLE_SECS` seconds (environment; default 3600), with a
         warning.
    The ps therefore needs `model_dir` on a file system shared with the
    chief, as every Estimator cluster does. `wait_for_trainers` is that
    wait; `request_stop(model_dir)` writes the stop file.
  - the `evaluator` task (outside the training cluster) waits
    `start_delay_secs`, then evaluates each new checkpoint of `model_dir`
    (then runs the exporters), at most every `throttle_secs`, until it has
    evaluated a checkpoint at `max_steps` or more (or `model_dir/cluster/stop`
    appears).
  Distributed tasks return None, as TF's "undefined" result.

Exporters write under `model_dir/export/<exporter name>/<timestamp>`:
`LatestExporter` after every evaluation (keeping the newest
`exports_to_keep`), `FinalExporter` only after the evaluation at or past
`max_steps`, `BestExporter` when `compare_fn(best_eval_result,
current_eval_result)` says the new result is better (by default the smaller
`loss`; the best so far is read back from the event files of
`event_file_pattern`, so a restarted run keeps its best).
"""

import collections
import inspect
import json
import os
import shutil
import time

import tensorflow as tf
from absl import logging

_V1 = tf.compat.v1

# Trainers other than the chief wait (index + 1) * 5 seconds, at most 60.
_DELAY_SECS_PER_WORKER = 5
_MAX_DELAY_SECS = 60
_TRAINER_JOBS = ('chief', 'master', 'worker')

# The bounded parameter server (see the module docstring).
PS_GRACE_SECS = 30
PS_IDLE_SECS_ENV = 'TF1CNN_PS_IDLE_SECS'
PS_IDLE_SECS_DEFAULT = 3600
PS_POLL_SECS = 1.0
CLUSTER_DIR = 'cluster'
STOP_FILE = 'stop'

_GLOBAL_STEP = 'global_step'


# Exporters --------------------------------------------------------------------


class Exporter(object):
  """A kind of model export, run after an evaluation (`EvalSpec.exporters`).

  Subclasses define `name` (the folder under `model_dir/export/`) and
  `export(estimator, export_path, checkpoint_path, eval_result,
  is_the_final_export)`, which returns the written path or None.
  """

  @property
  def name(self):
    raise NotImplementedError('an Exporter defines its name')

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    """Exports `checkpoint_path` under `export_path`; returns the path."""
    raise NotImplementedError('an Exporter defines export()')


class _SavedModelExporter(Exporter):
  """Writes a SavedModel of the checkpoint with `Estimator.export_saved_model`."""

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False):
    self._name = name
    self._serving_input_receiver_fn = serving_input_receiver_fn
    self._assets_extra = assets_extra
    self._as_text = as_text

  @property
  def name(self):
    return self._name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del eval_result, is_the_final_export
    return estimator.export_saved_model(
        export_path, self._serving_input_receiver_fn,
        assets_extra=self._assets_extra, as_text=self._as_text,
        checkpoint_path=checkpoint_path)


def _check_exports_to_keep(exports_to_keep):
  if exports_to_keep is not None and exports_to_keep <= 0:
    raise ValueError('`exports_to_keep`, if provided, must be a positive '
                     f'number. Got {exports_to_keep}')


def _keep_newest_exports(export_dir_base, exports_to_keep):
  """Deletes all but the `exports_to_keep` newest timestamp folders."""
  if exports_to_keep is None or not tf.io.gfile.isdir(export_dir_base):
    return
  versions = sorted(
      int(name) for name in tf.io.gfile.listdir(export_dir_base)
      if len(name.rstrip('/')) == 10 and name.rstrip('/').isdigit())
  for version in versions[:-exports_to_keep]:
    path = os.path.join(export_dir_base, str(version))
    try:
      tf.io.gfile.rmtree(path)
    except tf.errors.NotFoundError as e:
      logging.warning('cannot delete the old export %s: %s', path, e)


class LatestExporter(Exporter):
  """Exports after every evaluation, keeping the newest `exports_to_keep`."""

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False, exports_to_keep=5):
    """Creates the exporter.

    Args:
      name: the folder under `model_dir/export/`.
      serving_input_receiver_fn: a function without arguments returning a
        `ServingInputReceiver`.
      assets_extra: `{destination in assets.extra: source file}` or None.
      as_text: write `saved_model.pbtxt` instead of `saved_model.pb`.
      exports_to_keep: how many of the newest exports stay (None: all).

    Raises:
      ValueError: `exports_to_keep` is not positive.
    """
    self._saved_model_exporter = _SavedModelExporter(
        name, serving_input_receiver_fn, assets_extra, as_text)
    _check_exports_to_keep(exports_to_keep)
    self._exports_to_keep = exports_to_keep

  @property
  def name(self):
    return self._saved_model_exporter.name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    result = self._saved_model_exporter.export(
        estimator, export_path, checkpoint_path, eval_result,
        is_the_final_export)
    _keep_newest_exports(export_path, self._exports_to_keep)
    return result


class FinalExporter(Exporter):
  """Exports once: after the evaluation at or past `TrainSpec.max_steps`."""

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False):
    """Creates the exporter (arguments as `LatestExporter`'s)."""
    self._saved_model_exporter = _SavedModelExporter(
        name, serving_input_receiver_fn, assets_extra, as_text)

  @property
  def name(self):
    return self._saved_model_exporter.name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    if not is_the_final_export:
      return None
    logging.info('final export of %s', checkpoint_path)
    return self._saved_model_exporter.export(
        estimator, export_path, checkpoint_path, eval_result,
        is_the_final_export)


def _loss_smaller(best_eval_result, current_eval_result):
  """True when `current_eval_result['loss']` is below the best one's."""
  for what, result in (('best_eval_result', best_eval_result),
                       ('current_eval_result', current_eval_result)):
    if not result or 'loss' not in result:
      raise ValueError(f'{what} cannot be empty or without a loss.')
  return best_eval_result['loss'] > current_eval_result['loss']


def _fn_args(fn):
  return set(inspect.signature(fn).parameters)


class BestExporter(Exporter):
  """Exports when an evaluation is better than every earlier one."""

  def __init__(self, name='best_exporter', serving_input_receiver_fn=None,
               event_file_pattern='eval/*.tfevents.*',
               compare_fn=_loss_smaller, assets_extra=None, as_text=False,
               exports_to_keep=5):
    """Creates the exporter.

    Args:
      name: the folder under `model_dir/export/`.
      serving_input_receiver_fn: as `LatestExporter`'s.
      event_file_pattern: event files (relative to `model_dir`) holding the
        earlier evaluations, read once to find the best so far; None starts
        from nothing.
      compare_fn: `compare_fn(best_eval_result, current_eval_result)` ->
        True when the current result is better.
      assets_extra: as `LatestExporter`'s.
      as_text: as `LatestExporter`'s.
      exports_to_keep: as `LatestExporter`'s.

    Raises:
      ValueError: `compare_fn` is None or takes other arguments than
        `best_eval_result` and `current_eval_result`; `exports_to_keep` is
        not positive.
    """
    if compare_fn is None:
      raise ValueError('`compare_fn` must not be None.')
    args = _fn_args(compare_fn)
    expected = {'best_eval_result', 'current_eval_result'}
    if not expected <= args or args - expected:
      raise ValueError(f'compare_fn ({compare_fn}) must take exactly '
                       'best_eval_result and current_eval_result')
    _check_exports_to_keep(exports_to_keep)
    self._compare_fn = compare_fn
    self._saved_model_exporter = _SavedModelExporter(
        name, serving_input_receiver_fn, assets_extra, as_text)
    self._event_file_pattern = event_file_pattern
    self._exports_to_keep = exports_to_keep
    self._model_dir = None
    self._best_eval_result = None
    self._has_exported = False

  @property
  def name(self):
    return self._saved_model_exporter.name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    if self._model_dir != estimator.model_dir and self._event_file_pattern:
      self._model_dir = estimator.model_dir
      self._best_eval_result = self._best_from_events(
          os.path.join(self._model_dir, self._event_file_pattern))
    better = (
        self._best_eval_result is None
        # The evaluation is in the events before its first export.
        or (not self._has_exported and self._best_eval_result == eval_result)
        or self._compare_fn(best_eval_result=self._best_eval_result,
                            current_eval_result=eval_result))
    if not better:
      return None
    logging.info('best export so far: %s', checkpoint_path)
    self._best_eval_result = eval_result
    result = self._saved_model_exporter.export(
        estimator, export_path, checkpoint_path, eval_result,
        is_the_final_export)
    _keep_newest_exports(export_path, self._exports_to_keep)
    self._has_exported = True
    return result

  def _best_from_events(self, pattern):
    best = None
    for path in tf.io.gfile.glob(pattern):
      for event in _V1.train.summary_iterator(path):
        if not event.HasField('summary'):
          continue
        result = {v.tag: v.simple_value for v in event.summary.value
                  if v.HasField('simple_value')}
        if result and (best is None or self._compare_fn(
            best_eval_result=best, current_eval_result=result)):
          best = result
    return best


# Specs ------------------------------------------------------------------------


def _validate_input_fn(input_fn):
  if not callable(input_fn):
    raise TypeError(f'`input_fn` must be callable, given: {input_fn}')


def _validate_hooks(hooks):
  hooks = tuple(hooks or [])
  for hook in hooks:
    if not isinstance(hook, _V1.train.SessionRunHook):
      raise TypeError(
          f'All hooks must be `SessionRunHook` instances, given: {hook}')
  return hooks


def _validate_saving_listeners(saving_listeners):
  saving_listeners = tuple(saving_listeners or [])
  for listener in saving_listeners:
    if not isinstance(listener, _V1.train.CheckpointSaverListener):
      raise TypeError('All saving_listeners must be `CheckpointSaverListener` '
                      f'instances, given: {listener}')
  return saving_listeners


def _validate_exporters(exporters):
  if not exporters:
    return ()
  if isinstance(exporters, Exporter):
    exporters = [exporters]
  try:
    exporters = list(exporters)
  except TypeError:
    exporters = None
  if exporters is None or not all(isinstance(e, Exporter) for e in exporters):
    raise TypeError('`exporters` must be an Exporter, an iterable of '
                    f'Exporter, or `None`, found {exporters}.')
  names = [e.name for e in exporters]
  for name in names:
    if not name:
      raise ValueError('An Exporter cannot have a name that is `None` or '
                       f'empty. All exporter names: {names}')
    if not isinstance(name, str):
      raise ValueError(f'An Exporter must have a string name. Given: '
                       f'{type(name)}')
  if len(set(names)) != len(names):
    raise ValueError(f'`exporters` must have unique names. All exporter '
                     f'names: {names}')
  return tuple(exporters)


class TrainSpec(collections.namedtuple(
    'TrainSpec', ['input_fn', 'max_steps', 'hooks', 'saving_listeners'])):
  """The training half of `train_and_evaluate`: input, length, hooks."""

  def __new__(cls, input_fn, max_steps=None, hooks=None,
              saving_listeners=None):
    """A validated TrainSpec.

    Args:
      input_fn: returns a `tf.data.Dataset` or `(features, labels)`.
      max_steps: positive total number of steps, or None (train for ever).
      hooks: `SessionRunHook`s for every trainer.
      saving_listeners: `CheckpointSaverListener`s for the chief.

    Raises:
      ValueError: `max_steps` is not positive.
      TypeError: `input_fn` is not callable, a hook or listener has the
        wrong type.
    """
    _validate_input_fn(input_fn)
    if max_steps is not None and max_steps <= 0:
      raise ValueError(f'Must specify max_steps > 0, given: {max_steps}')
    return super().__new__(
        cls, input_fn=input_fn, max_steps=max_steps,
        hooks=_validate_hooks(hooks),
        saving_listeners=_validate_saving_listeners(saving_listeners))


class EvalSpec(collections.namedtuple('EvalSpec', [
    'input_fn', 'steps', 'name', 'hooks', 'exporters', 'start_delay_secs',
    'throttle_secs'])):
  """The evaluation half of `train_and_evaluate`: input, steps, exporters."""

  def __new__(cls, input_fn, steps=100, name=None, hooks=None, exporters=None,
              start_delay_secs=120, throttle_secs=600):
    """A validated EvalSpec.

    Args:
      input_fn: returns a `tf.data.Dataset` or `(features, labels)`.
      steps: positive number of evaluation batches, or None (to the end of
        the input).
      name: the evaluation's name (its events go to `model_dir/eval_<name>`).
      hooks: `SessionRunHook`s of the evaluation.
      exporters: an `Exporter`, an iterable of them, or None.
      start_delay_secs: the evaluator task's wait before its first
        evaluation (>= 0).
      throttle_secs: the least time between two evaluations (>= 0).

    Raises:
      ValueError: a bad number, exporter names empty or repeated.
      TypeError: an argument of the wrong type.
    """
    _validate_input_fn(input_fn)
    if steps is not None and steps <= 0:
      raise ValueError(f'Must specify steps > 0, given: {steps}')
    if name is not None and not isinstance(name, str):
      raise TypeError(f'`name` must be string, given: {name}')
    hooks = _validate_hooks(hooks)
    exporters = _validate_exporters(exporters)
    if start_delay_secs < 0:
      raise ValueError('Must specify start_delay_secs >= 0, given: '
                       f'{start_delay_secs}')
    if throttle_secs < 0:
      raise ValueError(
          f'Must specify throttle_secs >= 0, given: {throttle_secs}')
    return super().__new__(
        cls, input_fn=input_fn, steps=steps, name=name, hooks=hooks,
        exporters=exporters, start_delay_secs=start_delay_secs,
        throttle_secs=throttle_secs)


# Evaluation of new checkpoints ------------------------------------------------


class _EvalStatus(object):
  EVALUATED = 'evaluated'
  MISSING_CHECKPOINT = 'missing checkpoint'
  NO_NEW_CHECKPOINT = 'no new checkpoint'


_EvalResult = collections.namedtuple(
    '_EvalResult', ['status', 'metrics', 'checkpoint_path'])


class _Evaluator(object):
  """Evaluates the newest checkpoint once, then runs the exporters."""

  def __init__(self, estimator, eval_spec, max_training_steps):
    self._estimator = estimator
    self._eval_spec = eval_spec
    self._max_training_steps = max_training_steps
    self._previous_checkpoint = None
    self._last_warning_time = 0.0

  def _warn(self, message):
    now = time.time()
    if now - self._last_warning_time > 600:
      logging.warning(message)
      self._last_warning_time = now

  def evaluate_and_export(self):
    """Returns `(_EvalResult, export results)`."""
    checkpoint = self._estimator.latest_checkpoint()
    if not checkpoint:
      self._warn(f'no checkpoint yet in {self._estimator.model_dir}; '
                 'evaluation starts when one appears')
      return _EvalResult(_EvalStatus.MISSING_CHECKPOINT, None, None), []
    if checkpoint == self._previous_checkpoint:
      self._warn(f'no new checkpoint since {checkpoint}; evaluation skipped')
      return _EvalResult(_EvalStatus.NO_NEW_CHECKPOINT, None, None), []
    metrics = self._estimator.evaluate(
        input_fn=self._eval_spec.input_fn, steps=self._eval_spec.steps,
        name=self._eval_spec.name, checkpoint_path=checkpoint,
        hooks=self._eval_spec.hooks)
    if not isinstance(metrics, dict) or _GLOBAL_STEP not in metrics:
      raise ValueError('Estimator.evaluate returned no `global_step` in its '
                       f'metrics: {metrics}')
    result = _EvalResult(_EvalStatus.EVALUATED, metrics, checkpoint)
    is_final = bool(self._max_training_steps) and (
        metrics[_GLOBAL_STEP] >= self._max_training_steps)
    export_base = os.path.join(str(self._estimator.model_dir), 'export')
    exports = [
        exporter.export(
            estimator=self._estimator,
            export_path=os.path.join(export_base, exporter.name),
            checkpoint_path=checkpoint, eval_result=metrics,
            is_the_final_export=is_final)
        for exporter in self._eval_spec.exporters]
    self._previous_checkpoint = checkpoint
    self._last_warning_time = 0.0
    return result, exports


class _Timer(object):
  """Fires at most once every `every_secs`, and never twice for one step."""

  def __init__(self, every_secs):
    self._every_secs = every_secs
    self._last_time = None
    self.last_step = None

  def should_trigger(self, step):
    if self.last_step is None:
      return True
    if step == self.last_step:
      return False
    return time.time() >= self._last_time + self._every_secs

  def update(self, step):
    self._last_time = time.time()
    self.last_step = step


class _EvaluateOnCheckpoint(_V1.train.CheckpointSaverListener):
  """Evaluates after checkpoints (throttled) and after the final one."""

  def __init__(self, evaluator, throttle_secs):
    self._evaluator = evaluator
    self._throttle_secs = throttle_secs
    self.eval_result, self.export_results = None, None
    self._timer = None
    self._first = True

  def begin(self):
    self._timer = _Timer(self._throttle_secs)
    self._first = True

  def after_save(self, session, global_step_value):
    del session
    if self._first:  # The checkpoint of the session start: nothing trained.
      self._first = False
      return
    if self._timer.should_trigger(global_step_value):
      self._evaluate(global_step_value)
    else:
      logging.info('checkpoint of step %d not evaluated: throttle_secs %s',
                   global_step_value, self._throttle_secs)

  def end(self, session, global_step_value):
    del session
    if global_step_value != self._timer.last_step:
      self._evaluate(global_step_value)

  def _evaluate(self, global_step_value):
    self._timer.update(global_step_value)
    self.eval_result, self.export_results = (
        self._evaluator.evaluate_and_export())
    if self.eval_result.status != _EvalStatus.EVALUATED:
      raise RuntimeError('no new checkpoint to evaluate after training to '
                         f'step {global_step_value}: '
                         f'{self.eval_result.status}')


# The executor -----------------------------------------------------------------


def _check_estimator(estimator):
  for attribute in ('train', 'evaluate', 'latest_checkpoint', 'config',
                    'model_dir'):
    if not hasattr(estimator, attribute):
      raise TypeError('`estimator` must have type `tf.estimator.Estimator`. '
                      f'Got: {type(estimator)}')


def _cluster_dir(model_dir):
  return os.path.join(str(model_dir), CLUSTER_DIR)


def _marker(model_dir, task_type, task_id):
  return os.path.join(_cluster_dir(model_dir), f'{task_type}_{task_id}.done')


def _write_marker(model_dir, task_type, task_id):
  os.makedirs(_cluster_dir(model_dir), exist_ok=True)
  path = _marker(model_dir, task_type, task_id)
  with open(path + '.tmp', 'w') as f:
    f.write(json.dumps({'time': time.time()}))
  os.replace(path + '.tmp', path)


def _remove_marker(model_dir, task_type, task_id):
  try:
    os.remove(_marker(model_dir, task_type, task_id))
  except FileNotFoundError:
    pass


def _mtime(path):
  try:
    return os.stat(path).st_mtime
  except OSError:
    return None


def _jobs(cluster_spec):
  """`{job: [addresses]}` of a ClusterSpec or dict."""
  if hasattr(cluster_spec, 'as_dict'):
    spec = cluster_spec.as_dict()
  else:
    spec = dict(cluster_spec or {})
  jobs = {}
  for job, tasks in spec.items():
    if isinstance(tasks, dict):
      jobs[job] = [tasks[i] for i in sorted(tasks)]
    else:
      jobs[job] = list(tasks)
  return jobs


def _server_config(config):
  session_config = getattr(config, 'session_config', None)
  server_config = _V1.ConfigProto(log_device_placement=False)
  if session_config is not None:
    server_config.gpu_options.CopyFrom(session_config.gpu_options)
  return server_config


def _start_server(config):
  """Starts this task's `tf.distribute.Server`; None for a one-task cluster."""
  if not config.cluster_spec or not config.task_type or config.task_id is None:
    raise RuntimeError('cannot start a server without cluster_spec, '
                       'task_type and task_id (set TF_CONFIG)')
  if not config.master:
    jobs = _jobs(config.cluster_spec)
    if (len(jobs) == 1 and sum(len(t) for t in jobs.values()) == 1
        and config.task_type in _TRAINER_JOBS):
      logging.info('one task in the cluster: no server started')
      return None
    raise RuntimeError('cannot start a server without a master (set '
                       'TF_CONFIG)')
  protocol = getattr(config, 'protocol', None) or 'grpc'
  server = tf.distribute.Server(
      config.cluster_spec, job_name=config.task_type,
      task_index=config.task_id, config=_server_config(config),
      protocol=protocol, start=False)
  server.start()
  logging.info('%s %d serving at %s', config.task_type, config.task_id,
               server.target)
  return server


def wait_for_trainers(model_dir, cluster_spec, started, idle_secs,
                      grace_secs=None, poll_secs=None):
  """Waits until a parameter server may stop; returns why (one line).

  See the module docstring: every trainer done, the chief done `grace_secs`
  ago, the stop file, or `idle_secs` without a new checkpoint or marker.
  Markers and stop files older than `started` do not count.

  Args:
    model_dir: the cluster's shared model_dir.
    cluster_spec: a ClusterSpec or `{job: [addresses]}`.
    started: the time the ps started (`time.time()`).
    idle_secs: the longest wait without any change.
    grace_secs: default `PS_GRACE_SECS`.
    poll_secs: default `PS_POLL_SECS`.
  """
  grace_secs = PS_GRACE_SECS if grace_secs is None else grace_secs
  poll_secs = PS_POLL_SECS if poll_secs is None else poll_secs
  model_dir = str(model_dir)
  jobs = _jobs(cluster_spec)
  trainers = [(job, i) for job in _TRAINER_JOBS
              for i in range(len(jobs.get(job, [])))]
  chief = next(((job, 0) for job in ('chief', 'master') if jobs.get(job)),
               ('worker', 0))
  stop_file = os.path.join(_cluster_dir(model_dir), STOP_FILE)
  last_change, last_state = time.time(), None
  while True:
    now = time.time()
    done = {t: _mtime(_marker(model_dir, *t)) for t in trainers}
    done = {t: m for t, m in done.items() if m is not None and m >= started}
    stop = _mtime(stop_file)
    if stop is not None and stop >= started:
      return f'{stop_file} appeared'
    if trainers and len(done) == len(trainers):
      return 'every trainer finished'
    if chief in done and now - done[chief] >= grace_secs:
      return (f'{chief[0]} {chief[1]} finished {grace_secs:g} s ago '
              f'({len(done)} of {len(trainers)} trainers finished)')
    state = (_V1.train.latest_checkpoint(model_dir), tuple(sorted(done)))
    if state != last_state:
      last_state, last_change = state, now
    elif now - last_change >= idle_secs:
      reason = (f'nothing changed in {model_dir} for {idle_secs:g} s '
                f'({PS_IDLE_SECS_ENV})')
      logging.warning('%s', reason)
      return reason
    time.sleep(poll_secs)


class _Executor(object):
  """Runs the part of train_and_evaluate that this task's type asks for."""

  def __init__(self, estimator, train_spec, eval_spec):
    _check_estimator(estimator)
    if not isinstance(train_spec, TrainSpec):
      raise TypeError('`train_spec` must have type `tf.estimator.TrainSpec`. '
                      f'Got: {type(train_spec)}')
    if not isinstance(eval_spec, EvalSpec):
      raise TypeError('`eval_spec` must have type `tf.estimator.EvalSpec`. '
                      f'Got: {type(eval_spec)}')
    self._estimator = estimator
    self._train_spec = train_spec
    self._eval_spec = eval_spec

  def run(self):
    config = self._estimator.config
    if not config.cluster_spec and config.task_type != 'evaluator':
      logging.info('training and evaluation locally (non-distributed)')
      return self.run_local()
    if not config.task_type:
      raise ValueError('`estimator.config` must have task_type set: '
                       'TF_CONFIG names no task')
    if config.task_type == 'local':
      raise ValueError('`task.type` in TF_CONFIG cannot be `local`; leave '
                       '`cluster` and `task` out of TF_CONFIG for a local '
                       'run')
    runner = getattr(self, 'run_' + str(config.task_type), None)
    if config.task_type not in ('chief', 'worker', 'master', 'ps',
                                'evaluator') or runner is None:
      raise ValueError(f'Task type {config.task_type} is not supported. '
                       'Supported task types are chief, worker, master, ps, '
                       'evaluator')
    runner()
    return None

  def run_local(self):
    """Trains to max_steps, evaluating after checkpoints; see the module."""
    config = self._estimator.config
    logging.info(
        'train and evaluate: an evaluation after each checkpoint '
        '(save_checkpoints_steps %s, save_checkpoints_secs %s), at most '
        'every %s s', getattr(config, 'save_checkpoints_steps', None),
        getattr(config, 'save_checkpoints_secs', None),
        self._eval_spec.throttle_secs)
    evaluator = _Evaluator(self._estimator, self._eval_spec,
                           self._train_spec.max_steps)
    listener = _EvaluateOnCheckpoint(evaluator, self._eval_spec.throttle_secs)
    self._estimator.train(
        input_fn=self._train_spec.input_fn,
        max_steps=self._train_spec.max_steps,
        hooks=list(self._train_spec.hooks),
        saving_listeners=list(self._train_spec.saving_listeners) + [listener])
    if listener.eval_result is None:
      return None, None
    return listener.eval_result.metrics, listener.export_results

  def run_chief(self):
    self._train_distributed(list(self._train_spec.saving_listeners))

  def run_worker(self):
    self._train_distributed(None)

  def run_master(self):
    evaluator = _Evaluator(self._estimator, self._eval_spec,
                           self._train_spec.max_steps)
    listener = _EvaluateOnCheckpoint(evaluator, self._eval_spec.throttle_secs)
    self._train_distributed(
        list(self._train_spec.saving_listeners) + [listener])

  def _train_distributed(self, saving_listeners):
    config = self._estimator.config
    model_dir = self._estimator.model_dir
    _remove_marker(model_dir, config.task_type, config.task_id)
    _start_server(config)
    delay = 0
    if config.task_type == 'worker':
      max_delay = getattr(config, 'experimental_max_worker_delay_secs', None)
      max_delay = _MAX_DELAY_SECS if max_delay is None else int(max_delay)
      delay = min(max_delay, (config.task_id + 1) * _DELAY_SECS_PER_WORKER)
    if delay > 0:
      logging.info('waiting %d s before training', delay)
      time.sleep(delay)
    self._estimator.train(
        input_fn=self._train_spec.input_fn,
        max_steps=self._train_spec.max_steps,
        hooks=list(self._train_spec.hooks),
        saving_listeners=saving_listeners)
    _write_marker(model_dir, config.task_type, config.task_id)
    logging.info('%s %d finished training', config.task_type, config.task_id)

  def run_ps(self):
    """Serves until the trainers are done (bounded; see the module)."""
    config = self._estimator.config
    started = time.time()
    server = _start_server(config)
    idle_secs = float(os.environ.get(PS_IDLE_SECS_ENV, PS_IDLE_SECS_DEFAULT))
    reason = wait_for_trainers(self._estimator.model_dir, config.cluster_spec,
                               started, idle_secs)
    logging.info('parameter server %d stops: %s', config.task_id, reason)
    del server

  def run_evaluator(self):
    """Evaluates each new checkpoint until one at max_steps or later."""
    config = self._estimator.config
    if config.task_id and config.task_id > 0:
      raise ValueError('For distributed training, there can only be one '
                       '`evaluator` task (with task id 0).  Given task id '
                       f'{config.task_id}')
    if self._eval_spec.start_delay_secs:
      logging.info('waiting %s s before the first evaluation',
                   self._eval_spec.start_delay_secs)
      time.sleep(self._eval_spec.start_delay_secs)
    evaluator = _Evaluator(self._estimator, self._eval_spec,
                           self._train_spec.max_steps)
    stop_file = os.path.join(_cluster_dir(self._estimator.model_dir),
                             STOP_FILE)
    started = time.time()
    max_steps = self._train_spec.max_steps
    while True:
      stop = _mtime(stop_file)
      if stop is not None and stop >= started:
        logging.info('evaluator stops: %s appeared', stop_file)
        return
      start = time.time()
      result, _ = evaluator.evaluate_and_export()
      if result.status == _EvalStatus.EVALUATED:
        step = result.metrics.get(_GLOBAL_STEP)
        if step and max_steps and step >= max_steps:
          logging.info('evaluator stops: global_step %s >= max_steps %s',
                       step, max_steps)
          return
      wait = self._eval_spec.throttle_secs - (time.time() - start)
      if wait > 0:
        time.sleep(wait)
      elif result.status != _EvalStatus.EVALUATED:
        time.sleep(PS_POLL_SECS)  # Never spin while waiting for a checkpoint.


def train_and_evaluate(estimator, train_spec, eval_spec):
  """Trains, evaluates and exports `estimator` (TF 1.15's semantics).

  Local without a cluster in `TF_CONFIG`; otherwise this process plays its
  task (chief, worker, master, ps, evaluator). See the module docstring.

  Args:
    estimator: an `Estimator`.
    train_spec: a `TrainSpec`.
    eval_spec: an `EvalSpec`.

  Returns:
    Local: `(metrics of the last evaluation, list of export results)`
    (`(None, None)` when nothing was trained, the model being already at
    `max_steps`). Distributed: None.

  Raises:
    TypeError: an argument of the wrong type.
    ValueError: `TF_CONFIG` names a bad task (`local`, an unknown type, an
      evaluator other than 0).
  """
  if not isinstance(eval_spec, EvalSpec):
    raise TypeError('`eval_spec` must have type `tf.estimator.EvalSpec`. '
                    f'Got: {type(eval_spec)}')
  executor = _Executor(estimator, train_spec, eval_spec)
  config = estimator.config
  if config.task_type == 'evaluator' and config.task_id and config.task_id > 0:
    raise ValueError('For distributed training, there can only be one '
                     '`evaluator` task (with task id 0).  Given task id '
                     f'{config.task_id}')
  return executor.run()


def request_stop(model_dir):
  """Asks the ps and evaluator tasks of `model_dir`'s cluster to stop."""
  os.makedirs(_cluster_dir(model_dir), exist_ok=True)
  path = os.path.join(_cluster_dir(model_dir), STOP_FILE)
  with open(path, 'w') as f:
    f.write(json.dumps({'time': time.time()}))
  return path


def clear_cluster_markers(model_dir):
  """Removes `model_dir/cluster` (markers and stop file of earlier runs)."""
  shutil.rmtree(_cluster_dir(model_dir), ignore_errors=True)
