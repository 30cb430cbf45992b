"""Staging input batches onto an accelerator, and input-wait detection.

On a GPU machine the input ops stay on the CPU (`training.build_input_for`
pins them there) and `stage_to_device` adds a one-batch `StagingArea` on the
GPU: each training step runs the model on the batch copied during the
previous step while the next batch is being copied, so the host-to-device
copy overlaps the computation. `StagingHook` primes the area when the session
starts and runs the `put` with every step. Without a GPU nothing is staged
(`maybe_stage` returns the batch unchanged).

`InputWaitHook` reads the fill level of the input queues every N steps and
warns when the batch queue is nearly empty most of the time, that is when the
model waits on its input.
"""

import tensorflow as tf
from absl import logging
from tensorflow.python.ops import data_flow_ops  # pylint: disable=g-direct-tensorflow-import

from tf1cnn import runtime
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1

QUEUE_OP_TYPES = ('RandomShuffleQueueV2', 'FIFOQueueV2', 'PaddingFIFOQueueV2')


def gpu_device():
  """The first visible GPU's device string, or None."""
  gpus = tf.config.list_physical_devices('GPU')
  return '/gpu:0' if gpus else None


class StagingHook(_V1.train.SessionRunHook):
  """Primes a StagingArea at session start and refills it every step."""

  def __init__(self, put_op):
    self._put_op = put_op

  def after_create_session(self, session, coord):
    del coord
    session.run(self._put_op)

  def before_run(self, run_context):
    return _V1.train.SessionRunArgs(self._put_op)


def stage_to_device(batch, device):
  """Copies batches to `device` one step ahead through a StagingArea.

  Args:
    batch: pipeline.InputBatch with static image shapes.
    device: e.g. '/gpu:0' (any device works; tests use '/cpu:0').

  Returns:
    `(staged InputBatch, StagingHook)`: run the hook with the training loop.
  """
  runtime.require_graph_mode('device.stage_to_device')
  with tf.device(device), tf.name_scope('stage_input'):
    area = data_flow_ops.StagingArea(
        dtypes=[batch.images.dtype, batch.labels.dtype],
        shapes=[batch.images.shape, batch.labels.shape], capacity=2)
    put_op = area.put([batch.images, batch.labels])
    images, labels = area.get()
  return batch._replace(images=images, labels=labels), StagingHook(put_op)


def maybe_stage(batch):
  """`stage_to_device` on the first GPU if one is visible.

  Returns:
    `(batch, hooks)`: the batch unchanged and no hook without a GPU.
  """
  device = gpu_device()
  if device is None:
    return batch, []
  staged, hook = stage_to_device(batch, device)
  logging.info('staging input batches on %s', device)
  return staged, [hook]


def _queue_fill_tensors(graph):
  """`{queue name: (size tensor, capacity, min_after_dequeue or 0)}`."""
  fills = {}
  for op in graph.get_operations():
    if op.type not in QUEUE_OP_TYPES:
      continue
    # Only the batching queues (scope `.../batch/`) feed the model directly.
    parts = op.name.split('/')
    if len(parts) < 2 or 'batch' not in parts[-2]:
      continue
    capacity = op.get_attr('capacity')
    floor = (op.get_attr('min_after_dequeue')
             if op.type == 'RandomShuffleQueueV2' else 0)
    with tf.name_scope('input_wait'):
      size = tf.raw_ops.QueueSizeV2(handle=op.outputs[0])
    fills[op.name] = (size, capacity, floor)
  return fills


class InputWaitHook(_V1.train.SessionRunHook):
  """Warns when the batch queues are nearly empty: the model waits on input.

  `begin` adds a fill-fraction summary per batching queue
  (`queue/<queue name>/fraction_of_<capacity>_full`, see
  `pipeline.queue_fill_fraction`). Every `every_n_steps` steps it reads each
  batching queue's size; when it is below `floor + batch_size` (shuffle
  queues keep `min_after_dequeue` examples, so fewer than one batch above
  that means the next step waits) in more than half of the last `window`
  checks, it logs a warning once per window. `waiting_fraction()` reports
  the share of checks that found the queue short.
  """

  def __init__(self, batch_size, every_n_steps=20, window=10):
    self._batch_size = batch_size
    self._every = max(1, every_n_steps)
    self._window = window
    self._fills = {}
    self._step = 0
    self._recent = []
    self.checks = 0
    self.short = 0

  def begin(self):
    self._fills = _queue_fill_tensors(_V1.get_default_graph())
    for name, (size, capacity, _) in self._fills.items():
      pipeline.queue_fill_fraction(size, capacity, name.replace('/', '_'))

  def before_run(self, run_context):
    self._step += 1
    if not self._fills or self._step % self._every:
      return None
    return _V1.train.SessionRunArgs(
        {name: size for name, (size, _, _) in self._fills.items()})

  def after_run(self, run_context, run_values):
    if run_values.results is None:
      return
    short_queues = [
        name for name, value in run_values.results.items()
        if value < self._fills[name][2] + self._batch_size]
    self.checks += 1
    self.short += bool(short_queues)
    self._recent.append(bool(short_queues))
    if len(self._recent) >= self._window:
      if sum(self._recent) > len(self._recent) // 2:
        logging.warning(
            'the model waits on its input: %s held less than one batch in '
            '%d of the last %d checks; try --pipeline=cached, '
            '--jpeg_decode=reduced for photos much larger than --image_size, '
            'or more --input_threads',
            ', '.join(short_queues) or 'the batch queue', sum(self._recent),
            len(self._recent))
      self._recent = []

  def waiting_fraction(self):
    """Share of checks in which a batch queue held less than one batch."""
    return self.short / self.checks if self.checks else 0.0
