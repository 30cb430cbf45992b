"""Running exported models: frozen GraphDefs, TFLite, ONNX and SavedModels.

`load(path)` opens one exported model with its runtime (`RUNTIMES`, chosen
by the file's suffix, `SUFFIXES`, or a folder; `tf1cnn.export_formats`
names the runtime of each format):

* a frozen GraphDef (`.pb`): imported with `tf.compat.v1.import_graph_def`
  and run in a session, fed at `input:0`;
* a TFLite flatbuffer (`.tflite`): the LiteRT interpreter
  (`ai_edge_litert.interpreter.Interpreter`) where `ai-edge-litert` is
  installed, else `tf.lite.Interpreter` (`tflite_interpreter_class`), on
  its default CPU delegate; a quantised input or output is (de)quantised
  with the tensor's own scale and zero point;
* an ONNX model (`.onnx`): an ONNX Runtime `InferenceSession` on the CPU
  (the `onnx` extra), fed at `input`; or, asked for by name
  (`load(path, loader=RUNTIMES['openvino'])`), compiled by OpenVINO for the
  CPU in float32 (the `openvino` extra);
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
import importlib.util
import json
import os
import struct
from typing import List, Optional

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import rewriter_config_pb2

from tf1cnn import runtime
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

# Node names of every tf1cnn serving graph (frozen, SavedModel, TFLite).
INPUT = 'input'
INPUT_JPEG = 'input_jpeg'
INPUT_ANY_SIZE = 'input_any_size'
ANY_SIZE_SIGNATURE = 'predict_images_any_size'
OUTPUTS = ('probabilities', 'classes', 'logits')
PIXEL_SIGNATURE = 'predict_images'


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
    kind: the runtime: 'frozen', 'tflite', 'onnx', 'openvino' or
      'saved_model'.
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
    """float32 0-255 `[N, S, S, C]` -> float32 `[N, classes]`.

    Raises:
      UserInputError: pixels of another size or channel count, naming the
        size the model takes and the recorded geometry that makes it.
    """
    pixels = np.asarray(pixels, np.float32)
    if len(pixels) == 0:
      raise ValueError('no images')
    want = (self.image_size, self.image_size, self.channels)
    if pixels.ndim != 4 or tuple(pixels.shape[1:]) != want:
      recipe = (self.run_config.get('preprocessing') or {}).get(
          'recipe', 'standardize')
      raise runtime.UserInputError(
          f'{self.path}: takes {want[0]}x{want[1]} pixels with {want[2]} '
          f'channel(s), got a batch of shape {list(pixels.shape)}: apply the '
          f'recorded {recipe!r} evaluation geometry first '
          '(served.split_pixels), or feed any size to the SavedModel '
          f'signature {ANY_SIZE_SIGNATURE!r} / frozen node '
          f'{INPUT_ANY_SIZE!r}, which apply it')
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


def _tf_session_config(num_threads, constant_weights=False):
  """The serving session's config: `num_threads` intra-op threads (0: all).

  With `constant_weights` (a frozen graph) Grappler's remapper is off: its
  fused oneDNN matrix products and convolutions on constant weights made
  every single-image call after a batch of 64 take about 9 times as long
  (p50 37 ms against 4.3 ms for the cat/dog LeNet-5 on a quiet 2-core AMD
  EPYC with AVX-512, oneDNN kernels), and the batch rate was no better
  with them (614 against 646 images/s at batch 64).
  """
  config = runtime.session_config(intra_op_threads=int(num_threads or 0))
  if constant_weights:
    config.graph_options.rewrite_options.remapping = (
        rewriter_config_pb2.RewriterConfig.OFF)
  return config


def _load_frozen(path, num_threads=None):
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
  sess = _V1.Session(graph=graph, config=_tf_session_config(
      num_threads, constant_weights=True))
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


def check_tflite_file(path):
  """Refuses a file the TFLite interpreter could crash on (it verifies nothing).

  `tf.lite.Interpreter` maps the flatbuffer and follows its offsets
  unchecked, so a truncated, zeroed or foreign file can end the process
  with a segmentation fault. Checked here, in Python: the `TFL3` file
  identifier at byte 4; every table, vector and string of the model,
  unpacked with the schema's generated reader, lies inside the file (a read
  past its end raises); buffers stored outside the flatbuffer (offset,
  size) end inside the file; every tensor, buffer and operator-code index
  points at an entry that exists.

  Raises:
    UserInputError: naming the file and what is wrong with it.
  """
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise runtime.UserInputError(f'{path}: cannot read it ({e.strerror})'
                                 ) from None
  if len(data) < 8 or data[4:8] != b'TFL3':
    raise runtime.UserInputError(
        f'{path}: not a TFLite model (no TFL3 identifier at byte 4; '
        f'{len(data)} bytes)')
  from tensorflow.lite.python import schema_py_generated as schema  # pylint: disable=g-import-not-at-top
  try:
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    problem = _tflite_index_problem(model, len(data))
  except (struct.error, IndexError, ValueError, TypeError, OverflowError,
          UnicodeDecodeError, AttributeError) as e:
    problem = f'{type(e).__name__}: {e}'
  if problem:
    raise runtime.UserInputError(
        f'{path}: damaged or truncated TFLite model ({problem}; {len(data)} '
        'bytes)')


def _tflite_index_problem(model, size):
  """What in an unpacked TFLite model points outside it, or None."""
  buffers = model.buffers or []
  codes = model.operatorCodes or []
  if not model.subgraphs:
    return 'no subgraph'
  for buffer in buffers:
    if buffer.offset and buffer.offset + buffer.size > size:
      return (f'a buffer of {buffer.size} bytes at {buffer.offset} ends past '
              'the end of the file')
  for subgraph in model.subgraphs:
    tensors = subgraph.tensors or []
    for tensor in tensors:
      if tensor.buffer >= len(buffers):
        return f'tensor {tensor.name!r} names buffer {tensor.buffer}'
    used = list(subgraph.inputs if subgraph.inputs is not None else []) + list(
        subgraph.outputs if subgraph.outputs is not None else [])
    for op in subgraph.operators or []:
      if op.opcodeIndex >= len(codes):
        return f'an operator names operator code {op.opcodeIndex}'
      for part in (op.inputs, op.outputs, op.intermediates):
        used += list(part if part is not None else [])
    bad = [int(i) for i in used if i >= len(tensors)]
    if bad:
      return f'tensor index {bad[0]} of {len(tensors)} tensors'
  return None


def tflite_interpreter_class():
  """LiteRT's `Interpreter` where `ai-edge-litert` installs, else TF's.

  `tf.lite.Interpreter` warns that it is deprecated in favour of LiteRT;
  both run the same flatbuffers.
  """
  try:
    from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  except ImportError:
    return tf.lite.Interpreter
  return litert.Interpreter


def _load_tflite(path, num_threads=None):
  check_tflite_file(path)
  try:
    interpreter = tflite_interpreter_class()(model_path=path,
                                             num_threads=num_threads)
  except (ValueError, RuntimeError) as e:
    raise runtime.UserInputError(f'{path}: cannot load the TFLite model '
                                 f'({e})') from None
  inputs = interpreter.get_input_details()
  _check_one_input(inputs, path)
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


def open_saved_model(path, signature_name, num_threads=None):
  """Loads a SavedModel (tag `serve`) into a session of its own.

  The one SavedModel loader of the package: `_load_saved_model` (evaluation
  and export checks) and `tf1cnn.prediction` (image files) both use it.

  Args:
    path: the SavedModel folder.
    signature_name: the signature the caller runs.
    num_threads: the session's intra-op threads (None: all cores).

  Returns:
    `(session, signature_def)`; the caller closes the session.

  Raises:
    UserInputError: naming `path`, when it does not load or lacks the
      signature (the session is closed then).
  """
  graph = tf.Graph()
  sess = _V1.Session(graph=graph, config=_tf_session_config(num_threads))
  with graph.as_default():
    try:
      meta = _V1.saved_model.loader.load(
          sess, [_V1.saved_model.tag_constants.SERVING], path)
    except (OSError, RuntimeError, tf.errors.OpError) as e:
      sess.close()
      raise runtime.UserInputError(
          f'{path}: cannot load the SavedModel ({getattr(e, "message", e)})'
      ) from None
  if signature_name not in meta.signature_def:
    sess.close()
    raise runtime.UserInputError(
        f'{path}: no {signature_name!r} signature (it has '
        f'{", ".join(sorted(meta.signature_def))})')
  return sess, meta.signature_def[signature_name]


def _load_saved_model(path, num_threads=None):
  sess, signature = open_saved_model(path, PIXEL_SIGNATURE, num_threads)
  feed = sess.graph.get_tensor_by_name(signature.inputs['images'].name)
  fetch = signature.outputs['probabilities'].name
  size, channels = _square_input(feed.shape.as_list(), path)
  return dict(kind='saved_model', image_size=size, channels=channels,
              run=lambda pixels: sess.run(fetch, {feed: pixels}),
              close=sess.close)


def _load_error(path, what, error):
  """`path: what (ErrorType: first line)` as a UserInputError."""
  first = (str(error).strip().splitlines() or [''])[0]
  return runtime.UserInputError(
      f'{path}: {what} ({type(error).__name__}: {first[:300]})')


def _check_one_input(inputs, path):
  if len(inputs) != 1:
    raise runtime.UserInputError(
        f'{path}: {len(inputs)} inputs; a tf1cnn export has one (pixels)')


def _load_onnx(path, num_threads=None):
  try:
    import onnxruntime  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise runtime.UserInputError(
        f'{path}: ONNX Runtime is not installed (pip install '
        '\'tf1cnn[onnx]\')') from None
  options = onnxruntime.SessionOptions()
  if num_threads:
    options.intra_op_num_threads = int(num_threads)
  options.log_severity_level = 3  # errors only
  try:
    sess = onnxruntime.InferenceSession(
        path, sess_options=options, providers=['CPUExecutionProvider'])
  except Exception as e:  # pylint: disable=broad-except
    raise _load_error(path, 'cannot load the ONNX model', e) from None
  feeds = sess.get_inputs()
  _check_one_input(feeds, path)
  if 'probabilities' not in [o.name for o in sess.get_outputs()]:
    raise runtime.UserInputError(
        f'{path}: no \'probabilities\' output (not a tf1cnn export)')
  size, channels = _square_input(
      [d if isinstance(d, int) else None for d in feeds[0].shape], path)
  name = feeds[0].name
  return dict(kind='onnx', image_size=size, channels=channels,
              run=lambda pixels: sess.run(['probabilities'],
                                          {name: pixels})[0])


def _load_openvino(path, num_threads=None):
  """An ONNX file compiled by OpenVINO for the CPU, in float32.

  The inference precision is pinned to f32: on CPUs with bfloat16 support
  OpenVINO would otherwise compute a float model in bfloat16.
  """
  try:
    import openvino  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise runtime.UserInputError(
        f'{path}: OpenVINO is not installed (pip install '
        '\'tf1cnn[openvino]\')') from None
  properties = {'INFERENCE_PRECISION_HINT': 'f32'}
  if num_threads:
    properties['INFERENCE_NUM_THREADS'] = int(num_threads)
  try:
    core = openvino.Core()
    model = core.read_model(path)
    inputs = model.inputs
    _check_one_input(inputs, path)
    shape = [d.get_length() if d.is_static else None
             for d in inputs[0].get_partial_shape()]
    size, channels = _square_input(shape, path)
    compiled = core.compile_model(model, 'CPU', properties)
    output = compiled.output('probabilities')
  except runtime.UserInputError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise _load_error(path, 'OpenVINO cannot load the model', e) from None
  request = compiled.create_infer_request()

  def _run(pixels):
    return np.array(request.infer({0: pixels})[output])

  return dict(kind='openvino', image_size=size, channels=channels, run=_run)


# Runtime name (`ServedModel.kind`) -> `loader(path, num_threads) -> parts`.
RUNTIMES = {
    'saved_model': _load_saved_model,
    'frozen': _load_frozen,
    'tflite': _load_tflite,
    'onnx': _load_onnx,
    'openvino': _load_openvino,
}
# Runtime -> the module it needs (the TensorFlow runtimes need none more).
RUNTIME_MODULES = {'onnx': 'onnxruntime', 'openvino': 'openvino'}


def runtime_installed(name):
  """Whether the module runtime `name` of `RUNTIMES` needs is installed."""
  module = RUNTIME_MODULES.get(name)
  return module is None or importlib.util.find_spec(module) is not None


# A model file's suffix -> its runtime (a folder is a SavedModel).
SUFFIXES = {'.pb': 'frozen', '.tflite': 'tflite', '.onnx': 'onnx'}


def runtime_for(path):
  """The `RUNTIMES` loader of `path` (folder or suffix), or None."""
  if os.path.isdir(path):
    return RUNTIMES['saved_model']
  kind = SUFFIXES.get(os.path.splitext(path)[1].lower())
  return RUNTIMES[kind] if kind else None


def load(path, num_threads=None, loader=None):
  """Opens an exported model (`.pb`, `.tflite`, `.onnx`, SavedModel folder).

  Args:
    path: the model file or SavedModel folder.
    num_threads: the runtime's intra-op threads: TensorFlow session,
      TFLite interpreter, ONNX Runtime, OpenVINO (None: their default).
    loader: a `RUNTIMES` loader to use (an export format's record); None
      chooses by `path` (`runtime_for`).

  Returns:
    A `ServedModel`.

  Raises:
    UserInputError: a missing or unreadable model, naming it.
  """
  if not path or not os.path.exists(path):
    raise runtime.UserInputError(f'--model_file={path}: no such file')
  loader = loader or runtime_for(path)
  if loader is None:
    raise runtime.UserInputError(
        f'--model_file={path}: use a frozen GraphDef (.pb), a .tflite or '
        '.onnx file or a SavedModel folder')
  parts = loader(path, num_threads)
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
