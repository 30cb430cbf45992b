"""Running exported models: frozen GraphDefs, TFLite files and SavedModels.

`load(path)` opens one exported model with TensorFlow's stock runtimes

* a frozen GraphDef (`.pb`, `tf1cnn.export_formats`): imported with
  `tf.compat.v1.import_graph_def` and run in a session, fed at `input:0`;
* a TFLite flatbuffer (`.tflite`): `tf.lite.Interpreter` (its default CPU
  delegate); a quantised input or output is (de)quantised with the tensor's
  own scale and zero point;
* a SavedModel folder: `tf.compat.v1.saved_model.loader.load`, signature
  `predict_images`;

and returns a `ServedModel` whose `probabilities(pixels)` takes float32
pixels 0-255 `[N, S, S, C]` (the recipe's normalisation is inside every
export) and returns `[N, classes]` float32.

The image size, channels and preprocessing come from the `run_config.json`
of the export (beside the file or in the version folder above it), the class
names from the `labels.txt` beside it (or the SavedModel's asset).

`split_pixels(...)` yields the pixels the evaluation pipeline would give the
network, before normalisation (`preprocess.photo_pixels`: the recorded decode
mode and eval geometry), with their labels, from an image-folder split; it
feeds served-model evaluation (`evaluate_split`), the export's comparison
with the checkpoint and the TFLite calibration.
"""

import dataclasses
import json
import os
from typing import List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

# Node names of every tf1cnn serving graph (frozen, SavedModel, TFLite).
INPUT = 'input'
INPUT_JPEG = 'input_jpeg'
OUTPUTS = ('probabilities', 'classes', 'logits')
PIXEL_SIGNATURE = 'predict_images'
FORMAT_KINDS = ('frozen', 'tflite', 'saved_model')


def read_run_config(path):
  """The export's `run_config.json` beside `path` or in a folder above it."""
  folder = path if os.path.isdir(path) else os.path.dirname(path)
  for _ in range(3):
    candidate = os.path.join(folder, 'run_config.json')
    if os.path.isfile(candidate):
      with open(candidate) as f:
        return json.load(f)
    folder = os.path.dirname(folder)
  return {}


def read_labels_beside(path):
  """Class names from `labels.txt` beside `path` (or SavedModel assets)."""
  folder = path if os.path.isdir(path) else os.path.dirname(path)
  for candidate in (os.path.join(folder, 'labels.txt'),
                    os.path.join(folder, 'assets', 'labels.txt')):
    if os.path.isfile(candidate):
      with open(candidate) as f:
        return [line.strip() for line in f if line.strip()]
  return None


@dataclasses.dataclass
class ServedModel:
  """One loaded export.

  Attributes:
    path: the file or folder.
    kind: 'frozen', 'tflite' or 'saved_model'.
    image_size: square input side.
    channels: input channels.
    class_names: label id -> name (None when no labels.txt was found).
    run_config: the export's run_config.json ({} when absent).
    input_dtype: the dtype the runtime is fed ('float32', 'uint8', 'int8').
  """
  path: str
  kind: str
  image_size: int
  channels: int
  class_names: Optional[List[str]]
  run_config: dict
  input_dtype: str = 'float32'
  _run: object = None
  _close: object = None

  def probabilities(self, pixels):
    """float32 0-255 `[N, S, S, C]` -> float32 `[N, classes]`."""
    pixels = np.asarray(pixels, np.float32)
    if len(pixels) == 0:
      raise ValueError('no images')
    return self._run(pixels)

  def close(self):
    if self._close is not None:
      self._close()
      self._close = None

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.close()


def _square_input(shape, path):
  if len(shape) != 4 or shape[1] != shape[2] or not shape[1]:
    raise runtime.UserInputError(
        f'{path}: input shape {list(shape)} is not [N, S, S, C]')
  return int(shape[1]), int(shape[3])


def _load_frozen(path):
  graph_def = _V1.GraphDef()
  try:
    with open(path, 'rb') as f:
      graph_def.ParseFromString(f.read())
  except Exception as e:  # pylint: disable=broad-except
    raise runtime.UserInputError(
        f'{path}: not a GraphDef ({type(e).__name__}: {e})') from None
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.import_graph_def(graph_def, name='')
  try:
    feed = graph.get_tensor_by_name(f'{INPUT}:0')
    fetch = graph.get_tensor_by_name('probabilities:0')
  except KeyError:
    raise runtime.UserInputError(
        f'{path}: no {INPUT!r} / \'probabilities\' nodes (not a tf1cnn '
        'frozen export)') from None
  size, channels = _square_input(feed.shape.as_list(), path)
  sess = _V1.Session(graph=graph, config=runtime.session_config())
  return dict(kind='frozen', image_size=size, channels=channels,
              run=lambda pixels: sess.run(fetch, {feed: pixels}),
              close=sess.close)


def _quantize(values, detail):
  scale, zero_point = detail['quantization']
  dtype = detail['dtype']
  if dtype == np.float32:
    return values.astype(np.float32)
  info = np.iinfo(dtype)
  return np.clip(np.round(values / scale + zero_point), info.min,
                 info.max).astype(dtype)


def _dequantize(values, detail):
  scale, zero_point = detail['quantization']
  if detail['dtype'] == np.float32:
    return values
  return (values.astype(np.float32) - zero_point) * scale


def tflite_output_index(details, name):
  """The output detail whose tensor is called `name` (or ends in it)."""
  for detail in details:
    base = detail['name'].split(':')[0]
    if base == name or base.endswith('/' + name) or base.endswith(
        '_' + name) or name in base:
      return detail
  raise KeyError(name)


def _load_tflite(path, num_threads=None):
  try:
    interpreter = tf.lite.Interpreter(model_path=path,
                                      num_threads=num_threads)
  except (ValueError, RuntimeError) as e:
    raise runtime.UserInputError(f'{path}: cannot load the TFLite model '
                                 f'({e})') from None
  inputs = interpreter.get_input_details()
  if len(inputs) != 1:
    raise runtime.UserInputError(
        f'{path}: {len(inputs)} inputs; a tf1cnn export has one (pixels)')
  size, channels = _square_input(inputs[0]['shape'], path)
  try:
    output = tflite_output_index(interpreter.get_output_details(),
                                 'probabilities')
  except KeyError:
    raise runtime.UserInputError(
        f'{path}: no \'probabilities\' output (not a tf1cnn export)') from None
  state = dict(batch=None)

  def _run(pixels):
    if state['batch'] != len(pixels):
      interpreter.resize_tensor_input(inputs[0]['index'],
                                      [len(pixels), size, size, channels])
      interpreter.allocate_tensors()
      state['batch'] = len(pixels)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail['index'], _quantize(pixels, detail))
    interpreter.invoke()
    out = [d for d in interpreter.get_output_details()
           if d['index'] == output['index']][0]
    return _dequantize(interpreter.get_tensor(out['index']), out)

  return dict(kind='tflite', image_size=size, channels=channels, run=_run,
              input_dtype=np.dtype(inputs[0]['dtype']).name)


def _load_saved_model(path):
  graph = tf.Graph()
  sess = _V1.Session(graph=graph, config=runtime.session_config())
  with graph.as_default():
    try:
      meta = _V1.saved_model.loader.load(
          sess, [_V1.saved_model.tag_constants.SERVING], path)
    except (OSError, RuntimeError, tf.errors.OpError) as e:
      sess.close()
      raise runtime.UserInputError(
          f'{path}: cannot load the SavedModel ({getattr(e, "message", e)})'
      ) from None
  if PIXEL_SIGNATURE not in meta.signature_def:
    sess.close()
    raise runtime.UserInputError(f'{path}: no {PIXEL_SIGNATURE!r} signature')
  signature = meta.signature_def[PIXEL_SIGNATURE]
  feed = graph.get_tensor_by_name(signature.inputs['images'].name)
  fetch = signature.outputs['probabilities'].name
  size, channels = _square_input(feed.shape.as_list(), path)
  return dict(kind='saved_model', image_size=size, channels=channels,
              run=lambda pixels: sess.run(fetch, {feed: pixels}),
              close=sess.close)


def load(path, num_threads=None):
  """Opens a `.pb` (frozen), `.tflite` or SavedModel folder; a ServedModel.

  Args:
    path: the model file or SavedModel folder.
    num_threads: TFLite interpreter threads (None: its default).

  Raises:
    UserInputError: a missing or unreadable model, naming it.
  """
  if not path or not os.path.exists(path):
    raise runtime.UserInputError(f'--model_file={path}: no such file')
  if os.path.isdir(path):
    parts = _load_saved_model(path)
  elif path.endswith('.tflite'):
    parts = _load_tflite(path, num_threads)
  elif path.endswith('.pb'):
    parts = _load_frozen(path)
  else:
    raise runtime.UserInputError(
        f'--model_file={path}: use a frozen GraphDef (.pb), a .tflite file or '
        'a SavedModel folder')
  return ServedModel(
      path=path, kind=parts['kind'], image_size=parts['image_size'],
      channels=parts['channels'], class_names=read_labels_beside(path),
      run_config=read_run_config(path),
      input_dtype=parts.get('input_dtype', 'float32'), _run=parts['run'],
      _close=parts.get('close'))


def split_files(data_dir, split, class_names=None, limit=None,
                bad_images='fail'):
  """`(filenames, labels, class_names)` of an image-folder split.

  With `limit`, an evenly spaced subset of at most `limit` files (every
  class is represented when the split is sorted by class).
  """
  filenames, labels, class_names = image_folder.scan_and_check(
      data_dir, split, class_names, bad_images)
  if limit and len(filenames) > limit:
    picks = np.linspace(0, len(filenames) - 1, limit).round().astype(int)
    filenames = [filenames[i] for i in picks]
    labels = [labels[i] for i in picks]
  return filenames, labels, class_names


def split_pixels(filenames, labels, image_size, preprocessing, channels=3,
                 batch_size=100):
  """Yields `(pixels float32 [n, S, S, C] 0-255, labels int32 [n])` batches.

  The evaluation pipeline's stages 1 and 2 (`preprocess.photo_pixels`, the
  recorded decode mode and eval geometry), without the normalisation, which
  every export holds.
  """
  graph = tf.Graph()
  with graph.as_default():
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(filenames)), tf.constant(np.asarray(labels,
                                                              np.int32))))
    dataset = dataset.map(
        lambda path, label: (preprocess.photo_pixels(
            tf.io.read_file(path), image_size, preprocessing,
            channels=channels), label),
        num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    next_batch = _V1.data.make_one_shot_iterator(dataset).get_next()
  with _V1.Session(graph=graph, config=runtime.session_config()) as sess:
    while True:
      try:
        yield sess.run(next_batch)
      except tf.errors.OutOfRangeError:
        return


def served_preprocessing(model):
  """The export's recorded `preprocess.Preprocessing` (default if none)."""
  return preprocess.Preprocessing.from_record(
      model.run_config.get('preprocessing'))


def evaluate_split(model, data_dir, split, batch_size=100,
                   bad_images='fail'):
  """Runs `model` over an image-folder split; `(confusion, class_names)`.

  Raises:
    UserInputError: a model without labels.txt, data it cannot read.
  """
  class_names = model.class_names
  if not class_names:
    raise runtime.UserInputError(
        f'{model.path}: no labels.txt beside the model, so its classes are '
        'unknown')
  filenames, labels, _ = split_files(data_dir, split, class_names,
                                     bad_images=bad_images)
  confusion = np.zeros([len(class_names)] * 2, np.int64)
  for pixels, truth in split_pixels(filenames, labels, model.image_size,
                                    served_preprocessing(model),
                                    model.channels, batch_size):
    predicted = model.probabilities(pixels).argmax(axis=1)
    np.add.at(confusion, (truth, predicted), 1)
  if int(confusion.sum()) != len(filenames):
    raise RuntimeError(f'evaluated {int(confusion.sum())} images but the '
                       f'split has {len(filenames)}')
  logging.info('%s (%s) on %s/%s: %d images', model.path, model.kind,
               data_dir, split, len(filenames))
  return confusion, class_names
