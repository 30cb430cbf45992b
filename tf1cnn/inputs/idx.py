"""MNIST and Fashion-MNIST from IDX files (`mnist`, `fashion_mnist`).

Layout: `data_dir` holds the four files of the original distribution, gzipped
or not (gzip data is recognised by its content; a `.gz` name over anything
else is an error):

    train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]   (split 'train')
    t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]    (split 'test')

The dotted spelling `train-images.idx3-ubyte` is accepted as well.

IDX format: a big-endian header `0x00 0x00 <type> <ndim>` followed by `ndim`
uint32 dimensions and the data in C order. Image files must have magic 2051
(0x00000803: uint8, 3 dims `[N, rows, cols]`), label files magic 2049
(0x00000801: uint8, 1 dim `[N]`). Before a graph is built every file is
checked: gzip integrity, magic number, header size against the file length
(truncated files and trailing bytes), the image and label counts, and every
label in 0..9. A failed check raises `UserInputError` naming the file.

A split decodes to uint8 images `[N, 28, 28, 1]` and int32 labels `[N]`
(the full Fashion-MNIST train set is 47 MB and reads in well under a second).
Decoded arrays are cached per process (keyed by path, size and modification
time), so training and evaluation in one process read each file once.

The pipeline is `arrays.build_array_input`: slice_input_producer over the
arrays -> the run's preprocessing (`arrays.preprocess_example`: the
augmentation policy of `augment.py`, none by default; the recipe's geometry
and normalisation) -> batching.
"""

import gzip
import os
import zlib

import numpy as np
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import DatasetInfo
from tf1cnn.inputs import register_dataset
from tf1cnn.inputs import register_pipeline
from tf1cnn.inputs import arrays

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

CLASS_NAMES = {
    'fashion_mnist': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                      'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    'mnist': [str(digit) for digit in range(10)],
}

# split name -> file-name prefix
SPLITS = {'train': 'train', 'test': 't10k'}

# IDX type code -> numpy dtype (big-endian as stored).
_IDX_DTYPES = {
    0x08: np.dtype('u1'),
    0x09: np.dtype('i1'),
    0x0B: np.dtype('>i2'),
    0x0C: np.dtype('>i4'),
    0x0D: np.dtype('>f4'),
    0x0E: np.dtype('>f8'),
}

_GZIP_MAGIC = b'\x1f\x8b'

# Decoded files (the four files of one dataset).
_cache = arrays.FileCache(max_entries=4)


def _class_names(name):
  if name not in CLASS_NAMES:
    raise KeyError(f'idx reader does not know dataset {name!r}; valid: '
                   f'{", ".join(CLASS_NAMES)}')
  return list(CLASS_NAMES[name])


def _read_bytes(path):
  """The file's content, gunzipped when it is a gzip file."""
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise runtime.UserInputError(f'{path}: cannot read ({e.strerror})') from None
  if raw[:2] == _GZIP_MAGIC:
    try:
      return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
      raise runtime.UserInputError(
          f'{path}: corrupt or truncated gzip file ({e})') from None
  if path.endswith('.gz'):
    raise runtime.UserInputError(
        f'{path}: not a gzip file (it ends in .gz but does not start with the '
        'gzip signature); re-download it')
  return raw


def _read_header_bytes(path, num_bytes):
  """The first `num_bytes` of the (gunzipped) content, for cheap checks."""
  try:
    with open(path, 'rb') as f:
      head = f.read(2)
    if head == _GZIP_MAGIC:
      with gzip.open(path, 'rb') as f:
        return f.read(num_bytes)
    if path.endswith('.gz'):
      raise runtime.UserInputError(
          f'{path}: not a gzip file (it ends in .gz but does not start with '
          'the gzip signature); re-download it')
    with open(path, 'rb') as f:
      return f.read(num_bytes)
  except (OSError, EOFError, zlib.error) as e:
    raise runtime.UserInputError(
        f'{path}: cannot read header ({e})') from None


def _parse_header(path, data, expected_magic=None):
  """Returns `(magic, dtype, dims, header_bytes)` of IDX content `data`."""
  if len(data) < 4:
    raise runtime.UserInputError(
        f'{path}: truncated IDX file ({len(data)} bytes, no header)')
  magic = int.from_bytes(data[:4], 'big')
  type_code, ndim = data[2], data[3]
  if data[0] or data[1] or type_code not in _IDX_DTYPES or ndim == 0:
    what = (f', expected {expected_magic} (0x{expected_magic:08x})'
            if expected_magic else '')
    raise runtime.UserInputError(
        f'{path}: not an IDX file (magic number {magic} = 0x{magic:08x}'
        f'{what})')
  if expected_magic is not None and magic != expected_magic:
    kinds = {IMAGES_MAGIC: 'images', LABELS_MAGIC: 'labels'}
    raise runtime.UserInputError(
        f'{path}: magic number {magic} (0x{magic:08x}), expected '
        f'{expected_magic} (0x{expected_magic:08x}, IDX '
        f'{kinds.get(expected_magic, "data")} file); are the image and label '
        'files swapped?')
  header_bytes = 4 + 4 * ndim
  if len(data) < header_bytes:
    raise runtime.UserInputError(
        f'{path}: truncated IDX header ({len(data)} of {header_bytes} bytes)')
  dims = tuple(int(d) for d in np.frombuffer(data, '>u4', ndim, 4))
  return magic, _IDX_DTYPES[type_code], dims, header_bytes


def read_idx(path, expected_magic=None):
  """Reads an IDX file (optionally gzipped) into a numpy array.

  Args:
    path: file path.
    expected_magic: e.g. `IMAGES_MAGIC` or `LABELS_MAGIC`; None accepts any
      valid IDX magic.

  Returns:
    A read-only numpy array of the header's shape and type (native byte
    order).

  Raises:
    UserInputError: naming `path`, for a missing or unreadable file, bad gzip
      data, a bad magic number, or a length that disagrees with the header.
  """
  data = _read_bytes(path)
  _, dtype, dims, header_bytes = _parse_header(path, data, expected_magic)
  expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
  actual = len(data) - header_bytes
  if actual < expected:
    raise runtime.UserInputError(
        f'{path}: truncated IDX file: the header says {"x".join(map(str, dims))}'
        f' ({expected} data bytes) but only {actual} bytes follow it')
  if actual > expected:
    raise runtime.UserInputError(
        f'{path}: {actual - expected} unexpected bytes after the '
        f'{"x".join(map(str, dims))} data the header announces')
  array = np.frombuffer(data, dtype, int(np.prod(dims, dtype=np.int64)),
                        header_bytes).reshape(dims)
  if dtype.byteorder == '>':
    array = array.astype(dtype.newbyteorder('='))
  array.flags.writeable = False
  return array


def clear_cache():
  """Forgets the decoded arrays kept for reuse."""
  _cache.clear()


def load_images(path):
  """Reads an IDX image file into uint8 `[N, rows, cols, 1]`."""
  def _load(p):
    images = read_idx(p, IMAGES_MAGIC)
    if images.ndim != 3:
      raise runtime.UserInputError(
          f'{p}: IDX images must have 3 dimensions [N, rows, cols], got '
          f'{images.shape}')
    if images.shape[1] != images.shape[2]:
      raise runtime.UserInputError(
          f'{p}: images are {images.shape[1]}x{images.shape[2]}; square '
          'images expected')
    return images.reshape(images.shape + (1,))
  return _cache.get(path, _load)


def load_labels(path, num_classes=10):
  """Reads an IDX label file into int32 `[N]`, checking the label range."""
  def _load(p):
    labels = read_idx(p, LABELS_MAGIC)
    if labels.ndim != 1:
      raise runtime.UserInputError(
          f'{p}: IDX labels must have 1 dimension, got {labels.shape}')
    return labels
  labels = _cache.get(path, _load)
  if labels.size and int(labels.max()) >= num_classes:
    bad = int(np.argmax(labels >= num_classes))
    raise runtime.UserInputError(
        f'{path}: label {int(labels[bad])} of example {bad} is outside '
        f'0..{num_classes - 1}')
  return labels.astype(np.int32)


def _check_data_dir(data_dir):
  if not data_dir:
    raise runtime.UserInputError(
        '--data_dir is empty: give the folder that holds '
        'train-images-idx3-ubyte.gz and the other IDX files')
  if not os.path.isdir(data_dir):
    raise runtime.UserInputError(
        f'data_dir {data_dir!r} does not exist or is not a folder')


def _split_prefix(split):
  if split in SPLITS:
    return SPLITS[split]
  if split in SPLITS.values():
    return split
  raise runtime.UserInputError(
      f'split {split!r}: IDX datasets have the splits '
      f'{", ".join(SPLITS)}')


def split_files(data_dir, split):
  """Finds the image and label files of a split.

  Args:
    data_dir: folder holding the IDX files.
    split: 'train' or 'test' ('t10k' is accepted for 'test').

  Returns:
    `(images_path, labels_path)`.

  Raises:
    UserInputError: unknown split, missing folder, missing file (the message
      names the file expected).
  """
  _check_data_dir(data_dir)
  prefix = _split_prefix(split)
  found = []
  for kind, ndim in (('images', 3), ('labels', 1)):
    candidates = [f'{prefix}-{kind}-idx{ndim}-ubyte.gz',
                  f'{prefix}-{kind}-idx{ndim}-ubyte',
                  f'{prefix}-{kind}.idx{ndim}-ubyte',
                  f'{prefix}-{kind}.idx{ndim}-ubyte.gz']
    paths = [os.path.join(data_dir, c) for c in candidates]
    existing = [p for p in paths if os.path.isfile(p)]
    if not existing:
      raise runtime.UserInputError(
          f'{paths[0]}: missing (nor found: {", ".join(candidates[1:])}); '
          f'data_dir must hold the IDX files of the {split!r} split')
    found.append(existing[0])
  return tuple(found)


def load_split(data_dir, split, num_classes=10):
  """Decodes and checks one split.

  Args:
    data_dir: folder holding the IDX files.
    split: 'train' or 'test'.
    num_classes: labels must be below this.

  Returns:
    `(images, labels)`: uint8 `[N, rows, cols, 1]` (read-only) and int32
    `[N]`.

  Raises:
    UserInputError: any failed check, naming the file.
  """
  images_path, labels_path = split_files(data_dir, split)
  images = load_images(images_path)
  labels = load_labels(labels_path, num_classes)
  if images.shape[0] != labels.shape[0]:
    raise runtime.UserInputError(
        f'{images_path} holds {images.shape[0]} images but {labels_path} '
        f'holds {labels.shape[0]} labels')
  return images, labels


@register_dataset('fashion_mnist', 'mnist')
def dataset_info(name, data_dir):
  """DatasetInfo of `mnist` / `fashion_mnist` (reads one file header only).

  Raises:
    UserInputError: no IDX image file for 'train' nor 'test' in `data_dir`,
      or a bad header.
  """
  class_names = _class_names(name)
  error = None
  for split in SPLITS:
    try:
      images_path, _ = split_files(data_dir, split)
      break
    except runtime.UserInputError as e:
      error = error or e
  else:
    raise error
  head = _read_header_bytes(images_path, 16)
  _, _, dims, _ = _parse_header(images_path, head, IMAGES_MAGIC)
  if len(dims) != 3:
    raise runtime.UserInputError(
        f'{images_path}: IDX images must have 3 dimensions, got {dims}')
  return DatasetInfo(name=name, image_size=dims[1], channels=1,
                     num_classes=len(class_names), class_names=class_names)


@register_pipeline(('fashion_mnist', 'mnist'), 'queue')
def build_input(name, data_dir, split, batch_size, is_training,
                image_size=None, num_epochs=None, seed=None, class_names=None,
                *, augment=True, augmentation=None, num_threads=None,
                preprocessing=None):
  """Builds the queue pipeline of an MNIST-format split.

  Args:
    name: 'fashion_mnist' or 'mnist' (selects the class names and the
      augmentation policy).
    data_dir: folder holding the IDX files.
    split: 'train' or 'test'.
    batch_size: examples per batch.
    is_training: shuffle and augment when True.
    image_size: square output size; None keeps 28.
    num_epochs: None repeats forever; an int ends the pipeline with
      `OutOfRangeError` (evaluation uses 1: every example exactly once).
    augment: False turns augmentation off.
    seed: shuffle and augmentation seed.
    augmentation: policy of `augment.py` ('none', 'flip', 'light',
      'standard') for a direct call without `preprocessing`; None uses the
      dataset default ('none'). A run passes it inside `preprocessing`.
    class_names: class names of a trained model; must match the dataset's.
    num_threads: enqueue threads while training.
    preprocessing: the run's `preprocess.Preprocessing` (recipe and
      augmentation; `arrays.array_preprocessing`).

  Returns:
    pipeline.InputBatch with float32 `[batch, 28, 28, 1]` images.

  Raises:
    UserInputError: missing or corrupt files, naming the file.
  """
  runtime.require_graph_mode('build_input')
  names = _class_names(name)
  arrays.check_trained_classes(class_names, names, f'{name} in {data_dir}')
  preprocessing = arrays.array_preprocessing(name, preprocessing,
                                             augmentation)
  images, labels = load_split(data_dir, split, len(names))
  images_path, _ = split_files(data_dir, split)
  logging.info('%s %s: read %s', name, split, images_path)
  return arrays.build_array_input(
      images, labels, names, batch_size, is_training, num_epochs=num_epochs,
      augment=augment, image_size=image_size,
      seed=seed, num_threads=num_threads, name=f'input_{split}',
      source=f'{data_dir} ({name} {split})', preprocessing=preprocessing,
      dataset=name)
