"""Export of a trained checkpoint as a SavedModel for serving.

`export_saved_model(...)` rebuilds the network in eval mode, restores the
checkpoint (the weights' moving averages when the checkpoint has them), and
writes a TF1 SavedModel with `tf.compat.v1.saved_model.Builder` to
`<export_dir>/<version>` (version = the checkpoint's global step unless given).
Three signatures:

* `serving_default` (`predict_jpeg`): input `image_bytes`, a string vector of
  encoded JPEG/PNG/BMP/GIF files; the preprocessing the model was trained
  with (its recipe and JPEG decode mode, from `run_config.json`; see
  `tf1cnn.inputs.preprocess`) is inside the graph, exactly as in evaluation;
* `predict_images`: input `images`, float32 `[batch, H, W, C]` pixels 0-255
  at the model's size (the recipe's normalisation is inside the graph);
* `predict_images_any_size`: input `images`, float32 pixels 0-255 of any
  size (a batch shares one size), e.g. the dataset's own images: the
  recorded evaluation geometry (resize, crop or pad, central crop) brings
  them to the model's size inside; a batch already at that size is taken
  as it is.

Each returns `classes` (int), `class_names` (string), `probabilities` and
`logits`. `--formats` adds the other formats of `tf1cnn.export_formats`'
registry (frozen GraphDef, TFLite float / dynamic / int8, ONNX) to the same
version folder, each verified against the checkpoint before it lands. The export is written to a temporary folder beside the target and
renamed into place at the end, so an interrupted or failed export never leaves
a half-written version, and an existing version is never overwritten.
"""

import contextlib
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import export_formats
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn import writable
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1


def _preprocess_encoded(image_bytes, spec):
  """Encoded files -> float32 0-255 pixels, as the model was trained."""
  def _one(contents):
    return preprocess.photo_pixels(contents, spec.image_size,
                                   spec.preprocessing, channels=spec.channels)
  return tf.map_fn(_one, image_bytes, fn_output_signature=tf.float32)


def _recorded_geometry(images, spec):
  """Pixels of any size -> the model's size, by the recorded eval geometry.

  A batch already at the model's size passes unchanged (the geometry was
  applied); any other size gets the recipe's evaluation geometry (resize,
  crop or pad, central crop) image by image, as the evaluation pipeline
  applies it to decoded files.
  """
  size = spec.image_size
  recipe = preprocess.get_recipe(spec.preprocessing.recipe)
  shape = tf.shape(images)

  def _apply():
    return tf.map_fn(lambda image: recipe.eval_pixels(image, size),
                     tf.cast(images, tf.float32),
                     fn_output_signature=tf.TensorSpec(
                         [size, size, spec.channels], tf.float32))
  fitted = tf.cond(tf.logical_and(tf.equal(shape[1], size),
                                  tf.equal(shape[2], size)),
                   lambda: tf.cast(images, tf.float32), _apply)
  fitted.set_shape([None, size, size, spec.channels])
  return fitted


def _named(tensor, name):
  """`tensor` as the top-level node `name`, refusing a node the model took.

  A model's own scope of that name (`with tf.variable_scope('logits')`,
  nodes `logits/...`) leaves the name of a node free: the identity takes
  it exactly (a name ending in '/' is used as given, not made unique as
  TensorFlow otherwise does after a scope of that name). A model whose
  output node already has the name (`tf.add(..., name='logits')`) is
  served by that node; any other node of that name is refused.
  """
  try:
    taken = tensor.graph.get_operation_by_name(name)
  except KeyError:
    return tf.identity(tensor, name=f'{name}/')
  if tensor.op is taken:
    return tensor
  raise runtime.UserInputError(
      f'the model already has a top-level node named {name!r}; exports name '
      'their outputs probabilities, classes, logits, class_names')


def normalize_batch(images, preprocessing, for_tflite=False):
  """The recipe's normalisation of a float32 0-255 batch, in one piece.

  Each image is still normalised on its own (the reductions run over its
  own axes), without `map_fn`'s loop, which TFLite would have to convert.
  For TFLite, `per_image_standardization`'s division by the clamped
  standard deviation becomes the same product with
  `rsqrt(max(variance, 1 / pixels))`: TFLite's int8 DIV kernel refuses a
  divisor whose quantised value is 0, its MUL and RSQRT do not.
  """
  recipe = preprocess.get_recipe(preprocessing.recipe)
  if not (for_tflite and recipe.normalize is preprocess.standardize):
    return recipe.normalize(images)
  axes = [1, 2, 3]
  count = float(np.prod(images.shape.as_list()[1:]))
  mean = tf.reduce_mean(images, axis=axes, keepdims=True)
  variance = tf.reduce_mean(tf.math.squared_difference(images, mean),
                            axis=axes, keepdims=True)
  return (images - mean) * tf.math.rsqrt(tf.maximum(variance, 1.0 / count))


def build_serving_graph(spec, with_jpeg=True):
  """The inference graph of an export, in the default graph.

  Args:
    spec: the checkpoint's RunSpec.
    with_jpeg: add the `input_jpeg` string input (encoded files decoded and
      resized inside with the recorded preprocessing); `input` then defaults
      to the decoded pixels (one network serves both: user code may create
      variables with tf.Variable, which two copies could not share).

  Returns:
    `(inputs, outputs)`: dicts of tensors; inputs `input` (float32 pixels
    0-255 `[None, S, S, C]`), and with `with_jpeg` `input_jpeg` and
    `input_any_size` (float32 pixels of any size, brought to S by the
    recorded geometry; default: the decoded files); outputs `probabilities`,
    `classes`, `logits` and `class_names` (named so in the graph).
  """
  shape = [None, spec.image_size, spec.image_size, spec.channels]
  inputs = {}
  if with_jpeg:
    inputs['input_jpeg'] = _V1.placeholder(tf.string, [None],
                                           name=served.INPUT_JPEG)
    any_size = _V1.placeholder_with_default(
        _preprocess_encoded(inputs['input_jpeg'], spec),
        [None, None, None, spec.channels], name=served.INPUT_ANY_SIZE)
    inputs['input_any_size'] = any_size
    images = _V1.placeholder_with_default(
        _recorded_geometry(any_size, spec), shape, name=served.INPUT)
  else:
    images = _V1.placeholder(tf.float32, shape, name=served.INPUT)
  inputs['input'] = images
  logits, _ = spec.network_fn(is_training=False)(
      normalize_batch(images, spec.preprocessing, for_tflite=not with_jpeg))
  logits = _named(logits, 'logits')
  probabilities = tf.nn.softmax(logits, name='probabilities')
  classes = tf.argmax(logits, axis=1, output_type=tf.int32, name='classes')
  names_table = tf.constant(spec.class_names)
  outputs = dict(probabilities=probabilities, classes=classes, logits=logits,
                 class_names=tf.gather(names_table, classes,
                                       name='class_names'))
  for name, tensor in outputs.items():
    if tensor.op.name != name:
      raise runtime.UserInputError(
          f'the model already has a top-level node named {name!r}')
  return inputs, outputs


class _Restorer:
  """The checkpoint's variables, looked up and checked once for every graph.

  `saver()`, called in a graph holding the network, returns a Saver that
  restores its variables. The first call reads the checkpoint's names
  (`checkpoints.restore_var_map`: the moving averages when it has them and
  `--use_moving_averages`) and checks shapes and dtypes
  (`check_compatible`); the serving graphs and the checkpoint's own
  reference graph after it reuse that map by variable name.
  """

  def __init__(self, prefix, spec):
    self._prefix = prefix
    self._config = spec.config
    self._spec = spec
    self._names = None
    self.used_averages = False

  def saver(self):
    variables = {v.op.name: v for v in _V1.global_variables()}
    if self._names is None:
      var_map, self.used_averages = checkpoints.restore_var_map(
          self._prefix, use_moving_averages=self._config.use_moving_averages,
          name_rules=self._config.checkpoint_var_map)
      checkpoints.check_compatible(
          self._prefix, var_map, what=f'model {self._spec.model}',
          name_rules=self._config.checkpoint_var_map)
      self._names = {key: v.op.name for key, v in var_map.items()}
    missing = sorted(set(variables) - set(self._names.values()))
    if missing:
      raise RuntimeError(f'variables {missing[:3]} of a serving graph are not '
                         'in the first graph\'s restore map')
    return _V1.train.Saver({key: variables[name]
                            for key, name in self._names.items()})


def _signature_inputs(inputs):
  """The SavedModel's signatures of the `jpeg` graph: name -> inputs."""
  return {
      'serving_default': {'image_bytes': inputs['input_jpeg']},
      'predict_images': {'images': inputs['input']},
      served.ANY_SIZE_SIGNATURE: {'images': inputs['input_any_size']},
  }


def export_saved_model(config):
  """Exports a checkpoint in `config.formats`; returns the version directory.

  The model, image size, channels, preprocessing and class names come from
  the training directory's `run_config.json` and `labels.txt`; for a
  checkpoint without them, from the config (`--model`, `--image_size`,
  `--labels_file` or `--data_dir`). Every format is compared with the
  checkpoint before the version folder is moved into place
  (`tf1cnn.export_formats`). The steps: `_plan` (checkpoint, formats, the
  version folder), `_images` (verification and calibration images, read
  before anything is built), `_write_version` (each serving graph built
  and restored once, every format written from it, the comparison, the
  rename).

  Args:
    config: tf1cnn.config.ExportConfig.

  Returns:
    The version directory (its `run_config.json` holds the comparison under
    `verification`).

  Raises:
    UserInputError: missing checkpoint or classes, an existing version, an
      unknown, uninstalled or unconvertible format, a float format off the
      checkpoint.
  """
  prefix, spec, formats, version, target = _plan(config)
  pixels, files, description, representative, formats = _images(spec, formats)
  with _write_failures(config.export_dir, target):
    os.makedirs(config.export_dir, exist_ok=True)
    staging_parent = tempfile.mkdtemp(prefix=f'.{version}-',
                                      dir=config.export_dir)
  staging = os.path.join(staging_parent, 'model')
  try:
    with _write_failures(config.export_dir, target):
      used_averages, formats = _write_version(
          spec, prefix, formats, staging_parent, staging, target, pixels,
          files, description, representative)
  finally:
    shutil.rmtree(staging_parent, ignore_errors=True)
  logging.info('exported %s (%s, %s preprocessing with %s decode, moving '
               'averages: %s) as %s to %s', prefix, spec.model,
               spec.preprocessing.recipe, spec.preprocessing.decode,
               used_averages, ', '.join(formats), target)
  return target


def _plan(config):
  """`(prefix, spec, formats, version, target)`, checked before any work."""
  prefix = checkpoints.resolve_checkpoint(config.checkpoint_path,
                                          config.train_dir)
  if not config.export_dir:
    raise runtime.UserInputError('--export_dir is empty')
  formats = export_formats.parse_formats(config.formats)
  spec = run_spec.for_checkpoint(config, prefix, need_data=False)
  version = config.export_version
  if version is None:
    version = checkpoints.checkpoint_step(prefix)
    if version is None:
      logging.warning('checkpoint %s has no global step: exported as version '
                      '0 (--export_version sets another)', prefix)
      version = 0
  target = os.path.join(config.export_dir, str(version))
  if os.path.exists(target):
    raise runtime.UserInputError(
        f'{target} already exists: exports are never overwritten; pass '
        'another --export_version or remove it')
  return prefix, spec, formats, version, target


def _images(spec, formats):
  """`(pixels, files, description, representative, formats)`.

  The verification and calibration images (`export_formats`), read first:
  a missing calibration set fails before anything is built, unless only
  formats asked for through `--formats=default` need it (they are then
  left out with a warning, and `formats` is returned without them). The
  data is the spec's: the dataset recorded with the checkpoint.
  """
  config = spec.config
  pixels, files, description = export_formats.verification_images(
      spec, config, config.verify_images)
  representative = None
  calibrated = [name for name in formats if export_formats.get(name).calibrated]
  if calibrated:
    optional = export_formats.optional_formats(config.formats)
    try:
      representative = export_formats.representative_images(
          spec, config, config.representative_images, name=calibrated[0])
    except runtime.UserInputError as e:
      if any(name not in optional for name in calibrated):
        raise
      logging.warning('%s; the export goes on without %s (name it in '
                      '--formats to make this an error)', e,
                      ', '.join(calibrated))
      formats = tuple(name for name in formats if name not in calibrated)
  converted = [name for name in formats
               if export_formats.get(name).graph == 'pixels']
  if converted:
    logging.info('%s converted from the pixel input only: the input_jpeg '
                 'path (DecodeImage, a while loop over files) is not an op '
                 'of their runtimes', ', '.join(converted))
  return pixels, files, description, representative, formats


@contextlib.contextmanager
def _write_failures(export_dir, target):
  """A failed write (full disk, read-only file system) as one line.

  Nothing is left behind: the caller removes the staging folder, and the
  version folder only appears by the final rename.
  """
  try:
    yield
  except (OSError, tf.errors.OpError) as e:
    if not writable.is_write_failure(e):
      raise
    # TensorFlow's message starts 'Graph execution error:'; the system's
    # words come further down.
    lines = [line.strip() for line in
             str(getattr(e, 'message', None) or e).splitlines()
             if line.strip()]
    reason = next((line for line in lines
                   if writable.is_write_failure(RuntimeError(line))),
                  lines[0] if lines else type(e).__name__)
    raise runtime.UserInputError(
        f'writing the export {target} to --export_dir={export_dir} failed '
        f'({reason}); nothing was exported') from None


def _write_version(spec, prefix, formats, staging_parent, staging, target,
                   pixels, files, description, representative):
  """Writes, checks and moves every format into `target`.

  Each serving graph a chosen format needs (`ExportFormat.graph`) is built
  and restored once and every such format written from its session, in
  registry order (the SavedModel first).

  Returns `(whether the moving averages were restored, the formats
  written)`.
  """
  restorer = _Restorer(prefix, spec)
  labels_dir = os.path.join(staging_parent, 'labels')
  os.makedirs(labels_dir)
  checkpoints.write_labels(labels_dir, spec.class_names)
  optional = export_formats.optional_formats(spec.config.formats)
  skipped = []
  for graph in export_formats.GRAPHS:
    chosen = [export_formats.get(name) for name in formats
              if export_formats.get(name).graph == graph]
    if chosen:
      skipped += _write_from_graph(spec, prefix, restorer, graph, chosen, dict(
          version_dir=staging, class_names=list(spec.class_names),
          labels_path=os.path.join(labels_dir, 'labels.txt'),
          representative=representative), optional)
  formats = tuple(name for name in formats if name not in skipped)
  os.makedirs(staging, exist_ok=True)
  checkpoints.write_labels(staging, spec.class_names)
  verification = _verify(spec, prefix, restorer, staging, formats, pixels,
                         files, description)
  checkpoints.write_run_config(staging, spec.record(
      source_checkpoint=prefix, used_moving_averages=restorer.used_averages,
      formats=list(formats), verification=verification))
  os.rename(staging, target)
  return restorer.used_averages, formats


def _write_from_graph(spec, prefix, restorer, graph, chosen, job,
                      optional=()):
  """Builds serving graph `graph`, restores it and runs each chosen writer.

  A format in `optional` (asked for only by `--formats=default`) that its
  converter refuses is left out with a warning; returns those left out.
  """
  skipped = []
  with tf.Graph().as_default():
    inputs, outputs = build_serving_graph(spec, with_jpeg=graph == 'jpeg')
    saver = restorer.saver()
    with _V1.Session(config=runtime.session_config()) as sess:
      saver.restore(sess, prefix)
      job = export_formats.WriteJob(
          sess=sess, inputs=inputs, outputs=outputs,
          signatures=_signature_inputs(inputs) if graph == 'jpeg' else {},
          **job)
      for fmt in chosen:
        try:
          fmt.writer(job, fmt)
        except runtime.UserInputError as e:
          if fmt.name not in optional:
            raise
          logging.warning('%s; the export goes on without it (name it in '
                          '--formats to make this an error)', e)
          skipped.append(fmt.name)
  return skipped


def _verify(spec, prefix, restorer, staging, formats, pixels, files,
            description):
  """Every written format against the checkpoint; the verification record.

  Raises:
    UserInputError: a float format off the checkpoint.
  """
  want = export_formats.checkpoint_probabilities(spec, prefix,
                                                 restorer.saver, pixels)
  comparison = export_formats.compare_with_checkpoint(
      staging, formats, want, pixels, files)
  logging.info('%s', export_formats.format_comparison(comparison,
                                                      description))
  export_formats.check_float_formats(comparison)
  return export_formats.verification_record(formats, comparison, description)
