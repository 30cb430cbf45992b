"""Training in graph mode with `MonitoredTrainingSession`.

`train(config)` resolves the run (`run_spec.for_training`), starts its
cluster task (`distributed.start_task`: the spec's `placement`), then, in
small steps that the benchmark reuses, each taking the spec:
`build_train_graph(spec)` builds one graph:

    input pipeline (pinned to the CPU) -> network (is_training=True)
    -> loss = softmax cross-entropy (optionally label-smoothed)
              + the network's LOSSES and REGULARIZATION_LOSSES (once each)
    -> gradients (optionally clipped by global norm) applied by the
       optimizer (`tf1cnn.optimizers`), after the UPDATE_OPS (batch norm)
    -> optional ExponentialMovingAverage of the weights

`default_hooks` gives the hooks, `prepare_train_dir` checks a checkpoint to
resume and writes the run's metadata, and `run_training` runs it all in a
`MonitoredTrainingSession`, which starts the queue runners,
restores the latest checkpoint of `train_dir` (resume), saves checkpoints
(`Saver(max_to_keep=keep_checkpoint_max)`) and summaries (loss, accuracy,
learning rate, queue fill, a few input images; tags in `tf1cnn.summaries`,
the same as evaluation's where they mean the same). A log line every
`log_every_n_steps` gives loss, batch accuracy, examples/sec and time left.
`InputWaitHook` warns when the model waits on its input, and
`profile_every_n_steps` writes a Chrome trace of one step (`ProfilerHook`).

Ctrl-C (SIGINT) or SIGTERM stops after the current step and saves a
checkpoint (a second signal aborts at once); the result says `interrupted`
and the programs exit 128 + the signal (130, 143), so a scheduler tells a
preempted run from a finished one. A run whose `train_dir` already holds a
checkpoint at (or past) its last step trains nothing and says so
(`already_finished`). Every run ends with a checkpoint of its final step,
whatever the save interval. Before anything is written, `train_dir` must be
writable, stale `*.tempstate*` files of a killed save are removed, and a
checkpoint already there is checked against the new graph, so pointing a run
at another model's directory is an error naming the checkpoint, and that
checkpoint is left untouched. Resuming takes the newest intact checkpoint
(`checkpoints.latest_checkpoint`: found by its files, damaged ones skipped
with a warning). A full disk stops the run with one line naming
`train_dir` and the last good checkpoint. A `train_dir` has one trainer at
a time (`lock_train_dir`: the lock file `train.lock` names its holder); a
second one is refused before it writes anything.
"""

import contextlib
import dataclasses
import functools
import math
import os
import re
import signal
import time
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import distributed
from tf1cnn import filelock
from tf1cnn import finetune
from tf1cnn import optimizers
from tf1cnn import precision
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import writable
from tf1cnn import summaries
from tf1cnn import towers as towers_lib
from tf1cnn.inputs import device
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1


# The schedule and the optimizer factory live in `tf1cnn.optimizers`.
learning_rate_schedule = optimizers.learning_rate_schedule
make_optimizer = optimizers.make_optimizer


# What a network function added to `GraphKeys.LOSSES` ('losses') while it
# was built (`track_network_losses`).
NETWORK_LOSSES = 'tf1cnn_network_losses'
_LOSS_WARNINGS = 'tf1cnn_loss_warnings'
_TOWER = re.compile(r'tower_\d+/')


def track_network_losses(network_fn):
  """Wraps `network_fn`: what it adds to `LOSSES` goes to NETWORK_LOSSES.

  The TF 1.x CIFAR-10 tutorial's `tf.add_to_collection('losses', decay)`
  and `tf.compat.v1.losses` inside the network are then counted by
  `total_loss`; losses added to `LOSSES` elsewhere (a reference computed
  beside the model) are not.
  """
  @functools.wraps(network_fn)
  def wrapped(images, *args, **kwargs):
    graph = _V1.get_default_graph()
    before = {id(item) for item in graph.get_collection(_V1.GraphKeys.LOSSES)}
    result = network_fn(images, *args, **kwargs)
    for item in graph.get_collection(_V1.GraphKeys.LOSSES):
      if id(item) not in before:
        graph.add_to_collection(NETWORK_LOSSES, item)
    return result
  return wrapped


def _model_losses(regularization_scope):
  """The losses the network registered, each tensor once (float32 scalars).

  `REGULARIZATION_LOSSES` and what the network added to `LOSSES` (the
  `'losses'` collection of the TF 1.x CIFAR-10 tutorial and of
  `tf.compat.v1.losses`; `track_network_losses`), limited to
  `regularization_scope`. A network function sees only images, so what it
  registered is regularisation. What is left out (a non-float entry, a
  loss outside every tower's name scope, a collection of another name with
  'loss' in it) is named in a warning, once per graph.
  """
  keys = (NETWORK_LOSSES, _V1.GraphKeys.REGULARIZATION_LOSSES)
  graph = _V1.get_default_graph()
  counted, seen, left_out = [], set(), []
  for key in keys:
    for item in _V1.get_collection(key, regularization_scope):
      identity = item.name if tf.is_tensor(item) else id(item)
      if identity in seen:
        continue
      seen.add(identity)
      if not tf.is_tensor(item) or not item.dtype.is_floating:
        left_out.append(f'{item} (not a float tensor)'[:120])
        continue
      if item.shape.rank != 0:
        item = tf.reduce_sum(item)
      counted.append(tf.cast(item, tf.float32))
  for key in graph.get_all_collection_keys():
    items = graph.get_collection(key)
    if ('loss' in key.lower() and items and not key.startswith('tf1cnn')
        and key not in keys + (_V1.GraphKeys.LOSSES,)):
      left_out.append(f'collection {key!r} ({len(items)} item(s); only '
                      'LOSSES and REGULARIZATION_LOSSES count)')
  if regularization_scope and _TOWER.match(regularization_scope):
    for key in keys:
      for item in graph.get_collection(key):
        name = getattr(item, 'name', '') or ''
        if not _TOWER.match(name):
          left_out.append(f'{name or item} (outside every tower\'s name '
                          'scope)')
  if left_out and not graph.get_collection(_LOSS_WARNINGS):
    graph.add_to_collection(_LOSS_WARNINGS, True)
    logging.warning('losses the network registered that the total loss '
                    'leaves out: %s', '; '.join(left_out))
  return counted


# TF-Slim's weight of the auxiliary classifier's cross-entropy
# (train_image_classifier: `weights=0.4`, scope `aux_loss`).
AUX_LOSS_WEIGHT = 0.4


def softmax_cross_entropy(logits, labels, label_smoothing=0.0,
                          name='cross_entropy'):
  """Mean softmax cross-entropy of `[batch, classes]` logits (float32).

  With `label_smoothing` = s > 0 the targets are TF-Slim's smoothed one-hot
  labels, `one_hot * (1 - s) + s / num_classes`.
  """
  logits = tf.cast(logits, tf.float32)
  labels = tf.cast(labels, tf.int32)
  if label_smoothing:
    num_classes = tf.shape(logits)[-1]
    targets = (tf.one_hot(labels, num_classes) * (1.0 - label_smoothing) +
               label_smoothing / tf.cast(num_classes, tf.float32))
    return tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(
            labels=tf.stop_gradient(targets), logits=logits), name=name)
  return tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                     logits=logits),
      name=name)


def with_auxiliary_loss(network_fn, loss_fn, label_smoothing=0.0):
  """`(network_fn, loss_fn)` that add an auxiliary classifier's loss.

  A network whose end points hold `'AuxLogits'` (Inception v3) trains, as in
  TF-Slim's recipe, on `AUX_LOSS_WEIGHT` times the cross-entropy of those
  logits on top of `loss_fn`'s total. The loss function is called right
  after the network in each tower, so it takes that call's auxiliary logits.

  Args:
    network_fn: `fn(images) -> (logits, end_points)`.
    loss_fn: `fn(logits, labels, regularization_scope=None) ->
      (total, cross_entropy)`.
    label_smoothing: as for the main logits.

  Returns:
    The wrapped `(network_fn, loss_fn)`.
  """
  last_aux = []

  @functools.wraps(network_fn)
  def network(images, *args, **kwargs):
    logits, end_points = network_fn(images, *args, **kwargs)
    last_aux[:] = [(end_points or {}).get('AuxLogits')]
    return logits, end_points

  def loss(logits, labels, regularization_scope=None):
    total, cross_entropy = loss_fn(logits, labels, regularization_scope)
    aux_logits = last_aux[0] if last_aux else None
    if aux_logits is None:
      return total, cross_entropy
    aux_loss = tf.multiply(
        AUX_LOSS_WEIGHT, softmax_cross_entropy(aux_logits, labels,
                                               label_smoothing,
                                               name='aux_cross_entropy'),
        name='aux_loss')
    return tf.add(total, aux_loss, name='total_loss_with_aux'), cross_entropy

  return network, loss


def total_loss(logits, labels, regularization_scope=None, name='total_loss',
               label_smoothing=0.0):
  """Mean softmax cross-entropy plus the losses the network registered.

  The network's losses are `REGULARIZATION_LOSSES` and what it added to
  `LOSSES` (`'losses'`) while `track_network_losses` watched, each tensor
  counted once (`_model_losses`); the cross-entropy computed here is in
  no collection.
  With `label_smoothing` = s > 0 the targets are TF-Slim's smoothed one-hot
  labels, `one_hot * (1 - s) + s / num_classes`
  (`tf.compat.v1.losses.softmax_cross_entropy(label_smoothing=s)`).

  Args:
    logits: `[batch, classes]`.
    labels: `[batch]` int labels.
    regularization_scope: count only the registered losses whose name
      starts with this scope (one tower's); None counts them all.
    name: name of the total.
    label_smoothing: s in [0, 1]; 0 trains on the plain labels.

  Returns:
    `(total, cross_entropy)` scalar tensors.
  """
  regularization = _model_losses(regularization_scope)
  cross_entropy = softmax_cross_entropy(logits, labels, label_smoothing)
  if regularization:
    total = tf.add(cross_entropy, tf.add_n(regularization), name=name)
  else:
    total = tf.identity(cross_entropy, name=name)
  return total, cross_entropy


def build_train_op(loss, optimizer, global_step, moving_average_decay=0.0,
                   var_list=None, grads_and_vars=None, update_ops=None,
                   clip_gradient_norm=0.0, summarize_gradients=False,
                   sync_cluster=None):
  """Creates the train op; it runs after the batch-norm update ops.

  With `moving_average_decay > 0` an `ExponentialMovingAverage` of the
  trainable variables is updated after each step (shadow variables
  `<var>/ExponentialMovingAverage`, restored by evaluation).

  With `clip_gradient_norm > 0` the gradients (already averaged over towers
  and unscaled by an fp16 loss-scale optimizer, whose `compute_gradients`
  does that) are clipped by their global norm before they are applied.

  Args:
    loss: the loss to minimise (ignored when `grads_and_vars` is given).
    optimizer: a `tf.compat.v1.train.Optimizer`.
    global_step: incremented by the train op.
    moving_average_decay: weight averaging; 0 turns it off.
    var_list: variables to train (default: all trainable).
    grads_and_vars: precomputed gradients (e.g. averaged over towers).
    update_ops: ops to run first; default the UPDATE_OPS collection.
    clip_gradient_norm: largest global norm of the gradients; 0: no clip.
    summarize_gradients: add `gradients/<variable>` histograms (of the
      gradients applied).
    sync_cluster: a ClusterConfig with `sync_replicas`: the gradients go to
      a SyncReplicasOptimizer, which also applies the moving averages
      (`distributed.build_sync_train_op`).
  """
  if update_ops is None:
    update_ops = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
  if grads_and_vars is None and (clip_gradient_norm or summarize_gradients):
    grads_and_vars = optimizer.compute_gradients(loss, var_list=var_list)
  if grads_and_vars is not None:
    grads_and_vars = optimizers.clip_gradients(grads_and_vars,
                                               clip_gradient_norm)
    if summarize_gradients:
      summaries.add_histograms(grads_and_vars=grads_and_vars)
  if sync_cluster is not None and sync_cluster.sync_replicas:
    if grads_and_vars is None:
      grads_and_vars = optimizer.compute_gradients(loss, var_list=var_list)
    ema = (_V1.train.ExponentialMovingAverage(moving_average_decay,
                                              global_step)
           if moving_average_decay else None)
    return distributed.build_sync_train_op(
        optimizer, sync_cluster, global_step, grads_and_vars, update_ops,
        ema, var_list or _V1.trainable_variables())
  with tf.control_dependencies(update_ops):
    if grads_and_vars is not None:
      train_op = optimizer.apply_gradients(grads_and_vars,
                                           global_step=global_step)
    else:
      train_op = optimizer.minimize(loss, global_step=global_step,
                                    var_list=var_list)
  if moving_average_decay:
    ema = _V1.train.ExponentialMovingAverage(moving_average_decay, global_step)
    with tf.control_dependencies([train_op]):
      train_op = ema.apply(var_list or _V1.trainable_variables())
  return train_op


def _created_since(before):
  """Global variables whose refs are not in `before`, in creation order."""
  return [v for v in _V1.global_variables() if v.ref() not in before]


class _LoggingHook(_V1.train.SessionRunHook):
  """Logs loss, batch accuracy, examples/sec and time left every N steps."""

  def __init__(self, tensors, every_n_steps, batch_size, last_step):
    self._tensors = tensors
    self._every = max(1, every_n_steps)
    self._batch_size = batch_size
    self._last_step = last_step
    self._start_time = None
    self._start_step = None
    self.history = []

  def before_run(self, run_context):
    return _V1.train.SessionRunArgs(self._tensors)

  def after_run(self, run_context, run_values):
    values = run_values.results
    step = int(values['global_step'])
    now = time.time()
    if self._start_time is None:
      # The first step includes graph warm-up; measure from here.
      self._start_time, self._start_step = now, step
      return
    if step % self._every and step != self._last_step:
      return
    if step == self._start_step:  # sync replicas: the step did not move yet
      return
    steps = step - self._start_step
    elapsed = now - self._start_time
    rate = steps * self._batch_size / elapsed if elapsed > 0 else 0.0
    seconds_left = ((self._last_step - step) * elapsed / steps
                    if steps else float('nan'))
    self.history.append(dict(step=step, loss=float(values['loss']),
                             accuracy=float(values['accuracy']),
                             examples_per_sec=rate))
    logging.info(
        'step %d/%d  loss %.4f  batch accuracy %.3f  lr %.2e  '
        '%.1f examples/sec  %s left', step, self._last_step,
        values['loss'], values['accuracy'], values['learning_rate'], rate,
        _format_seconds(seconds_left))
    self._start_time, self._start_step = now, step

  def throughput(self):
    """Mean examples/sec over the logged intervals (None before any)."""
    rates = [h['examples_per_sec'] for h in self.history]
    return float(np.median(rates)) if rates else None


def _format_seconds(seconds):
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


@contextlib.contextmanager
def _training_failures(config, input_ops):
  """Turns an input failure or a NaN loss into one-line UserInputErrors.

  A failed write (a full disk, a file system gone read-only: checkpoints,
  summaries, the state file) is one line naming `--train_dir` too. The
  checkpoints written so far stay; the message names the latest intact one.
  """
  def kept():
    try:
      latest = checkpoints.latest_checkpoint(config.train_dir)
    except runtime.UserInputError:
      latest = None
    return (f'; the latest checkpoint, {latest}, is kept' if latest else
            '; no checkpoint was written yet')
  try:
    yield
  except (tf.errors.OpError, OSError) as e:
    if writable.is_write_failure(e):
      # TensorFlow's message starts 'Graph execution error:'; the reason
      # (the system's words) and the failing op come further down.
      message = str(getattr(e, 'message', None) or e)
      lines = [line.strip() for line in message.splitlines() if line.strip()]
      reason = next((line for line in lines
                     if writable.is_write_failure(RuntimeError(line))),
                    lines[-1] if lines else type(e).__name__)
      node = next((line.split('{{node ', 1)[1].split('}}', 1)[0]
                   for line in lines if '{{node ' in line), '')
      what = ('saving a checkpoint: ' if node.split('/')[0].startswith('save')
              else f'op {node}: ' if node else '')
      raise runtime.UserInputError(
          f'writing to --train_dir={config.train_dir} failed: {what}'
          f'{reason}' + kept()) from None
    if not isinstance(e, tf.errors.OpError):
      raise
    failure = pipeline.input_failure(e, input_ops,
                                     f'--data_dir={config.data.data_dir}')
    if failure is None:
      raise
    raise runtime.UserInputError(failure + kept()) from None
  except _V1.train.NanLossDuringTrainingError:
    raise runtime.UserInputError(
        f'the loss became NaN: lower --learning_rate='
        f'{config.optim.learning_rate} '
        '(or add --warmup_epochs), or check the data' + kept()) from None


class _StopOnSignal:
  """First SIGINT/SIGTERM: finish the step and stop; second: abort."""

  def __init__(self):
    self.requested = False
    self.signum = 0  # The first signal received (0: none).
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # Not the main thread: leave signals alone.
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    if self.requested:
      raise KeyboardInterrupt
    self.requested = True
    self.signum = signum
    logging.warning('signal %d: stopping after this step and saving a '
                    'checkpoint (again to abort)', signum)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


@dataclasses.dataclass
class TrainResult:
  """What a finished `train` call reports.

  Attributes:
    global_step: the step of the final checkpoint.
    final_loss: the last loss (NaN when no step ran).
    examples_per_sec: measured speed (0 when not measured).
    checkpoint: the final checkpoint.
    interrupted: stopped by SIGINT/SIGTERM before the last step.
    signal: the signal number that stopped it (0: none).
    already_finished: the train_dir's checkpoint had reached the last step
      before this call; nothing was trained.
  """
  global_step: int
  final_loss: float
  examples_per_sec: float
  checkpoint: str
  interrupted: bool
  signal: int = 0
  already_finished: bool = False


@dataclasses.dataclass
class _ModelOps:
  """The training graph's model part (see `_build_model`)."""
  logits: tf.Tensor
  labels: tf.Tensor
  loss: tf.Tensor
  cross_entropy: tf.Tensor
  train_op: tf.Operation
  variables: list  # the network's variables, for the warm start


def _build_model(spec, batch, network_fn, optimizer, global_step):
  """The network on one device or as towers, the loss and the train op.

  Only `--trainable_scopes` are trained (all by default); a synchronous
  cluster (`spec.placement`) aggregates the gradients of its replicas.
  """
  config, devices = spec.config, spec.devices
  # The network's variables (weights, batch-norm statistics) are the ones
  # created from here until the optimizer adds its slots.
  before_model = {v.ref() for v in _V1.global_variables()}
  loss_fn = functools.partial(total_loss,
                              label_smoothing=config.optim.label_smoothing)
  network_fn, loss_fn = with_auxiliary_loss(
      network_fn, loss_fn, config.optim.label_smoothing)
  gradient_options = dict(
      clip_gradient_norm=config.optim.clip_gradient_norm,
      summarize_gradients=config.summarize_histograms,
      sync_cluster=spec.placement.cluster)
  if len(devices) > 1:
    towers = towers_lib.build_towers(network_fn, batch.images, batch.labels,
                                     devices, optimizer, loss_fn)
    variables = _created_since(before_model)
    var_list = finetune.trainable_variables(config.trainable_scopes)
    trained = {v.ref() for v in var_list}
    train_op = build_train_op(
        towers.loss, optimizer, global_step,
        config.optim.moving_average_decay,
        var_list=var_list,
        grads_and_vars=[(g, v) for g, v in towers.grads_and_vars
                        if v.ref() in trained],
        update_ops=towers.update_ops, **gradient_options)
    return _ModelOps(towers.logits, towers.labels, towers.loss,
                     towers.cross_entropy, train_op, variables)
  # tf.device(None) would clear the replica device setter: only pin the
  # model when a device was asked for.
  with tf.device(devices[0]) if devices else contextlib.nullcontext():
    logits, _ = network_fn(batch.images)
    loss, cross_entropy = loss_fn(logits, batch.labels)
    variables = _created_since(before_model)
    var_list = finetune.trainable_variables(config.trainable_scopes)
    train_op = build_train_op(loss, optimizer, global_step,
                              config.optim.moving_average_decay,
                              var_list=var_list, **gradient_options)
  return _ModelOps(logits, batch.labels, loss, cross_entropy, train_op,
                   variables)


def prepare_train_dir(spec, record, model_variables):
  """Checks a checkpoint to resume against the graph, then writes metadata.

  Call inside the training graph. Nothing is written before the checks
  pass.

  Args:
    spec: the run's RunSpec.
    record: the `run_config.json` dict.
    model_variables: the network's variables, which a checkpoint to resume
      must hold; the others (optimizer slots, weight averages, the fp16
      loss scale) start afresh when it lacks them (a checkpoint another
      program or optimizer wrote).

  Returns:
    `(latest checkpoint or None, its checkpoints.ResumePlan or None)`.

  Raises:
    UserInputError: a checkpoint of another model or other classes.
  """
  config = spec.config
  checkpoints.remove_stale_temp_files(config.train_dir)
  existing = checkpoints.latest_checkpoint(config.train_dir)
  plan = None
  if existing:
    required = {v.ref() for v in model_variables}
    plan = checkpoints.plan_resume(
        existing, _V1.global_variables(), _V1.train.get_global_step(),
        what=f'--model={config.model}',
        optional=[v for v in _V1.global_variables()
                  if v.ref() not in required],
        name_rules=config.checkpoint_var_map)
    stored_labels = checkpoints.read_labels(config.train_dir)
    if stored_labels is not None and stored_labels != spec.class_names:
      raise runtime.UserInputError(
          f'{config.train_dir}/labels.txt lists classes {stored_labels} but '
          f'the data has {spec.class_names}: use a new --train_dir')
    # MonitoredTrainingSession restores what the state file names: make it
    # the newest intact checkpoint (the file may be missing, stale or name
    # a damaged one), so no run restarts at step 0 over newer checkpoints.
    checkpoints.point_state_at(config.train_dir, existing)
    logging.info('resuming from %s%s', existing,
                 '' if plan.plain else ' (%d variable(s) it lacks start '
                 'afresh%s)' % (len(plan.fresh_variables),
                                '' if plan.global_step_value is None else
                                f'; its step {plan.global_step_value} is '
                                'assigned'))
  checkpoints.write_labels(config.train_dir, spec.class_names)
  checkpoints.write_run_config(config.train_dir, record)
  return existing, plan


# The lock file of the trainer of a train_dir (`lock_train_dir`).
TRAIN_LOCK = 'train.lock'


@contextlib.contextmanager
def lock_train_dir(train_dir, is_chief=True):
  """Makes this process the one trainer of `train_dir` for the block.

  `filelock.HolderLock` on `<train_dir>/train.lock`: the lock file names
  this host, pid and start time, and its heartbeat is rewritten every
  `filelock.HEARTBEAT_SECS` (10) seconds. A second trainer (this machine or
  another sharing the folder) is refused; a lock left by a process that is
  gone (this host) or whose heartbeat is older than `filelock.STALE_SECS`
  (60 s, another host) is taken over. The lock file is removed when the
  block ends (normally, by an error, SIGINT or SIGTERM). A cluster's chief
  holds it for the whole cluster: the other workers never write the
  train_dir and take no lock (`is_chief=False`).

  Raises:
    UserInputError: naming --train_dir and the holder (host, pid, since).
  """
  if not is_chief:
    yield None
    return
  lock = filelock.HolderLock(os.path.join(train_dir, TRAIN_LOCK))
  try:
    lock.acquire()
  except filelock.LockHeld as e:
    raise runtime.UserInputError(
        f'--train_dir={train_dir} is being trained by another process ({e}): '
        'wait for it to finish, stop it, or use another --train_dir'
    ) from None
  except OSError as e:
    raise runtime.UserInputError(
        f'--train_dir={train_dir}: cannot create its lock file {lock.path} '
        f'({e.strerror or e})') from None
  previous = _exit_on_sigterm()
  try:
    yield lock
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)
    lock.release()


def _exit_on_sigterm():
  """SIGTERM raises SystemExit(143) (so `finally` blocks run) until restored.

  Only where SIGTERM still has its default action (the training loop sets
  its own handler, `_StopOnSignal`, inside). Returns the previous handler,
  or None when nothing was changed.
  """
  def _exit(signum, frame):
    del frame
    raise SystemExit(128 + signum)
  try:
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
      return None
    return signal.signal(signal.SIGTERM, _exit)
  except ValueError:  # Not the main thread.
    return None


@dataclasses.dataclass
class TrainGraph:
  """What `build_train_graph` returns: the graph and the tensors to run."""
  graph: tf.Graph
  global_step: tf.Variable
  batch: pipeline.InputBatch
  model: _ModelOps
  learning_rate: tf.Tensor
  accuracy: tf.Tensor
  last_step: int
  steps_per_epoch: float
  input_ops: set
  staging_hooks: list


def _remember_end_points(network_fn):
  """Wraps `network_fn`; `.end_points` holds its first call's end points."""
  def wrapped(images, *args, **kwargs):
    logits, end_points = network_fn(images, *args, **kwargs)
    if not wrapped.end_points:
      wrapped.end_points.update(end_points or {})
    return logits, end_points
  wrapped.end_points = {}
  return wrapped


def _add_train_summaries(config, model, accuracy, learning_rate, end_points):
  """The training run's TensorBoard summaries (`tf1cnn.summaries` tags).

  `loss` is the plain cross-entropy (the quantity evaluation reports), also
  with `--label_smoothing`; `loss/total` is the minimised objective.
  """
  logits = tf.cast(model.logits, tf.float32)
  if config.optim.label_smoothing:
    plain = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=model.labels, logits=logits), name='plain_cross_entropy')
  else:
    plain = model.cross_entropy
  summaries.scalar(summaries.LOSS, plain)
  summaries.scalar(summaries.TOTAL_LOSS, model.loss)
  summaries.scalar(summaries.ACCURACY, accuracy)
  if logits.shape[-1] is not None and logits.shape[-1] > summaries.TOP_K:
    summaries.scalar(summaries.TOP_5_ACCURACY, tf.reduce_mean(tf.cast(
        tf.nn.in_top_k(predictions=logits, targets=model.labels,
                       k=summaries.TOP_K), tf.float32)))
  summaries.scalar(summaries.LEARNING_RATE, learning_rate)
  if config.summarize_histograms:
    summaries.add_histograms(variables=model.variables,
                             activations=end_points)


def build_train_graph(spec, batch_fn=None):
  """Builds the training graph of `spec`: input, network, loss, train op.

  Args:
    spec: a RunSpec from `run_spec.for_training`; in a cluster
      (`spec.placement`) the variables go to the parameter servers and the
      input to this worker.
    batch_fn: builds the input batch instead of the dataset pipeline
      (the benchmark's in-memory batch); called inside the graph.

  Returns:
    A TrainGraph.
  """
  config = spec.config
  graph = tf.Graph()
  with graph.as_default(), _V1.device(spec.placement.device_setter()):
    if config.seed is not None:
      _V1.set_random_seed(config.seed)
    global_step = _V1.train.get_or_create_global_step()
    input_ops = set()
    with pipeline.record_ops(input_ops):
      if batch_fn is not None:
        batch = batch_fn()
      else:
        batch = spec.build_input(
            config.train_split, spec.batch_size, is_training=True,
            seed=config.seed, device=spec.placement.input_device)
    batch, staging_hooks = device.maybe_stage(batch)
    num_examples = batch.num_examples or spec.batch_size
    steps_per_epoch = num_examples / float(spec.batch_size)
    last_step = (config.max_steps if config.max_steps > 0 else
                 int(math.ceil(config.num_epochs * steps_per_epoch)))
    network_fn = _remember_end_points(track_network_losses(spec.network_fn(
        is_training=True, **run_spec.training_network_options(config))))
    learning_rate = learning_rate_schedule(config.optim, global_step,
                                           steps_per_epoch, last_step)
    optimizer = precision.wrap_optimizer(
        optimizers.from_config(config.optim, learning_rate), spec.precision)
    model = _build_model(spec, batch, network_fn, optimizer, global_step)
    accuracy = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(model.logits, 1, output_type=tf.int32),
                 model.labels), tf.float32), name='batch_accuracy')
    _add_train_summaries(config, model, accuracy, learning_rate,
                         network_fn.end_points)
    _V1.summary.image('input_images', batch.images, max_outputs=3)
  return TrainGraph(graph, global_step, batch, model, learning_rate, accuracy,
                    last_step, steps_per_epoch, input_ops, staging_hooks)


def default_hooks(spec, ops):
  """The hooks of a training run: stop, NaN check, log line, input wait.

  A synchronous graph adds its replicas hook; the chief of a cluster (or a
  local run, `spec.placement.is_chief`) the profiler's.

  Returns:
    `(hooks, logging_hook)`; the logging hook measures examples/sec.
  """
  config = spec.config
  is_chief = spec.placement.is_chief
  logging_hook = _LoggingHook(
      dict(global_step=ops.global_step, loss=ops.model.loss,
           accuracy=ops.accuracy, learning_rate=ops.learning_rate),
      config.log_every_n_steps, spec.batch_size, ops.last_step)
  hooks = [_V1.train.StopAtStepHook(last_step=ops.last_step),
           _V1.train.NanTensorHook(ops.model.loss), logging_hook,
           device.InputWaitHook(spec.batch_size,
                                every_n_steps=max(1, config.log_every_n_steps
                                                  // 5))]
  hooks.extend(ops.staging_hooks)
  hooks.extend(distributed.sync_hooks(ops.graph, is_chief))
  if config.profile_every_n_steps > 0 and is_chief:
    # Open the files in chrome://tracing or Perfetto: input, model and
    # optimizer ops per device, with tensor memory.
    hooks.append(_V1.train.ProfilerHook(
        save_steps=config.profile_every_n_steps,
        output_dir=config.train_dir, show_memory=True))
  return hooks, logging_hook


def session_config(spec):
  """The ConfigProto of a training session (devices, cluster, precision)."""
  return precision.apply_to_config(
      distributed.restrict_to_own_tasks(
          towers_lib.add_cpu_devices(runtime.session_config(), spec.devices),
          spec.placement.cluster), spec.precision)


def make_scaffold(spec, ops, existing, plan):
  """The Scaffold: a Saver that resumes across precisions, the warm start.

  Only the chief (`spec.placement.is_chief`) warm-starts: the other workers
  take its variables from the parameter servers.
  """
  config = spec.config
  init_fn = None
  if config.warm_start_from and spec.placement.is_chief:
    if existing:
      logging.info('--warm_start_from=%s is not used: resuming from %s',
                   config.warm_start_from, existing)
    else:
      init_fn = finetune.warm_start_init_fn(
          config.warm_start_from, ops.model.variables,
          config.warm_start_exclude, config.checkpoint_var_map,
          ignore_missing_vars=config.ignore_missing_vars,
          classifier_scopes=spec.logits_scopes)
  saver_options = dict(max_to_keep=config.keep_checkpoint_max,
                       save_relative_paths=True)
  saver = (checkpoints.ResumeSaver(plan, ops.global_step, **saver_options)
           if plan is not None and not plan.plain
           else _V1.train.Saver(**saver_options))
  return _V1.train.Scaffold(saver=saver, init_fn=init_fn)


def run_training(spec, ops, hooks, scaffold):
  """Runs the training loop to `ops.last_step` (or a stop signal).

  The session is the chief's or a worker's as `spec.placement` says (its
  server's target, checkpoints and summaries by the chief only).
  An input failure (`pipeline.input_failure`) raised by a step ends the
  loop like a stop signal, so the last step's checkpoint is saved before
  the one-line error.

  Returns:
    `(last fetched step, last loss, interrupted)`; `interrupted` is the
    number of the signal that stopped the run, 0 when none did.
  """
  config, placement = spec.config, spec.placement
  save_steps = config.save_checkpoint_steps or None
  save_secs = None if save_steps else config.save_checkpoint_secs
  # In a cluster a restarted chief loses less.
  if placement.cluster is not None and save_secs:
    save_secs = min(save_secs, distributed.CLUSTER_CHECKPOINT_SECS)
  if placement.is_chief:  # One graph in the events file (see train_writer).
    summaries.train_writer(config.train_dir)
  step_value, loss_value = 0, float('nan')
  with _StopOnSignal() as stop_signal, _training_failures(config,
                                                          ops.input_ops):
    with _V1.train.MonitoredTrainingSession(
        master=placement.master, is_chief=placement.is_chief,
        checkpoint_dir=config.train_dir, scaffold=scaffold, hooks=hooks,
        save_checkpoint_steps=save_steps, save_checkpoint_secs=save_secs,
        save_summaries_steps=(None if config.save_summaries_secs else
                              max(1, config.log_every_n_steps)),
        save_summaries_secs=config.save_summaries_secs or None,
        log_step_count_steps=0,
        config=session_config(spec)) as sess:
      input_error = None
      while not sess.should_stop():
        try:
          _, step_value, loss_value = sess.run(
              [ops.model.train_op, ops.global_step, ops.model.loss],
              options=distributed.step_run_options(placement.cluster))
        except tf.errors.OutOfRangeError:
          raise  # A queue closed by its runner: MonitoredSession reports it.
        except tf.errors.DeadlineExceededError:
          # A step the cluster did not complete in time: a synchronous one
          # no chief completes (over, or a lost chief), or a stuck server.
          if distributed.step_timed_out(placement.cluster, config.train_dir,
                                        ops.last_step):
            break
          raise
        except tf.errors.OpError as e:
          if pipeline.input_failure(e, ops.input_ops, '') is None:
            raise
          input_error = e  # A tf.data input failure: save, then report.
          break
        if stop_signal.requested:
          break  # Leaving the block normally runs the final checkpoint save.
    if input_error is not None:
      raise input_error
  return step_value, loss_value, stop_signal.signum


def train(config, extra_hooks=None) -> Optional[TrainResult]:
  """Trains `config.model` on `config.data`; returns a TrainResult.

  A parameter-server task serves until stopped (`distributed.start_task`).

  Args:
    config: tf1cnn.config.TrainingConfig.
    extra_hooks: more SessionRunHooks.

  Raises:
    UserInputError: bad flags, data or an incompatible checkpoint.
  """
  if config.job_name != 'ps':  # Before any work (a ps task writes nothing).
    writable.check_dir(config.train_dir, '--train_dir')
  spec = dataclasses.replace(run_spec.for_training(config),
                             placement=distributed.start_task(config))
  towers_lib.check_gpus_visible(spec.devices)
  try:
    os.makedirs(config.train_dir, exist_ok=True)
  except OSError as e:
    raise runtime.UserInputError(
        f'--train_dir={config.train_dir}: cannot create it '
        f'({e.strerror or e})') from None
  with lock_train_dir(config.train_dir, spec.placement.is_chief):
    return _train_holding_lock(spec, extra_hooks)


def _train_holding_lock(spec, extra_hooks):
  """`train` from the graph on, with the train_dir locked (a chief)."""
  config, placement = spec.config, spec.placement
  ops = build_train_graph(spec)
  with ops.graph.as_default():
    existing, plan, done = None, None, None
    if placement.is_chief:
      latest = checkpoints.latest_checkpoint(config.train_dir)
      done = checkpoints.checkpoint_step(latest) if latest else None
      existing, plan = prepare_train_dir(spec, spec.record(
          moving_average_decay=config.optim.moving_average_decay,
          last_step=max(ops.last_step, done or 0)), ops.model.variables)
    if done is not None and done >= ops.last_step:
      logging.info('already finished: %s is at step %d, the last step is %d; '
                   'nothing to train (raise --max_steps or --num_epochs to '
                   'train further)', existing, done, ops.last_step)
      return TrainResult(global_step=done, final_loss=float('nan'),
                         examples_per_sec=0.0, checkpoint=existing,
                         interrupted=False, already_finished=True)
    scaffold = make_scaffold(spec, ops, existing, plan)
    hooks, logging_hook = default_hooks(spec, ops)
    hooks.extend(extra_hooks or [])
    logging.info('training %s on %s: %d examples, %d classes, image %dx%d, '
                 'batch %d, until step %d (%.2f epochs)', config.model,
                 config.data.dataset, ops.batch.num_examples,
                 spec.num_classes, spec.image_size, spec.image_size,
                 spec.batch_size, ops.last_step,
                 ops.last_step / ops.steps_per_epoch)
    with distributed.watch_cluster(placement.cluster) as watchdog:
      if watchdog is not None:
        hooks.append(watchdog.progress_hook())
      if placement.cluster is not None and placement.is_chief:
        # A restarted chief keeps what the other workers trained meanwhile.
        distributed.checkpoint_live_state(
            placement.master, scaffold.saver, config.train_dir,
            session_config(spec), ops.global_step)
      step_value, loss_value, interrupted = run_training(spec, ops, hooks,
                                                         scaffold)
  final = checkpoints.latest_checkpoint(config.train_dir)
  # The fetched step was read before the last increment; another worker's
  # run reports the step it fetched, not the chief's checkpoint.
  if final and placement.is_chief:
    step_value = checkpoints.checkpoint_step(final) or step_value
  if interrupted:
    logging.warning('interrupted at step %d by %s (loss %.4f); checkpoint %s',
                    step_value, signal.Signals(interrupted).name, loss_value,
                    final)
  else:
    logging.info('stopped at step %d, loss %.4f; checkpoint %s',
                 step_value, loss_value, final)
  return TrainResult(global_step=int(step_value), final_loss=float(loss_value),
                     examples_per_sec=logging_hook.throughput() or 0.0,
                     checkpoint=final or '', interrupted=bool(interrupted),
                     signal=int(interrupted or 0))
