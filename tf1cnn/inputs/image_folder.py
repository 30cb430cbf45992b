"""Image-folder datasets and their queue-runner pipeline.

Two layouts are recognised under `data_dir`:

* class folders (the seed layout): `DIR/<split>/<class>/*.jpg`; any number of
  classes, the sorted folder names are the class names and label ids;
* the Kaggle flat layout: `DIR/<split>/cat.123.jpg`, the class is the file-name
  prefix before the first dot.

Accepted formats: JPEG, PNG, BMP and GIF (first frame); grayscale, palette,
alpha and CMYK images become RGB.

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

from tf1cnn import runtime
from tf1cnn.inputs import DatasetInfo
from tf1cnn.inputs import preprocess
from tf1cnn.inputs import register_dataset
from tf1cnn.inputs import register_pipeline
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')


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


def scan_split(data_dir, split, class_names=None):
  """Lists the images of one split and their labels.

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
  if subdirs:
    for class_name in subdirs:
      class_dir = os.path.join(split_dir, class_name)
      images = sorted(os.path.join(class_dir, f) for f in os.listdir(class_dir)
                      if is_image_name(f))
      if not images:
        raise runtime.UserInputError(
            f'class folder {class_dir!r} has no images '
            f'({", ".join(IMAGE_EXTENSIONS)})')
      files_by_class[class_name] = images
  else:
    for name in entries:
      if is_image_name(name) and '.' in name[:-4]:
        class_name = name.split('.', 1)[0]
        files_by_class.setdefault(class_name, []).append(
            os.path.join(split_dir, name))
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
  try:
    size = os.path.getsize(path)
  except OSError as e:
    return f'cannot read ({e.strerror})'
  if size == 0:
    return 'zero-byte file'
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as image:
      if image.format not in ('JPEG', 'PNG', 'BMP', 'GIF', 'MPO'):
        return f'unsupported format {image.format}'
      # Reduced-scale DCT decode for JPEGs: reads all the data, decodes little.
      image.draft('RGB', (64, 64))
      image.load()
  except Exception as e:  # pylint: disable=broad-except
    return f'not a readable image ({type(e).__name__}: {str(e)[:80]})'
  return None


def check_image_files(filenames, num_threads=None):
  """Checks many files in parallel; returns `{path: reason}` for bad ones."""
  workers = num_threads or pipeline.default_num_threads()
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    reasons = list(pool.map(check_image_file, filenames))
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
        f'bad image {first!r}: {bad[first]}{more}; fix or remove it, or pass '
        '--bad_images=skip')
  for path in sorted(bad)[:10]:
    logging.warning('skipping bad image %s: %s', path, bad[path])
  logging.warning('skipped %d bad image file(s) of %d', len(bad),
                  len(filenames))
  kept = [(f, l) for f, l in zip(filenames, labels) if f not in bad]
  return [f for f, _ in kept], [l for _, l in kept], len(bad)


def scan_and_check(data_dir, split, class_names=None, bad_images='fail'):
  """`scan_split` plus the bad-image policy (`filter_bad_images`).

  Returns:
    `(filenames, labels, class_names)`.

  Raises:
    UserInputError: no usable image left, or a bad image with 'fail'.
  """
  filenames, labels, class_names = scan_split(data_dir, split, class_names)
  filenames, labels, _ = filter_bad_images(filenames, labels, bad_images)
  if not filenames:
    raise runtime.UserInputError(f'no usable images left in {data_dir}/{split}')
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
  image_size = int(image_size or 150)
  with tf.name_scope(f'input_{split}'):
    filename, label = _V1.train.slice_input_producer(
        [tf.constant(filenames), tf.constant(np.asarray(labels, np.int32))],
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
