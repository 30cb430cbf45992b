"""Classifying image files with an export.

`predict_files(saved_model_dir, paths)` is the client side of
`tf1cnn.export`. By default (`serving_format='auto'`) it serves with the
fastest format the export holds whose runtime is installed and that agreed
with the checkpoint when it was exported (`choose_serving`,
`SERVING_PREFERENCE`), the files decoded and resized with the recorded
preprocessing (`served.split_pixels`); otherwise it loads the SavedModel in
graph mode (`served.open_saved_model`) and runs its `serving_default`
signature (encoded image bytes in; decoding, resizing and standardisation
happen inside the exported graph, exactly as in evaluation). Files go in
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

from tf1cnn import export_formats
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


# `--serving_format=auto`: the export's formats in this order, the first
# whose runtime is installed and that agreed with the checkpoint on at least
# `MIN_AGREEMENT` of the export's check images serves the files; then the
# SavedModel. The order is the serving benchmark's
# (`tf1cnn.serving_benchmark`, WORKSPACE.md "Serving"): images/sec at batch
# 64 and at batch 1 on the cat/dog LeNet-5, fastest first, keeping only what
# beat the SavedModel in a TensorFlow session.
SERVING_PREFERENCE = ('onnx_int8', 'tflite_dynamic', 'onnx_int8:openvino',
                      'tflite_int8')
# Top-class agreement with the checkpoint that a format needs to be chosen
# by `auto`: at most 1 point of accuracy can then be lost on those images.
MIN_AGREEMENT = 0.99


@dataclasses.dataclass(frozen=True)
class ServingChoice:
  """What classifies the files.

  Attributes:
    name: `saved_model` or `format[:runtime]` (a verification row's name).
    path: the model file or the SavedModel folder.
    runtime: the `served.RUNTIMES` name.
    reason: why it was chosen, for the log.
  """
  name: str
  path: str
  runtime: str
  reason: str


def choose_serving(model_dir, requested='auto'):
  """The `ServingChoice` for export version `model_dir`.

  Args:
    model_dir: an export version folder.
    requested: `auto`, `saved_model` or `format[:runtime]`.

  Raises:
    UserInputError: a requested format the export does not hold, an unknown
      one, or one whose runtime is not installed, naming it.
  """
  record = served.read_run_config(model_dir) or {}
  written = set(record.get('formats') or ['saved_model'])
  rows = {row.get('format'): row for row in
          record.get('verification', {}).get('results', [])}
  if requested == 'saved_model':
    return ServingChoice('saved_model', model_dir, 'saved_model',
                         '--serving_format=saved_model')
  if requested != 'auto':
    return _requested_choice(model_dir, requested, written)
  for name in SERVING_PREFERENCE:
    format_name, _, runtime_name = name.partition(':')
    row = rows.get(name)
    if format_name not in written or format_name not in export_formats.FORMATS:
      continue
    fmt = export_formats.get(format_name)
    runtime_name = runtime_name or _own_runtime(fmt)
    if not served.runtime_installed(runtime_name):
      continue
    if not row or row.get('top1_agreement', 0.0) < MIN_AGREEMENT:
      continue
    return ServingChoice(
        name, fmt.path(model_dir), runtime_name,
        f'the fastest format of the export whose runtime is installed; its '
        f'top class agreed with the checkpoint on '
        f'{100 * row["top1_agreement"]:.1f}% of {record["verification"].get("images", "the check images")}')
  return ServingChoice('saved_model', model_dir, 'saved_model',
                       'no faster format in the export (tf1cnn-export '
                       '--formats=saved_model,tflite_dynamic writes one)')


def _own_runtime(fmt):
  return next(name for name, loader in served.RUNTIMES.items()
              if loader is fmt.loader)


def _requested_choice(model_dir, requested, written):
  format_name, _, runtime_name = requested.partition(':')
  if format_name not in export_formats.FORMATS:
    raise runtime.UserInputError(
        f'--serving_format={requested}: unknown format; use auto, '
        f'saved_model or one of {", ".join(sorted(written))}')
  fmt = export_formats.get(format_name)
  if format_name not in written:
    raise runtime.UserInputError(
        f'--serving_format={requested}: {model_dir} holds only '
        f'{", ".join(sorted(written))} (tf1cnn-export --formats={format_name} '
        'writes it)')
  if runtime_name and runtime_name not in fmt.alternates:
    raise runtime.UserInputError(
        f'--serving_format={requested}: {format_name} runs on '
        f'{", ".join((_own_runtime(fmt),) + fmt.alternates)}')
  runtime_name = runtime_name or _own_runtime(fmt)
  if not served.runtime_installed(runtime_name):
    raise runtime.UserInputError(
        f'--serving_format={requested}: {served.RUNTIME_MODULES[runtime_name]}'
        ' is not installed')
  return ServingChoice(requested, fmt.path(model_dir), runtime_name,
                       f'--serving_format={requested}')


def predict_files(saved_model_dir, paths, top_k=3, batch_size=64,
                  bad_images='fail', on_prediction=None,
                  serving_format='auto'):
  """Classifies image files with an export.

  Args:
    saved_model_dir: a SavedModel version folder or an export base folder.
    paths: image files and folders of image files.
    top_k: classes reported per file (at most the number of classes).
    batch_size: files per `sess.run`.
    bad_images: 'fail' (error naming the file) or 'skip'.
    on_prediction: called with each `Prediction` as soon as its batch is
      classified (the program prints them as they come).
    serving_format: `auto`, `saved_model` or `format[:runtime]`
      (`choose_serving`). The SavedModel decodes the files inside its graph;
      any other format gets the pixels the export's recorded preprocessing
      makes of them (`served.split_pixels`, the same decode and geometry).

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
  choice = choose_serving(model_dir, serving_format)
  logging.info('classifying with %s on %s (%s)', choice.name, choice.runtime,
               choice.reason)
  predictions = []
  counter = progress.Progress('classified', total=len(files), unit='files')

  def _add(chunk, probabilities, class_names):
    for path, row in zip(chunk, probabilities):
      order = row.argsort()[::-1][:min(top_k, len(class_names))]
      predictions.append(Prediction(
          path, [(class_names[i], float(row[i])) for i in order]))
      if on_prediction is not None:
        on_prediction(predictions[-1])
    counter.add(len(chunk))

  if choice.runtime == 'saved_model':
    _predict_saved_model(model_dir, files, batch_size, _add)
  else:
    _predict_pixels(choice, files, batch_size, _add)
  counter.done()
  logging.info('classified %d files with %s%s', len(predictions), choice.path,
               f' ({num_skipped} unreadable skipped)' if num_skipped else '')
  return predictions, num_skipped


def _predict_saved_model(model_dir, files, batch_size, add):
  """The SavedModel's `serving_default`: encoded files in, decoded inside."""
  sess, signature = served.open_saved_model(model_dir, SIGNATURE)
  with sess:
    feed_name = signature.inputs['image_bytes'].name
    fetch_name = signature.outputs['probabilities'].name
    class_names = _class_names(sess, signature, model_dir)
    for start in range(0, len(files), batch_size):
      chunk = files[start:start + batch_size]
      encoded = []
      for path in chunk:
        with open(path, 'rb') as f:
          encoded.append(f.read())
      add(chunk, sess.run(fetch_name, {feed_name: encoded}), class_names)


def _predict_pixels(choice, files, batch_size, add):
  """A pixel-input format: the files decoded as the export records."""
  with served.load(choice.path,
                   loader=served.RUNTIMES[choice.runtime]) as model:
    if not model.class_names:
      raise runtime.UserInputError(
          f'{choice.path}: no labels.txt beside the model, so its classes '
          'are unknown')
    start = 0
    for pixels, _ in served.split_pixels(
        files, [0] * len(files), model.image_size,
        served.served_preprocessing(model), model.channels, batch_size):
      chunk = files[start:start + len(pixels)]
      add(chunk, model.probabilities(pixels), model.class_names)
      start += len(pixels)


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
