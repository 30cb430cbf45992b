"""`tf.estimator.RunConfig`: where and how an Estimator runs (TF 1.15 names).

`RunConfig` holds the run's directory, seed, save and log intervals, the
session config and the cluster. The cluster comes from the `TF_CONFIG`
environment variable, read when the config is made, as TF 1.15 does:

    {"cluster": {"chief": ["h0:2222"], "worker": ["h1:2222"],
                 "ps": ["h2:2222"]},
     "task": {"type": "worker", "index": 0}}

* no `cluster`: a local run (`task_type` 'worker', `task_id` 0, chief, one
  worker, no ps, `master` '');
* a cluster: it must have exactly one `chief` task (or, the older layout, a
  `master` task); `master` is `grpc://<address of this task>` (`''` for a
  one-task cluster; TF_CONFIG's `session_master` if given), `is_chief` is
  true for the chief (master) task only, `num_worker_replicas` counts chief
  and workers, `num_ps_replicas` the ps tasks, and `global_id_in_cluster`
  numbers the chief first, then the other jobs in name order, the ps tasks
  last;
* an `evaluator` task is outside the training cluster: empty
  `cluster_spec`, no replicas, not chief, `global_id_in_cluster` None,
  `evaluation_master` from TF_CONFIG's `eval_session_master` (a key only an
  evaluator may have);
* TF_CONFIG's `model_dir`, if any, is the run's folder (a different
  `model_dir` argument is an error).
"""

import copy
import inspect
import json
import os

from absl import logging
import tensorflow as tf

from tf1cnn.compat.estimator import errors

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

_V1 = tf.compat.v1

_USE_DEFAULT = object()
_DEFAULT_CHECKPOINT_SECS = 600
_LOCAL_MASTER = ''
_GRPC_SCHEME = 'grpc://'

_REPLACEABLE = frozenset([
    'model_dir', 'tf_random_seed', 'save_summary_steps',
    'save_checkpoints_steps', 'save_checkpoints_secs', 'session_config',
    'keep_checkpoint_max', 'keep_checkpoint_every_n_hours',
    'log_step_count_steps', 'train_distribute', 'device_fn', 'protocol',
    'eval_distribute', 'experimental_distribute',
    'experimental_max_worker_delay_secs', 'session_creation_timeout_secs',
])


class TaskType(object):
  """The job names of a TF_CONFIG cluster."""
  MASTER = 'master'
  PS = 'ps'
  WORKER = 'worker'
  CHIEF = 'chief'
  EVALUATOR = 'evaluator'


def _arg_names(fn):
  try:
    return list(inspect.signature(fn).parameters)
  except (TypeError, ValueError):
    return None


def _tf_config():
  text = os.environ.get('TF_CONFIG', '')
  if not text:
    return {}
  try:
    value = json.loads(text)
  except ValueError as e:
    raise _Error(f'TF_CONFIG is not valid JSON: {e}') from None
  if not isinstance(value, dict):
    raise _Error('TF_CONFIG must be a JSON object, given: %r' % text)
  return value


def _check(name, value, valid, requirement):
  if value is not None and not valid(value):
    raise _Error(f'{name} {requirement}, given: {value!r}')


def _task_of(cluster_spec, task_env, chief_job):
  """Checks the `task` part of TF_CONFIG against the cluster."""
  if chief_job not in cluster_spec.jobs:
    raise _Error(f'If "cluster" is set in TF_CONFIG, it must have one '
                 f'"{chief_job}" node.')
  if len(cluster_spec.job_tasks(chief_job)) > 1:
    raise _Error(f'The "cluster" in TF_CONFIG must have only one '
                 f'"{chief_job}" node.')
  task_type = task_env.get('type')
  task_id = task_env.get('index')
  if not task_type:
    raise _Error('If "cluster" is set in TF_CONFIG, task type must be set.')
  if task_id is None:
    raise _Error('If "cluster" is set in TF_CONFIG, task index must be set.')
  task_id = int(task_id)
  if task_id < 0:
    raise _Error('Task index must be non-negative number.')
  if task_type == TaskType.EVALUATOR:
    return task_type, task_id  # Not part of the training cluster.
  if task_type not in cluster_spec.jobs:
    raise _Error(f'{task_type} is not a valid task_type in the cluster_spec '
                 f'{cluster_spec.as_dict()} (from TF_CONFIG).')
  if task_id >= len(cluster_spec.job_tasks(task_type)):
    raise _Error(f'{task_id} is not a valid task_id for task_type '
                 f'{task_type} in the cluster_spec {cluster_spec.as_dict()} '
                 '(from TF_CONFIG).')
  return task_type, task_id


def _model_dir_from(tf_config, model_dir):
  """RunConfig's model_dir, or TF_CONFIG's "model_dir" (they must agree)."""
  in_tf_config = tf_config.get('model_dir')
  if in_tf_config is not None:
    if model_dir is not None and os.fspath(model_dir) != in_tf_config:
      raise _Error('`model_dir` provided in RunConfig construct, if set, must '
                   'have the same value as the model_dir in TF_CONFIG. '
                   f'model_dir: {model_dir}; TF_CONFIG["model_dir"]: '
                   f'{in_tf_config}.')
    logging.info('Using model_dir in TF_CONFIG: %s', in_tf_config)
  return model_dir or in_tf_config


def _global_id(cluster_spec, task_type, task_id, chief_job):
  order = [chief_job] + sorted(
      j for j in cluster_spec.jobs if j not in (chief_job, TaskType.PS))
  if TaskType.PS in cluster_spec.jobs:
    order.append(TaskType.PS)
  next_id = 0
  for job in order:
    if job == task_type:
      return next_id + task_id
    next_id += len(cluster_spec.job_tasks(job))
  raise RuntimeError(f'Task type {task_type} is not in the cluster.')


class RunConfig(object):
  """The run configuration of an Estimator (TF 1.15's `tf.estimator.RunConfig`).

  Attributes are read-only; `replace` makes a modified copy.
  """

  def __init__(self,
               model_dir=None,
               tf_random_seed=None,
               save_summary_steps=100,
               save_checkpoints_steps=_USE_DEFAULT,
               save_checkpoints_secs=_USE_DEFAULT,
               session_config=None,
               keep_checkpoint_max=5,
               keep_checkpoint_every_n_hours=10000,
               log_step_count_steps=100,
               train_distribute=None,
               device_fn=None,
               protocol=None,
               eval_distribute=None,
               experimental_distribute=None,
               experimental_max_worker_delay_secs=None,
               session_creation_timeout_secs=7200):
    """Makes a RunConfig.

    Args:
      model_dir: where checkpoints, summaries and evaluations go.
      tf_random_seed: the graph-level random seed.
      save_summary_steps: summaries every this many steps (None or 0: off).
      save_checkpoints_steps: checkpoint every this many steps.
      save_checkpoints_secs: checkpoint every this many seconds; 600 when
        neither this nor save_checkpoints_steps is given. Both None: no
        periodic checkpoints. Both set: an error.
      session_config: a `tf.compat.v1.ConfigProto` for the sessions.
      keep_checkpoint_max: checkpoints kept (Saver's max_to_keep).
      keep_checkpoint_every_n_hours: Saver's keep_checkpoint_every_n_hours.
      log_step_count_steps: loss log line and global_step/sec every this
        many steps (None: off).
      train_distribute: must be None (distribution strategies are left out).
      device_fn: a function op -> device, used in place of the default
        device function (replica_device_setter in a ps cluster).
      protocol: the server protocol (e.g. 'grpc'); kept for reference.
      eval_distribute: must be None.
      experimental_distribute: must be None.
      experimental_max_worker_delay_secs: the most a non-chief worker waits
        before it starts (read by train_and_evaluate).
      session_creation_timeout_secs: how long a worker waits for the chief's
        session.

    Raises:
      ValueError: both checkpoint intervals set, negative values, a bad
        TF_CONFIG or a distribution strategy.
    """
    tf_config = _tf_config()
    self._set_run(
        model_dir=_model_dir_from(tf_config, model_dir),
        tf_random_seed=tf_random_seed,
        save_summary_steps=save_summary_steps,
        save_checkpoints_steps=save_checkpoints_steps,
        save_checkpoints_secs=save_checkpoints_secs,
        session_config=session_config,
        keep_checkpoint_max=keep_checkpoint_max,
        keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
        log_step_count_steps=log_step_count_steps,
        train_distribute=train_distribute,
        device_fn=device_fn,
        protocol=protocol,
        eval_distribute=eval_distribute,
        experimental_distribute=experimental_distribute,
        experimental_max_worker_delay_secs=experimental_max_worker_delay_secs,
        session_creation_timeout_secs=session_creation_timeout_secs)
    self._init_cluster(tf_config)

  def _set_run(self,
               model_dir=None,
               tf_random_seed=None,
               save_summary_steps=100,
               save_checkpoints_steps=_USE_DEFAULT,
               save_checkpoints_secs=_USE_DEFAULT,
               session_config=None,
               keep_checkpoint_max=5,
               keep_checkpoint_every_n_hours=10000,
               log_step_count_steps=100,
               train_distribute=None,
               device_fn=None,
               protocol=None,
               eval_distribute=None,
               experimental_distribute=None,
               experimental_max_worker_delay_secs=None,
               session_creation_timeout_secs=7200):
    """Checks and stores the run properties (the constructor's arguments)."""
    if (save_checkpoints_steps not in (None, _USE_DEFAULT) and
        save_checkpoints_secs not in (None, _USE_DEFAULT)):
      raise _Error('Can not provide both save_checkpoints_steps and '
                   'save_checkpoints_secs.')
    if save_checkpoints_steps is _USE_DEFAULT:
      save_checkpoints_steps = None
      if save_checkpoints_secs is _USE_DEFAULT:
        save_checkpoints_secs = _DEFAULT_CHECKPOINT_SECS
    if save_checkpoints_secs is _USE_DEFAULT:
      save_checkpoints_secs = None
    for name, strategy in (('train_distribute', train_distribute),
                           ('eval_distribute', eval_distribute),
                           ('experimental_distribute',
                            experimental_distribute)):
      if strategy is not None:
        raise _Error(
            f'RunConfig({name}=...) is not supported: distribution '
            'strategies are left out of tf1cnn.compat.estimator; use a '
            'TF_CONFIG cluster with ps tasks instead')
    at_least_0 = lambda v: v >= 0
    above_0 = lambda v: v > 0
    _check('save_summary_steps', save_summary_steps, at_least_0,
           'should be >= 0')
    _check('save_checkpoints_steps', save_checkpoints_steps, at_least_0,
           'should be >= 0')
    _check('save_checkpoints_secs', save_checkpoints_secs, at_least_0,
           'should be >= 0')
    _check('session_config', session_config,
           lambda c: isinstance(c, _V1.ConfigProto),
           'must be instance of ConfigProto')
    _check('keep_checkpoint_max', keep_checkpoint_max, at_least_0,
           'should be >= 0')
    _check('keep_checkpoint_every_n_hours', keep_checkpoint_every_n_hours,
           above_0, 'should be > 0')
    _check('log_step_count_steps', log_step_count_steps, above_0,
           'should be > 0')
    _check('tf_random_seed', tf_random_seed,
           lambda s: isinstance(s, int) and not isinstance(s, bool),
           'must be integer')
    _check('device_fn', device_fn,
           lambda f: callable(f) and _arg_names(f) == ['op'],
           'must be callable with exactly one argument "op"')
    _check('experimental_max_worker_delay_secs',
           experimental_max_worker_delay_secs,
           lambda v: isinstance(v, int) and v >= 0,
           'must be a non-negative integer')
    _check('session_creation_timeout_secs', session_creation_timeout_secs,
           above_0, 'should be > 0')
    if model_dir is not None:
      model_dir = os.fspath(model_dir)
      if not model_dir:
        raise _Error('model_dir should be non-empty.')

    self._model_dir = model_dir
    self._tf_random_seed = tf_random_seed
    self._save_summary_steps = save_summary_steps
    self._save_checkpoints_steps = save_checkpoints_steps
    self._save_checkpoints_secs = save_checkpoints_secs
    self._session_config = session_config
    self._keep_checkpoint_max = keep_checkpoint_max
    self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
    self._log_step_count_steps = log_step_count_steps
    self._train_distribute = None
    self._eval_distribute = None
    self._experimental_distribute = None
    self._device_fn = device_fn
    self._protocol = protocol
    self._experimental_max_worker_delay_secs = (
        experimental_max_worker_delay_secs)
    self._session_creation_timeout_secs = session_creation_timeout_secs

  def _init_cluster(self, tf_config):
    """Sets the cluster attributes from a parsed TF_CONFIG."""
    self._service = tf_config.get('service')
    cluster = tf_config.get('cluster') or {}
    task_env = tf_config.get('task') or {}
    self._cluster_spec = _V1.train.ClusterSpec(cluster)
    jobs = self._cluster_spec.jobs
    if not jobs:
      self._task_type = task_env.get('type', TaskType.WORKER)
      self._task_id = int(task_env.get('index', 0))
      if self._task_type != TaskType.WORKER:
        raise _Error('If "cluster" is not set in TF_CONFIG, task type '
                     'must be WORKER.')
      if self._task_id != 0:
        raise _Error('If "cluster" is not set in TF_CONFIG, task index '
                     'must be 0.')
      self._master = tf_config.get('session_master', _LOCAL_MASTER)
      self._evaluation_master = tf_config.get('eval_session_master',
                                              _LOCAL_MASTER)
      self._is_chief = True
      self._num_ps_replicas = 0
      self._num_worker_replicas = 1
      self._global_id_in_cluster = 0
      return
    chief_job = (TaskType.MASTER if TaskType.MASTER in jobs
                 else TaskType.CHIEF)
    self._task_type, self._task_id = _task_of(self._cluster_spec, task_env,
                                              chief_job)
    if self._task_type == TaskType.EVALUATOR:
      self._evaluation_master = tf_config.get('eval_session_master',
                                              _LOCAL_MASTER)
    elif 'eval_session_master' in tf_config:
      raise _Error('Key (eval_session_master) should not be set for task '
                   f'type other than evaluator. Task type: {self._task_type}')
    else:
      self._evaluation_master = _LOCAL_MASTER
    if self._task_type == TaskType.EVALUATOR:
      self._cluster_spec = _V1.train.ClusterSpec({})
      self._master = _LOCAL_MASTER
      self._num_ps_replicas = 0
      self._num_worker_replicas = 0
      self._global_id_in_cluster = None
      self._is_chief = False
      return
    if 'session_master' in tf_config:
      self._master = tf_config['session_master']
    elif len(jobs) == 1 and len(self._cluster_spec.job_tasks(jobs[0])) == 1:
      self._master = _LOCAL_MASTER  # A one-task cluster runs in-process.
    else:
      address = self._cluster_spec.task_address(self._task_type,
                                                self._task_id)
      self._master = _GRPC_SCHEME + address
    self._num_ps_replicas = (len(self._cluster_spec.job_tasks(TaskType.PS))
                             if TaskType.PS in jobs else 0)
    self._num_worker_replicas = sum(
        len(self._cluster_spec.job_tasks(job))
        for job in (chief_job, TaskType.WORKER) if job in jobs)
    self._global_id_in_cluster = _global_id(self._cluster_spec,
                                            self._task_type, self._task_id,
                                            chief_job)
    self._is_chief = self._task_type == chief_job

  # Cluster.
  @property
  def cluster_spec(self):
    return self._cluster_spec

  @property
  def task_type(self):
    return self._task_type

  @property
  def task_id(self):
    return self._task_id

  @property
  def is_chief(self):
    return self._is_chief

  @property
  def master(self):
    return self._master

  @property
  def evaluation_master(self):
    return self._evaluation_master

  @property
  def num_ps_replicas(self):
    return self._num_ps_replicas

  @property
  def num_worker_replicas(self):
    return self._num_worker_replicas

  @property
  def global_id_in_cluster(self):
    return self._global_id_in_cluster

  @property
  def service(self):
    return self._service

  # Run.
  @property
  def model_dir(self):
    return self._model_dir

  @property
  def tf_random_seed(self):
    return self._tf_random_seed

  @property
  def save_summary_steps(self):
    return self._save_summary_steps

  @property
  def save_checkpoints_steps(self):
    return self._save_checkpoints_steps

  @property
  def save_checkpoints_secs(self):
    return self._save_checkpoints_secs

  @property
  def session_config(self):
    return self._session_config

  @property
  def keep_checkpoint_max(self):
    return self._keep_checkpoint_max

  @property
  def keep_checkpoint_every_n_hours(self):
    return self._keep_checkpoint_every_n_hours

  @property
  def log_step_count_steps(self):
    return self._log_step_count_steps

  @property
  def train_distribute(self):
    return self._train_distribute

  @property
  def eval_distribute(self):
    return self._eval_distribute

  @property
  def experimental_distribute(self):
    return self._experimental_distribute

  @property
  def device_fn(self):
    return self._device_fn

  @property
  def protocol(self):
    return self._protocol

  @property
  def experimental_max_worker_delay_secs(self):
    return self._experimental_max_worker_delay_secs

  @property
  def session_creation_timeout_secs(self):
    return self._session_creation_timeout_secs

  def replace(self, **kwargs):
    """Returns a copy with the given run properties changed.

    Only the constructor's arguments may be replaced; the cluster attributes
    keep the values read from TF_CONFIG when this config was made.

    Raises:
      ValueError: an unknown property, or a combination the constructor
        refuses (e.g. both checkpoint intervals).
    """
    unknown = sorted(set(kwargs) - _REPLACEABLE)
    if unknown:
      raise _Error(f'{", ".join(unknown)} property is not allowed in '
                   'replace.')
    values = {name: getattr(self, '_' + name) for name in _REPLACEABLE}
    if 'save_checkpoints_steps' in kwargs and kwargs[
        'save_checkpoints_steps'] is not None and (
            'save_checkpoints_secs' not in kwargs):
      values['save_checkpoints_secs'] = None
    if 'save_checkpoints_secs' in kwargs and kwargs[
        'save_checkpoints_secs'] is not None and (
            'save_checkpoints_steps' not in kwargs):
      values['save_checkpoints_steps'] = None
    values.update(kwargs)
    new = copy.copy(self)
    new._set_run(**values)  # pylint: disable=protected-access
    return new

  def __repr__(self):
    fields = ', '.join(f'{name[1:]}={value!r}'
                       for name, value in sorted(vars(self).items()))
    return f'RunConfig({fields})'
