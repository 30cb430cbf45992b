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

import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1


def _preprocess_encoded(image_bytes, spec):
  """Encoded files -> float32 0-255 pixels, as the model was trained."""
  def _one(contents):
    return preprocess.photo_pixels(contents, spec.image_size,
                                   spec.preprocessing, channels=spec.channels)
  return tf.map_fn(_one, image_bytes, fn_output_signature=tf.float32)


def export_saved_model(config):
  """Exports a checkpoint as a SavedModel; returns the version directory.

  The model, image size, channels, preprocessing and class names come from
  the training directory's `run_config.json` and `labels.txt`; for a
  checkpoint without them, from the config (`--model`, `--image_size`,
  `--labels_file` or `--data_dir`).

  Args:
    config: tf1cnn.config.ExportConfig.

  Raises:
    UserInputError: missing checkpoint or classes, an existing version.
  """
  prefix = checkpoints.resolve_checkpoint(config.checkpoint_path,
                                          config.train_dir)
  if not config.export_dir:
    raise runtime.UserInputError('--export_dir is empty')
  spec = run_spec.for_checkpoint(config, prefix, need_data=False)
  version = config.export_version
  if version is None:
    version = checkpoints.checkpoint_step(prefix) or 0
  target = os.path.join(config.export_dir, str(version))
  if os.path.exists(target):
    raise runtime.UserInputError(
        f'{target} already exists: exports are never overwritten; pass '
        'another --export_version or remove it')

  graph = tf.Graph()
  with graph.as_default():
    # One network serves both signatures (user code may create variables
    # with tf.Variable, which cannot be shared between two copies): pixels
    # default to the decoded `image_bytes`, and feeding `images` replaces
    # them.
    image_bytes = _V1.placeholder(tf.string, [None], name='image_bytes')
    images = _V1.placeholder_with_default(
        _preprocess_encoded(image_bytes, spec),
        [None, spec.image_size, spec.image_size, spec.channels],
        name='images')
    logits, _ = spec.network_fn(is_training=False)(
        preprocess.pixels_batch(images, spec.preprocessing))
    names_table = tf.constant(spec.class_names)

    def _outputs(logits):
      classes = tf.argmax(logits, axis=1, output_type=tf.int32)
      return dict(classes=classes, class_names=tf.gather(names_table, classes),
                  probabilities=tf.nn.softmax(logits), logits=logits)

    var_map, used_averages = checkpoints.restore_var_map(
        prefix, use_moving_averages=config.use_moving_averages,
        name_rules=config.checkpoint_var_map)
    checkpoints.check_compatible(prefix, var_map, what=f'model {spec.model}',
                                 name_rules=config.checkpoint_var_map)
    saver = _V1.train.Saver(var_map)
    build = _V1.saved_model.signature_def_utils.predict_signature_def
    outputs = _outputs(logits)
    signatures = {
        'serving_default': build({'image_bytes': image_bytes}, outputs),
        'predict_images': build({'images': images}, outputs),
    }
    os.makedirs(config.export_dir, exist_ok=True)
    staging_parent = tempfile.mkdtemp(prefix=f'.{version}-',
                                      dir=config.export_dir)
    staging = os.path.join(staging_parent, 'model')
    try:
      with _V1.Session(config=runtime.session_config()) as sess:
        saver.restore(sess, prefix)
        builder = _V1.saved_model.Builder(staging)
        builder.add_meta_graph_and_variables(
            sess, [_V1.saved_model.tag_constants.SERVING],
            signature_def_map=signatures, strip_default_attrs=True)
        builder.save()
      checkpoints.write_run_config(staging, spec.record(
          source_checkpoint=prefix, used_moving_averages=used_averages))
      os.rename(staging, target)
    finally:
      shutil.rmtree(staging_parent, ignore_errors=True)
  logging.info('exported %s (%s, %s preprocessing with %s decode, moving '
               'averages: %s) to %s', prefix, spec.model,
               spec.preprocessing.recipe, spec.preprocessing.decode,
               used_averages, target)
  return target
