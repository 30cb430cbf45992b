"""CIFAR-10 and CIFAR-100 (registry names `cifar10`, `cifar100`).

Both distributed formats are read; `data_dir` is either the extracted folder
itself or the folder that contains it:

* cifar10, pickle: `cifar-10-batches-py/` with `data_batch_1` .. `data_batch_5`
  (train), `test_batch` (test), `batches.meta` (class names);
* cifar10, binary: `cifar-10-batches-bin/` with `data_batch_1.bin` ..
  `data_batch_5.bin`, `test_batch.bin`, `batches.meta.txt`;
* cifar100, pickle: `cifar-100-python/` with `train`, `test`, `meta`;
* cifar100, binary: `cifar-100-binary/` with `train.bin`, `test.bin`,
  `fine_label_names.txt`.

With `file_format='auto'` (the default) the pickle format is used when both
are present; `file_format='pickle'` or `'binary'` forces one. When the
class-name file is missing the standard names are used (with a warning).
CIFAR-100 uses the 100 fine labels.

*Pickle format*: each file is a Python pickle of a dict with `data`, a uint8
`[N, 3072]` array (each row 1024 red, 1024 green, then 1024 blue values of a
row-major 32x32 image) and `labels` (CIFAR-10) or `fine_labels` (CIFAR-100),
N ints. Files are loaded with `encoding='bytes'`; str and bytes keys are both
accepted. Only numpy arrays, lists, dicts, numbers and strings may appear in
the pickle (anything else is refused, so a file cannot run code). A split
is decoded into `[N, 32, 32, 3]` uint8 and fed through
`arrays.build_array_input`.

*Binary format*: fixed-length records of 1 label byte (CIFAR-10) or 2 label
bytes, coarse then fine (CIFAR-100), followed by the same 3072 image bytes.
The pipeline is the classic queue one: `string_input_producer(files)` ->
`FixedLengthRecordReader` -> `decode_raw` -> label byte and depth-major image
reordered to `[32, 32, 3]` -> `arrays.preprocess_example` (the run's
preprocessing, as the pickle format) ->
`pipeline.batch_examples`. Evaluation reads the files in order (one reader
thread), so both formats yield the same examples in the same order.

Checked before the graph is built, with errors naming the file: missing
files, unreadable or foreign pickles, array shapes and dtypes, image/label
count agreement, label ranges, binary file sizes that are not a multiple of
the record size.

Training augmentation (`augment.py`): 4-pixel zero padding + random 32x32
crop + random left-right flip (policy 'standard') by default; the run's
`preprocess.Preprocessing` carries the policy (`--augmentation`).
"""

import os
import pickle

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import DatasetInfo
from tf1cnn.inputs import register_dataset
from tf1cnn.inputs import register_pipeline
from tf1cnn.inputs import arrays
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1

IMAGE_SIZE = 32
CHANNELS = 3
IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * CHANNELS  # 3072

CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck']

CIFAR100_CLASSES = [
    'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee',
    'beetle', 'bicycle', 'bottle', 'bowl', 'boy', 'bridge', 'bus',
    'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle', 'chair',
    'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab',
    'crocodile', 'cup', 'dinosaur', 'dolphin', 'elephant', 'flatfish',
    'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
    'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man',
    'maple_tree', 'motorcycle', 'mountain', 'mouse', 'mushroom', 'oak_tree',
    'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck',
    'pine_tree', 'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit',
    'raccoon', 'ray', 'road', 'rocket', 'rose', 'sea', 'seal', 'shark',
    'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider', 'squirrel',
    'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone',
    'television', 'tiger', 'tractor', 'train', 'trout', 'tulip', 'turtle',
    'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm']

FILE_FORMATS = ('auto', 'pickle', 'binary')


class _Layout:
  """Where one format of one dataset keeps its files."""

  def __init__(self, file_format, folder, splits, meta, label_key,
               label_bytes, label_offset, default_classes):
    self.file_format = file_format
    self.folder = folder
    self.splits = splits            # split -> list of file names
    self.meta = meta                # class-name file
    self.label_key = label_key      # pickle key of the labels
    self.label_bytes = label_bytes  # binary: label bytes per record
    self.label_offset = label_offset  # binary: byte index of the label
    self.default_classes = default_classes

  @property
  def record_bytes(self):
    return self.label_bytes + IMAGE_BYTES


_LAYOUTS = {
    'cifar10': [
        _Layout('pickle', 'cifar-10-batches-py',
                {'train': [f'data_batch_{i}' for i in range(1, 6)],
                 'test': ['test_batch']},
                'batches.meta', 'labels', None, None, CIFAR10_CLASSES),
        _Layout('binary', 'cifar-10-batches-bin',
                {'train': [f'data_batch_{i}.bin' for i in range(1, 6)],
                 'test': ['test_batch.bin']},
                'batches.meta.txt', None, 1, 0, CIFAR10_CLASSES),
    ],
    'cifar100': [
        _Layout('pickle', 'cifar-100-python',
                {'train': ['train'], 'test': ['test']},
                'meta', 'fine_labels', None, None, CIFAR100_CLASSES),
        _Layout('binary', 'cifar-100-binary',
                {'train': ['train.bin'], 'test': ['test.bin']},
                'fine_label_names.txt', None, 2, 1, CIFAR100_CLASSES),
    ],
}

# Globals a CIFAR pickle may refer to (numpy arrays, py2/py3 bytes).
_PICKLE_GLOBALS = frozenset([
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),
    ('numpy._core.numeric', '_frombuffer'),
    ('_codecs', 'encode'),
])

# Decoded pickle files (a CIFAR-10 train split is 5 files).
_cache = arrays.FileCache(max_entries=8)


def clear_cache():
  """Forgets the decoded pickle files kept for reuse."""
  _cache.clear()


def _layouts(name):
  if name not in _LAYOUTS:
    raise KeyError(f'cifar reader does not know dataset {name!r}; valid: '
                   f'{", ".join(_LAYOUTS)}')
  return _LAYOUTS[name]


def _markers(layout):
  return [layout.splits['train'][0], layout.splits['test'][0]]


def _has_files(folder, layout):
  return any(os.path.isfile(os.path.join(folder, m)) for m in _markers(layout))


def locate(name, data_dir, file_format='auto'):
  """Finds the dataset folder and its format.

  Args:
    name: 'cifar10' or 'cifar100'.
    data_dir: the extracted folder (e.g. `.../cifar-10-batches-py`) or the
      folder containing it.
    file_format: 'auto', 'pickle' or 'binary'.

  Returns:
    `(layout, folder)`.

  Raises:
    UserInputError: no matching folder.
  """
  if file_format not in FILE_FORMATS:
    raise runtime.UserInputError(
        f'file_format={file_format!r}: use one of {", ".join(FILE_FORMATS)}')
  if not data_dir:
    raise runtime.UserInputError(
        f'--data_dir is empty: give the folder that holds the {name} files')
  if not os.path.isdir(data_dir):
    raise runtime.UserInputError(
        f'data_dir {data_dir!r} does not exist or is not a folder')
  layouts = [l for l in _layouts(name)
             if file_format in ('auto', l.file_format)]
  for layout in layouts:
    if _has_files(data_dir, layout):
      return layout, data_dir
  for layout in layouts:
    folder = os.path.join(data_dir, layout.folder)
    if os.path.isdir(folder):
      return layout, folder
  expected = ' or '.join(
      f'{l.folder}/ ({", ".join(_markers(l))})' for l in layouts)
  archives = [f for f in os.listdir(data_dir) if f.endswith(('.tar.gz', '.tgz'))]
  hint = (f'; extract {", ".join(sorted(archives))} first' if archives else '')
  raise runtime.UserInputError(
      f'{data_dir}: no {name} data found: expected {expected} in it or '
      f'inside it{hint}')


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickler that only builds numpy arrays and plain Python values."""

  def find_class(self, module, name):
    if (module, name) not in _PICKLE_GLOBALS:
      raise pickle.UnpicklingError(
          f'unexpected object {module}.{name} (a CIFAR file holds only '
          'arrays, lists and strings)')
    return super().find_class(module, name)


def _text(value):
  return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)


def load_pickle(path):
  """Loads a CIFAR pickle file into a dict with str keys.

  Raises:
    UserInputError: naming `path`, for a missing, truncated or foreign file.
  """
  try:
    with open(path, 'rb') as f:
      value = _RestrictedUnpickler(f, encoding='bytes').load()
  except FileNotFoundError:
    raise runtime.UserInputError(f'{path}: missing') from None
  except OSError as e:
    raise runtime.UserInputError(f'{path}: cannot read ({e.strerror})') from None
  except Exception as e:  # pylint: disable=broad-except
    raise runtime.UserInputError(
        f'{path}: not a readable CIFAR pickle ({type(e).__name__}: '
        f'{str(e)[:120]})') from None
  if not isinstance(value, dict):
    raise runtime.UserInputError(
        f'{path}: a CIFAR pickle holds a dict, got {type(value).__name__}')
  return {_text(k): v for k, v in value.items()}


def _check_labels(path, labels, num_classes, count):
  """int32 labels from a list/array, checked against range and count."""
  try:
    labels = np.asarray(labels)
  except Exception:  # pylint: disable=broad-except
    labels = np.asarray([None])
  if labels.ndim != 1 or not (labels.size == 0 or
                              np.issubdtype(labels.dtype, np.integer)):
    raise runtime.UserInputError(
        f'{path}: labels must be a list of integers (got shape '
        f'{labels.shape}, type {labels.dtype})')
  if labels.shape[0] != count:
    raise runtime.UserInputError(
        f'{path}: {count} images but {labels.shape[0]} labels')
  bad = (labels < 0) | (labels >= num_classes)
  if bad.any():
    i = int(np.argmax(bad))
    raise runtime.UserInputError(
        f'{path}: label {int(labels[i])} of example {i} is outside '
        f'0..{num_classes - 1}')
  return labels.astype(np.int32)


def rows_to_images(rows):
  """`[N, 3072]` depth-major rows -> `[N, 32, 32, 3]` uint8 (HWC)."""
  images = rows.reshape(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
  return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def read_pickle_batch(path, label_key, num_classes):
  """Decodes one pickle batch file.

  Args:
    path: file path.
    label_key: 'labels' (CIFAR-10) or 'fine_labels' (CIFAR-100).
    num_classes: labels must be below this.

  Returns:
    `(images, labels)`: uint8 `[N, 32, 32, 3]` (read-only) and int32 `[N]`.

  Raises:
    UserInputError: naming `path`.
  """
  def _load(p):
    batch = load_pickle(p)
    for key in ('data', label_key):
      if key not in batch:
        raise runtime.UserInputError(
            f'{p}: no {key!r} entry (keys: {sorted(batch)}); is it a '
            f'{"CIFAR-100" if label_key == "fine_labels" else "CIFAR-10"} '
            'file?')
    data = batch['data']
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or
        data.ndim != 2 or data.shape[1] != IMAGE_BYTES):
      raise runtime.UserInputError(
          f'{p}: data must be a uint8 array of shape (N, {IMAGE_BYTES}), got '
          f'{getattr(data, "dtype", type(data).__name__)} '
          f'{getattr(data, "shape", "")}')
    labels = _check_labels(p, batch[label_key], num_classes, data.shape[0])
    images = rows_to_images(data)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels
  return _cache.get(path, _load)


def check_binary_file(path, layout, num_classes):
  """Checks a binary batch file; returns its number of records.

  Raises:
    UserInputError: naming `path`: missing, empty, a size that is not a
      multiple of the record size, a label out of range.
  """
  record = layout.record_bytes
  try:
    size = os.path.getsize(path)
  except OSError:
    raise runtime.UserInputError(f'{path}: missing') from None
  if size == 0 or size % record:
    other = [l for l in _LAYOUTS['cifar10'] + _LAYOUTS['cifar100']
             if l.file_format == 'binary' and l.record_bytes != record and
             size and size % l.record_bytes == 0]
    hint = (f' (it would fit {other[0].folder} records of '
            f'{other[0].record_bytes} bytes)' if other else '')
    raise runtime.UserInputError(
        f'{path}: size {size} bytes is not a positive multiple of the '
        f'{record}-byte record ({layout.label_bytes} label byte(s) + '
        f'{IMAGE_BYTES} pixels); the file is truncated or of another '
        f'dataset{hint}')
  try:
    records = np.fromfile(path, np.uint8).reshape(-1, record)
  except OSError as e:
    raise runtime.UserInputError(f'{path}: cannot read ({e.strerror})') from None
  limits = [num_classes] * layout.label_bytes
  if layout.label_bytes == 2:
    limits[0] = 20  # CIFAR-100 coarse label
  for offset, limit in enumerate(limits):
    bad = records[:, offset] >= limit
    if bad.any():
      i = int(np.argmax(bad))
      raise runtime.UserInputError(
          f'{path}: label byte {offset} of record {i} is '
          f'{int(records[i, offset])}, outside 0..{limit - 1}')
  return records.shape[0]


def read_binary_file(path, layout, num_classes):
  """Decodes a binary batch file with numpy (`(images, labels)` as pickles)."""
  check_binary_file(path, layout, num_classes)
  records = np.fromfile(path, np.uint8).reshape(-1, layout.record_bytes)
  labels = records[:, layout.label_offset].astype(np.int32)
  return rows_to_images(records[:, layout.label_bytes:]), labels


def split_paths(layout, folder, split):
  """The files of a split, checked to exist.

  Raises:
    UserInputError: unknown split or a missing file (named).
  """
  if split not in layout.splits:
    raise runtime.UserInputError(
        f'split {split!r}: CIFAR has the splits {", ".join(layout.splits)}')
  paths = [os.path.join(folder, f) for f in layout.splits[split]]
  for path in paths:
    if not os.path.isfile(path):
      raise runtime.UserInputError(
          f'{path}: missing ({layout.folder} needs '
          f'{", ".join(layout.splits[split])} for split {split!r})')
  return paths


def read_class_names(layout, folder):
  """Class names from the meta file, or the standard names when it is absent.

  Raises:
    UserInputError: naming the meta file when it is unreadable or does not
      list the expected number of classes.
  """
  path = os.path.join(folder, layout.meta)
  expected = len(layout.default_classes)
  if not os.path.isfile(path):
    logging.warning('%s: missing; using the standard class names', path)
    return list(layout.default_classes)
  if layout.file_format == 'pickle':
    meta = load_pickle(path)
    key = 'label_names' if 'label_names' in meta else 'fine_label_names'
    if key not in meta:
      raise runtime.UserInputError(
          f'{path}: no label_names / fine_label_names entry (keys: '
          f'{sorted(meta)})')
    names = [_text(n) for n in meta[key]]
  else:
    try:
      with open(path, 'rb') as f:
        names = [_text(line).strip() for line in f.read().splitlines()]
    except OSError as e:
      raise runtime.UserInputError(
          f'{path}: cannot read ({e.strerror})') from None
    names = [n for n in names if n]
  if len(names) != expected:
    raise runtime.UserInputError(
        f'{path}: lists {len(names)} class names, expected {expected}')
  return names


def load_split(name, data_dir, split, file_format='auto'):
  """Decodes a split to numpy arrays (either format).

  Args:
    name: 'cifar10' or 'cifar100'.
    data_dir: see `locate`.
    split: 'train' or 'test'.
    file_format: 'auto', 'pickle' or 'binary'.

  Returns:
    `(images, labels, class_names)`: uint8 `[N, 32, 32, 3]`, int32 `[N]`.

  Raises:
    UserInputError: naming the file at fault.
  """
  layout, folder = locate(name, data_dir, file_format)
  class_names = read_class_names(layout, folder)
  paths = split_paths(layout, folder, split)
  read = (read_pickle_batch if layout.file_format == 'pickle' else
          lambda p, _, n: read_binary_file(p, layout, n))
  parts = [read(p, layout.label_key, len(class_names)) for p in paths]
  if len(parts) == 1:
    images, labels = parts[0]
  else:
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
  return images, labels, class_names


@register_dataset('cifar10', 'cifar100')
def dataset_info(name, data_dir):
  """DatasetInfo of `cifar10` / `cifar100` (reads the class-name file only)."""
  layout, folder = locate(name, data_dir)
  class_names = read_class_names(layout, folder)
  return DatasetInfo(name=name, image_size=IMAGE_SIZE, channels=CHANNELS,
                     num_classes=len(class_names), class_names=class_names)


def _hwc_indices(offset):
  """Record byte index of every HWC pixel (the image starts at `offset`)."""
  depth_major = np.arange(IMAGE_BYTES, dtype=np.int32).reshape(
      CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
  return depth_major.transpose(1, 2, 0).ravel() + np.int32(offset)


def _build_binary_input(layout, paths, num_examples, class_names, split,
                        batch_size, is_training, num_epochs, augment,
                        image_size, seed, num_threads, preprocessing, dataset):
  """The FixedLengthRecordReader pipeline over binary batch files."""
  with tf.name_scope(f'input_{split}'):
    filename_queue = _V1.train.string_input_producer(
        paths, num_epochs=num_epochs, shuffle=is_training, seed=seed,
        capacity=32, name='filenames')
    reader = _V1.FixedLengthRecordReader(record_bytes=layout.record_bytes,
                                         name='records')
    _, value = reader.read(filename_queue)
    record = tf.io.decode_raw(value, tf.uint8)
    label = tf.cast(record[layout.label_offset], tf.int32)
    # Depth-major -> HWC as one gather (a uint8 Transpose would log an
    # error-level oneDNN fallback notice on CPUs without AVX-512).
    image = tf.reshape(tf.gather(record, _hwc_indices(layout.label_bytes)),
                       [IMAGE_SIZE, IMAGE_SIZE, CHANNELS])
    image = arrays.preprocess_example(image, is_training, preprocessing,
                                      image_size, augment, seed, dataset)
    images, labels = pipeline.batch_examples(
        image, label, batch_size, is_training, num_threads=num_threads,
        seed=None if seed is None else int(seed) + 1, name='batch')
  return pipeline.InputBatch(images, labels, num_examples, list(class_names))


@register_pipeline(('cifar10', 'cifar100'), 'queue')
def build_input(name, data_dir, split, batch_size, is_training,
                image_size=None, num_epochs=None, seed=None, class_names=None,
                *, augment=True, file_format='auto', augmentation=None,
                num_threads=None, preprocessing=None):
  """Builds the queue pipeline of a CIFAR split.

  Args:
    name: 'cifar10' or 'cifar100'.
    data_dir: the extracted folder or the folder containing it.
    split: 'train' or 'test'.
    batch_size: examples per batch.
    is_training: shuffle and augment when True.
    image_size: square output size; None keeps 32.
    num_epochs: None repeats forever; an int ends the pipeline with
      `OutOfRangeError` (evaluation uses 1: every example exactly once, in
      file order).
    augment: False turns augmentation off.
    seed: shuffle and augmentation seed.
    file_format: 'auto', 'pickle' or 'binary'.
    augmentation: policy of `augment.py` for a direct call without
      `preprocessing`; None uses 'standard' (4-pixel pad + crop + flip). A
      run passes it inside `preprocessing`.
    class_names: class names of a trained model; must match the dataset's.
    num_threads: enqueue threads while training.
    preprocessing: the run's `preprocess.Preprocessing` (recipe and
      augmentation; `arrays.array_preprocessing`), e.g. `cifar10_tutorial`
      with augmentation `recipe`: its 24x24 crops and distortions.

  Returns:
    pipeline.InputBatch with float32 `[batch, S, S, 3]` images.

  Raises:
    UserInputError: missing or corrupt files, naming the file.
  """
  runtime.require_graph_mode('build_input')
  layout, folder = locate(name, data_dir, file_format)
  names = read_class_names(layout, folder)
  arrays.check_trained_classes(class_names, names, folder)
  preprocessing = arrays.array_preprocessing(name, preprocessing,
                                             augmentation)
  if layout.file_format == 'pickle':
    images, labels, _ = load_split(name, folder, split, 'pickle')
    return arrays.build_array_input(
        images, labels, names, batch_size, is_training,
        num_epochs=num_epochs, augment=augment,
        image_size=image_size, seed=seed, num_threads=num_threads,
        name=f'input_{split}', source=f'{folder} ({split})',
        preprocessing=preprocessing, dataset=name)
  paths = split_paths(layout, folder, split)
  num_examples = sum(check_binary_file(p, layout, len(names)) for p in paths)
  logging.info('%s (%s): %d examples in %d binary file(s), %d classes',
               folder, split, num_examples, len(paths), len(names))
  return _build_binary_input(layout, paths, num_examples, names, split,
                             batch_size, is_training, num_epochs, augment,
                             image_size, seed, num_threads, preprocessing,
                             name)
