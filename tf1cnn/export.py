"""Export of a trained checkpoint as a SavedModel for serving.

`export_saved_model(...)` rebuilds the network in eval mode, restores the
checkpoint (the weights' moving averages when the checkpoint has them), and
writes a TF1 SavedModel with `tf.compat.v1.saved_model.Builder` to
`<export_dir>/<version>` (version = the checkpoint's global step unless given).
Two signatures:

* `serving_default` (`predict_jpeg`): input `image_bytes`, a string vector of
  encoded JPEG/PNG/BMP/GIF files; the preprocessing the model was trained
  with (its recipe and JPEG decode mode, from `run_config.json`; see
  `tf1cnn.inputs.preprocess`) is inside the graph, exactly as in evaluation;
* `predict_images`: input `images`, float32 `[batch, H, W, C]` pixels 0-255
  at the model's size (the recipe's normalisation is inside the graph).

Both return `classes` (int), `class_names` (string), `probabilities` and
`logits`. The export is written to a temporary folder beside the target and
renamed into place at the end, so an interrupted or failed export never leaves
a half-written version, and an existing version is never overwritten.
"""

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
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

# Images the formats are compared with the checkpoint on, and the most
# training images `tflite_int8` is calibrated on.
VERIFY_IMAGES = 32
REPRESENTATIVE_IMAGES = 200


def _preprocess_encoded(image_bytes, spec):
  """Encoded files -> float32 0-255 pixels, as the model was trained."""
  def _one(contents):
    return preprocess.photo_pixels(contents, spec.image_size,
                                   spec.preprocessing, channels=spec.channels)
  return tf.map_fn(_one, image_bytes, fn_output_signature=tf.float32)


def _named(tensor, name):
  """`tf.identity(tensor, name=name)`, refusing a name the model took."""
  named = tf.identity(tensor, name=name)
  if named.op.name != name:
    raise runtime.UserInputError(
        f'the model already has a top-level node named {name!r}; exports name '
        'their outputs probabilities, classes, logits, class_names')
  return named


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
    0-255 `[None, S, S, C]`) and `input_jpeg`; outputs `probabilities`,
    `classes`, `logits` and `class_names` (named so in the graph).
  """
  shape = [None, spec.image_size, spec.image_size, spec.channels]
  inputs = {}
  if with_jpeg:
    inputs['input_jpeg'] = _V1.placeholder(tf.string, [None],
                                           name=served.INPUT_JPEG)
    images = _V1.placeholder_with_default(
        _preprocess_encoded(inputs['input_jpeg'], spec), shape,
        name=served.INPUT)
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


def _restoring_saver(prefix, config, spec):
  var_map, used_averages = checkpoints.restore_var_map(
      prefix, use_moving_averages=config.use_moving_averages,
      name_rules=config.checkpoint_var_map)
  checkpoints.check_compatible(prefix, var_map, what=f'model {spec.model}',
                               name_rules=config.checkpoint_var_map)
  return _V1.train.Saver(var_map), var_map, used_averages


def _write_saved_model(sess, staging, inputs, outputs, labels_path):
  """The TF1 SavedModel with its two signatures and labels.txt asset."""
  build = _V1.saved_model.signature_def_utils.predict_signature_def
  signatures = {
      'serving_default': build({'image_bytes': inputs['input_jpeg']},
                               outputs),
      'predict_images': build({'images': inputs['input']}, outputs),
  }
  asset = tf.constant(labels_path, name='labels_asset')
  _V1.add_to_collection(_V1.GraphKeys.ASSET_FILEPATHS, asset)
  builder = _V1.saved_model.Builder(staging)
  builder.add_meta_graph_and_variables(
      sess, [_V1.saved_model.tag_constants.SERVING],
      signature_def_map=signatures, strip_default_attrs=True,
      assets_collection=_V1.get_collection(_V1.GraphKeys.ASSET_FILEPATHS))
  builder.save()


def export_saved_model(config):
  """Exports a checkpoint in `config.formats`; returns the version directory.

  The model, image size, channels, preprocessing and class names come from
  the training directory's `run_config.json` and `labels.txt`; for a
  checkpoint without them, from the config (`--model`, `--image_size`,
  `--labels_file` or `--data_dir`). Every format is compared with the
  checkpoint before the version folder is moved into place
  (`tf1cnn.export_formats`).

  Args:
    config: tf1cnn.config.ExportConfig.

  Returns:
    The version directory (its `run_config.json` holds the comparison under
    `verification`).

  Raises:
    UserInputError: missing checkpoint or classes, an existing version, an
      unknown or unconvertible format, a float format off the checkpoint.
  """
  prefix = checkpoints.resolve_checkpoint(config.checkpoint_path,
                                          config.train_dir)
  if not config.export_dir:
    raise runtime.UserInputError('--export_dir is empty')
  formats = export_formats.parse_formats(
      getattr(config, 'formats', None) or ['saved_model'])
  spec = run_spec.for_checkpoint(config, prefix, need_data=False)
  version = config.export_version
  if version is None:
    version = checkpoints.checkpoint_step(prefix) or 0
  target = os.path.join(config.export_dir, str(version))
  if os.path.exists(target):
    raise runtime.UserInputError(
        f'{target} already exists: exports are never overwritten; pass '
        'another --export_version or remove it')
  # Images first: a missing calibration set fails before anything is built.
  verify_count = getattr(config, 'verify_images', VERIFY_IMAGES)
  pixels, files, description = export_formats.verification_images(
      spec, config, verify_count)
  representative = None
  if 'tflite_int8' in formats:
    representative = export_formats.representative_images(
        spec, config, getattr(config, 'representative_images',
                              REPRESENTATIVE_IMAGES))
  tflite_formats = [name for name in formats if name.startswith('tflite')]
  if tflite_formats:
    logging.info('TFLite formats are converted from the pixel input only: '
                 'the input_jpeg path (DecodeImage, a while loop over files) '
                 'is not a TFLite op, so it is skipped there')

  os.makedirs(config.export_dir, exist_ok=True)
  staging_parent = tempfile.mkdtemp(prefix=f'.{version}-',
                                    dir=config.export_dir)
  staging = os.path.join(staging_parent, 'model')
  try:
    labels_dir = os.path.join(staging_parent, 'labels')
    os.makedirs(labels_dir)
    checkpoints.write_labels(labels_dir, spec.class_names)
    graph = tf.Graph()
    with graph.as_default():
      inputs, outputs = build_serving_graph(spec, with_jpeg=True)
      saver, _, used_averages = _restoring_saver(prefix, config, spec)
      with _V1.Session(config=runtime.session_config()) as sess:
        saver.restore(sess, prefix)
        if 'saved_model' in formats:
          _write_saved_model(sess, staging, inputs, outputs,
                             os.path.join(labels_dir, 'labels.txt'))
        os.makedirs(staging, exist_ok=True)
        if 'frozen' in formats:
          export_formats.write_frozen(sess, staging, spec.class_names,
                                      list(outputs))
    if tflite_formats:
      graph = tf.Graph()
      with graph.as_default():
        inputs, outputs = build_serving_graph(spec, with_jpeg=False)
        saver, _, _ = _restoring_saver(prefix, config, spec)
        with _V1.Session(config=runtime.session_config()) as sess:
          saver.restore(sess, prefix)
          for name in tflite_formats:
            export_formats.write_tflite(
                sess, inputs['input'],
                [outputs[key] for key in served.OUTPUTS], staging, name,
                spec.class_names, representative)
    checkpoints.write_labels(staging, spec.class_names)
    want = export_formats.checkpoint_probabilities(
        spec, prefix, lambda: _restoring_saver(prefix, config, spec)[0],
        pixels)
    comparison = export_formats.compare_with_checkpoint(
        staging, formats, want, pixels, files)
    report = export_formats.format_comparison(comparison, description)
    logging.info('%s', report)
    export_formats.check_float_formats(comparison)
    checkpoints.write_run_config(staging, spec.record(
        source_checkpoint=prefix, used_moving_averages=used_averages,
        formats=list(formats),
        verification=dict(images=description, results=comparison)))
    os.rename(staging, target)
  finally:
    shutil.rmtree(staging_parent, ignore_errors=True)
  logging.info('exported %s (%s, %s preprocessing with %s decode, moving '
               'averages: %s) as %s to %s', prefix, spec.model,
               spec.preprocessing.recipe, spec.preprocessing.decode,
               used_averages, ', '.join(formats), target)
  return target
