"""Image-folder datasets and their queue-runner pipeline.

Two layouts are recognised under `data_dir`:

* class folders (the seed layout): `DIR/<split>/<class>/*.jpg`; any number of
  classes, the sorted folder names are the class names and label ids;
* the Kaggle flat layout: `DIR/<split>/cat.123.jpg`, the class is the file-name
  prefix before the first dot.

Accepted formats: JPEG, PNG, BMP, GIF (first frame) and WebP, whatever the
file is named (TIFF, which TensorFlow cannot decode, is refused with that
reason); grayscale, palette, alpha and CMYK images become RGB. The check of
every file logs its progress on large folders.

Every file is checked once before the graph is built (a full decode at reduced
scale with Pillow, a few hundred microseconds per photo, on several threads):
zero-byte files, truncated or corrupt images and non-images with an image
extension are either an error naming the file (`bad_images='fail'`) or are left
out with a warning and a count (`bad_images='skip'`), so a bad file can never
stop a queue runner half-way through training.

The pipeline is the classic one:
`slice_input_producer([filenames, labels])` -> `tf.io.read_file` ->
`preprocess.photo` (decode, the recipe's geometry and normalisation; see
`tf1cnn.inputs.preprocess`) -> `shuffle_batch` (training) or `batch(allow_smaller_final_batch=True)`
(evaluation: every file exactly once, in order).
"""

import concurrent.futures
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import progress
from tf1cnn import runtime
from tf1cnn.inputs import DatasetInfo
from tf1cnn.inputs import preprocess
from tf1cnn.inputs import register_dataset
from tf1cnn.inputs import register_pipeline
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp')
# What tf.io.decode_image reads, as Pillow names the formats (MPO: a
# multi-picture JPEG).
DECODABLE_FORMATS = ('JPEG', 'MPO', 'PNG', 'BMP', 'GIF', 'WEBP')


def is_image_name(name):
  """True for a visible file name with an image extension."""
  return (not name.startswith('.')) and name.lower().endswith(IMAGE_EXTENSIONS)


def _split_dir(data_dir, split):
  if not data_dir:
    raise runtime.UserInputError('--data_dir is empty: give the folder that '
                                 'holds train/ and test/')
  if not os.path.isdir(data_dir):
    raise runtime.UserInputError(f'data_dir {data_dir!r} does not exist or is '
                                 'not a folder')
  split_dir = os.path.join(data_dir, split)
  if not os.path.isdir(split_dir):
    raise runtime.UserInputError(
        f'{split_dir!r}: no {split!r} folder in data_dir (expected '
        f'{data_dir}/{split}/<class>/*.jpg or {data_dir}/{split}/<class>.<n>.jpg)')
  return split_dir


def display_path(path):
  """`path` as printable text whatever its bytes (non-UTF-8 bytes as \\xNN)."""
  return os.fsencode(path).decode('utf-8', 'backslashreplace')


def path_tensor(filenames):
  """A string tensor of file paths as the file system's bytes.

  A name that is not UTF-8 (`caf\\xe9.jpg` written by another system) is a
  `str` with surrogate escapes in Python; `os.fsencode` gives back its
  bytes, which is what TensorFlow's file ops open.
  """
  return tf.constant([os.fsencode(f) for f in filenames], dtype=tf.string)


def check_class_name(name, where):
  """Refuses a class name that labels.txt cannot hold, naming `where`.

  Raises:
    UserInputError: a line break, a blank name, or bytes that are not UTF-8.
  """
  shown = display_path(where)
  if '\n' in name or '\r' in name:
    raise runtime.UserInputError(
        f'{shown!r}: the class name has a line break (labels.txt holds one '
        'class per line): rename it')
  if not name.strip():
    raise runtime.UserInputError(f'{shown!r}: the class name is blank: '
                                 'rename it')
  try:
    name.encode('utf-8')
  except UnicodeEncodeError:
    raise runtime.UserInputError(
        f'{shown!r}: the class name is not valid UTF-8 (labels.txt is '
        'UTF-8): rename it') from None


_REPORTED_IGNORED = set()


def _report_ignored(split_dir, ignored):
  """Warns once per folder how many files the layout leaves out, and which."""
  ignored = {what: paths for what, paths in ignored.items() if paths}
  if not ignored or split_dir in _REPORTED_IGNORED:
    return
  _REPORTED_IGNORED.add(split_dir)
  parts = []
  for what, paths in ignored.items():
    examples = ', '.join(repr(display_path(p)) for p in sorted(paths)[:3])
    parts.append(f'{len(paths)} {what} (e.g. {examples})')
  logging.warning('%s: ignored %s', display_path(split_dir), '; '.join(parts))


def _files_under(directory):
  """Every non-hidden file below `directory`, recursively."""
  found = []
  for root, dirs, files in os.walk(directory):
    dirs[:] = [d for d in dirs if not d.startswith('.')]
    found.extend(os.path.join(root, f) for f in files if not f.startswith('.'))
  return found


def scan_split(data_dir, split, class_names=None):
  """Lists the images of one split and their labels.

  Files the layout does not take (loose files beside class folders, files in
  sub-folders of class folders, non-image files, and in the Kaggle layout
  image files not named `<class>.<id>.<ext>`) are counted and named in one
  warning per folder.

  Args:
    data_dir: dataset root.
    split: sub-folder name, e.g. 'train' or 'test'.
    class_names: fixed class list (for example from a training run's
      labels.txt); None derives it from the folder.

  Returns:
    `(filenames, labels, class_names)`: sorted file paths, int labels.

  Raises:
    UserInputError: missing or empty folders, a class folder with no images,
      a class not in `class_names`.
  """
  split_dir = _split_dir(data_dir, split)
  entries = sorted(os.listdir(split_dir))
  subdirs = [e for e in entries
             if os.path.isdir(os.path.join(split_dir, e)) and not e.startswith('.')]
  files_by_class = {}
  ignored = {}
  if subdirs:
    ignored['loose file(s) beside the class folders'] = [
        os.path.join(split_dir, e) for e in entries
        if not e.startswith('.') and e not in subdirs]
    for class_name in subdirs:
      class_dir = os.path.join(split_dir, class_name)
      check_class_name(class_name, class_dir)
      inside = os.listdir(class_dir)
      for entry in inside:
        path = os.path.join(class_dir, entry)
        if entry.startswith('.'):
          continue
        if os.path.isdir(path):
          ignored.setdefault('file(s) in sub-folders of class folders',
                             []).extend(_files_under(path))
        elif not is_image_name(entry):
          ignored.setdefault('non-image file(s)', []).append(path)
      images = sorted(os.path.join(class_dir, f) for f in inside
                      if is_image_name(f)
                      and not os.path.isdir(os.path.join(class_dir, f)))
      if not images:
        raise runtime.UserInputError(
            f'class folder {class_dir!r} has no images '
            f'({", ".join(IMAGE_EXTENSIONS)})')
      files_by_class[class_name] = images
  else:
    # Kaggle flat layout: <class>.<id>.<ext>; other names are reported,
    # never taken as classes (IMG_0001.jpeg, photo.jpg).
    for name in entries:
      path = os.path.join(split_dir, name)
      if name.startswith('.'):
        continue
      stem = os.path.splitext(name)[0]
      if not is_image_name(name):
        ignored.setdefault('non-image file(s)', []).append(path)
      elif '.' not in stem or not stem.split('.', 1)[0]:
        ignored.setdefault('image file(s) not named <class>.<id>.<ext>',
                           []).append(path)
      else:
        class_name = stem.split('.', 1)[0]
        check_class_name(class_name, path)
        files_by_class.setdefault(class_name, []).append(path)
  _report_ignored(split_dir, ignored)
  if not files_by_class:
    raise runtime.UserInputError(
        f'{split_dir!r} holds no images: expected class folders '
        '(<class>/*.jpg) or Kaggle-style names (<class>.<n>.jpg)')
  if class_names is None:
    class_names = sorted(files_by_class)
  unknown = sorted(set(files_by_class) - set(class_names))
  if unknown:
    raise runtime.UserInputError(
        f'{split_dir!r} has classes {unknown} that the model was not trained '
        f'on (its classes: {list(class_names)})')
  filenames, labels = [], []
  for label, class_name in enumerate(class_names):
    for path in files_by_class.get(class_name, []):
      filenames.append(path)
      labels.append(label)
  return filenames, labels, list(class_names)


def check_image_file(path):
  """Returns None if `path` decodes as an image, else a short reason."""
  return _check_image(path)[0]


# EXIF orientation tag; 1 is "as stored".
_EXIF_ORIENTATION = 0x0112


def _check_image(path):
  """`(reason or None, EXIF orientation or None)` of one file."""
  try:
    size = os.path.getsize(path)
  except OSError as e:
    return f'cannot read ({e.strerror})', None
  if size == 0:
    return 'zero-byte file', None
  from PIL import Image  # pylint: disable=g-import-not-at-top
  orientation = None
  try:
    with Image.open(path) as image:
      if image.format not in DECODABLE_FORMATS:
        return (f'unsupported format {image.format} (TensorFlow decodes '
                'JPEG, PNG, BMP, GIF and WebP)'), None
      try:
        orientation = image.getexif().get(_EXIF_ORIENTATION)
      except Exception:  # pylint: disable=broad-except
        orientation = None  # A garbled EXIF block: the pixels still count.
      # Reduced-scale DCT decode for JPEGs: reads all the data, decodes little.
      image.draft('RGB', (64, 64))
      image.load()
  except Exception as e:  # pylint: disable=broad-except
    return f'not a readable image ({type(e).__name__}: {str(e)[:80]})', None
  return None, orientation


def note_file_checks(filenames):
  """Lets `pipeline.input_failure` name a file that broke after the start."""
  def _bad_now():
    workers = pipeline.default_num_threads()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      reasons = list(pool.map(check_image_file, filenames))
    return {p: r for p, r in zip(filenames, reasons) if r}
  pipeline.note_files(_bad_now)


def report_exif_orientations(orientations):
  """Warns about photos whose EXIF orientation is not 'as stored'.

  TensorFlow's decoders ignore EXIF, in training, evaluation and inside an
  export alike, so a model sees (and is served) the stored pixel order; a
  camera photo stored sideways stays sideways. The start-up check reads the
  tag with Pillow and says how many files carry one.

  Args:
    orientations: `{path: EXIF orientation}` (None or 1: as stored).

  Returns:
    The paths with another orientation, sorted.
  """
  turned = sorted(p for p, o in orientations.items() if o not in (None, 1))
  if turned:
    examples = ', '.join(repr(display_path(p)) for p in turned[:3])
    logging.warning(
        '%d of %d image(s) carry an EXIF orientation (rotated or mirrored), '
        'e.g. %s: TensorFlow decodes the stored pixels and ignores it, in '
        'training, evaluation and export alike; rotate the files themselves '
        '(e.g. PIL.ImageOps.exif_transpose) if it matters', len(turned),
        len(orientations), examples)
  return turned


def check_image_files(filenames, num_threads=None):
  """Checks many files in parallel; returns `{path: reason}` for bad ones."""
  workers = num_threads or pipeline.default_num_threads()
  counter = progress.Progress('checked', total=len(filenames), unit='images',
                              min_total=500)
  reasons, orientations = [], {}
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    for path, (reason, orientation) in zip(filenames,
                                           pool.map(_check_image, filenames)):
      reasons.append(reason)
      orientations[path] = orientation
      counter.add()
  counter.done()
  report_exif_orientations(orientations)
  return {path: reason for path, reason in zip(filenames, reasons) if reason}


def filter_bad_images(filenames, labels, bad_images='fail'):
  """Applies the bad-image policy to a file list.

  Returns:
    `(filenames, labels, num_skipped)`.

  Raises:
    UserInputError: naming the first bad file, when `bad_images='fail'`.
  """
  if bad_images not in ('fail', 'skip'):
    raise runtime.UserInputError(
        f'--bad_images={bad_images!r}: use fail or skip')
  bad = check_image_files(filenames)
  if not bad:
    return filenames, labels, 0
  first = sorted(bad)[0]
  if bad_images == 'fail':
    more = f' (and {len(bad) - 1} more)' if len(bad) > 1 else ''
    raise runtime.UserInputError(
        f'bad image {display_path(first)!r}: {bad[first]}{more}; fix or '
        'remove it, or pass --bad_images=skip')
  for path in sorted(bad)[:10]:
    logging.warning('skipping bad image %s: %s', display_path(path),
                    bad[path])
  logging.warning('skipped %d bad image file(s) of %d', len(bad),
                  len(filenames))
  kept = [(f, l) for f, l in zip(filenames, labels) if f not in bad]
  return [f for f, _ in kept], [l for _, l in kept], len(bad)


def scan_and_check(data_dir, split, class_names=None, bad_images='fail'):
  """`scan_split` plus the bad-image policy (`filter_bad_images`).

  Returns:
    `(filenames, labels, class_names)`.

  Raises:
    UserInputError: no usable image left, a class whose every image was
      skipped, or a bad image with 'fail'.
  """
  filenames, labels, class_names = scan_split(data_dir, split, class_names)
  before = set(labels)
  filenames, labels, _ = filter_bad_images(filenames, labels, bad_images)
  if not filenames:
    raise runtime.UserInputError(f'no usable images left in {data_dir}/{split}')
  emptied = sorted(before - set(labels))
  if emptied:
    names = [class_names[i] for i in emptied]
    raise runtime.UserInputError(
        f'{display_path(os.path.join(data_dir, split))}: class(es) {names} '
        'have no usable image left after --bad_images=skip (every one of '
        'their files is bad): fix the files or remove the class')
  return filenames, labels, class_names


@register_dataset('image_folder')
def dataset_info(name, data_dir, split='train'):
  """DatasetInfo for an image folder (class names from the `split` folder)."""
  del name
  _, _, class_names = scan_split(data_dir, split)
  return DatasetInfo(name='image_folder', image_size=None, channels=3,
                     num_classes=len(class_names), class_names=class_names)


@register_pipeline('image_folder', 'queue')
def build_input(name, data_dir, split, batch_size, is_training,
                image_size=150, num_epochs=None, seed=None, class_names=None,
                *, augment=True, bad_images='fail', num_threads=None,
                preprocessing=preprocess.Preprocessing()):
  """Builds the queue pipeline over an image folder split.

  Args:
    name: registry name (unused; 'image_folder').
    data_dir: dataset root.
    split: 'train', 'test', ...
    batch_size: examples per batch.
    is_training: shuffle and augment when True.
    image_size: square output size.
    num_epochs: None repeats forever; an int ends the pipeline with
      OutOfRangeError after that many epochs (evaluation uses 1).
    seed: shuffle/augmentation seed.
    class_names: fix the label mapping (evaluation of a trained model).
    augment: random crops and flips while training.
    bad_images: 'fail' or 'skip'.
    num_threads: reader threads (training).
    preprocessing: `preprocess.Preprocessing` (recipe and JPEG decode).

  Returns:
    pipeline.InputBatch.
  """
  del name
  runtime.require_graph_mode('image_folder.build_input')
  filenames, labels, class_names = scan_and_check(data_dir, split,
                                                  class_names, bad_images)
  note_file_checks(filenames)
  image_size = int(image_size or 150)
  with tf.name_scope(f'input_{split}'):
    filename, label = _V1.train.slice_input_producer(
        [path_tensor(filenames), tf.constant(np.asarray(labels, np.int32))],
        num_epochs=num_epochs, shuffle=is_training, seed=seed,
        capacity=max(32, 4 * batch_size), name='filenames')
    image = preprocess.photo(tf.io.read_file(filename), image_size,
                             preprocessing, is_training, augment, seed)
    images, batch_labels = pipeline.batch_examples(
        image, label, batch_size, is_training, num_threads=num_threads,
        seed=seed, name='batch')
  logging.info('%s/%s: %d images, %d classes %s (%s preprocessing, %s '
               'decode)', data_dir, split, len(filenames), len(class_names),
               class_names, preprocessing.recipe, preprocessing.decode)
  return pipeline.InputBatch(images, batch_labels, len(filenames), class_names)
