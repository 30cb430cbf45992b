"""Export of a trained checkpoint as a SavedModel for serving.

`export_saved_model(...)` rebuilds the network in eval mode, restores the
checkpoint (the weights' moving averages when the checkpoint has them), and
writes a TF1 SavedModel with `tf.compat.v1.saved_model.Builder` to
`<export_dir>/<version>` (version = the checkpoint's global step unless given).
Two signatures:

* `serving_default` (`predict_jpeg`): input `image_bytes`, a string vector of
  encoded JPEG/PNG/BMP/GIF files; preprocessing (decode, resize, per-image
  standardisation) is inside the graph, exactly as in evaluation;
* `predict_images`: input `images`, float32 `[batch, H, W, C]` pixels 0-255.

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
from tf1cnn import evaluation
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1


def _preprocess_encoded(image_bytes, image_size, channels):
  def _one(contents):
    image = image_folder.decode_image(contents, channels=channels)
    return pipeline.standardize(image_folder.resize(image, image_size))
  return tf.map_fn(_one, image_bytes, fn_output_signature=tf.float32)


def export_saved_model(train_dir='', checkpoint_path='', export_dir='',
                       version=None, use_moving_averages=True):
  """Exports a checkpoint as a SavedModel; returns the version directory.

  The model, image size, channels and class names come from the training
  directory's `run_config.json` and `labels.txt`.

  Args:
    train_dir: training directory (latest checkpoint, metadata).
    checkpoint_path: a checkpoint prefix or directory; overrides train_dir.
    export_dir: base folder; the SavedModel goes to `export_dir/<version>`.
    version: integer version; default the checkpoint's global step.
    use_moving_averages: export the weights' moving averages when present.

  Raises:
    UserInputError: missing checkpoint or metadata, an existing version.
  """
  prefix = checkpoints.resolve_checkpoint(checkpoint_path, train_dir)
  run_dir = os.path.dirname(prefix)
  run_config = (checkpoints.read_run_config(run_dir)
                or checkpoints.read_run_config(train_dir))
  class_names = checkpoints.read_labels(run_dir) or checkpoints.read_labels(
      train_dir)
  if not run_config or not class_names:
    raise runtime.UserInputError(
        f'{run_dir}: run_config.json and labels.txt are needed to export '
        f'{prefix} (they are written by training)')
  if not export_dir:
    raise runtime.UserInputError('--export_dir is empty')
  if version is None:
    version = int(tf.train.load_variable(prefix, 'global_step'))
  target = os.path.join(export_dir, str(version))
  if os.path.exists(target):
    raise runtime.UserInputError(
        f'{target} already exists: exports are never overwritten; pass '
        'another --export_version or remove it')
  model = run_config['model']
  image_size = int(run_config['image_size'])
  channels = int(run_config['channels'])

  graph = tf.Graph()
  with graph.as_default():
    _V1.train.get_or_create_global_step()
    image_bytes = _V1.placeholder(tf.string, [None], name='image_bytes')
    images = _V1.placeholder(tf.float32, [None, image_size, image_size,
                                          channels], name='images')
    network_fn = training.network_fn_for(
        model, len(class_names), is_training=False,
        **(run_config.get('model_options') or {}))
    standardized = tf.map_fn(pipeline.standardize, images)
    with _V1.variable_scope(_V1.get_variable_scope()) as scope:
      logits_pixels, _ = network_fn(standardized)
      scope.reuse_variables()
      logits_jpeg, _ = network_fn(
          _preprocess_encoded(image_bytes, image_size, channels))
    names_table = tf.constant(class_names)

    def _outputs(logits):
      classes = tf.argmax(logits, axis=1, output_type=tf.int32)
      return dict(classes=classes, class_names=tf.gather(names_table, classes),
                  probabilities=tf.nn.softmax(logits), logits=logits)

    var_map, used_averages = evaluation.restore_var_map(prefix,
                                                        use_moving_averages)
    checkpoints.check_compatible(prefix, var_map, what=f'model {model}')
    saver = _V1.train.Saver(var_map)
    build = _V1.saved_model.signature_def_utils.predict_signature_def
    signatures = {
        'serving_default': build({'image_bytes': image_bytes},
                                 _outputs(logits_jpeg)),
        'predict_images': build({'images': images}, _outputs(logits_pixels)),
    }
    os.makedirs(export_dir, exist_ok=True)
    staging_parent = tempfile.mkdtemp(prefix=f'.{version}-', dir=export_dir)
    staging = os.path.join(staging_parent, 'model')
    try:
      with _V1.Session(config=runtime.session_config()) as sess:
        saver.restore(sess, prefix)
        builder = _V1.saved_model.Builder(staging)
        builder.add_meta_graph_and_variables(
            sess, [_V1.saved_model.tag_constants.SERVING],
            signature_def_map=signatures, strip_default_attrs=True)
        builder.save()
      os.rename(staging, target)
    finally:
      shutil.rmtree(staging_parent, ignore_errors=True)
  logging.info('exported %s (%s, moving averages: %s) to %s', prefix, model,
               used_averages, target)
  return target
