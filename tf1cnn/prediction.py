"""Classifying image files with an exported SavedModel.

`predict_files(saved_model_dir, paths)` is the client side of
`tf1cnn.export`: it loads the SavedModel in graph mode
(`served.open_saved_model`) and runs its `serving_default`
signature (encoded image bytes in; decoding, resizing and standardisation
happen inside the exported graph, exactly as in evaluation) on the files in
batches. Each result holds the file and its `top_k` classes with their
probabilities, most probable first.

`saved_model_dir` may be one version (`runs/export/1500`) or the export base
(`runs/export`), in which case the highest numbered version is used, as
TensorFlow Serving does. `paths` may name image files and folders (every
image file directly inside, sorted). A missing path, an unreadable image or a
folder that is not a SavedModel is a `UserInputError` naming it; with
`bad_images='skip'` unreadable images are left out and counted instead.
"""

import dataclasses
import os
from typing import List, Tuple

from absl import logging

from tf1cnn import progress
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn.inputs import image_folder

SIGNATURE = 'serving_default'


@dataclasses.dataclass
class Prediction:
  """The `top_k` classes of one file: `[(class name, probability)]`."""
  path: str
  classes: List[Tuple[str, float]]


def resolve_saved_model(saved_model_dir):
  """A SavedModel folder, or the highest numbered version inside a base folder.

  Raises:
    UserInputError: naming the folder when it holds no SavedModel.
  """
  def is_saved_model(folder):
    return any(os.path.isfile(os.path.join(folder, name))
               for name in ('saved_model.pb', 'saved_model.pbtxt'))

  if not saved_model_dir:
    raise runtime.UserInputError('--saved_model_dir is empty (scripts/export.py '
                                 'writes one)')
  if is_saved_model(saved_model_dir):
    return saved_model_dir
  versions = []
  if os.path.isdir(saved_model_dir):
    versions = [int(name) for name in os.listdir(saved_model_dir)
                if name.isdigit()
                and is_saved_model(os.path.join(saved_model_dir, name))]
  if not versions:
    raise runtime.UserInputError(
        f'--saved_model_dir={saved_model_dir}: no SavedModel there (neither '
        'saved_model.pb nor numbered versions holding one)')
  return os.path.join(saved_model_dir, str(max(versions)))


def list_image_files(paths):
  """Expands folders into their image files; checks that every path exists.

  Raises:
    UserInputError: naming a path that does not exist, or an empty list.
  """
  files = []
  for path in paths:
    if os.path.isdir(path):
      files += sorted(os.path.join(path, name) for name in os.listdir(path)
                      if image_folder.is_image_name(name))
    elif os.path.isfile(path):
      files.append(path)
    else:
      raise runtime.UserInputError(f'{path}: no such file or folder')
  if not files:
    raise runtime.UserInputError(
        f'no image files in {", ".join(paths) or "the arguments"} (give image '
        f'files or folders holding {", ".join(image_folder.IMAGE_EXTENSIONS)})')
  return files


def predict_files(saved_model_dir, paths, top_k=3, batch_size=64,
                  bad_images='fail', on_prediction=None):
  """Classifies image files with an exported SavedModel.

  Args:
    saved_model_dir: a SavedModel version folder or an export base folder.
    paths: image files and folders of image files.
    top_k: classes reported per file (at most the number of classes).
    batch_size: files per `sess.run`.
    bad_images: 'fail' (error naming the file) or 'skip'.
    on_prediction: called with each `Prediction` as soon as its batch is
      classified (the program prints them as they come).

  Returns:
    `(predictions, num_skipped)`: a `Prediction` per usable file, in order.

  Raises:
    UserInputError: see the module docstring.
  """
  runtime.require_graph_mode('prediction.predict_files')
  if top_k < 1 or batch_size < 1:
    raise runtime.UserInputError(
        f'--top_k={top_k} and the batch size {batch_size} must be >= 1')
  model_dir = resolve_saved_model(saved_model_dir)
  files = list_image_files(paths)
  files, _, num_skipped = image_folder.filter_bad_images(
      files, [0] * len(files), bad_images)
  if not files:
    raise runtime.UserInputError('no readable image among the files given')
  predictions = []
  sess, signature = served.open_saved_model(model_dir, SIGNATURE)
  with sess:
    feed_name = signature.inputs['image_bytes'].name
    fetch_name = signature.outputs['probabilities'].name
    class_names = _class_names(sess, signature, model_dir)
    top_k = min(top_k, len(class_names))
    counter = progress.Progress('classified', total=len(files), unit='files')
    for start in range(0, len(files), batch_size):
      chunk = files[start:start + batch_size]
      encoded = []
      for path in chunk:
        with open(path, 'rb') as f:
          encoded.append(f.read())
      probabilities = sess.run(fetch_name, {feed_name: encoded})
      for path, row in zip(chunk, probabilities):
        order = row.argsort()[::-1][:top_k]
        predictions.append(Prediction(
            path, [(class_names[i], float(row[i])) for i in order]))
        if on_prediction is not None:
          on_prediction(predictions[-1])
      counter.add(len(chunk))
    counter.done()
  logging.info('classified %d files with %s%s', len(predictions), model_dir,
               f' ({num_skipped} unreadable skipped)' if num_skipped else '')
  return predictions, num_skipped


def _class_names(sess, signature, model_dir):
  """The class names in label order, read from the exported graph.

  The `class_names` output of a tf1cnn export gathers the predicted classes
  from a constant holding every name (`tf1cnn.export`).
  """
  if 'class_names' in signature.outputs:
    names = sess.graph.get_tensor_by_name(
        signature.outputs['class_names'].name)
    if names.op.type == 'GatherV2' and names.op.inputs[0].op.type == 'Const':
      return [name.decode('utf-8') for name in sess.run(names.op.inputs[0])]
  raise runtime.UserInputError(
      f'{model_dir}: not a tf1cnn export (no class-name table behind its '
      f'{SIGNATURE!r} signature)')


def format_prediction(prediction, width=0):
  """The path, then `class probability` pairs."""
  return f'{prediction.path:<{width}}  ' + '  '.join(
      f'{name} {probability:.4f}' for name, probability in prediction.classes)


def format_predictions(predictions):
  """One line per file (paths aligned)."""
  width = max(len(p.path) for p in predictions)
  return '\n'.join(format_prediction(p, width) for p in predictions)
