"""The serving formats of an export, one record each, and their check.

Used by `tf1cnn.export` (writing), `tf1cnn.flags` (`--formats` choices and
help) and `tf1cnn.benchmark`. A format is one `ExportFormat` record in
`REGISTRY`: its `--formats` name, its file in the version folder, its writer,
the `tf1cnn.served` runtime that loads it, its kind (`float`: must match the
checkpoint within `FLOAT_TOLERANCE`; `quantised`: its difference is
reported), the graph it is written from and the Python modules it needs.

Every format starts from one of two inference graphs built by
`tf1cnn.export.build_serving_graph` (is_training=False, so batch norm uses
its moving statistics and dropout is the identity; the recipe's
normalisation inside; the batch dimension free), with stable node names:

| node | dtype, shape | what |
|---|---|---|
| `input` | float32 `[None, S, S, C]` | pixels 0-255 at the model's size |
| `input_any_size` | float32 `[None, H, W, C]` | pixels 0-255 of any size, brought to S by the recorded eval geometry (`jpeg` graph only) |
| `input_jpeg` | string `[None]` | encoded JPEG/PNG/BMP/GIF files (`jpeg` graph only: decoded and resized inside with the recorded preprocessing) |
| `probabilities` | float32 `[None, classes]` | softmax |
| `classes` | int32 `[None]` | arg max |
| `logits` | float32 `[None, classes]` | |
| `class_names` | string `[None]` | name of `classes` (`jpeg` graph only; elsewhere `labels.txt`) |

Formats, each in the export version folder:

* `saved_model` (`jpeg` graph): the version folder itself (see
  `tf1cnn.export`);
* `frozen` (`jpeg` graph): `frozen/model.pb`, a GraphDef with the variables
  turned into constants (`convert_variables_to_constants`), and
  `frozen/labels.txt`;
* `tflite`, `tflite_dynamic`, `tflite_int8` (`pixels` graph):
  `tflite/model_float32.tflite`, `tflite/model_dynamic.tflite` (weights
  int8, activations float), `tflite/model_int8.tflite` (full integer: every
  op int8, calibrated on representative training images; input uint8
  pixels 0-255 with scale 1 and zero point 0 when the calibration saw the
  full range, outputs float32), and `tflite/labels.txt`; `DecodeImage` is
  not a TFLite op, hence the pixel graph;
* `onnx` (`pixels` graph): `onnx/model.onnx`, converted by tf2onnx from the
  frozen pixel graph at opset `ONNX_OPSET` (input `input`, outputs
  `probabilities`, `classes`, `logits`), and `onnx/labels.txt`; needs the
  `onnx` extra (`tf2onnx`, `onnxruntime`);
* `onnx_int8` (`pixels` graph): `onnx/model_int8.onnx`, the same model
  statically quantised by ONNX Runtime (QDQ: convolutions, matrix products,
  pooling and activations in int8, calibrated on representative training
  images like `tflite_int8`; float32 input and outputs).

Both ONNX files are also served by OpenVINO (`served.RUNTIMES['openvino']`,
the `openvino` extra) and checked on it when it is installed.

`compare_with_checkpoint` runs the checkpoint's own inference graph (each
image normalised on its own, as the input pipeline does, then the network
restored from the checkpoint, as evaluation does) and every written format on
the same pixels and reports `max |delta probability|` and the agreement of
the top class. The pixels are real images of the run's dataset
(`verification_images`): files of an image folder, or the evaluation
pipeline of any other registered dataset (`tf1cnn.inputs`).
"""

import dataclasses
import importlib.util
import os
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import inputs
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

# A float format may differ from the checkpoint by this much in probability.
FLOAT_TOLERANCE = 1e-4
# The ONNX operator set the `onnx` format is written at.
ONNX_OPSET = 17
KINDS = ('float', 'quantised')
GRAPHS = ('jpeg', 'pixels')


@dataclasses.dataclass(frozen=True)
class WriteJob:
  """What a writer is given: a session holding one restored serving graph.

  Attributes:
    sess: the session (its graph is the format's `graph`).
    inputs: `{'input': pixels placeholder, 'input_jpeg': ...}`.
    outputs: `{'probabilities', 'classes', 'logits', 'class_names'}`
      tensors (`class_names` in the `jpeg` graph only).
    version_dir: the staged version folder.
    class_names: label id -> name.
    labels_path: a `labels.txt` outside `version_dir` (SavedModel asset).
    signatures: SavedModel signature name -> its inputs (`jpeg` graph).
    representative: float32 0-255 calibration pixels (calibrated formats).
  """
  sess: object
  inputs: dict
  outputs: dict
  version_dir: str
  class_names: list
  labels_path: str = ''
  signatures: dict = dataclasses.field(default_factory=dict)
  representative: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class ExportFormat:
  """One serving format: all that the export, flags and runtimes know of it.

  Attributes:
    name: the `--formats` value.
    file: its path inside the version folder ('' = the folder itself).
    writer: `writer(job: WriteJob, fmt) -> path` of the written model.
    loader: the `tf1cnn.served` runtime that opens the file
      (`served.RUNTIMES`; `served.load(path, loader=...)`).
    kind: `float` (refused when off the checkpoint by more than
      `FLOAT_TOLERANCE`) or `quantised` (its difference is reported).
    graph: `jpeg` (with the `input_jpeg` path) or `pixels` (pixel input
      only, for converters that cannot decode images).
    summary: one line for `--formats --help`.
    options: writer options (TFLite: `optimize`, `int8`).
    requires: Python modules the writer and the loader import.
    extra: the pyproject extra that installs them.
    calibrated: the writer needs representative training images.
    facts: `(key, value)` pairs added to the verification record of
      `run_config.json` when the format is written (ONNX: its opset).
    alternates: other `served.RUNTIMES` that also serve the file; each one
      installed is checked like the format's own runtime (a row
      `format:runtime`).
  """
  name: str
  file: str
  writer: Callable
  loader: Callable
  kind: str
  graph: str
  summary: str
  options: Tuple = ()
  requires: Tuple[str, ...] = ()
  extra: str = ''
  calibrated: bool = False
  facts: Tuple = ()
  alternates: Tuple[str, ...] = ()

  def path(self, version_dir):
    """Where this format lives inside an export version folder."""
    return os.path.join(version_dir, self.file) if self.file else version_dir

  def missing_modules(self):
    """The `requires` modules that are not installed."""
    return [name for name in self.requires
            if importlib.util.find_spec(name) is None]

  def installed_alternates(self):
    """The `alternates` whose runtime is installed."""
    return tuple(name for name in self.alternates
                 if served.runtime_installed(name))


# --- writers ------------------------------------------------------------------


def _prepare_file(job, fmt):
  """Creates the format's folder; writes its labels.txt; returns the path."""
  path = fmt.path(job.version_dir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  checkpoints.write_labels(os.path.dirname(path), job.class_names)
  return path


def write_saved_model(job, fmt):
  """The TF1 SavedModel with its two signatures and labels.txt asset.

  Written first: `saved_model.Builder` creates the version folder itself.
  """
  build = _V1.saved_model.signature_def_utils.predict_signature_def
  outputs = dict(job.outputs)
  signatures = {name: build(feeds, outputs)
                for name, feeds in job.signatures.items()}
  asset = tf.constant(job.labels_path, name='labels_asset')
  _V1.add_to_collection(_V1.GraphKeys.ASSET_FILEPATHS, asset)
  builder = _V1.saved_model.Builder(job.version_dir)
  builder.add_meta_graph_and_variables(
      job.sess, [_V1.saved_model.tag_constants.SERVING],
      signature_def_map=signatures, strip_default_attrs=True,
      assets_collection=_V1.get_collection(_V1.GraphKeys.ASSET_FILEPATHS))
  builder.save()
  return fmt.path(job.version_dir)


def _frozen_graph_def(job):
  """The session's graph with its variables as constants."""
  return _V1.graph_util.convert_variables_to_constants(
      job.sess, job.sess.graph.as_graph_def(), list(job.outputs))


def write_frozen(job, fmt):
  """Freezes the `jpeg` graph into `frozen/model.pb`; returns its path."""
  graph_def = _frozen_graph_def(job)
  path = _prepare_file(job, fmt)
  with open(path, 'wb') as f:
    f.write(graph_def.SerializeToString())
  logging.info('frozen GraphDef: %d nodes, %d bytes', len(graph_def.node),
               os.path.getsize(path))
  return path


def write_tflite(job, fmt):
  """Converts the pixel graph to TFLite; `fmt.options` choose quantisation.

  Options: `optimize` (weights int8: dynamic range), `int8` (full integer,
  calibrated on `job.representative`; uint8 input, float32 outputs).
  """
  options = dict(fmt.options)
  converter = _V1.lite.TFLiteConverter.from_session(
      job.sess, [job.inputs['input']],
      [job.outputs[key] for key in served.OUTPUTS])
  if options.get('optimize'):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if options.get('int8'):
    representative = job.representative

    def _samples():
      for image in representative:
        yield [image[None]]
    converter.representative_dataset = _samples
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.float32
  try:
    flatbuffer = converter.convert()
  except Exception as e:  # pylint: disable=broad-except
    raise runtime.UserInputError(
        f'--formats={fmt.name}: TFLite cannot convert this model '
        f'({_first_line(e)})') from None
  path = _prepare_file(job, fmt)
  with open(path, 'wb') as f:
    f.write(flatbuffer)
  logging.info('%s: %d bytes', path, len(flatbuffer))
  return path


def _onnx_model(job, fmt):
  """The frozen pixel graph converted by tf2onnx at `ONNX_OPSET`.

  The graph's tensor names become the model's: input `input`, outputs
  `probabilities`, `classes`, `logits`; the class names are also stored in
  the model's metadata (`class_names`, one per line).
  """
  import tf2onnx  # pylint: disable=g-import-not-at-top
  graph_def = _frozen_graph_def(job)
  names = [served.INPUT] + list(served.OUTPUTS)
  with tf.Graph().as_default():
    try:
      model, _ = tf2onnx.convert.from_graph_def(
          graph_def, input_names=[f'{served.INPUT}:0'],
          output_names=[f'{name}:0' for name in served.OUTPUTS],
          opset=ONNX_OPSET,
          tensors_to_rename={f'{name}:0': name for name in names})
    except Exception as e:  # pylint: disable=broad-except
      raise runtime.UserInputError(
          f'--formats={fmt.name}: tf2onnx cannot convert this model '
          f'({_first_line(e)})') from None
  entry = model.metadata_props.add()
  entry.key, entry.value = 'class_names', '\n'.join(job.class_names)
  return model


def _write_bytes(job, fmt, data):
  path = _prepare_file(job, fmt)
  with open(path, 'wb') as f:
    f.write(data)
  logging.info('%s: %d bytes, opset %d', path, len(data), ONNX_OPSET)
  return path


def write_onnx(job, fmt):
  """Writes `onnx/model.onnx` (`_onnx_model`); returns its path."""
  return _write_bytes(job, fmt, _onnx_model(job, fmt).SerializeToString())


# The ops `onnx_int8` computes in int8; the softmax, arg max and the
# reshapes around them stay float.
ONNX_INT8_OPS = ('Conv', 'MatMul', 'Gemm', 'Add', 'Relu', 'MaxPool',
                 'AveragePool')


def write_onnx_int8(job, fmt):
  """Statically quantised ONNX, calibrated on `job.representative`.

  ONNX Runtime's `quantize_static` in the QDQ format: weights int8 per
  output channel, activations uint8 with ranges from the min/max of the
  calibration images (float32 0-255 training pixels at the eval geometry,
  like `tflite_int8`); input and outputs stay float32, so the file is
  served exactly as `onnx/model.onnx`. Weights use 7 bits
  (`reduce_range`): uint8 x int8 products then cannot saturate the 16-bit
  accumulations of CPUs without VNNI.
  """
  import tempfile  # pylint: disable=g-import-not-at-top
  from onnxruntime import quantization  # pylint: disable=g-import-not-at-top
  model = _onnx_model(job, fmt)
  representative = job.representative

  class _Calibration(quantization.CalibrationDataReader):

    def __init__(self):
      self._batches = iter([representative[start:start + 16]
                            for start in range(0, len(representative), 16)])

    def get_next(self):
      batch = next(self._batches, None)
      return None if batch is None else {served.INPUT: batch}

  with tempfile.TemporaryDirectory(prefix='tf1cnn_onnx_int8_') as scratch:
    float_path = os.path.join(scratch, 'float.onnx')
    quantised_path = os.path.join(scratch, 'int8.onnx')
    with open(float_path, 'wb') as f:
      f.write(model.SerializeToString())
    try:
      quantization.quantize_static(
          float_path, quantised_path, _Calibration(),
          quant_format=quantization.QuantFormat.QDQ,
          op_types_to_quantize=list(ONNX_INT8_OPS), per_channel=True,
          reduce_range=True, activation_type=quantization.QuantType.QUInt8,
          weight_type=quantization.QuantType.QInt8,
          calibrate_method=quantization.CalibrationMethod.MinMax)
    except Exception as e:  # pylint: disable=broad-except
      raise runtime.UserInputError(
          f'--formats={fmt.name}: ONNX Runtime cannot quantise this model '
          f'({_first_line(e)})') from None
    with open(quantised_path, 'rb') as f:
      data = f.read()
  return _write_bytes(job, fmt, data)


def _first_line(error):
  text = str(error).strip()
  first = text.splitlines()[0] if text else ''
  return f'{type(error).__name__}: {first[:300]}'


# --- the registry -------------------------------------------------------------

# In `--formats=all` order. The SavedModel comes first (its builder creates
# the version folder).
REGISTRY = (
    ExportFormat(
        'saved_model', '', write_saved_model, served.RUNTIMES['saved_model'],
        'float', 'jpeg', 'TF1 SavedModel (the version folder)'),
    ExportFormat(
        'frozen', os.path.join('frozen', 'model.pb'), write_frozen,
        served.RUNTIMES['frozen'], 'float', 'jpeg',
        'frozen GraphDef (frozen/model.pb)'),
    ExportFormat(
        'tflite', os.path.join('tflite', 'model_float32.tflite'),
        write_tflite, served.RUNTIMES['tflite'], 'float', 'pixels',
        'TFLite float32 (tflite/model_float32.tflite)'),
    ExportFormat(
        'tflite_dynamic', os.path.join('tflite', 'model_dynamic.tflite'),
        write_tflite, served.RUNTIMES['tflite'], 'quantised', 'pixels',
        'TFLite int8 weights (tflite/model_dynamic.tflite)',
        options=(('optimize', True),)),
    ExportFormat(
        'tflite_int8', os.path.join('tflite', 'model_int8.tflite'),
        write_tflite, served.RUNTIMES['tflite'], 'quantised', 'pixels',
        'TFLite full integer, calibrated on --data_dir\'s training images '
        '(tflite/model_int8.tflite)',
        options=(('optimize', True), ('int8', True)), calibrated=True),
    ExportFormat(
        'onnx', os.path.join('onnx', 'model.onnx'), write_onnx,
        served.RUNTIMES['onnx'], 'float', 'pixels',
        f'ONNX opset {ONNX_OPSET} (onnx/model.onnx; needs the onnx extra)',
        requires=('tf2onnx', 'onnx', 'onnxruntime'), extra='onnx',
        facts=(('onnx_opset', ONNX_OPSET),), alternates=('openvino',)),
    ExportFormat(
        'onnx_int8', os.path.join('onnx', 'model_int8.onnx'),
        write_onnx_int8, served.RUNTIMES['onnx'], 'quantised', 'pixels',
        'ONNX with int8 convolutions and matrix products, calibrated on '
        '--data_dir\'s training images (onnx/model_int8.onnx; needs the '
        'onnx extra)',
        requires=('tf2onnx', 'onnx', 'onnxruntime'), extra='onnx',
        calibrated=True, facts=(('onnx_opset', ONNX_OPSET),),
        alternates=('openvino',)),
)
FORMATS = tuple(fmt.name for fmt in REGISTRY)
FLOAT_FORMATS = tuple(fmt.name for fmt in REGISTRY if fmt.kind == 'float')
# `--formats=default` (the default): the SavedModel, and the formats
# `tf1cnn-predict` serves with by default (`prediction.SERVING_PREFERENCE`:
# the fastest in the serving benchmark). The optional ones are left out
# with a log line when their packages are not installed, and with a warning
# when their converter refuses the model or there are no training images to
# calibrate on.
DEFAULT_FORMATS = ('saved_model', 'tflite_dynamic', 'onnx_int8')
OPTIONAL_DEFAULT_FORMATS = ('tflite_dynamic', 'onnx_int8')
# `--formats` values: every format name, `all` and `default`.
CHOICES = FORMATS + ('all', 'default')
_BY_NAME = {fmt.name: fmt for fmt in REGISTRY}


def get(name):
  """The `ExportFormat` called `name` (KeyError for an unknown one)."""
  return _BY_NAME[name]


def format_path(version_dir, name):
  """Where format `name` lives inside an export version folder."""
  return get(name).path(version_dir)


def help_text():
  """The `--formats` help: every format, one clause each."""
  listed = '; '.join(f'{fmt.name}: {fmt.summary}' for fmt in REGISTRY)
  return (f'Formats to write into the version folder, default '
          f'({", ".join(DEFAULT_FORMATS)}: the SavedModel and the fast formats '
          'tf1cnn-predict uses, each of those left out with a warning when '
          'it cannot be converted or calibrated, or its packages are not '
          'installed) or all '
          f'(every one whose packages are installed): {listed}. Each is '
          'compared with the checkpoint first.')


def optional_formats(formats):
  """The formats `--formats` asks for only through `default` (may be skipped)."""
  if isinstance(formats, str):
    formats = formats.split(',')
  names = {name.strip() for name in formats}
  if 'default' not in names or 'all' in names:
    return ()
  return tuple(name for name in OPTIONAL_DEFAULT_FORMATS if name not in names)


def parse_formats(formats):
  """`--formats` values (list or comma string, `all`, `default`) -> tuple.

  `all` is every format whose packages are installed (with a warning for
  the others); `default` is `DEFAULT_FORMATS`; a format named explicitly
  must have its packages.

  Raises:
    UserInputError: an unknown format, listing the valid ones, or one whose
      packages are missing, naming the extra that installs them.
  """
  if isinstance(formats, str):
    formats = formats.split(',')
  names = [name.strip() for name in formats if name.strip()]
  if not names:
    raise runtime.UserInputError(f'--formats is empty: use all or some of '
                                 f'{",".join(FORMATS)}')
  if 'default' in names:
    left_out = [name for name in OPTIONAL_DEFAULT_FORMATS
                if name not in names and get(name).missing_modules()]
    for name in left_out:
      logging.info('--formats=default leaves out %s: %s not installed (pip '
                   'install \'tf1cnn[%s]\')', name,
                   ', '.join(get(name).missing_modules()), get(name).extra)
    names = [name for name in names if name != 'default'] + [
        name for name in DEFAULT_FORMATS if name not in left_out]
  if 'all' in names:
    skipped = [fmt for fmt in REGISTRY if fmt.missing_modules()]
    for fmt in skipped:
      logging.warning('--formats=all skips %s: %s not installed (pip '
                      'install \'tf1cnn[%s]\')', fmt.name,
                      ', '.join(fmt.missing_modules()), fmt.extra)
    return tuple(fmt.name for fmt in REGISTRY if fmt not in skipped)
  unknown = [name for name in names if name not in _BY_NAME]
  if unknown:
    raise runtime.UserInputError(
        f'--formats={",".join(names)}: unknown {", ".join(unknown)}; use all '
        f'or some of {",".join(FORMATS)}')
  for name in names:
    missing = get(name).missing_modules()
    if missing:
      raise runtime.UserInputError(
          f'--formats={name} needs {", ".join(missing)}, not installed: '
          f'pip install \'tf1cnn[{get(name).extra}]\'')
  return tuple(name for name in FORMATS if name in names)


# --- images -------------------------------------------------------------------


def _image_folder_split(config, split):
  """Whether `config.data` is an image folder with `split`, and if not why."""
  data = config.data
  if not data.data_dir:
    return False, 'no --data_dir'
  if data.dataset != 'image_folder':
    return False, f'--dataset={data.dataset} is not an image folder'
  if not os.path.isdir(os.path.join(data.data_dir, split)):
    return False, f'{data.data_dir}/{split} does not exist'
  return True, ''


def _folder_pixels(spec, config, split, count):
  """`(pixels, filenames)`: `count` files evenly spaced over the split."""
  filenames, labels, _ = served.split_files(
      config.data.data_dir, split, spec.class_names, limit=count,
      bad_images='skip')
  pixels = np.concatenate([p for p, _ in served.split_pixels(
      filenames, labels, spec.image_size, spec.preprocessing,
      spec.channels)])
  return pixels, filenames


def _normalize_fn(spec):
  """`fn(float32 0-255 batch) -> the recipe's normalisation`, in numpy."""
  recipe = preprocess.get_recipe(spec.preprocessing.recipe)
  graph = tf.Graph()
  with graph.as_default():
    batch = _V1.placeholder(tf.float32, [None, None, None, spec.channels])
    normalized = tf.map_fn(recipe.normalize, batch)
  sess = _V1.Session(graph=graph, config=runtime.session_config())

  def _normalize(pixels):
    return sess.run(normalized, {batch: pixels})
  return _normalize, sess.close


def pixels_behind(normalized, normalize, tolerance=1e-4):
  """0-255 pixels whose per-image normalisation is `normalized`, or None.

  The pipelines hand the network normalised images; the exports take
  pixels. Every recipe's normalisation is per image and affine in the
  pixels: either unchanged by a positive affine change of them
  (standardisation: each image stretched onto 0-255 normalises back to
  itself) or a fixed one (a scale, a mean subtraction: inverted from the
  normalisation of all-0 and all-1 images). The candidate that
  normalises back to `normalized` within `tolerance` is returned.

  Args:
    normalized: float32 `[n, S, S, C]`, one pipeline batch.
    normalize: `fn(pixels) -> normalised pixels` (the recipe's, per image).
    tolerance: largest accepted difference after normalising back.
  """
  axes = (1, 2, 3)
  low = normalized.min(axis=axes, keepdims=True)
  high = normalized.max(axis=axes, keepdims=True)
  stretched = (normalized - low) * (255.0 / np.maximum(high - low, 1e-12))
  zero = normalize(np.zeros_like(normalized[:1]))
  unit = normalize(np.ones_like(normalized[:1])) - zero
  candidates = [stretched]
  if np.all(np.abs(unit) > 1e-12):
    candidates.append((normalized - zero) / unit)
  for candidate in candidates:
    candidate = candidate.astype(np.float32)
    if (candidate.min() > -0.5 and candidate.max() < 255.5 and
        np.abs(normalize(candidate) - normalized).max() <= tolerance):
      return np.clip(candidate, 0.0, 255.0)
  return None


def _dataset_pixels(spec, config, split, count):
  """The first `count` images of `split` through the run's registered pipeline.

  `tf1cnn.inputs.build_input` (the evaluation pipeline, in file order) gives
  the network's normalised input; `pixels_behind` turns it back into 0-255
  pixels.

  Returns:
    `(pixels float32 [n, S, S, C] or None, why not)`.
  """
  graph = tf.Graph()
  with graph.as_default():
    batch = inputs.build_input(
        config.data.dataset, config.data.data_dir, split, count,
        is_training=False, pipeline='queue', image_size=spec.image_size,
        num_epochs=1, class_names=spec.class_names,
        preprocessing=spec.preprocessing)
    with _V1.Session(graph=graph, config=runtime.session_config()) as sess:
      sess.run([_V1.local_variables_initializer(),
                _V1.tables_initializer()])
      got = []
      pipeline.run_to_end(sess, batch.images, got.append, max_steps=1)
  if not got:
    return None, f'{config.data.data_dir} ({split}) gave no images'
  normalize, close = _normalize_fn(spec)
  try:
    pixels = pixels_behind(got[0], normalize)
  finally:
    close()
  if pixels is None:
    return None, (f'--preprocessing={spec.preprocessing.recipe} cannot be '
                  'inverted to pixels')
  return pixels, ''


def verification_images(spec, config, count, split='test'):
  """Pixels (and files) to compare the formats with the checkpoint on.

  An image folder gives `count` files evenly spaced over `split`, read as
  evaluation reads them (and the frozen graph's `input_jpeg` is checked on
  their bytes); any other dataset of `tf1cnn.inputs` (MNIST, CIFAR, ...)
  its first `count` evaluation images. Without readable data, uniform
  random pixels (seeded) with a warning.

  Returns:
    `(pixels float32 [n, S, S, C], filenames or [], description)`.
  """
  folder, why = _image_folder_split(config, split)
  if folder:
    pixels, filenames = _folder_pixels(spec, config, split, count)
    return pixels, filenames, (f'{len(filenames)} images of '
                               f'{config.data.data_dir}/{split}')
  if config.data.data_dir and config.data.dataset != 'image_folder':
    try:
      pixels, why = _dataset_pixels(spec, config, split, count)
    except runtime.UserInputError as e:
      pixels, why = None, str(e)
    if pixels is not None:
      return pixels, [], (f'{len(pixels)} images of {config.data.dataset} '
                          f'{config.data.data_dir} ({split})')
  logging.warning('comparing the export with the checkpoint on %d random '
                  'images, not real ones (%s): pass --data_dir', count, why)
  rng = np.random.RandomState(0)
  pixels = rng.uniform(0, 255, [count, spec.image_size, spec.image_size,
                                spec.channels]).astype(np.float32)
  return pixels, [], f'{count} random images ({why})'


def representative_images(spec, config, count, split='train', name=''):
  """Calibration pixels of a calibrated format: training images, eval geometry.

  From an image folder (evenly spaced files) or any other dataset of
  `tf1cnn.inputs` (its first `count` images).

  Raises:
    UserInputError: no readable training split, naming the format.
  """
  name = name or next(fmt.name for fmt in REGISTRY if fmt.calibrated)
  folder, why = _image_folder_split(config, split)
  if folder:
    return _folder_pixels(spec, config, split, count)[0]
  if config.data.data_dir and config.data.dataset != 'image_folder':
    pixels, why = _dataset_pixels(spec, config, split, count)
    if pixels is not None:
      return pixels
  raise runtime.UserInputError(
      f'--formats={name} calibrates on training images but {why}: pass '
      '--data_dir (the run\'s data)')


# --- the check against the checkpoint -------------------------------------------


def checkpoint_probabilities(spec, prefix, make_saver, pixels,
                             batch_size=50):
  """The checkpoint's probabilities on float32 0-255 pixels.

  The evaluation path: each image normalised on its own (the input
  pipelines' `recipe.normalize` per example), the eval-mode network, the
  variables restored from `prefix` by `make_saver()` (called in the graph:
  moving averages when the export uses them).
  """
  recipe = preprocess.get_recipe(spec.preprocessing.recipe)
  graph = tf.Graph()
  with graph.as_default():
    images = _V1.placeholder(
        tf.float32, [None, spec.image_size, spec.image_size, spec.channels])
    normalized = tf.map_fn(recipe.normalize, images)
    logits, _ = spec.network_fn(is_training=False)(normalized)
    probabilities = tf.nn.softmax(logits)
    saver = make_saver()
  results = []
  with _V1.Session(graph=graph, config=runtime.session_config()) as sess:
    saver.restore(sess, prefix)
    for start in range(0, len(pixels), batch_size):
      results.append(sess.run(probabilities,
                              {images: pixels[start:start + batch_size]}))
  return np.concatenate(results)


def _frozen_jpeg_probabilities(path, filenames):
  """The frozen graph's `input_jpeg` path on the files' bytes."""
  graph_def = _V1.GraphDef()
  with open(path, 'rb') as f:
    graph_def.ParseFromString(f.read())
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.import_graph_def(graph_def, name='')
  encoded = []
  for name in filenames:
    with open(name, 'rb') as f:
      encoded.append(f.read())
  with _V1.Session(graph=graph, config=runtime.session_config()) as sess:
    return sess.run('probabilities:0', {f'{served.INPUT_JPEG}:0': encoded})


def compare_with_checkpoint(version_dir, formats, want, pixels, filenames,
                            batch_size=50):
  """Runs every written format on `pixels`; one result dict per format.

  Each format is opened with its record's runtime (`ExportFormat.loader`).

  Args:
    version_dir: the staged export version folder.
    formats: the format names written.
    want: the checkpoint's probabilities on `pixels`.
    pixels: float32 0-255 `[n, S, S, C]`.
    filenames: the files `pixels` were read from ([] otherwise): the
      frozen graph's `input_jpeg` is also checked on their bytes.

  Returns:
    `[{'format', 'path', 'max_abs_diff', 'top1_agreement', 'float',
    'input_dtype', 'runtime'}]` and the format's `facts`.
  """
  results = []

  def _add(name, path, got, input_dtype, fmt, kind):
    diff = float(np.max(np.abs(got - want)))
    agree = float(np.mean(got.argmax(axis=1) == want.argmax(axis=1)))
    row = dict(format=name, path=os.path.relpath(path, version_dir),
               max_abs_diff=diff, top1_agreement=agree,
               float=fmt.kind == 'float', input_dtype=input_dtype,
               runtime=kind)
    row.update(fmt.facts)
    results.append(row)
    logging.info('%-16s max |delta probability| %.3g, top class agrees on '
                 '%.1f%% of %d images', name, diff, 100 * agree, len(want))

  for name in formats:
    fmt = get(name)
    path = fmt.path(version_dir)
    for row_name, loader in ([(name, fmt.loader)] + [
        (f'{name}:{alternate}', served.RUNTIMES[alternate])
        for alternate in fmt.installed_alternates()]):
      with served.load(path, loader=loader) as model:
        got = np.concatenate([
            model.probabilities(pixels[start:start + batch_size])
            for start in range(0, len(pixels), batch_size)])
        _add(row_name, path, got, model.input_dtype, fmt, model.kind)
    if fmt.writer is write_frozen and filenames:
      _add(f'{name}:input_jpeg', path,
           _frozen_jpeg_probabilities(path, filenames), 'string', fmt,
           model.kind)
  return results


def verification_record(formats, results, description):
  """The `verification` entry of an export's `run_config.json`."""
  record = dict(images=description, results=results)
  for name in formats:
    record.update(get(name).facts)
  return record


def format_comparison(results, description):
  """The comparison as lines of text."""
  lines = [f'export vs checkpoint on {description}:',
           f'{"format":<18} {"input":<8} {"max |dp|":>10} {"top-1 agree":>12}']
  for row in results:
    lines.append(f'{row["format"]:<18} {row["input_dtype"]:<8} '
                 f'{row["max_abs_diff"]:10.3g} '
                 f'{100 * row["top1_agreement"]:11.1f}%')
  return '\n'.join(lines)


def check_float_formats(results, tolerance=FLOAT_TOLERANCE):
  """Raises UserInputError when a float format is off the checkpoint.

  `frozen:input_jpeg` (decoding inside the graph) and a float format on an
  alternate runtime (`onnx:openvino`) count as float.
  """
  bad = [row for row in results
         if row['float'] and row['max_abs_diff'] > tolerance]
  if bad:
    raise runtime.UserInputError(
        'export refused: ' + ', '.join(
            f'{row["format"]} differs from the checkpoint by '
            f'{row["max_abs_diff"]:.3g} in probability' for row in bad)
        + f' (more than {tolerance:g}); nothing was written')
