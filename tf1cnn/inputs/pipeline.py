"""Queue-runner batching shared by every dataset reader.

A reader produces one example at a time (an image tensor and an int32 label,
typically from `tf.compat.v1.train.slice_input_producer`) and hands it to
`batch_examples`, which

* standardises the image (`tf.image.per_image_standardization`),
* batches it with `shuffle_batch` (training) or `batch` with
  `allow_smaller_final_batch=True` (evaluation, so that every example is seen
  exactly once),
* reports the queue fill level as a summary, so a slow pipeline shows itself.

Every reader returns an `InputBatch`. Queues are started by
`MonitoredTrainingSession` or by `tf.compat.v1.train.start_queue_runners`; a
pipeline built with `num_epochs` ends with `tf.errors.OutOfRangeError`.

A pipeline that fails while it runs (a file deleted or rewritten after the
start-up check) raises a TensorFlow `OpError` from a queue-runner thread.
`record_ops` notes which ops a pipeline builder created, and `input_failure`
turns such an error from one of them into one line naming the file.
"""

import collections
import contextlib
import os
import re
import weakref

import tensorflow as tf

_V1 = tf.compat.v1

InputBatch = collections.namedtuple(
    'InputBatch', ['images', 'labels', 'num_examples', 'class_names'])
InputBatch.__doc__ = """One batch of a dataset.

Attributes:
  images: float32 `[batch, H, W, C]`, standardised per image.
  labels: int32 `[batch]`.
  num_examples: number of examples in the split (an int).
  class_names: list of class names; label i is class_names[i].
"""

# Collection of the queue fill-fraction tensors (see `queue_fill_fraction`).
QUEUE_FILL = 'tf1cnn_queue_fill'
# graph -> `[fn() -> {path: reason}]`, re-checks of its pipelines' files.
_FILE_CHECKS = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def record_ops(names):
  """Adds the names of the graph ops created inside the block to `names`."""
  graph = _V1.get_default_graph()
  start = len(graph.get_operations())
  yield names
  names.update(op.name for op in graph.get_operations()[start:])


_NODE = re.compile(r'\{\{node ([^}\s]+)\}\}')
_BRACKETED = re.compile(r'\[\[([^\]\s{}]+)\]\]')  # [[op]] of a tf.data error


def input_failure(error, input_op_names, source):
  """One line for an `OpError` raised by an input op, or None.

  Args:
    error: a `tf.errors.OpError`.
    input_op_names: names collected with `record_ops` around the pipeline.
    source: what was being read, for the message (e.g. '--data_dir=...').
  """
  # The failing op, or any op the message names: a tf.data error names
  # the op inside its map function first, then the IteratorGetNext.
  candidates = [error.op.name] if getattr(error, 'op', None) is not None else []
  candidates += _NODE.findall(error.message or '')
  candidates += _BRACKETED.findall(error.message or '')
  node = next((name for name in candidates if name in input_op_names), None)
  if node is None:
    return None
  lines = [line.strip() for line in (error.message or '').splitlines()
           if line.strip() and line.strip() != 'Graph execution error:']
  first_line = lines[0] if lines else type(error).__name__
  detail = 'did a file change after the run started?'
  if not isinstance(error, (tf.errors.NotFoundError,
                            tf.errors.PermissionDeniedError)):
    # A decoder's message does not name the file: check them again.
    graph = (error.op.graph if getattr(error, 'op', None) is not None
             else _V1.get_default_graph())
    bad = {}
    for check in _FILE_CHECKS.get(graph, ()):
      bad.update(check())
    if bad:
      path = sorted(bad)[0]
      shown = os.fsencode(path).decode('utf-8', 'backslashreplace')
      more = f' (+{len(bad) - 1} more)' if len(bad) > 1 else ''
      detail = (f'{shown} changed after the run started and is now '
                f'unreadable: {bad[path]}{more}')
  return f'reading {source} failed: {first_line} (in {node}; {detail})'


def note_files(check):
  """Registers how to re-check a pipeline's files, for `input_failure`.

  Args:
    check: `fn() -> {path: reason}` of the files that are bad now; called
      only when an input op fails with a message that names no file (a
      decoder's). Kept for the default graph (not in a collection: a
      Python function cannot go into a MetaGraph).
  """
  _FILE_CHECKS.setdefault(_V1.get_default_graph(), []).append(check)


def default_num_threads():
  """Reader threads: one per core, at least 2, at most 8."""
  return max(2, min(8, os.cpu_count() or 2))


def queue_fill_fraction(queue_size, capacity, name):
  """Records a queue's fill fraction as a scalar summary and returns it."""
  fraction = tf.cast(queue_size, tf.float32) * (1.0 / capacity)
  _V1.summary.scalar(f'queue/{name}/fraction_of_{capacity}_full', fraction)
  _V1.add_to_collection(QUEUE_FILL, fraction)
  return fraction


def batch_examples(image, label, batch_size, is_training, num_threads=None,
                   min_after_dequeue=None, capacity=None, seed=None,
                   name='batch'):
  """Batches single examples through a queue.

  Args:
    image: one preprocessed image `[H, W, C]` with a static shape.
    label: scalar int32 label.
    batch_size: examples per batch.
    is_training: shuffle (`shuffle_batch`) when True; otherwise `batch` in
      order with `allow_smaller_final_batch=True`.
    num_threads: enqueue threads; training defaults to
      `default_num_threads()`, evaluation uses 1 (to keep file order).
    min_after_dequeue: shuffle buffer floor (training).
    capacity: queue capacity.
    seed: shuffle seed.
    name: name scope, also used for the queue-fill summary.

  Returns:
    `(images, labels)` batch tensors.
  """
  label = tf.cast(label, tf.int32)
  if is_training:
    threads = num_threads or default_num_threads()
    min_after_dequeue = (min_after_dequeue if min_after_dequeue is not None
                         else max(4 * batch_size, 256))
    capacity = capacity or (min_after_dequeue + (threads + 2) * batch_size)
    images, labels = _V1.train.shuffle_batch(
        [image, label], batch_size=batch_size, num_threads=threads,
        capacity=capacity, min_after_dequeue=min_after_dequeue, seed=seed,
        name=name)
  else:
    capacity = capacity or 4 * batch_size
    # One thread keeps the order deterministic; allow_smaller_final_batch
    # makes the last partial batch come out instead of being dropped.
    images, labels = _V1.train.batch(
        [image, label], batch_size=batch_size, num_threads=num_threads or 1,
        capacity=capacity, allow_smaller_final_batch=True, name=name)
  return images, labels


@contextlib.contextmanager
def queue_runners(sess, stop_grace_period_secs=10):
  """Starts the graph's queue runners for `sess`; stops and joins them after.

  Yields:
    The Coordinator.
  """
  coord = _V1.train.Coordinator()
  threads = _V1.train.start_queue_runners(sess=sess, coord=coord)
  try:
    yield coord
  finally:
    coord.request_stop()
    coord.join(threads, stop_grace_period_secs=stop_grace_period_secs)


def run_to_end(sess, fetches, consume, max_steps=None):
  """Runs `fetches` until the input ends (OutOfRangeError), with queues.

  Args:
    sess: a session of the graph.
    fetches: what to run per batch.
    consume: `fn(values)` called with each batch's values.
    max_steps: stop after this many batches (None: the end of the input).
  """
  steps = 0
  with queue_runners(sess) as coord:
    try:
      while not coord.should_stop() and (max_steps is None
                                         or steps < max_steps):
        consume(sess.run(fetches))
        steps += 1
    except tf.errors.OutOfRangeError:
      pass
