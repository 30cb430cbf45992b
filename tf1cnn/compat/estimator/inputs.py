"""`tf.estimator.inputs`: `numpy_input_fn` (queue-fed, as TF 1.15) and a stub.

`numpy_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None,
queue_capacity=1000, num_threads=1)` returns an input_fn that feeds the
arrays through a queue filled by a queue runner:

* rows go in as `[row index, column...]` batches of `batch_size`; with
  `shuffle=False` a FIFOQueue keeps the array order, with `shuffle=True` a
  RandomShuffleQueue (`min_after_dequeue` a quarter of the capacity) and
  each thread starts at a random row;
* `num_epochs=None` repeats forever (`dequeue_many`, full batches); a
  number stops after that many passes (`dequeue_up_to`: the last batch may
  be short) and the queue is closed, so the next read raises OutOfRange,
  which ends `train`, `evaluate` and `predict`;
* `x` is an array (features are one tensor) or a dict of arrays (features a
  dict); `y` None, an array (labels one tensor) or a dict of arrays;
* the queue's fill fraction is a summary
  `queue/<queue>/fraction_over_<min>_of_<capacity - min>_full`.

`shuffle` must be given as a bool (TF 1.15 refuses the default None).
`pandas_input_fn` raises `NotProvidedError`: pandas is not a dependency.
"""

import collections
import random
import threading

from absl import logging
import numpy as np
import tensorflow as tf

from tf1cnn.compat import missing
from tf1cnn.compat.estimator import errors

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

_V1 = tf.compat.v1
_DIRECT_INPUT_KEY = '__direct_np_input__'
_TARGET_KEY = '__target_key__'


def _features_dict(x):
  if isinstance(x, dict):
    if not x:
      raise _Error('x cannot be an empty dict')
    return collections.OrderedDict(sorted(x.items(), key=lambda t: t[0]))
  if isinstance(x, np.ndarray):
    if x.size == 0:
      raise _Error('x cannot be an empty array')
    return collections.OrderedDict([(_DIRECT_INPUT_KEY, x)])
  raise TypeError(f'x must be a dict or array; got {type(x).__name__}')


def _target_key(columns):
  key = _TARGET_KEY
  while key in columns:
    key += '_n'
  return key


class _EpochFeed(object):
  """Feeds one enqueue op: the next `batch_size` row indices, epoch by epoch."""

  def __init__(self, placeholders, columns, batch_size, random_start, seed,
               num_epochs):
    self._index_placeholder = placeholders[0]
    self._column_placeholders = placeholders[1:]
    self._columns = list(columns.values())
    self._rows = len(self._columns[0])
    self._batch_size = batch_size
    self._num_epochs = num_epochs
    self._epoch = 0
    rng = random.Random(seed)
    self._next = rng.randrange(self._rows) if random_start else 0
    self._epoch_last_row = (self._next - 1) % self._rows

  def __call__(self):
    if self._num_epochs is not None and self._epoch >= self._num_epochs:
      raise tf.errors.OutOfRangeError(
          None, None, f'Already emitted {self._epoch} epochs.')
    start = self._next
    rows = [i % self._rows for i in range(start, start + self._batch_size)]
    ends = [i for i, row in enumerate(rows) if row == self._epoch_last_row]
    self._epoch += len(ends)
    self._next = (start + self._batch_size) % self._rows
    if self._num_epochs is not None and self._epoch >= self._num_epochs:
      # Cut the batch at the end of the last epoch.
      last = ends[len(ends) - 1 - (self._epoch - self._num_epochs)]
      rows = rows[:last + 1]
    feed = {self._index_placeholder: np.asarray(rows, np.int64)}
    for placeholder, column in zip(self._column_placeholders, self._columns):
      feed[placeholder] = column[rows]
    return feed


class _FeedingQueueRunner(_V1.train.QueueRunner):
  """A QueueRunner whose enqueue ops take a feed_dict from a function.

  A feed function raising OutOfRangeError ends its thread; the last thread
  to end closes the queue.
  """

  def __init__(self, queue, enqueue_ops, feed_fns):
    super().__init__(queue=queue, enqueue_ops=enqueue_ops)
    self._feed_fns = dict(zip([op.name for op in enqueue_ops], feed_fns))
    self._feed_lock = threading.Lock()

  def _run(self, sess, enqueue_op, coord=None):
    feed_fn = self._feed_fns[enqueue_op.name]
    decremented = False
    try:
      while not (coord and coord.should_stop()):
        try:
          with self._feed_lock:
            feed_dict = feed_fn()
          sess.run(enqueue_op, feed_dict=feed_dict)
        except (tf.errors.OutOfRangeError, tf.errors.CancelledError):
          with self._lock:
            self._runs_per_session[sess] -= 1
            decremented = True
            if self._runs_per_session[sess] == 0:
              try:
                sess.run(self._close_op)
              except Exception as e:  # pylint: disable=broad-except
                logging.vlog(1, 'Ignored exception: %s', e)
          return
    except Exception as e:  # pylint: disable=broad-except
      if coord:
        coord.request_stop(e)
      else:
        logging.error('Exception in the numpy_input_fn queue runner: %s', e)
        with self._lock:
          self._exceptions_raised.append(e)
        raise
    finally:
      if not decremented:
        with self._lock:
          self._runs_per_session[sess] -= 1


def _enqueue(columns, capacity, shuffle, num_threads, batch_size, num_epochs,
             seed=None):
  """The queue of `[row index] + columns` rows and its feeding queue runner."""
  with tf.name_scope('enqueue_input'):
    dtypes = [tf.int64] + [tf.as_dtype(c.dtype) for c in columns.values()]
    shapes = [()] + [c.shape[1:] for c in columns.values()]
    if num_threads > 1 and num_epochs is not None:
      logging.warning('numpy_input_fn: num_epochs applies to each of the '
                      '%d threads, so the data are read %d times per epoch.',
                      num_threads, num_threads)
    if shuffle:
      min_after_dequeue = int(capacity / 4)
      queue = _V1.RandomShuffleQueue(capacity, min_after_dequeue,
                                     dtypes=dtypes, shapes=shapes, seed=seed)
    else:
      min_after_dequeue = 0
      queue = _V1.FIFOQueue(capacity, dtypes=dtypes, shapes=shapes)
    enqueue_ops, feed_fns = [], []
    for i in range(num_threads):
      placeholders = [_V1.placeholder(t) for t in dtypes]
      enqueue_ops.append(queue.enqueue_many(placeholders))
      feed_fns.append(_EpochFeed(
          placeholders, columns, batch_size, random_start=shuffle,
          seed=None if seed is None else (i + 1) * seed,
          num_epochs=num_epochs))
    _V1.train.add_queue_runner(
        _FeedingQueueRunner(queue, enqueue_ops, feed_fns))
    full = (tf.cast(tf.maximum(0, queue.size() - min_after_dequeue),
                    tf.float32) * (1. / (capacity - min_after_dequeue)))
    _V1.summary.scalar(
        'queue/%sfraction_over_%d_of_%d_full' %
        (queue.name, min_after_dequeue, capacity - min_after_dequeue), full)
  return queue


def numpy_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None,
                   queue_capacity=1000, num_threads=1):
  """An input_fn feeding numpy arrays in batches (TF 1.15 semantics).

  Args:
    x: a numpy array or a dict name -> array; all first dimensions equal.
    y: None, an array or a dict name -> array (keys distinct from x's).
    batch_size: rows per batch.
    num_epochs: passes over the data; None repeats forever.
    shuffle: True (random order) or False (array order); required.
    queue_capacity: the queue's capacity in rows.
    num_threads: feeding threads (order is kept only with one).

  Returns:
    input_fn() -> features or (features, labels).

  Raises:
    ValueError: shuffle not a bool (here); empty or mismatched arrays,
      duplicate keys (when the input_fn is called).
  """
  if not isinstance(shuffle, bool):
    raise _Error('shuffle must be provided and explicitly set as boolean '
                 '(it is recommended to set it as True for training); '
                 f'got {shuffle}')

  def input_fn():
    columns = _features_dict(x)
    feature_keys = list(columns)
    if y is None:
      target_keys = None
    elif isinstance(y, dict):
      if not y:
        raise _Error('y cannot be empty dict, use None instead.')
      targets = collections.OrderedDict(sorted(y.items(), key=lambda t: t[0]))
      target_keys = list(targets)
      duplicates = set(feature_keys) & set(target_keys)
      if duplicates:
        raise _Error(f'{len(duplicates)} duplicate keys are found in both '
                     f'x and y: {duplicates}')
      columns.update(targets)
    else:
      target_keys = _target_key(columns)
      columns[target_keys] = y
    if len({len(v) for v in columns.values()}) != 1:
      x_shapes = {k: columns[k].shape for k in feature_keys}
      if target_keys is None:
        y_shapes = None
      elif isinstance(target_keys, str):
        y_shapes = y.shape
      else:
        y_shapes = {k: columns[k].shape for k in target_keys}
      raise _Error('Length of tensors in x and y is mismatched. All '
                   'elements in x and y must have the same length. '
                   f'Shapes in x: {x_shapes}; shapes in y: {y_shapes}')
    queue = _enqueue(columns, queue_capacity, shuffle, num_threads,
                     batch_size, num_epochs)
    if num_epochs is None:
      batch = queue.dequeue_many(batch_size)
    else:
      batch = queue.dequeue_up_to(batch_size)
    batch = list(batch)[1:]  # Drop the row index.
    if isinstance(x, np.ndarray):
      features = batch[0]
    else:
      features = dict(zip(feature_keys, batch[:len(feature_keys)]))
    if target_keys is None:
      return features
    if isinstance(target_keys, str):
      return features, batch[-1]
    return features, dict(zip(target_keys, batch[-len(target_keys):]))

  return input_fn


def pandas_input_fn(*args, **kwargs):
  """Not provided: raises NotProvidedError (pandas is not a dependency)."""
  del args, kwargs
  raise missing.not_provided(
      'tf.estimator.inputs.pandas_input_fn',
      'convert the DataFrame with df.to_numpy() or a dict of columns and use '
      'tf.estimator.inputs.numpy_input_fn')
