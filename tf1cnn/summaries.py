"""TensorBoard pieces shared by training and evaluation: tags, writers, images.

Training writes its events into `train_dir` and evaluation into
`train_dir/eval_<split>`, so TensorBoard pointed at `train_dir` shows the
two as runs `.` and `eval_<split>`. The curves that mean the same thing
have the same tag on both sides and overlay:

| tag | training (per batch) | evaluation (whole split) |
|---|---|---|
| `accuracy` | batch accuracy | accuracy |
| `top_5_accuracy` | batch top-5 accuracy (more than 5 classes) | top-5 accuracy |
| `loss` | mean softmax cross-entropy against the true labels | the same |

Training adds `loss/total` (the minimised objective: cross-entropy with
`--label_smoothing`, plus the weight decay), `learning_rate`, the input
images, the queue fill fractions, and with `--summarize_histograms`
histograms `weights/<variable>`, `gradients/<variable>` and
`activations/<end point>`. Evaluation adds `precision/<class>`,
`recall/<class>` and the image `confusion_matrix`.

Tags are exact: the summary ops are created with their tag rather than
derived from op names (which TensorFlow makes unique, so a summary named
like another op got `learning_rate_1`). Each events file holds its graph
once: `train_writer` keeps the shared writer of `train_dir` from writing
the graph when it is created (the checkpoint hook writes it with the meta
graph), and `eval_writer` writes the evaluation graph when it creates the
writer of an `eval_dir`.
"""

import io

import numpy as np
import tensorflow as tf
from PIL import Image

_V1 = tf.compat.v1

ACCURACY = 'accuracy'
TOP_5_ACCURACY = 'top_5_accuracy'
LOSS = 'loss'
TOTAL_LOSS = 'loss/total'
LEARNING_RATE = 'learning_rate'
CONFUSION_MATRIX = 'confusion_matrix'
TOP_K = 5


def _op_name(tag):
  return 'summaries/' + ''.join(c if c.isalnum() or c in '._-' else '_'
                                for c in tag)


def scalar(tag, tensor):
  """A scalar summary with exactly `tag`, in the SUMMARIES collection."""
  op = tf.raw_ops.ScalarSummary(tags=tag, values=tf.cast(tensor, tf.float32),
                                name=_op_name(tag))
  _V1.add_to_collection(_V1.GraphKeys.SUMMARIES, op)
  return op


def histogram(tag, values):
  """A histogram summary with exactly `tag`, in the SUMMARIES collection.

  Non-finite values count as 0: the op fails on NaN, and an fp16 step whose
  gradients overflow (skipped by the loss scale) must not stop training.
  """
  if isinstance(values, tf.IndexedSlices):
    values = values.values
  values = tf.cast(values, tf.float32)
  values = tf.where(tf.math.is_finite(values), values, tf.zeros_like(values))
  op = tf.raw_ops.HistogramSummary(tag=tag, values=values,
                                   name=_op_name(tag))
  _V1.add_to_collection(_V1.GraphKeys.SUMMARIES, op)
  return op


def _variable_name(variable):
  return variable.op.name


def add_histograms(variables=(), grads_and_vars=(), activations=()):
  """Histograms of weights, gradients and activations.

  Training adds them with `--summarize_histograms`.

  Args:
    variables: tag `weights/<variable name>`.
    grads_and_vars: tag `gradients/<variable name>` (None gradients skipped).
    activations: `{end point name: tensor}` or `[tensor]` (tagged by op
      name), tag `activations/<name>`.

  Returns:
    The summary ops.
  """
  ops = [histogram(f'weights/{_variable_name(v)}', v) for v in variables]
  ops += [histogram(f'gradients/{_variable_name(v)}', g)
          for g, v in grads_and_vars if g is not None]
  if not isinstance(activations, dict):
    activations = {t.op.name: t for t in activations}
  ops += [histogram(f'activations/{name}', tensor)
          for name, tensor in activations.items()
          if isinstance(tensor, tf.Tensor) and tensor.dtype.is_floating]
  return ops


def train_writer(logdir):
  """Gives `logdir` a shared FileWriter that has not written the graph.

  `MonitoredTrainingSession`'s hooks take the writer of their folder from
  `FileWriterCache`, which writes the graph when it creates a writer; the
  checkpoint hook then writes it again with the meta graph. Creating the
  cached writer here, without a graph, leaves one graph (and one meta
  graph) per run. Call before the session is created.
  """
  cache = _V1.summary.FileWriterCache
  with cache._lock:  # pylint: disable=protected-access
    writers = cache._cache  # pylint: disable=protected-access
    if logdir not in writers:
      writers[logdir] = _V1.summary.FileWriter(logdir)
    return writers[logdir]


def eval_writer(eval_dir, graph=None):
  """The shared FileWriter of `eval_dir`; a new one writes `graph` once."""
  if graph is None:
    graph = tf.Graph()  # Never the process's default graph.
  with graph.as_default():
    return _V1.summary.FileWriterCache.get(eval_dir)


def confusion_matrix_image(confusion, max_side=512):
  """Renders a confusion matrix as an RGB heat map.

  Cell (i, j) (row = true class, column = predicted) is shaded by the
  fraction of class i's examples predicted as j: white for 0 to dark blue
  for 1; rows without examples stay grey. Each cell is a square of
  `max(1, min(32, max_side // classes))` pixels.

  Args:
    confusion: `[C, C]` counts.
    max_side: upper bound of the image's side for large C.

  Returns:
    `uint8 [side, side, 3]`.
  """
  confusion = np.asarray(confusion, np.float64)
  classes = confusion.shape[0]
  totals = confusion.sum(axis=1, keepdims=True)
  fractions = np.divide(confusion, totals, out=np.zeros_like(confusion),
                        where=totals > 0)
  white = np.array([255.0, 255.0, 255.0])
  blue = np.array([8.0, 48.0, 107.0])
  pixels = white + fractions[..., None] * (blue - white)
  pixels[(totals[:, 0] == 0)] = 191.0
  cell = max(1, min(32, max_side // max(1, classes)))
  pixels = np.repeat(np.repeat(pixels, cell, axis=0), cell, axis=1)
  return np.round(pixels).astype(np.uint8)


def image_value(tag, pixels):
  """A `Summary.Value` holding `uint8 [H, W, 3]` pixels as a PNG image."""
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format='PNG')
  height, width = pixels.shape[:2]
  return _V1.Summary.Value(tag=tag, image=_V1.Summary.Image(
      height=height, width=width, colorspace=3,
      encoded_image_string=buffer.getvalue()))
