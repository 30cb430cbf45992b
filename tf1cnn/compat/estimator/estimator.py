"""`tf.estimator.Estimator` on `tf.compat.v1` graph mode (TF 1.15 behaviour).

Each call builds a fresh graph: the input_fn (on `/cpu:0`), the global step,
the model_fn's `EstimatorSpec`, then runs it:

* `train`: `MonitoredTrainingSession` on `model_dir` (restores the latest
  checkpoint there, so an interrupted run resumes), with a
  `CheckpointSaverHook` at the RunConfig's interval (a checkpoint when the
  session starts and one at the end), a `SummarySaverHook` every
  `save_summary_steps` (a `loss` scalar is added if the model_fn made none),
  a `StepCounterHook` (`global_step/sec`) and a loss log line every
  `log_step_count_steps`, a `NanTensorHook`, `StopAtStepHook` for
  `steps` / `max_steps`; it ends at the last step or when the input raises
  OutOfRange;
* `evaluate`: restores a checkpoint (the latest unless given), runs the
  metric update ops until OutOfRange or `steps`, adds `loss` (the mean of
  the per-batch loss) and `global_step`, writes each metric as a summary at
  the checkpoint's step in `model_dir/eval` (`eval_<name>`);
* `predict`: yields the predictions, one example (dict) at a time;
* `export_saved_model`: the PREDICT graph of the serving input receiver and
  the checkpoint's variables, written to `<base>/temp-<ts>` and renamed to
  `<base>/<ts>`.

A model_fn takes `features` and any of `labels`, `mode`, `params`, `config`
(matched by parameter name); an input_fn any of `mode`, `params`, `config`,
and returns features, `(features, labels)` or a `tf.data.Dataset` of either
(read with an initializable iterator, initialised when the session starts).

Every call builds and runs its own graph, so the Estimator works whether or
not the process is in graph mode.
"""

import collections
import copy
import inspect
import os
import tempfile

from absl import logging
import numpy as np
import tensorflow as tf

from tf1cnn.compat.estimator import errors
from tf1cnn.compat.estimator import export as export_lib
from tf1cnn.compat.estimator import model_fn as model_fn_lib
from tf1cnn.compat.estimator import run_config as run_config_lib

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

_V1 = tf.compat.v1
ModeKeys = model_fn_lib.ModeKeys

_VALID_MODEL_FN_ARGS = frozenset(
    ['features', 'labels', 'mode', 'params', 'self', 'config'])

# Variable ops a replica_device_setter puts on the ps tasks.
_PS_OPS = ('Variable', 'VariableV2', 'AutoReloadVariable', 'VarHandleOp',
           'MutableHashTable', 'MutableHashTableV2',
           'MutableHashTableOfTensors', 'MutableHashTableOfTensorsV2',
           'MutableDenseHashTable', 'MutableDenseHashTableV2')


class WarmStartSettings(
    collections.namedtuple('WarmStartSettings', [
        'ckpt_to_initialize_from', 'vars_to_warm_start',
        'var_name_to_vocab_info', 'var_name_to_prev_var_name'])):
  """Which variables to initialise from which checkpoint (TF 1.15 fields).

  Attributes:
    ckpt_to_initialize_from: a checkpoint file, a folder with checkpoints or
      a SavedModel folder.
    vars_to_warm_start: a regex (default '.*', trainable variables), a list
      of names or regexes, or None (none).
    var_name_to_vocab_info: dict of `tf.compat.v1.train.VocabInfo`.
    var_name_to_prev_var_name: dict current name -> name in the checkpoint.
  """

  def __new__(cls, ckpt_to_initialize_from, vars_to_warm_start='.*',
              var_name_to_vocab_info=None, var_name_to_prev_var_name=None):
    if not ckpt_to_initialize_from:
      raise _Error('`ckpt_to_initialize_from` MUST be set in '
                   'WarmStartSettings')
    return super(WarmStartSettings, cls).__new__(
        cls, os.fspath(ckpt_to_initialize_from), vars_to_warm_start,
        var_name_to_vocab_info or {}, var_name_to_prev_var_name or {})


def _warm_start_settings(warm_start_from):
  """A WarmStartSettings from a path or settings (None stays None)."""
  if warm_start_from is None:
    return None
  if isinstance(warm_start_from, (str, bytes, os.PathLike)):
    warm_start_from = WarmStartSettings(os.fspath(warm_start_from))
  elif not isinstance(warm_start_from, WarmStartSettings):
    raise _Error('warm_start_from must be a string or a '
                 f'WarmStartSettings, instead got {type(warm_start_from)}')
  path = warm_start_from.ckpt_to_initialize_from
  variables_dir = os.path.join(path, 'variables')
  if tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')) or (
      tf.io.gfile.exists(os.path.join(path, 'saved_model.pbtxt'))):
    logging.info('Warm-starting from a SavedModel: %s', path)
    warm_start_from = warm_start_from._replace(
        ckpt_to_initialize_from=os.path.join(variables_dir, 'variables'))
  return warm_start_from


def fn_args(fn):
  """The parameter names of a function, method or functools.partial."""
  if hasattr(fn, 'func') and hasattr(fn, 'keywords'):  # functools.partial
    names = fn_args(fn.func)
    return tuple(n for n in names[len(fn.args):] if n not in (fn.keywords or
                                                               {}))
  target = fn
  if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(fn):
    target = fn.__call__
  return tuple(inspect.signature(target).parameters)


def _check_hooks(hooks):
  hooks = list(hooks or [])
  for hook in hooks:
    if not isinstance(hook, _V1.train.SessionRunHook):
      raise TypeError(f'Hooks must be a SessionRunHook, given: {hook}')
  return hooks


def _check_listeners(listeners):
  listeners = list(listeners or [])
  for listener in listeners:
    if not isinstance(listener, _V1.train.CheckpointSaverListener):
      raise TypeError('saving_listeners must be a list of '
                      f'CheckpointSaverListener, given: {listener}')
  return listeners


class _DatasetInitializerHook(_V1.train.SessionRunHook):
  """Initialises a dataset's iterator when the session is created."""

  def __init__(self, iterator):
    self._iterator = iterator

  def begin(self):
    self._initializer = self._iterator.initializer

  def after_create_session(self, session, coord):
    del coord
    session.run(self._initializer)


class _StopAfterNEvalsHook(_V1.train.SessionRunHook):
  """Stops evaluation after `num_evals` runs of the update ops."""

  def __init__(self, num_evals):
    self._num_evals = num_evals
    self._done = 0

  def after_create_session(self, session, coord):
    del session, coord
    self._done = 0

  def after_run(self, run_context, run_values):
    del run_values
    self._done += 1
    if self._done >= self._num_evals:
      run_context.request_stop()


def parse_input_fn_result(result):
  """features, labels, hooks from what an input_fn returned."""
  hooks = []
  if isinstance(result, tf.data.Dataset):
    iterator = _V1.data.make_initializable_iterator(result)
    hooks.append(_DatasetInitializerHook(iterator))
    result = iterator.get_next()
  if isinstance(result, (list, tuple)):
    if len(result) != 2:
      raise _Error('input_fn should return (features, labels) as a len 2 '
                   'tuple.')
    return result[0], result[1], hooks
  return result, None, hooks


def _has_input_source(graph):
  if graph.get_collection(_V1.GraphKeys.QUEUE_RUNNERS):
    return True
  return any(op.type in ('IteratorGetNext', 'IteratorV2', 'Iterator',
                         'OneShotIterator', 'AnonymousIteratorV2')
             for op in graph.get_operations())


def _load_global_step(checkpoint_dir):
  try:
    reader = _V1.train.NewCheckpointReader(
        _V1.train.latest_checkpoint(checkpoint_dir))
    return int(reader.get_tensor(_V1.GraphKeys.GLOBAL_STEP))
  except Exception:  # pylint: disable=broad-except
    return 0


def _default_session_config(config):
  """TF 1.15's defaults: soft placement; a cluster task sees ps and itself."""
  if config.session_config is not None:
    return config.session_config
  session_config = _V1.ConfigProto(allow_soft_placement=True)
  session_config.graph_options.rewrite_options.meta_optimizer_iterations = (
      session_config.graph_options.rewrite_options.ONE)
  if (config.cluster_spec and config.cluster_spec.jobs and
      config.task_type in (run_config_lib.TaskType.CHIEF,
                           run_config_lib.TaskType.MASTER,
                           run_config_lib.TaskType.WORKER)):
    session_config.device_filters.extend([
        '/job:ps', f'/job:{config.task_type}/task:{config.task_id}'])
  return session_config


def _replica_device_setter(config):
  """replica_device_setter over the ps tasks, or None without ps tasks."""
  if config.num_ps_replicas <= 0:
    return None
  if config.task_type:
    worker_device = f'/job:{config.task_type}/task:{config.task_id}'
  else:
    worker_device = '/job:worker'
  return _V1.train.replica_device_setter(
      ps_tasks=config.num_ps_replicas, worker_device=worker_device,
      merge_devices=True, ps_ops=list(_PS_OPS), cluster=config.cluster_spec)


def _batch_length(predictions):
  length = None
  for key, value in predictions.items():
    value_length = value.shape[0]
    if length is None:
      length = value_length
    elif value_length != length:
      raise _Error(f'Batch length of predictions should be same. {key} '
                   'has different batch length than others.')
  return length


def _to_summary_value(tag, value):
  if isinstance(value, (bool, np.bool_)):
    value = float(value)
  if isinstance(value, (int, float, np.integer, np.floating)) or (
      isinstance(value, np.ndarray) and value.size == 1):
    return _V1.Summary.Value(tag=tag, simple_value=float(np.asarray(
        value).reshape(())))
  if isinstance(value, bytes):
    return _V1.Summary.Value(
        tag=tag, tensor=tf.make_tensor_proto(value))
  logging.warning('Skipping summary for %s, must be a float, np.float32, '
                  'np.int64, np.int32 or int or a serialized string of '
                  'Summary.', tag)
  return None


def _write_dict_to_summary(output_dir, results, step):
  """Writes each metric as a scalar summary at `step` in `output_dir`."""
  logging.info('Saving dict for global step %d: %s', step, ', '.join(
      f'{k} = {v}' for k, v in sorted(results.items())))
  summary = _V1.Summary()
  for key, value in results.items():
    if key == _V1.GraphKeys.GLOBAL_STEP:
      continue
    summary_value = _to_summary_value(key, value)
    if summary_value is not None:
      summary.value.extend([summary_value])
  writer = _V1.summary.FileWriterCache.get(output_dir)
  writer.add_summary(summary, step)
  writer.flush()


class Estimator(object):
  """TF 1.15's `tf.estimator.Estimator`: train, evaluate, predict, export."""

  def __init__(self, model_fn, model_dir=None, config=None, params=None,
               warm_start_from=None):
    """Makes an Estimator.

    Args:
      model_fn: model_fn(features[, labels][, mode][, params][, config])
        returning an EstimatorSpec.
      model_dir: the run's folder (checkpoints, summaries, evaluations);
        from config.model_dir if None there, else a new temporary folder.
      config: a RunConfig (default RunConfig()).
      params: a dict given to model_fn (and input_fn) as `params`.
      warm_start_from: a checkpoint path, a folder or a WarmStartSettings:
        the initial values of variables when model_dir has no checkpoint.

    Raises:
      ValueError: model_fn without `features`, unexpected model_fn
        arguments, params not taken by model_fn, a model_dir different
        from config.model_dir.
    """
    if config is None:
      config = run_config_lib.RunConfig()
    elif not isinstance(config, run_config_lib.RunConfig):
      raise _Error('config must be an instance of `RunConfig`, but '
                   f'provided {config}.')
    if model_dir is not None:
      model_dir = os.fspath(model_dir)
    if model_dir and config.model_dir and model_dir != config.model_dir:
      raise _Error(
          '`model_dir` are set both in constructor and `RunConfig`, but with '
          f"different values. In constructor: '{model_dir}', in `RunConfig`: "
          f"'{config.model_dir}' ")
    model_dir = model_dir or config.model_dir
    if not model_dir:
      model_dir = tempfile.mkdtemp()
      logging.warning('Using temporary folder as model directory: %s',
                      model_dir)
    if config.model_dir != model_dir:
      config = config.replace(model_dir=model_dir)
    logging.info('Using config: %s', config)
    self._config = config
    self._model_dir = model_dir
    self._device_fn = config.device_fn or _replica_device_setter(config)
    self._session_config = _default_session_config(config)
    if model_fn is None:
      raise _Error('model_fn must be provided to Estimator.')
    self._check_model_fn(model_fn, params)
    self._model_fn = model_fn
    self._params = copy.deepcopy(params or {})
    self._warm_start_settings = _warm_start_settings(warm_start_from)

  @staticmethod
  def _check_model_fn(model_fn, params):
    args = set(fn_args(model_fn))
    if 'features' not in args:
      raise _Error(f'model_fn ({model_fn}) must include features '
                   'argument.')
    if params is not None and 'params' not in args:
      raise _Error(f'model_fn ({model_fn}) does not include params '
                   f'argument, but params ({params}) is passed to '
                   'Estimator.')
    if params is None and 'params' in args:
      logging.warning("Estimator's model_fn (%s) includes params argument, "
                      'but params are not passed to Estimator.', model_fn)
    unexpected = sorted(args - _VALID_MODEL_FN_ARGS)
    if unexpected:
      raise _Error(f'model_fn ({model_fn}) has following not expected '
                   f'args: {unexpected}')

  # Properties.
  @property
  def model_dir(self):
    return self._model_dir

  @property
  def config(self):
    return copy.deepcopy(self._config)

  @property
  def params(self):
    return copy.deepcopy(self._params)

  @property
  def model_fn(self):
    """The model_fn, called as `model_fn(features, labels, mode, config)`."""

    def public_model_fn(features, labels, mode, config):
      return self._call_model_fn(features, labels, mode, config)

    return public_model_fn

  def eval_dir(self, name=None):
    """`model_dir/eval`, or `model_dir/eval_<name>`."""
    return os.path.join(self._model_dir,
                        'eval' if not name else 'eval_' + name)

  # Checkpoints.
  def latest_checkpoint(self):
    """The newest checkpoint prefix in model_dir, or None."""
    return _V1.train.latest_checkpoint(self._model_dir)

  def _require_checkpoint(self):
    if not self.latest_checkpoint():
      raise _Error(f'Could not find trained model in model_dir: '
                   f'{self._model_dir}.')

  def get_variable_names(self):
    """The names of the variables in the latest checkpoint."""
    self._require_checkpoint()
    return [name for name, _ in _V1.train.list_variables(self._model_dir)]

  def get_variable_value(self, name):
    """The value of variable `name` in the latest checkpoint (numpy)."""
    self._require_checkpoint()
    return _V1.train.load_variable(self._model_dir, name)

  # Calling the user's functions.
  def _call_input_fn(self, input_fn, mode):
    names = fn_args(input_fn)
    kwargs = {}
    if 'mode' in names:
      kwargs['mode'] = mode
    if 'params' in names:
      kwargs['params'] = self.params
    if 'config' in names:
      kwargs['config'] = self.config
    with tf.device('/cpu:0'):
      return input_fn(**kwargs)

  def _call_model_fn(self, features, labels, mode, config):
    names = fn_args(self._model_fn)
    kwargs = {}
    if 'labels' in names:
      kwargs['labels'] = labels
    elif labels is not None:
      raise _Error('model_fn does not take labels, but input_fn returns '
                   'labels.')
    if 'mode' in names:
      kwargs['mode'] = mode
    if 'params' in names:
      kwargs['params'] = self.params
    if 'config' in names:
      kwargs['config'] = config
    logging.info('Calling model_fn.')
    spec = self._model_fn(features=features, **kwargs)
    logging.info('Done calling model_fn.')
    if not isinstance(spec, model_fn_lib.EstimatorSpec):
      raise _Error('model_fn should return an EstimatorSpec.')
    return spec

  def _create_global_step(self, graph):
    step = _V1.train.create_global_step(graph)
    assert step is _V1.train.get_global_step(graph)
    assert step.dtype.base_dtype == tf.int64
    return step

  def _maybe_warm_start(self, checkpoint_path):
    if not checkpoint_path and self._warm_start_settings:
      logging.info('Warm-starting with WarmStartSettings: %s',
                   self._warm_start_settings)
      _V1.train.warm_start(*self._warm_start_settings)

  # Training.
  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    """Trains the model (TF 1.15 semantics).

    Args:
      input_fn: returns (features, labels), features, or a Dataset of them.
      hooks: extra SessionRunHooks.
      steps: train this many more steps (stops earlier on OutOfRange).
      max_steps: train until the global step reaches this; if a checkpoint
        is already there, log and return at once.
      saving_listeners: CheckpointSaverListeners of the checkpoint hook.

    Returns:
      self.

    Raises:
      ValueError: both steps and max_steps, non-positive values, listeners
        without periodic checkpoints.
    """
    if self._config.task_type in (run_config_lib.TaskType.EVALUATOR,
                                  run_config_lib.TaskType.PS):
      raise _Error(
          'Train has been called wrong configuration: task type '
          f'{self._config.task_type!r} does not train; use '
          'tf.estimator.train_and_evaluate, which calls the proper API for '
          'each task type.')
    if steps is not None and max_steps is not None:
      raise _Error('Can not provide both steps and max_steps.')
    if steps is not None and steps <= 0:
      raise _Error(f'Must specify steps > 0, given: {steps}')
    if max_steps is not None and max_steps <= 0:
      raise _Error(f'Must specify max_steps > 0, given: {max_steps}')
    if max_steps is not None:
      start_step = _load_global_step(self._model_dir)
      if max_steps <= start_step:
        logging.info('Skipping training since max_steps has already saved.')
        return self
    hooks = _check_hooks(hooks)
    if steps is not None or max_steps is not None:
      hooks.append(_V1.train.StopAtStepHook(num_steps=steps,
                                            last_step=max_steps))
    saving_listeners = _check_listeners(saving_listeners)
    loss = self._train_model(input_fn, hooks, saving_listeners)
    logging.info('Loss for final step: %s.', loss)
    return self

  def _train_model(self, input_fn, hooks, saving_listeners=None,
                   master=None, session_creator=None, is_chief=None,
                   steps=None, max_steps=None):
    """Builds the training graph and runs it; returns the last loss.

    Args:
      input_fn: the input_fn.
      hooks: SessionRunHooks.
      saving_listeners: CheckpointSaverListeners.
      master: the session target (default config.master).
      session_creator: a SessionCreator to use instead of the
        MonitoredTrainingSession's own (e.g. one with a longer wait), or a
        function scaffold -> SessionCreator, called with the model_fn's
        Scaffold once the graph is built.
      is_chief: overrides config.is_chief.
      steps: adds a StopAtStepHook(num_steps=steps).
      max_steps: adds a StopAtStepHook(last_step=max_steps).

    Returns:
      The loss of the last step run (None if no step ran).
    """
    hooks = list(hooks or [])
    if steps is not None or max_steps is not None:
      hooks.append(_V1.train.StopAtStepHook(num_steps=steps,
                                            last_step=max_steps))
    config = self._config
    master = config.master if master is None else master
    is_chief = config.is_chief if is_chief is None else is_chief
    with tf.Graph().as_default() as graph, graph.device(self._device_fn):
      _V1.set_random_seed(config.tf_random_seed)
      global_step = self._create_global_step(graph)
      features, labels, input_hooks = parse_input_fn_result(
          self._call_input_fn(input_fn, ModeKeys.TRAIN))
      spec = self._call_model_fn(features, labels, ModeKeys.TRAIN, config)
      if self._warm_start_settings:
        logging.info('Warm-starting with WarmStartSettings: %s',
                     self._warm_start_settings)
        _V1.train.warm_start(*self._warm_start_settings)
      if not any(s.op.name == 'loss'
                 for s in _V1.get_collection(_V1.GraphKeys.SUMMARIES)):
        _V1.summary.scalar('loss', spec.loss)
      _V1.add_to_collection(_V1.GraphKeys.LOSSES, spec.loss)
      worker_hooks = list(input_hooks) + list(hooks)
      worker_hooks.append(_V1.train.NanTensorHook(spec.loss))
      if config.log_step_count_steps:
        worker_hooks.append(_V1.train.LoggingTensorHook(
            {'loss': spec.loss, 'step': global_step},
            every_n_iter=config.log_step_count_steps))
      worker_hooks.extend(spec.training_hooks)
      if not (spec.scaffold.saver or
              _V1.get_collection(_V1.GraphKeys.SAVERS)):
        _V1.add_to_collection(_V1.GraphKeys.SAVERS, _V1.train.Saver(
            sharded=True, max_to_keep=config.keep_checkpoint_max,
            keep_checkpoint_every_n_hours=(
                config.keep_checkpoint_every_n_hours),
            defer_build=True, save_relative_paths=True))
      chief_hooks = []
      all_hooks = worker_hooks + list(spec.training_chief_hooks)
      saver_hooks = [h for h in all_hooks
                     if isinstance(h, _V1.train.CheckpointSaverHook)]
      if config.save_checkpoints_secs or config.save_checkpoints_steps:
        if not saver_hooks:
          chief_hooks = [_V1.train.CheckpointSaverHook(
              self._model_dir, save_secs=config.save_checkpoints_secs,
              save_steps=config.save_checkpoints_steps,
              scaffold=spec.scaffold)]
          saver_hooks = chief_hooks
      if saving_listeners:
        if not saver_hooks:
          raise _Error(
              'There should be a CheckpointSaverHook to use saving_listeners. '
              'Please set one of the RunConfig.save_checkpoints_steps or '
              'RunConfig.save_checkpoints_secs.')
        # pylint: disable=protected-access
        saver_hooks[0]._listeners.extend(saving_listeners)
      session_kwargs = dict(
          hooks=worker_hooks,
          chief_only_hooks=tuple(chief_hooks) + tuple(
              spec.training_chief_hooks),
          save_checkpoint_secs=0,  # The CheckpointSaverHook above saves.
          save_summaries_steps=config.save_summary_steps,
          config=self._session_config,
          max_wait_secs=config.session_creation_timeout_secs,
          log_step_count_steps=config.log_step_count_steps)
      if session_creator is not None:
        if not isinstance(session_creator, _V1.train.SessionCreator):
          session_creator = session_creator(spec.scaffold)
        session = _monitored_session_with_creator(
            session_creator, is_chief, self._model_dir, spec.scaffold,
            **session_kwargs)
      else:
        session = _V1.train.MonitoredTrainingSession(
            master=master, is_chief=is_chief,
            checkpoint_dir=self._model_dir, scaffold=spec.scaffold,
            **session_kwargs)
      loss = None
      any_step = False
      with session:
        while not session.should_stop():
          _, loss = session.run([spec.train_op, spec.loss])
          any_step = True
      if not any_step:
        logging.warning('Training with estimator made no steps. Perhaps input '
                        'is empty or misspecified.')
      return loss

  # Evaluation.
  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None,
               name=None):
    """Evaluates the model on input_fn's data (TF 1.15 semantics).

    Args:
      input_fn: returns (features, labels) or a Dataset; evaluation runs
        until it raises OutOfRange, or for `steps` batches.
      steps: the number of batches (None: until the input ends).
      hooks: extra SessionRunHooks.
      checkpoint_path: the checkpoint (default: the latest in model_dir;
        without one the variables are initialised, warm start applied).
      name: evaluations with different names go to different folders
        (`eval_<name>`).

    Returns:
      dict of the metrics, `loss` and `global_step`.
    """
    hooks = _check_hooks(hooks)
    if steps is not None:
      if steps <= 0:
        raise _Error(f'Must specify steps > 0, given: {steps}')
      hooks.append(_StopAfterNEvalsHook(steps))
    if not checkpoint_path:
      checkpoint_path = self.latest_checkpoint()
      if not checkpoint_path:
        logging.info('Could not find trained model in model_dir: %s, running '
                     'initialization to evaluate.', self._model_dir)
    return self._evaluate(input_fn, hooks, checkpoint_path, name)

  def _evaluate(self, input_fn, hooks, checkpoint_path, name=None,
                master=None, session_creator=None):
    """Builds the eval graph, runs it, writes and returns the metrics.

    Args:
      input_fn: the input_fn.
      hooks: SessionRunHooks (the step limit included).
      checkpoint_path: the checkpoint to restore, or None (initialise).
      name: the evaluation's name (its folder).
      master: the session target (default config.evaluation_master).
      session_creator: a SessionCreator to use instead of a
        ChiefSessionCreator restoring checkpoint_path, or a function
        scaffold -> SessionCreator.

    Returns:
      dict of the metrics, `loss` and `global_step`.
    """
    config = self._config
    master = config.evaluation_master if master is None else master
    with tf.Graph().as_default() as graph:
      _V1.set_random_seed(config.tf_random_seed)
      global_step = self._create_global_step(graph)
      features, labels, input_hooks = parse_input_fn_result(
          self._call_input_fn(input_fn, ModeKeys.EVAL))
      spec = self._call_model_fn(features, labels, ModeKeys.EVAL, config)
      self._maybe_warm_start(checkpoint_path)
      metric_ops = dict(spec.eval_metric_ops)
      if model_fn_lib.LOSS_METRIC_KEY in metric_ops:
        raise _Error(
            f'Metric with name "{model_fn_lib.LOSS_METRIC_KEY}" is not '
            'allowed, because Estimator already defines a default metric '
            'with the same name.')
      metric_ops[model_fn_lib.LOSS_METRIC_KEY] = _V1.metrics.mean(spec.loss)
      if _V1.GraphKeys.GLOBAL_STEP in metric_ops:
        raise _Error(
            f'Metric with name `{_V1.GraphKeys.GLOBAL_STEP}` is not allowed, '
            'because Estimator already defines a default metric with the '
            'same name.')
      update_ops = [update for _, update in metric_ops.values()]
      final_ops = {key: value for key, (value, _) in metric_ops.items()}
      final_ops[_V1.GraphKeys.GLOBAL_STEP] = global_step
      final_hook = _V1.train.FinalOpsHook(final_ops)
      all_hooks = (list(input_hooks) + list(hooks) +
                   list(spec.evaluation_hooks) + [final_hook])
      scaffold = spec.scaffold
      if scaffold.local_init_op is not None:
        # The model_fn's own local init op does not know the loss metric's
        # variables made above.
        scaffold = _V1.train.Scaffold(
            local_init_op=tf.group(
                scaffold.local_init_op,
                _V1.train.Scaffold.default_local_init_op()),
            copy_from_scaffold=scaffold)
      if session_creator is None:
        session_creator = _V1.train.ChiefSessionCreator(
            scaffold=scaffold, checkpoint_filename_with_path=checkpoint_path,
            master=master, config=self._session_config)
      elif not isinstance(session_creator, _V1.train.SessionCreator):
        session_creator = session_creator(scaffold)
      logging.info('Starting evaluation of %s', checkpoint_path)
      with _V1.train.MonitoredSession(session_creator=session_creator,
                                      hooks=all_hooks) as session:
        while not session.should_stop():
          session.run(update_ops)
      results = final_hook.final_ops_values
      step = int(results[_V1.GraphKeys.GLOBAL_STEP])
      results[_V1.GraphKeys.GLOBAL_STEP] = step
      logging.info('Finished evaluation at step %d', step)
      _write_dict_to_summary(self.eval_dir(name), results, step)
      if checkpoint_path:
        writer = _V1.summary.FileWriterCache.get(self.eval_dir(name))
        summary = _V1.Summary()
        summary.value.add(
            tag='checkpoint_path',
            metadata=_V1.SummaryMetadata(
                plugin_data=_V1.SummaryMetadata.PluginData(
                    plugin_name='text')),
            tensor=tf.make_tensor_proto(os.fspath(checkpoint_path).encode()))
        writer.add_summary(summary, step)
        writer.flush()
    return results

  # Prediction.
  def predict(self, input_fn, predict_keys=None, hooks=None,
              checkpoint_path=None, yield_single_examples=True):
    """Yields predictions (a generator; TF 1.15 semantics).

    Args:
      input_fn: returns features (labels are ignored) or a Dataset; ends at
        OutOfRange (an input without a queue or dataset never ends).
      predict_keys: the prediction keys to keep (dict predictions only).
      hooks: extra SessionRunHooks.
      checkpoint_path: the checkpoint (default the latest; without one the
        variables are initialised).
      yield_single_examples: one example at a time (default) or whole
        batches.

    Yields:
      A dict (dict predictions) or an array per example or batch.
    """
    hooks = _check_hooks(hooks)
    if not checkpoint_path:
      checkpoint_path = self.latest_checkpoint()
      if not checkpoint_path:
        logging.info('Could not find trained model in model_dir: %s, running '
                     'initialization to predict.', self._model_dir)
    with tf.Graph().as_default() as graph:
      _V1.set_random_seed(self._config.tf_random_seed)
      self._create_global_step(graph)
      features, _, input_hooks = parse_input_fn_result(
          self._call_input_fn(input_fn, ModeKeys.PREDICT))
      if not _has_input_source(graph):
        logging.warning('Input graph does not use tf.data.Dataset or contain '
                        'a QueueRunner. That means predict yields forever. '
                        'This is probably a mistake.')
      spec = self._call_model_fn(features, None, ModeKeys.PREDICT,
                                 self._config)
      self._maybe_warm_start(checkpoint_path)
      predictions = spec.predictions
      if predict_keys:
        if not isinstance(predictions, dict):
          raise _Error('predict_keys argument is not valid in case of '
                       'non-dict predictions.')
        existing = list(predictions)
        predictions = {k: v for k, v in predictions.items()
                       if k in predict_keys}
        if not predictions:
          raise _Error(f'Expected to run at least one output from '
                       f'{existing}, provided {predict_keys}.')
      all_hooks = list(input_hooks) + hooks + list(spec.prediction_hooks)
      with _V1.train.MonitoredSession(
          session_creator=_V1.train.ChiefSessionCreator(
              checkpoint_filename_with_path=checkpoint_path,
              master=self._config.master, scaffold=spec.scaffold,
              config=self._session_config),
          hooks=all_hooks) as session:
        while not session.should_stop():
          values = session.run(predictions)
          if not yield_single_examples:
            yield values
          elif not isinstance(predictions, dict):
            for value in values:
              yield value
          else:
            for i in range(_batch_length(values)):
              yield {key: value[i] for key, value in values.items()}

  # Export.
  def export_saved_model(self, export_dir_base, serving_input_receiver_fn,
                         assets_extra=None, as_text=False,
                         checkpoint_path=None):
    """Exports the PREDICT graph and a checkpoint's variables as a SavedModel.

    Args:
      export_dir_base: the folder under which `<timestamp>/` is created.
      serving_input_receiver_fn: returns a ServingInputReceiver (or
        TensorServingInputReceiver).
      assets_extra: dict destination (relative to `assets.extra/`) ->
        source file to copy in.
      as_text: write saved_model.pbtxt instead of saved_model.pb.
      checkpoint_path: the checkpoint (default: the latest).

    Returns:
      The export folder (bytes, as TF 1.15 returns it).

    Raises:
      ValueError: no serving_input_receiver_fn, no checkpoint, or variables
        the checkpoint lacks.
    """
    if not serving_input_receiver_fn:
      raise _Error('An input_receiver_fn must be defined.')
    if not checkpoint_path:
      checkpoint_path = self.latest_checkpoint()
    if not checkpoint_path:
      raise _Error(f"Couldn't find trained model at {self._model_dir}.")
    export_dir = export_lib.get_timestamped_export_dir(export_dir_base)
    temp_dir = export_lib.get_temp_export_dir(export_dir)
    builder = _V1.saved_model.Builder(temp_dir)
    self._add_predict_meta_graph(builder, serving_input_receiver_fn,
                                 checkpoint_path)
    builder.save(as_text)
    if assets_extra:
      extra_dir = os.path.join(temp_dir, 'assets.extra')
      for destination, source in assets_extra.items():
        target = os.path.join(extra_dir, destination)
        tf.io.gfile.makedirs(os.path.dirname(target))
        tf.io.gfile.copy(source, target)
    tf.io.gfile.rename(temp_dir, export_dir)
    logging.info('SavedModel written to: %s', export_dir)
    return export_dir.encode()

  def export_savedmodel(self, export_dir_base, serving_input_receiver_fn,
                        assets_extra=None, as_text=False,
                        checkpoint_path=None, strip_default_attrs=False):
    """TF 1.x name of `export_saved_model` (default attrs always stripped)."""
    del strip_default_attrs
    return self.export_saved_model(
        export_dir_base, serving_input_receiver_fn, assets_extra=assets_extra,
        as_text=as_text, checkpoint_path=checkpoint_path)

  def _add_predict_meta_graph(self, builder, serving_input_receiver_fn,
                              checkpoint_path):
    with tf.Graph().as_default() as graph:
      self._create_global_step(graph)
      _V1.set_random_seed(self._config.tf_random_seed)
      receiver = serving_input_receiver_fn()
      spec = self._call_model_fn(receiver.features,
                                 getattr(receiver, 'labels', None),
                                 ModeKeys.PREDICT, self.config)
      signatures = export_lib.build_all_signature_defs(
          receiver.receiver_tensors, spec.export_outputs,
          getattr(receiver, 'receiver_tensors_alternatives', None))
      with _V1.Session(config=self._session_config) as session:
        local_init_op = (spec.scaffold.local_init_op if
                         spec.scaffold.local_init_op is not None else
                         _V1.train.Scaffold.default_local_init_op())
        saver = spec.scaffold.saver or _V1.train.Saver(sharded=True)
        try:
          saver.restore(session, checkpoint_path)
        except tf.errors.NotFoundError as e:
          first_line = str(e.message).strip().splitlines()[0]
          raise _Error(
              f'Could not load all requested variables from checkpoint '
              f'{checkpoint_path} (mode {ModeKeys.PREDICT}): make sure the '
              f'model_fn expects only variables it saved: {first_line}'
          ) from None
        builder.add_meta_graph_and_variables(
            session, [tf.saved_model.SERVING],
            signature_def_map=signatures,
            assets_collection=_V1.get_collection(
                _V1.GraphKeys.ASSET_FILEPATHS),
            main_op=local_init_op, saver=saver, strip_default_attrs=True)


def _monitored_session_with_creator(session_creator, is_chief, checkpoint_dir,
                                    scaffold, hooks, chief_only_hooks,
                                    save_checkpoint_secs, save_summaries_steps,
                                    config, max_wait_secs,
                                    log_step_count_steps):
  """A MonitoredSession like MonitoredTrainingSession's, with a given creator.

  The chief gets the same summary and step-counter hooks as
  MonitoredTrainingSession gives it; the creator decides how the session
  is made (its master, restore and waiting).
  """
  del save_checkpoint_secs, config, max_wait_secs
  all_hooks = list(hooks)
  if is_chief:
    all_hooks.extend(chief_only_hooks)
    if checkpoint_dir:
      if log_step_count_steps and log_step_count_steps > 0:
        all_hooks.append(_V1.train.StepCounterHook(
            output_dir=checkpoint_dir, every_n_steps=log_step_count_steps))
      if save_summaries_steps and save_summaries_steps > 0:
        all_hooks.append(_V1.train.SummarySaverHook(
            scaffold=scaffold, save_steps=save_summaries_steps,
            output_dir=checkpoint_dir))
  return _V1.train.MonitoredSession(session_creator=session_creator,
                                    hooks=all_hooks)
