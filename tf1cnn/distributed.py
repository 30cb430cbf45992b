"""Multi-machine training on TF's own runtime (between-graph replication).

Parameter-server and worker processes share a `tf.train.ClusterSpec`
(`--ps_hosts`, `--worker_hosts`, `--job_name`, `--task_index`). Each worker
builds the whole training graph under
`tf.compat.v1.train.replica_device_setter`, so variables live on the
parameter servers, and trains asynchronously through
`MonitoredTrainingSession(master=server.target, is_chief=task_index == 0)`;
only the chief writes checkpoints and summaries. A `ps` task serves until it
is stopped; a worker's `start_task` returns its `Placement` (cluster, server,
chief or not), which training carries on its `RunSpec`. `TF_CONFIG` (the
JSON of Kubernetes operators and TF's own launchers) may name the cluster
instead of the flags (`resolve_cluster`).
With `--sync_replicas` the optimizer is a `SyncReplicasOptimizer` (TF-Slim's
train_image_classifier semantics): each step averages
`--replicas_to_aggregate` gradients (default: one per worker), the chief's
queue runner applies them and then the weights' moving averages.

Faults: a worker watches its parameter servers (`watch_cluster`): one that
does not accept connections for `--cluster_timeout_secs` ends the worker
with one line naming its address (TensorFlow itself would wait forever,
reconnecting). A restarted chief whose parameter servers still hold the model
first saves that live state (`checkpoint_live_state`), so the steps the other
workers made while it was away are kept; in a cluster the chief checkpoints
at least every `CLUSTER_CHECKPOINT_SECS`.

Device names are written like TensorFlow's: `/cpu:0`, `/gpu:1`,
`/job:worker/task:0/gpu:0`. The towers of several devices in one process are
`tf1cnn.towers`; their names stay importable from here for one release.
"""

import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
import time
import weakref
from typing import List, Optional

import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import runtime
# Re-exported for one release: these moved to tf1cnn.towers.
from tf1cnn.towers import add_cpu_devices  # pylint: disable=unused-import
from tf1cnn.towers import average_gradients  # pylint: disable=unused-import
from tf1cnn.towers import build_towers  # pylint: disable=unused-import
from tf1cnn.towers import check_gpus_visible  # pylint: disable=unused-import
from tf1cnn.towers import parse_devices  # pylint: disable=unused-import
from tf1cnn.towers import split_evenly  # pylint: disable=unused-import
from tf1cnn.towers import TowerOutputs  # pylint: disable=unused-import

_V1 = tf.compat.v1


CLUSTER_CHECKPOINT_SECS = 60  # the chief's longest checkpoint interval
TF_CONFIG = 'TF_CONFIG'


@dataclasses.dataclass
class ClusterConfig:
  """A task's place in a cluster (`--ps_hosts`, `--worker_hosts`, ...).

  Attributes:
    ps_hosts: the parameter servers, `host:port` each.
    worker_hosts: the workers; worker 0 is the chief.
    job_name: `ps` or `worker`.
    task_index: this task's index in its job.
    sync_replicas: synchronous training (`SyncReplicasOptimizer`).
    replicas_to_aggregate: gradients averaged per synchronous step (0: one
      per worker).
    timeout_secs: how long a worker waits for an unreachable ps.
  """
  ps_hosts: List[str]
  worker_hosts: List[str]
  job_name: str
  task_index: int
  sync_replicas: bool = False
  replicas_to_aggregate: int = 0
  timeout_secs: int = 60

  @property
  def is_chief(self):
    return self.job_name == 'worker' and self.task_index == 0

  @property
  def aggregate(self):
    """Gradients per synchronous step (`--replicas_to_aggregate`)."""
    return self.replicas_to_aggregate or len(self.worker_hosts)

  @property
  def address(self):
    """This task's `host:port`."""
    hosts = self.ps_hosts if self.job_name == 'ps' else self.worker_hosts
    return hosts[self.task_index]


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where a training process runs: alone, or as a worker of a cluster.

  Attributes:
    cluster: the task's ClusterConfig; None for a local run.
    server: the task's running `tf.distribute.Server` (None when local, or
      for a graph built without one).
  """
  cluster: Optional[ClusterConfig] = None
  server: Optional[tf.distribute.Server] = None

  @property
  def is_chief(self):
    """A local run, or worker 0: it writes the checkpoints and summaries."""
    return self.cluster is None or self.cluster.is_chief

  @property
  def master(self):
    """The session target: the server's, '' in process."""
    return self.server.target if self.server is not None else ''

  @property
  def input_device(self):
    """The device of the input pipeline: this task's CPU."""
    if self.cluster is None:
      return '/cpu:0'
    return f'/job:worker/task:{self.cluster.task_index}/cpu:0'

  def device_setter(self):
    """`worker_device_setter` of a cluster task; None when local."""
    return worker_device_setter(self.cluster) if self.cluster else None


def _host_list(value):
  return [h.strip() for h in (value or '').split(',') if h.strip()]


def cluster_config(ps_hosts, worker_hosts, job_name, task_index):
  """Validates the cluster flags; returns a ClusterConfig or None (local).

  Raises:
    UserInputError: naming the flag that is wrong.
  """
  ps = _host_list(ps_hosts)
  workers = _host_list(worker_hosts)
  if not ps and not workers and not job_name:
    return None
  if not workers:
    raise runtime.UserInputError('--worker_hosts is empty (host:port list)')
  if not ps:
    raise runtime.UserInputError('--ps_hosts is empty (host:port list)')
  for host in ps + workers:
    if ':' not in host:
      raise runtime.UserInputError(f'cluster host {host!r} has no :port')
  if job_name not in ('ps', 'worker'):
    raise runtime.UserInputError(f'--job_name={job_name!r}: use ps or worker')
  size = len(ps) if job_name == 'ps' else len(workers)
  if not 0 <= task_index < size:
    raise runtime.UserInputError(
        f'--task_index={task_index} but --{job_name}_hosts lists {size} '
        'task(s)')
  return ClusterConfig(ps, workers, job_name, task_index)


def parse_tf_config(text):
  """The cluster of a `TF_CONFIG` JSON string, in the flags' terms.

  `{"cluster": {"ps": [...], "worker": [...], "chief": [h]?},
  "task": {"type": "worker", "index": 1}}`. A `chief` job becomes worker 0
  and the `worker` tasks follow it (worker i is then worker i + 1).

  Returns:
    A dict with `ps_hosts`, `worker_hosts` (comma-separated), `job_name`,
    `task_index`.

  Raises:
    UserInputError: one line naming TF_CONFIG and what is wrong.
  """
  def bad(what):
    return runtime.UserInputError(f'{TF_CONFIG} {what}')
  try:
    value = json.loads(text)
  except ValueError as e:
    raise bad(f'is not JSON ({e})') from None
  if not isinstance(value, dict):
    raise bad('is not a JSON object')
  cluster, task = value.get('cluster'), value.get('task')
  if not isinstance(cluster, dict) or not cluster:
    raise bad('has no "cluster" object ({"ps": [...], "worker": [...]})')
  jobs = {}
  for job, hosts in cluster.items():
    if job not in ('ps', 'worker', 'chief'):
      raise bad(f'cluster job {job!r} is not supported (use ps, worker, '
                'chief)')
    if (not isinstance(hosts, list) or
        not all(isinstance(h, str) and ':' in h for h in hosts)):
      raise bad(f'cluster.{job} must be a list of "host:port" strings')
    jobs[job] = hosts
  if len(jobs.get('chief', [])) > 1:
    raise bad('cluster.chief lists more than one task')
  workers = jobs.get('chief', []) + jobs.get('worker', [])
  if not jobs.get('ps') or not workers:
    raise bad('needs cluster.ps and cluster.worker (or cluster.chief) hosts')
  if not isinstance(task, dict):
    raise bad('has no "task" object ({"type": "worker", "index": 0})')
  kind, index = task.get('type'), task.get('index', 0)
  if kind not in jobs:
    raise bad(f'task.type {kind!r} is not a job of its cluster '
              f'({", ".join(sorted(jobs))})')
  if (not isinstance(index, int) or isinstance(index, bool) or
      not 0 <= index < len(jobs[kind])):
    raise bad(f'task.index {index!r} is not in cluster.{kind} '
              f'({len(jobs[kind])} task(s))')
  if kind == 'chief':
    kind = 'worker'
  elif kind == 'worker' and 'chief' in jobs:
    index += 1
  return dict(ps_hosts=','.join(jobs['ps']), worker_hosts=','.join(workers),
              job_name=kind, task_index=index)


def resolve_cluster(config, environ=None):
  """The task's cluster from the flags, or from `TF_CONFIG`, or None.

  The flags may repeat what `TF_CONFIG` says; a flag that says otherwise is
  an error (which one was meant cannot be guessed). `--task_index` counts
  as given with `--job_name`.

  Args:
    config: a TrainingConfig.
    environ: the environment (default `os.environ`).

  Raises:
    UserInputError: naming the flag or TF_CONFIG.
  """
  environ = os.environ if environ is None else environ
  values = dict(ps_hosts=config.ps_hosts, worker_hosts=config.worker_hosts,
                job_name=config.job_name, task_index=config.task_index)
  text = (environ.get(TF_CONFIG) or '').strip()
  if text:
    from_env = parse_tf_config(text)
    for name in ('ps_hosts', 'worker_hosts', 'job_name', 'task_index'):
      given = values[name]
      if name == 'task_index' and not config.job_name:
        given = None
      elif name in ('ps_hosts', 'worker_hosts'):
        given = ','.join(_host_list(given)) or None
      if given in (None, ''):
        values[name] = from_env[name]
      elif given != from_env[name]:
        raise runtime.UserInputError(
            f'--{name}={given} but {TF_CONFIG} says {from_env[name]}: give '
            'the cluster once (flags or TF_CONFIG)')
  cluster = cluster_config(**values)
  if cluster is None:
    if config.sync_replicas:
      raise runtime.UserInputError(
          '--sync_replicas needs a cluster (--ps_hosts, --worker_hosts, '
          f'--job_name, --task_index or {TF_CONFIG}); one process trains '
          'synchronously anyway')
    return None
  cluster.sync_replicas = bool(config.sync_replicas)
  cluster.replicas_to_aggregate = config.replicas_to_aggregate
  cluster.timeout_secs = config.cluster_timeout_secs
  if config.replicas_to_aggregate and not config.sync_replicas:
    raise runtime.UserInputError(
        f'--replicas_to_aggregate={config.replicas_to_aggregate} needs '
        '--sync_replicas')
  if cluster.sync_replicas and config.precision == 'fp16':
    raise runtime.UserInputError(
        '--sync_replicas with --precision=fp16 is not supported (the loss '
        'scale would be updated by every replica): use fp32 or bf16')
  return cluster


def restrict_to_own_tasks(session_config, cluster):
  """Device filters: a worker talks only to the ps tasks and itself.

  Without them a worker's session waits for every task of the cluster, so one
  finished or failed worker would block the others' sessions forever.
  """
  if cluster is not None and cluster.job_name == 'worker':
    del session_config.device_filters[:]
    session_config.device_filters.extend(
        ['/job:ps', f'/job:worker/task:{cluster.task_index}'])
  return session_config


def _port_in_use(address):
  """Whether `host:port`'s port cannot be bound here (someone listens)."""
  port = int(address.rsplit(':', 1)[1])
  with socket.socket() as probe:
    # A port left in TIME_WAIT by a stopped task is free to serve again.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      probe.bind(('', port))
    except OSError:
      return True
  return False


def start_server(cluster, config=None):
  """Starts this task's `tf.compat.v1.train.Server`.

  Raises:
    UserInputError: the task's port is in use, or the server fails to start;
      naming the address.
  """
  spec = tf.train.ClusterSpec({'ps': cluster.ps_hosts,
                               'worker': cluster.worker_hosts})
  what = f'{cluster.job_name}{cluster.task_index} at {cluster.address}'
  if _port_in_use(cluster.address):
    raise runtime.UserInputError(
        f'cannot start {what}: its port is in use (another task or program '
        'listens there; stop it or choose another port)')
  try:
    return _V1.train.Server(spec, job_name=cluster.job_name,
                            task_index=cluster.task_index,
                            config=config or runtime.session_config())
  except (tf.errors.OpError, ValueError) as e:
    message = getattr(e, 'message', str(e)).strip().splitlines()[0]
    raise runtime.UserInputError(f'cannot start {what}: {message}') from None


def worker_device_setter(cluster):
  """`replica_device_setter` placing variables on the parameter servers."""
  spec = tf.train.ClusterSpec({'ps': cluster.ps_hosts,
                               'worker': cluster.worker_hosts})
  return _V1.train.replica_device_setter(
      worker_device=f'/job:worker/task:{cluster.task_index}', cluster=spec)


def start_task(config, environ=None):
  """Starts this process's part of a cluster, if the flags name one.

  A parameter server serves until the process is stopped and never
  returns; a worker gets its running server.

  Args:
    config: a TrainingConfig (`ps_hosts`, `worker_hosts`, `job_name`,
      `task_index`, `sync_replicas`, ...), or `TF_CONFIG` in `environ`.
    environ: the environment (default `os.environ`).

  Returns:
    The task's Placement (`Placement()` for a local run).

  Raises:
    UserInputError: naming the cluster flag that is wrong, TF_CONFIG, or the
      address that cannot be served.
  """
  cluster = resolve_cluster(config, environ)
  if cluster is None:
    return Placement()
  server = start_server(cluster)
  if cluster.job_name == 'ps':
    logging.info('parameter server %d serving at %s', cluster.task_index,
                 cluster.address)
    server.join()  # Serves until the process is stopped.
  logging.info('worker %d%s at %s; parameter servers %s; %s training',
               cluster.task_index, ' (chief)' if cluster.is_chief else '',
               cluster.address, ','.join(cluster.ps_hosts),
               f'synchronous ({cluster.aggregate} gradients a step)'
               if cluster.sync_replicas else 'asynchronous')
  return Placement(cluster, server)


# Synchronous replicas --------------------------------------------------------

_SYNC_OPTIMIZERS = weakref.WeakKeyDictionary()  # graph -> optimizer


def build_sync_train_op(optimizer, cluster, global_step, grads_and_vars,
                        update_ops, ema=None, variables_to_average=None):
  """The train op of `--sync_replicas` (TF-Slim's train_image_classifier).

  The `SyncReplicasOptimizer` aggregates `cluster.aggregate` gradients of
  `len(cluster.worker_hosts)` replicas; the chief's queue runner applies
  them and then `ema` (as `variable_averages`), so the moving averages move
  once per global step. The batch-norm `update_ops` run in the same step
  beside the gradient enqueue (grouped, as in Slim): the optimizer's own
  ops (chief init, token queue) must not wait on the input batch.

  Returns:
    The train op; `sync_optimizer(graph)` gives the optimizer (its hook).
  """
  sync = _V1.train.SyncReplicasOptimizer(
      optimizer, replicas_to_aggregate=cluster.aggregate,
      total_num_replicas=len(cluster.worker_hosts),
      variable_averages=ema,
      variables_to_average=variables_to_average if ema is not None else None)
  apply_op = sync.apply_gradients(grads_and_vars, global_step=global_step)
  _SYNC_OPTIMIZERS[tf.compat.v1.get_default_graph()] = sync
  return tf.group(apply_op, *update_ops, name='sync_train_op')


def sync_optimizer(graph):
  """The SyncReplicasOptimizer of `graph` (`build_sync_train_op`), or None."""
  return _SYNC_OPTIMIZERS.get(graph)


class _QuietCoordinator(_V1.train.Coordinator):
  """The chief queue runner's coordinator (see `_SyncHook`).

  An error while training stops the session's own coordinator too; after
  `finish()` (the end of training) errors are dropped: the session's close
  cancels the queue runner's pending `take_grad`.
  """

  def __init__(self, session_coord):
    super().__init__()
    self._session_coord = session_coord
    self._finished = False

  def finish(self):
    self._finished = True
    super().request_stop()

  def request_stop(self, ex=None):
    error = ex[1] if isinstance(ex, tuple) else ex
    # A cancelled take_grad is the session closing, whatever the reason.
    if (error is not None and not self._finished and
        not isinstance(error, tf.errors.CancelledError)):
      self._session_coord.request_stop(ex)
    super().request_stop()


class _SyncHook(_V1.train.SessionRunHook):
  """`SyncReplicasOptimizer.make_session_run_hook(is_chief)`, closing cleanly.

  The chief's queue runner waits in `take_grad` for gradients that no worker
  sends once training ends; on the session's coordinator that would hold the
  chief's exit for `stop_grace_period_secs` (120 s) and end in a traceback.
  It runs under a `_QuietCoordinator` instead.
  """

  def __init__(self, sync, is_chief):
    self._hook = sync.make_session_run_hook(is_chief)
    self._coord = None

  def begin(self):
    self._hook.begin()

  def after_create_session(self, session, coord):
    self._coord = _QuietCoordinator(coord)
    self._hook.after_create_session(session, self._coord)

  def end(self, session):
    if self._coord is not None:
      self._coord.finish()


def sync_hooks(graph, is_chief):
  """`[make_session_run_hook(is_chief)]` of a synchronous graph, else []."""
  sync = sync_optimizer(graph)
  return [_SyncHook(sync, is_chief)] if sync is not None else []


# Any other step in a cluster may take this many --cluster_timeout_secs.
STEP_TIMEOUT_FACTOR = 5


def step_timeout_secs(cluster):
  """The longest a training step of this task may take in a cluster.

  A synchronous step of a non-chief worker waits for a token that only the
  chief's queue runner hands out: `--cluster_timeout_secs`. Any other step
  (asynchronous, or the chief's) gets `STEP_TIMEOUT_FACTOR` times that: a
  parameter server whose process no longer answers while its port still
  accepts connections (stopped, swapping, wedged) passes the watchdog's
  probe, and its variables' reads would block the step for ever.
  """
  if cluster.sync_replicas and not cluster.is_chief:
    return cluster.timeout_secs
  return STEP_TIMEOUT_FACTOR * cluster.timeout_secs


def step_run_options(cluster):
  """RunOptions bounding a training step in a cluster (None: no cluster)."""
  if cluster is None:
    return None
  return _V1.RunOptions(timeout_in_ms=int(step_timeout_secs(cluster) * 1000))


def step_timed_out(cluster, train_dir, last_step):
  """After a step in a cluster ran out of time: is training over?

  Returns:
    True when a non-chief's synchronous step waited for a chief that
    finished (`sync_step_timed_out`).

  Raises:
    UserInputError: naming what did not answer and for how long.
  """
  if cluster.sync_replicas and not cluster.is_chief:
    return sync_step_timed_out(cluster, train_dir, last_step)
  others = (' or, in synchronous training, a worker that did not send its '
            'gradients' if cluster.sync_replicas else '')
  raise runtime.UserInputError(
      f'worker {cluster.task_index}: a training step got no answer for '
      f'{step_timeout_secs(cluster)} s ({STEP_TIMEOUT_FACTOR} x '
      f'--cluster_timeout_secs): a parameter server '
      f'({", ".join(cluster.ps_hosts)}) that accepts connections but does '
      f'not respond{others}; restart it, then this task (it resumes from '
      'the last checkpoint)')


def sync_step_timed_out(cluster, train_dir, last_step):
  """After a non-chief's synchronous step timed out: is training over?

  Returns:
    True when the chief's latest checkpoint in `train_dir` is at
    `last_step` or later (the chief finished first).

  Raises:
    UserInputError: the chief is not completing steps, naming its address.
  """
  latest = checkpoints.latest_checkpoint(train_dir)
  if latest:
    try:
      if (checkpoints.checkpoint_step(latest) or 0) >= last_step:
        logging.info('the chief finished at step %d while this worker '
                     'waited for its last synchronous step', last_step)
        return True
    except (tf.errors.OpError, ValueError, runtime.UserInputError):
      pass  # Deleted by the chief's keep-N rotation meanwhile.
  raise runtime.UserInputError(
      f'worker {cluster.task_index}: no synchronous step completed for '
      f'{cluster.timeout_secs} s (--cluster_timeout_secs): the chief, worker '
      f'0 at {cluster.worker_hosts[0]}, applies the gradients; is it '
      'running?')


# Faults ----------------------------------------------------------------------


def reachable(address, timeout=2.0):
  """Whether something accepts TCP connections at `host:port`."""
  host, _, port = address.rpartition(':')
  try:
    with socket.create_connection((host.strip('[]'), int(port)),
                                  timeout=timeout):
      return True
  except OSError:
    return False


def _fail_now(message):
  """Ends the process with `error: message` (run_main's form), exit 2.

  For a watchdog thread: the main thread may be blocked inside TensorFlow,
  where neither an exception nor a signal handler reaches it.
  """
  logging.flush()
  sys.stdout.flush()
  sys.stderr.write(f'error: {message}\n')
  sys.stderr.flush()
  os._exit(2)  # pylint: disable=protected-access


class ClusterWatchdog:
  """Probes the parameter servers' ports; ends the worker when one is gone.

  TensorFlow retries a lost parameter server for ever (a worker's session
  is recreated and waits for it), so a stopped ps would hang its workers.
  Every `interval` seconds each ps address is probed (a TCP connect); one
  that has not accepted for `timeout_secs` in a row ends the process with
  one line naming the task and its address. It logs once while it waits.
  """

  def __init__(self, cluster, timeout_secs, interval=1.0, fail=_fail_now,
               probe=reachable, step_timeout_secs=None):
    self._cluster = cluster
    self._timeout = float(timeout_secs)
    self._interval = interval
    self._fail = fail
    self._probe = probe
    self._stop = threading.Event()
    self._thread = None
    self._step_timeout = float(step_timeout_secs or
                               STEP_TIMEOUT_FACTOR * timeout_secs)
    self._last_step_at = None

  def step_done(self, now=None):
    """Notes a completed training step (arms the step check)."""
    self._last_step_at = time.monotonic() if now is None else now

  def progress_hook(self):
    """A SessionRunHook calling `step_done` after every training step."""
    watchdog = self

    class _Progress(_V1.train.SessionRunHook):

      def after_run(self, run_context, run_values):
        del run_context, run_values
        watchdog.step_done()

    return _Progress()

  def check_once(self, down_since, now):
    """One round of probes; returns the failure message or None.

    `down_since` maps a ps index to when it was first seen unreachable
    (updated here). Once a step has completed (`step_done`), no further
    step for `step_timeout_secs` fails too: a parameter server that still
    accepts connections but does not answer (a stopped or wedged process)
    passes the probes, and TensorFlow waits on it for ever.
    """
    if (self._last_step_at is not None
        and now - self._last_step_at >= self._step_timeout):
      others = (' (or, in synchronous training, a worker that sends no '
                'gradients)' if self._cluster.sync_replicas else '')
      return (f'worker {self._cluster.task_index}: no training step '
              f'completed for {int(self._step_timeout)} s '
              f'({STEP_TIMEOUT_FACTOR} x --cluster_timeout_secs): a '
              f'parameter server ({", ".join(self._cluster.ps_hosts)}) '
              f'accepts connections but does not respond{others}; restart '
              'it, then this task (a restarted cluster resumes from the '
              'chief\'s latest checkpoint in --train_dir)')
    for index, address in enumerate(self._cluster.ps_hosts):
      if self._probe(address):
        if index in down_since and now - down_since[index] > 2 * self._interval:
          logging.info('parameter server ps%d at %s answers again', index,
                       address)
        down_since.pop(index, None)
        continue
      first = down_since.setdefault(index, now)
      if first == now:
        logging.warning('parameter server ps%d at %s does not answer; '
                        'waiting up to %d s (--cluster_timeout_secs)', index,
                        address, self._timeout)
      if now - first >= self._timeout:
        return (f'parameter server ps{index} at {address} has not answered '
                f'for {int(self._timeout)} s (--cluster_timeout_secs): it '
                'stopped or was never started; start it (a restarted '
                'cluster resumes from the chief\'s latest checkpoint in '
                '--train_dir)')
    return None

  def _run(self):
    down_since = {}
    while not self._stop.is_set():
      message = self.check_once(down_since, time.monotonic())
      if message and not self._stop.is_set():
        self._fail(message)
        return
      self._stop.wait(self._interval)

  def start(self):
    self._thread = threading.Thread(target=self._run, name='ps-watchdog',
                                    daemon=True)
    self._thread.start()
    return self

  def stop(self):
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=10)


@contextlib.contextmanager
def watch_cluster(cluster, timeout_secs=None):
  """Runs a ClusterWatchdog for a worker of `cluster` (nothing when local)."""
  if cluster is None or cluster.job_name != 'worker':
    yield None
    return
  watchdog = ClusterWatchdog(cluster, timeout_secs or cluster.timeout_secs)
  watchdog.start()
  try:
    yield watchdog
  finally:
    watchdog.stop()


def checkpoint_live_state(target, saver, train_dir, session_config,
                          global_step):
  """A restarted chief saves the model its parameter servers still hold.

  `MonitoredTrainingSession` makes the chief restore its latest checkpoint,
  which would throw away the steps the other workers trained while it was
  away. When every variable on the parameter servers is initialised and the
  live global step is past the latest checkpoint's, that state is saved
  first, so the chief resumes from it.

  Returns:
    The new checkpoint prefix, or None (fresh parameter servers or nothing
    newer).
  """
  latest = checkpoints.latest_checkpoint(train_dir)
  with _V1.Session(target, config=session_config) as sess:
    if sess.run(_V1.report_uninitialized_variables()).size:
      return None
    live_step = int(sess.run(global_step))
    saved_step = -1
    if latest:
      try:
        saved_step = checkpoints.checkpoint_step(latest)
      except (tf.errors.OpError, ValueError, runtime.UserInputError):
        saved_step = None
      saved_step = -1 if saved_step is None else saved_step
    if live_step <= saved_step:
      return None
    prefix = saver.save(sess, os.path.join(train_dir, 'model.ckpt'),
                        global_step=live_step)
  logging.info('the parameter servers still hold the model at step %d (the '
               'latest checkpoint was at step %d): saved %s to resume from',
               live_step, saved_step, prefix)
  return prefix
