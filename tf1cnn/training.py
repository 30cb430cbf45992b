"""Training in graph mode with `MonitoredTrainingSession`.

`train(config)` builds one graph:

    input pipeline (pinned to the CPU) -> network (is_training=True)
    -> loss = sparse softmax cross-entropy + REGULARIZATION_LOSSES
    -> optimizer.minimize, run after the UPDATE_OPS (batch norm statistics)
    -> optional ExponentialMovingAverage of the weights

and runs it in a `MonitoredTrainingSession`, which starts the queue runners,
restores the latest checkpoint of `train_dir` (resume), saves checkpoints
(`Saver(max_to_keep=keep_checkpoint_max)`) and summaries (loss, accuracy,
learning rate, queue fill, a few input images). A log line every
`log_every_n_steps` gives loss, batch accuracy, examples/sec and time left.
`InputWaitHook` warns when the model waits on its input, and
`profile_every_n_steps` writes a Chrome trace of one step (`ProfilerHook`).

Ctrl-C stops after the current step and saves a checkpoint (a second Ctrl-C
aborts at once). Before anything is written, a checkpoint already in
`train_dir` is checked against the new graph, so pointing a run at another
model's directory is an error naming the checkpoint, and that checkpoint is
left untouched.
"""

import contextlib
import dataclasses
import math
import os
import signal
import time

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import distributed
from tf1cnn import finetune
from tf1cnn import inputs
from tf1cnn import models
from tf1cnn import precision
from tf1cnn import runtime
from tf1cnn.inputs import cache as cache_input
from tf1cnn.inputs import device
from tf1cnn.inputs import jpeg
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import tfdata

_V1 = tf.compat.v1


def learning_rate_schedule(config, global_step, steps_per_epoch, total_steps):
  """Returns the learning-rate tensor for `config.lr_schedule`.

  Args:
    config: TrainingConfig.
    global_step: the global step tensor.
    steps_per_epoch: steps in one epoch (float).
    total_steps: planned number of steps (for cosine decay).
  """
  step = tf.cast(global_step, tf.float32)
  base = tf.constant(config.learning_rate, tf.float32)
  if config.lr_schedule == 'fixed':
    lr = base
  elif config.lr_schedule == 'exponential':
    decay_steps = max(1.0, config.lr_decay_epochs * steps_per_epoch)
    lr = base * tf.pow(config.lr_decay_rate, tf.floor(step / decay_steps))
  elif config.lr_schedule == 'cosine':
    progress = tf.minimum(step / float(max(1, total_steps)), 1.0)
    lr = base * 0.5 * (1.0 + tf.cos(math.pi * progress))
  else:
    raise runtime.UserInputError(
        f'--lr_schedule={config.lr_schedule!r}: use fixed, exponential or cosine')
  if config.warmup_epochs > 0:
    warmup_steps = config.warmup_epochs * steps_per_epoch
    lr = lr * tf.minimum(1.0, (step + 1.0) / warmup_steps)
  return tf.identity(lr, name='learning_rate')


def make_optimizer(name, learning_rate, momentum=0.9):
  """Returns a `tf.compat.v1.train` optimizer by name."""
  if name == 'adam':
    return _V1.train.AdamOptimizer(learning_rate)
  if name == 'momentum':
    return _V1.train.MomentumOptimizer(learning_rate, momentum)
  if name == 'sgd':
    return _V1.train.GradientDescentOptimizer(learning_rate)
  if name == 'rmsprop':
    return _V1.train.RMSPropOptimizer(learning_rate, momentum=momentum)
  raise runtime.UserInputError(
      f'--optimizer={name!r}: use adam, momentum, sgd or rmsprop')


def total_loss(logits, labels, regularization_scope=None, name='total_loss'):
  """Mean sparse softmax cross-entropy plus the REGULARIZATION_LOSSES.

  Args:
    logits: `[batch, classes]`.
    labels: `[batch]` int labels.
    regularization_scope: count only the regularisation losses whose name
      starts with this scope (one tower's); None counts them all.
    name: name of the total.

  Returns:
    `(total, cross_entropy)` scalar tensors.
  """
  cross_entropy = tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)),
      name='cross_entropy')
  regularization = _V1.get_collection(_V1.GraphKeys.REGULARIZATION_LOSSES,
                                      regularization_scope)
  if regularization:
    total = tf.add(cross_entropy, tf.add_n(regularization), name=name)
  else:
    total = tf.identity(cross_entropy, name=name)
  return total, cross_entropy


def build_train_op(loss, optimizer, global_step, moving_average_decay=0.0,
                   var_list=None, grads_and_vars=None, update_ops=None):
  """Creates the train op; it runs after the batch-norm update ops.

  With `moving_average_decay > 0` an `ExponentialMovingAverage` of the
  trainable variables is updated after each step (shadow variables
  `<var>/ExponentialMovingAverage`, restored by evaluation).

  Args:
    loss: the loss to minimise (ignored when `grads_and_vars` is given).
    optimizer: a `tf.compat.v1.train.Optimizer`.
    global_step: incremented by the train op.
    moving_average_decay: weight averaging; 0 turns it off.
    var_list: variables to train (default: all trainable).
    grads_and_vars: precomputed gradients (e.g. averaged over towers).
    update_ops: ops to run first; default the UPDATE_OPS collection.
  """
  if update_ops is None:
    update_ops = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
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


def check_model_dataset(model_name, info, image_size):
  """Fails before training when a model cannot take a dataset's images.

  Args:
    model_name: registry name.
    info: inputs.DatasetInfo.
    image_size: the input size the run will use.

  Raises:
    UserInputError: saying which of channels / image size does not fit.
  """
  builder = models.get_builder(model_name)
  if info.channels != builder.default_channels:
    raise runtime.UserInputError(
        f'--model={model_name} takes {builder.default_channels}-channel '
        f'images but --dataset={info.name} has {info.channels} channel(s)')
  if info.image_size is not None and image_size != info.image_size:
    raise runtime.UserInputError(
        f'--image_size={image_size} but --dataset={info.name} images are '
        f'{info.image_size}x{info.image_size}; leave --image_size at 0')
  if info.num_classes < 2:
    raise runtime.UserInputError(f'--dataset={info.name} has only '
                                 f'{info.num_classes} class(es)')


def resolve_image_size(config_image_size, model_name, info):
  """The image size a run uses: the flag, else the dataset's, else the model's."""
  if config_image_size:
    return int(config_image_size)
  if info.image_size:
    return int(info.image_size)
  return int(models.get_builder(model_name).default_image_size)


def lookup_dataset_info(dataset, data_dir):
  """DatasetInfo, with an unknown dataset name turned into a UserInputError."""
  try:
    return inputs.dataset_info(dataset, data_dir)
  except KeyError as e:
    raise runtime.UserInputError(f'--dataset: {e.args[0]}') from None


def check_model_name(model):
  """Raises UserInputError listing the valid models for an unknown name."""
  try:
    models.get_builder(model)
  except KeyError as e:
    raise runtime.UserInputError(f'--model: {e.args[0]}') from None


def network_fn_for(model, num_classes, is_training, **options):
  """`models.get_network_fn` with option errors as UserInputError."""
  try:
    return models.get_network_fn(model, num_classes, is_training=is_training,
                                 **options)
  except ValueError as e:
    raise runtime.UserInputError(f'--model={model}: {e}') from None


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

  The checkpoints written so far stay; the message names the latest.
  """
  def kept():
    latest = checkpoints.latest_checkpoint(config.train_dir)
    return (f'; the latest checkpoint, {latest}, is kept' if latest else
            '; no checkpoint was written yet')
  try:
    yield
  except tf.errors.OpError as e:
    failure = pipeline.input_failure(e, input_ops,
                                     f'--data_dir={config.data_dir}')
    if failure is None:
      raise
    raise runtime.UserInputError(failure + kept()) from None
  except _V1.train.NanLossDuringTrainingError:
    raise runtime.UserInputError(
        f'the loss became NaN: lower --learning_rate={config.learning_rate} '
        '(or add --warmup_epochs), or check the data' + kept()) from None


class _StopOnSignal:
  """First SIGINT/SIGTERM: finish the step and stop; second: abort."""

  def __init__(self):
    self.requested = False
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
    logging.warning('signal %d: stopping after this step and saving a '
                    'checkpoint (again to abort)', signum)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


@dataclasses.dataclass
class TrainResult:
  """What a finished `train` call reports."""
  global_step: int
  final_loss: float
  examples_per_sec: float
  checkpoint: str
  interrupted: bool


def build_input_for(config, split, is_training, class_names=None,
                    image_size=None, num_epochs=None, batch_size=None,
                    input_device='/cpu:0'):
  """Builds the dataset pipeline a config describes (input ops on the CPU)."""
  options = dict(image_size=image_size, num_epochs=num_epochs,
                 augment=config.augment if is_training else False,
                 seed=getattr(config, 'seed', None),
                 bad_images=config.bad_images)
  if class_names is not None:
    options['class_names'] = class_names
  if is_training and getattr(config, 'augmentation', ''):
    options['augmentation'] = config.augmentation
  threads = getattr(config, 'input_threads', 0)
  if threads:
    options['num_threads'] = threads
  pipeline_name = getattr(config, 'pipeline', '') or 'queue'
  decode = getattr(config, 'jpeg_decode', '') or 'auto'
  if pipeline_name not in _PIPELINES:
    raise runtime.UserInputError(
        f'--pipeline={pipeline_name!r}: use {", ".join(_PIPELINES)}')
  if decode not in ('auto',) + jpeg.DECODE_MODES:
    raise runtime.UserInputError(
        f'--jpeg_decode={decode!r}: use auto, {", ".join(jpeg.DECODE_MODES)}')
  if pipeline_name == 'queue' and decode in ('auto', 'full'):
    builder = inputs.build_input  # The plain queue pipeline of the dataset.
  else:
    if config.dataset != 'image_folder':
      raise runtime.UserInputError(
          f'--pipeline={pipeline_name} --jpeg_decode={decode} needs '
          f'--dataset=image_folder, not {config.dataset}')
    options.update(decode='reduced' if decode == 'auto' else decode,
                   cache_dir=getattr(config, 'cache_dir', ''))
    builder = _PIPELINES[pipeline_name].build_input
  with tf.device(input_device):
    return builder(config.dataset, config.data_dir, split,
                   batch_size or config.batch_size, is_training, **options)


# --pipeline -> module for image folders (queue with --jpeg_decode=reduced).
_PIPELINES = {'queue': jpeg, 'cached': cache_input, 'tfdata': tfdata}


@dataclasses.dataclass
class _ModelOps:
  """The training graph's model part (see `_build_model`)."""
  logits: tf.Tensor
  labels: tf.Tensor
  loss: tf.Tensor
  cross_entropy: tf.Tensor
  train_op: tf.Operation
  variables: list  # the network's variables, for the warm start


def _build_model(config, batch, network_fn, optimizer, global_step, devices):
  """The network on one device or as towers, the loss and the train op.

  Only `--trainable_scopes` are trained (all by default).
  """
  # The network's variables (weights, batch-norm statistics) are the ones
  # created from here until the optimizer adds its slots.
  before_model = {v.ref() for v in _V1.global_variables()}
  if len(devices) > 1:
    towers = distributed.build_towers(network_fn, batch.images, batch.labels,
                                      devices, optimizer, total_loss)
    variables = _created_since(before_model)
    var_list = finetune.trainable_variables(config.trainable_scopes)
    trained = {v.ref() for v in var_list}
    train_op = build_train_op(
        towers.loss, optimizer, global_step, config.moving_average_decay,
        var_list=var_list,
        grads_and_vars=[(g, v) for g, v in towers.grads_and_vars
                        if v.ref() in trained],
        update_ops=towers.update_ops)
    return _ModelOps(towers.logits, towers.labels, towers.loss,
                     towers.cross_entropy, train_op, variables)
  # tf.device(None) would clear the replica device setter: only pin the
  # model when a device was asked for.
  with tf.device(devices[0]) if devices else contextlib.nullcontext():
    logits, _ = network_fn(batch.images)
    loss, cross_entropy = total_loss(logits, batch.labels)
    variables = _created_since(before_model)
    var_list = finetune.trainable_variables(config.trainable_scopes)
    train_op = build_train_op(loss, optimizer, global_step,
                              config.moving_average_decay, var_list=var_list)
  return _ModelOps(logits, batch.labels, loss, cross_entropy, train_op,
                   variables)


def _prepare_train_dir(config, class_names, run_config):
  """Checks a checkpoint to resume against the graph, then writes metadata.

  Nothing is written before the checks pass.

  Returns:
    `(latest checkpoint or None, variables it lacks that start afresh)`.

  Raises:
    UserInputError: a checkpoint of another model or other classes.
  """
  existing = checkpoints.latest_checkpoint(config.train_dir)
  fresh_variables = []
  if existing:
    fresh_variables = checkpoints.check_compatible(
        existing, _V1.global_variables(), what=f'--model={config.model}',
        optional=_V1.get_collection(precision.LOSS_SCALE_VARIABLES))
    stored_labels = checkpoints.read_labels(config.train_dir)
    if stored_labels is not None and stored_labels != class_names:
      raise runtime.UserInputError(
          f'{config.train_dir}/labels.txt lists classes {stored_labels} but '
          f'the data has {class_names}: use a new --train_dir')
    logging.info('resuming from %s%s', existing,
                 ' (the loss scale starts afresh: the checkpoint has none)'
                 if fresh_variables else '')
  checkpoints.write_labels(config.train_dir, class_names)
  checkpoints.write_run_config(config.train_dir, run_config)
  return existing, fresh_variables


def train(config, extra_hooks=None):
  """Trains `config.model` on `config.dataset`; returns a TrainResult.

  Args:
    config: tf1cnn.flags.TrainingConfig.
    extra_hooks: more SessionRunHooks.

  Raises:
    UserInputError: bad flags, data or an incompatible checkpoint.
  """
  check_model_name(config.model)
  if config.batch_size <= 0:
    raise runtime.UserInputError(f'--batch_size={config.batch_size} must be > 0')
  if config.max_steps <= 0 and config.num_epochs <= 0:
    raise runtime.UserInputError('set --max_steps or --num_epochs')
  info = lookup_dataset_info(config.dataset, config.data_dir)
  image_size = resolve_image_size(config.image_size, config.model, info)
  check_model_dataset(config.model, info, image_size)
  run_precision = precision.resolve(getattr(config, 'precision', 'fp32'),
                                    getattr(config, 'precision_fallback', False))
  devices = distributed.parse_devices(getattr(config, 'devices', ''))
  cluster = distributed.cluster_config(
      getattr(config, 'ps_hosts', ''), getattr(config, 'worker_hosts', ''),
      getattr(config, 'job_name', ''), getattr(config, 'task_index', 0))
  server = None
  if cluster is not None:
    server = distributed.start_server(cluster)
    if cluster.job_name == 'ps':
      logging.info('parameter server %d serving at %s', cluster.task_index,
                   cluster.ps_hosts[cluster.task_index])
      server.join()  # Serves until the process is stopped.
      return None
  distributed.check_gpus_visible(devices)
  is_chief = cluster is None or cluster.is_chief
  os.makedirs(config.train_dir, exist_ok=True)

  graph = tf.Graph()
  with graph.as_default(), _V1.device(
      distributed.worker_device_setter(cluster) if cluster else None):
    if config.seed is not None:
      _V1.set_random_seed(config.seed)
    global_step = _V1.train.get_or_create_global_step()
    input_ops = set()
    with pipeline.record_ops(input_ops):
      batch = build_input_for(
          config, config.train_split, is_training=True, image_size=image_size,
          input_device=(f'/job:worker/task:{cluster.task_index}/cpu:0'
                        if cluster else '/cpu:0'))
    batch, staging_hooks = device.maybe_stage(batch)
    steps_per_epoch = batch.num_examples / float(config.batch_size)
    last_step = (config.max_steps if config.max_steps > 0 else
                 int(math.ceil(config.num_epochs * steps_per_epoch)))
    network_fn = network_fn_for(
        config.model, len(batch.class_names), is_training=True,
        weight_decay=config.weight_decay, drop_rate=config.drop_rate,
        **config.model_options)
    learning_rate = learning_rate_schedule(config, global_step,
                                           steps_per_epoch, last_step)
    optimizer = precision.wrap_optimizer(
        make_optimizer(config.optimizer, learning_rate, config.momentum),
        run_precision)
    model = _build_model(config, batch, network_fn, optimizer, global_step,
                         devices)
    logits, labels, loss = model.logits, model.labels, model.loss
    accuracy = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels),
        tf.float32), name='batch_accuracy')

    _V1.summary.scalar('loss/total', loss)
    _V1.summary.scalar('loss/cross_entropy', model.cross_entropy)
    _V1.summary.scalar('accuracy/batch', accuracy)
    _V1.summary.scalar('learning_rate', learning_rate)
    _V1.summary.image('input_images', batch.images, max_outputs=3)

    existing, fresh_variables = None, []
    if is_chief:
      existing, fresh_variables = _prepare_train_dir(
          config, batch.class_names, dict(
              model=config.model, dataset=config.dataset,
              image_size=image_size, channels=info.channels,
              num_classes=len(batch.class_names),
              model_options=config.model_options,
              moving_average_decay=config.moving_average_decay,
              last_step=last_step))

    init_fn = None
    if config.warm_start_from and is_chief:
      if existing:
        logging.info('--warm_start_from=%s is not used: resuming from %s',
                     config.warm_start_from, existing)
      else:
        init_fn = finetune.warm_start_init_fn(
            config.warm_start_from, model.variables, config.warm_start_exclude)
    saver_options = dict(max_to_keep=config.keep_checkpoint_max,
                         save_relative_paths=True)
    saver = (checkpoints.ResumeSaver(fresh_variables, **saver_options)
             if fresh_variables else _V1.train.Saver(**saver_options))
    scaffold = _V1.train.Scaffold(saver=saver, init_fn=init_fn)
    logging_hook = _LoggingHook(
        dict(global_step=global_step, loss=loss, accuracy=accuracy,
             learning_rate=learning_rate),
        config.log_every_n_steps, config.batch_size, last_step)
    hooks = [_V1.train.StopAtStepHook(last_step=last_step),
             _V1.train.NanTensorHook(loss), logging_hook,
             device.InputWaitHook(config.batch_size,
                                  every_n_steps=max(1, config.log_every_n_steps
                                                    // 5))]
    hooks.extend(staging_hooks)
    if config.profile_every_n_steps > 0 and is_chief:
      # Open the files in chrome://tracing or Perfetto: input, model and
      # optimizer ops per device, with tensor memory.
      hooks.append(_V1.train.ProfilerHook(
          save_steps=config.profile_every_n_steps,
          output_dir=config.train_dir, show_memory=True))
    hooks.extend(extra_hooks or [])
    save_steps = config.save_checkpoint_steps or None
    save_secs = None if save_steps else config.save_checkpoint_secs
    logging.info('training %s on %s: %d examples, %d classes, image %dx%d, '
                 'batch %d, until step %d (%.2f epochs)', config.model,
                 config.dataset, batch.num_examples, len(batch.class_names),
                 image_size, image_size, config.batch_size, last_step,
                 last_step / steps_per_epoch)
    step_value, loss_value = 0, float('nan')
    with _StopOnSignal() as stop_signal, _training_failures(config,
                                                            input_ops):
      with _V1.train.MonitoredTrainingSession(
          master=server.target if server else '', is_chief=is_chief,
          checkpoint_dir=config.train_dir, scaffold=scaffold, hooks=hooks,
          save_checkpoint_steps=save_steps, save_checkpoint_secs=save_secs,
          save_summaries_steps=max(1, config.log_every_n_steps),
          log_step_count_steps=0,
          config=precision.apply_to_config(
              distributed.restrict_to_own_tasks(distributed.add_cpu_devices(
                  runtime.session_config(), devices), cluster),
              run_precision)) as sess:
        while not sess.should_stop():
          _, step_value, loss_value = sess.run(
              [model.train_op, global_step, loss])
          if stop_signal.requested:
            break  # Leaving the block normally runs the final checkpoint save.
    final = checkpoints.latest_checkpoint(config.train_dir)
    if final:  # The fetched step was read before the last increment.
      step_value = int(tf.train.load_variable(final, 'global_step'))
    logging.info('stopped at step %d, loss %.4f; checkpoint %s%s',
                 step_value, loss_value, final,
                 ' (interrupted)' if stop_signal.requested else '')
    return TrainResult(global_step=int(step_value), final_loss=float(loss_value),
                       examples_per_sec=logging_hook.throughput() or 0.0,
                       checkpoint=final or '',
                       interrupted=stop_signal.requested)
