"""The serving formats of an export besides the SavedModel, and their check.

Used by `tf1cnn.export` only. Every format starts from one inference graph
(`tf1cnn.export.build_serving_graph`: is_training=False, so batch norm uses
its moving statistics and dropout is the identity; the recipe's
normalisation inside; the batch dimension free) with stable node names:

| node | dtype, shape | what |
|---|---|---|
| `input` | float32 `[None, S, S, C]` | pixels 0-255 at the model's size |
| `input_jpeg` | string `[None]` | encoded JPEG/PNG/BMP/GIF files (frozen graph and SavedModel; decoded and resized inside with the recorded preprocessing) |
| `probabilities` | float32 `[None, classes]` | softmax |
| `classes` | int32 `[None]` | arg max |
| `logits` | float32 `[None, classes]` | |
| `class_names` | string `[None]` | name of `classes` (not in TFLite: `labels.txt`) |

Formats (`FORMATS`), each in the export version folder:

* `saved_model`: the version folder itself (see `tf1cnn.export`);
* `frozen`: `frozen/model.pb`, a GraphDef with the variables turned into
  constants (`convert_variables_to_constants`), and `frozen/labels.txt`;
* `tflite`, `tflite_dynamic`, `tflite_int8`: `tflite/model_float32.tflite`,
  `tflite/model_dynamic.tflite` (weights int8, activations float),
  `tflite/model_int8.tflite` (full integer: every op int8, calibrated on
  representative training images; input uint8 pixels 0-255 with scale 1 and
  zero point 0 when the calibration saw the full range, outputs float32),
  and `tflite/labels.txt`. They are converted from the pixel graph (no
  `input_jpeg`: `DecodeImage` is not a TFLite op) and output
  `probabilities`, `classes` and `logits`.

`compare_with_checkpoint` runs the checkpoint's own inference graph (each
image normalised on its own, as the input pipeline does, then the network
restored from the checkpoint, as evaluation does) and every written format on
the same pixels and reports `max |delta probability|` and the agreement of
the top class.
"""

import os

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

FORMATS = ('saved_model', 'frozen', 'tflite', 'tflite_dynamic', 'tflite_int8')
FLOAT_FORMATS = ('saved_model', 'frozen', 'tflite')
# A float format may differ from the checkpoint by this much in probability.
FLOAT_TOLERANCE = 1e-4

FROZEN_FILE = os.path.join('frozen', 'model.pb')
TFLITE_FILES = {
    'tflite': os.path.join('tflite', 'model_float32.tflite'),
    'tflite_dynamic': os.path.join('tflite', 'model_dynamic.tflite'),
    'tflite_int8': os.path.join('tflite', 'model_int8.tflite'),
}


def format_path(version_dir, name):
  """Where format `name` lives inside an export version folder."""
  if name == 'saved_model':
    return version_dir
  if name == 'frozen':
    return os.path.join(version_dir, FROZEN_FILE)
  return os.path.join(version_dir, TFLITE_FILES[name])


def parse_formats(formats):
  """`--formats` values (list or comma string, `all`) -> ordered tuple.

  Raises:
    UserInputError: an unknown format, listing the valid ones.
  """
  if isinstance(formats, str):
    formats = formats.split(',')
  names = [name.strip() for name in formats if name.strip()]
  if not names:
    raise runtime.UserInputError(f'--formats is empty: use all or some of '
                                 f'{",".join(FORMATS)}')
  if 'all' in names:
    return FORMATS
  unknown = [name for name in names if name not in FORMATS]
  if unknown:
    raise runtime.UserInputError(
        f'--formats={",".join(names)}: unknown {", ".join(unknown)}; use all '
        f'or some of {",".join(FORMATS)}')
  return tuple(name for name in FORMATS if name in names)


# --- images -------------------------------------------------------------------


def _readable_split(config, split):
  """The image-folder split of `config.data` to read, or None with why."""
  data = config.data
  if data.dataset != 'image_folder':
    return None, (f'--dataset={data.dataset} is not an image folder')
  if not data.data_dir:
    return None, 'no --data_dir'
  if not os.path.isdir(os.path.join(data.data_dir, split)):
    return None, f'{data.data_dir}/{split} does not exist'
  return split, ''


def verification_images(spec, config, count, split='test'):
  """Pixels (and files) to compare the formats with the checkpoint on.

  The `count` images come evenly spaced from `--data_dir`'s eval split
  (`split`), read as evaluation reads them; without readable image-folder
  data, uniform random pixels (seeded) with a warning.

  Returns:
    `(pixels float32 [n, S, S, C], filenames or [], description)`.
  """
  usable, why = _readable_split(config, split)
  if usable:
    filenames, labels, _ = served.split_files(
        config.data.data_dir, split, spec.class_names, limit=count,
        bad_images='skip')
    pixels = np.concatenate([p for p, _ in served.split_pixels(
        filenames, labels, spec.image_size, spec.preprocessing,
        spec.channels)])
    return pixels, filenames, (f'{len(filenames)} images of '
                               f'{config.data.data_dir}/{split}')
  logging.warning('comparing the export with the checkpoint on %d random '
                  'images, not real ones (%s): pass --data_dir', count, why)
  rng = np.random.RandomState(0)
  pixels = rng.uniform(0, 255, [count, spec.image_size, spec.image_size,
                                spec.channels]).astype(np.float32)
  return pixels, [], f'{count} random images ({why})'


def representative_images(spec, config, count, split='train'):
  """Calibration pixels for `tflite_int8`: the training split, eval geometry.

  Raises:
    UserInputError: no readable image-folder training split.
  """
  usable, why = _readable_split(config, split)
  if not usable:
    raise runtime.UserInputError(
        f'--formats=tflite_int8 calibrates on training images but {why}: '
        'pass --data_dir (the run\'s image folder)')
  filenames, labels, _ = served.split_files(
      config.data.data_dir, split, spec.class_names, limit=count,
      bad_images='skip')
  return np.concatenate([p for p, _ in served.split_pixels(
      filenames, labels, spec.image_size, spec.preprocessing,
      spec.channels)])


# --- writing ------------------------------------------------------------------


def write_frozen(sess, version_dir, class_names, output_names):
  """Freezes the session's graph into `frozen/model.pb`; returns its path."""
  graph_def = _V1.graph_util.convert_variables_to_constants(
      sess, sess.graph.as_graph_def(), list(output_names))
  path = os.path.join(version_dir, FROZEN_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(graph_def.SerializeToString())
  checkpoints.write_labels(os.path.dirname(path), class_names)
  logging.info('frozen GraphDef: %d nodes, %d bytes', len(graph_def.node),
               os.path.getsize(path))
  return path


def write_tflite(sess, images, outputs, version_dir, name, class_names,
                 representative=None):
  """Converts the pixel graph in `sess` to TFLite format `name`.

  Args:
    sess: a session holding the restored pixel graph.
    images: its `input` placeholder.
    outputs: `[probabilities, classes, logits]` tensors.
    version_dir: the export version folder (staging).
    name: 'tflite', 'tflite_dynamic' or 'tflite_int8'.
    class_names: written to `tflite/labels.txt`.
    representative: float32 pixels `[n, S, S, C]` (tflite_int8).

  Returns:
    The file's path.
  """
  converter = _V1.lite.TFLiteConverter.from_session(sess, [images],
                                                    list(outputs))
  if name in ('tflite_dynamic', 'tflite_int8'):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if name == 'tflite_int8':
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
    first = str(e).strip().splitlines()[0] if str(e).strip() else ''
    raise runtime.UserInputError(
        f'--formats={name}: TFLite cannot convert this model '
        f'({type(e).__name__}: {first[:300]})') from None
  path = os.path.join(version_dir, TFLITE_FILES[name])
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(flatbuffer)
  checkpoints.write_labels(os.path.dirname(path), class_names)
  logging.info('%s: %d bytes', path, len(flatbuffer))
  return path


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

  Args:
    version_dir: the staged export version folder.
    formats: the format names written.
    want: the checkpoint's probabilities on `pixels`.
    pixels: float32 0-255 `[n, S, S, C]`.
    filenames: the files `pixels` were read from ([] for random pixels):
      the frozen graph's `input_jpeg` is also checked on their bytes.

  Returns:
    `[{'format', 'path', 'max_abs_diff', 'top1_agreement', 'float',
    'input_dtype'}]`.
  """
  results = []

  def _add(name, path, got, input_dtype='float32'):
    diff = float(np.max(np.abs(got - want)))
    agree = float(np.mean(got.argmax(axis=1) == want.argmax(axis=1)))
    results.append(dict(format=name, path=os.path.relpath(path, version_dir),
                        max_abs_diff=diff, top1_agreement=agree,
                        float=name in FLOAT_FORMATS,
                        input_dtype=input_dtype))
    logging.info('%-16s max |delta probability| %.3g, top class agrees on '
                 '%.1f%% of %d images', name, diff, 100 * agree, len(want))

  for name in formats:
    path = format_path(version_dir, name)
    with served.load(path) as model:
      got = np.concatenate([
          model.probabilities(pixels[start:start + batch_size])
          for start in range(0, len(pixels), batch_size)])
      _add(name, path, got, model.input_dtype)
    if name == 'frozen' and filenames:
      _add('frozen:input_jpeg', path,
           _frozen_jpeg_probabilities(path, filenames), 'string')
  return results


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

  `frozen:input_jpeg` (decoding inside the graph) counts as float.
  """
  bad = [row for row in results
         if (row['float'] or row['format'].endswith(':input_jpeg'))
         and row['max_abs_diff'] > tolerance]
  if bad:
    raise runtime.UserInputError(
        'export refused: ' + ', '.join(
            f'{row["format"]} differs from the checkpoint by '
            f'{row["max_abs_diff"]:.3g} in probability' for row in bad)
        + f' (more than {tolerance:g}); nothing was written')
