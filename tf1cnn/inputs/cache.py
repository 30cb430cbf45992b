"""A decoded-image cache for image folders and the queue pipeline reading it.

Decoding and resizing a JPEG costs a noticeable share of a small model's
training step on the same cores. The cache does it once per dataset split
and image size, so every later epoch (and every later run) only reads bytes.

Format (one folder per split, `<cache_dir>/<split>/`):

* `shard-NNNNN.bin`: a 64-byte header (`HEADER_FORMAT`: magic, version,
  image size, channels, record count) followed by fixed-length records of
  `4 + S*S*C` bytes: the label as little-endian int32, then the uint8 pixels
  `[S, S, C]` of the decoded, resized image. Evaluation caches keep the scan
  order (class by class, files sorted), so reading the shards in order gives
  the order of the plain pipeline; training caches hold the records in a
  fixed random permutation, so every shard is a random sample of the classes. The format is read by
  `tf.compat.v1.FixedLengthRecordReader(header_bytes=64)` and is also a plain
  memory-mappable array (`read_shard`).
* `manifest.json`: format version, image size, channels, JPEG decode mode,
  class names, a fingerprint of the source file list (paths, sizes,
  modification times and labels, plus the bad-image policy), the number of
  examples, and per finished shard its record count, byte size and CRC-32.

Validation (`check_cache`) compares the manifest with the current file list
and options, and every shard's size, header and CRC-32 with the manifest; a
stale, truncated, corrupt or other-size cache is reported with the reason and
rebuilt, never used. A valid cache skips the per-file bad-image check, since
the fingerprint proves the files are the ones that passed it.

Building (`ensure_cache`) decodes with `preprocess.decode` (by default (DCT-domain
down-scaling for large JPEGs, `decode_reduced`) and resizes in a `tf.data` pipeline on all cores, logs
progress per shard, and writes each shard atomically (`.tmp` then rename) and
records it in the manifest. An interrupted build (Ctrl-C, a crash) keeps the
finished shards; the next call checks them and builds only the missing ones.
Processes sharing a cache folder (workers on one machine, two runs started
together) take an exclusive lock on `<split folder>/.lock` to check and build
it: one builds, the others wait, then find the cache valid and use it.

Training with augmentation uses a cache of the images resized to
`preprocess.crop_source_size(image_size)` (the size the `standardize`
recipe's `augment_photo` crops from) and takes an independent random `image_size` crop and a random
left-right flip of every uint8 image at every step, so the augmentation is
the plain pipeline's and is not frozen by the cache; evaluation uses a cache
at `image_size`.

Reading (`build_input`): `string_input_producer` over the shards, one
`FixedLengthRecordReader` per reader thread (`read_up_to` a batch of records
at a time, so the per-op overhead is paid per batch, not per image), the
random crops and flips as two batched gathers on the uint8 images
(`preprocess.random_crops_and_flips`), then the recipe's normalisation and
`shuffle_batch_join` (training) or `batch` in order with
`allow_smaller_final_batch` (evaluation). All of it costs about 0.25 ms of
CPU per 150x150 image, against about 1 ms to decode and resize a JPEG.
Shards are shuffled and read by several readers at once, and the shuffle
queue mixes them; as the
records of a training cache are permuted once when it is written, batches are
mixed across classes from the first step, and the order differs every epoch
(shard order, reader interleaving, shuffle queue).
"""

import contextlib
import hashlib
import json
import os
import struct
import time
import zlib

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import filelock
from tf1cnn import runtime
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import preprocess
from tf1cnn.inputs import register_pipeline

_V1 = tf.compat.v1

MAGIC = b'TF1CNNIC'
VERSION = 1
HEADER_BYTES = 64
# magic, version, image_size, channels, count; padded to HEADER_BYTES.
HEADER_FORMAT = '<8sIIII'
LABEL_BYTES = 4
MANIFEST = 'manifest.json'
LOCK_FILE = '.lock'
DEFAULT_SHARD_SIZE = 128
ORDERS = ('scan', 'shuffled')
# Fixed, so that a resumed build continues the same permutation.
SHUFFLE_SEED = 20260101


class CacheError(Exception):
  """A cache that must not be used; the message says why."""


def default_cache_dir(data_dir):
  """`$TF1CNN_CACHE_DIR` or `~/.cache/tf1cnn`, one folder per dataset path."""
  root = os.environ.get('TF1CNN_CACHE_DIR') or os.path.join(
      os.path.expanduser('~'), '.cache', 'tf1cnn')
  absolute = os.path.abspath(data_dir)
  digest = hashlib.sha256(os.fsencode(absolute)).hexdigest()[:10]
  name = os.path.basename(absolute.rstrip(os.sep)) or 'data'
  return os.path.join(root, f'{name}-{digest}')


def split_cache_dir(cache_dir, data_dir, split):
  """The folder holding one split's cache."""
  return os.path.join(cache_dir or default_cache_dir(data_dir), split)


def record_bytes(image_size, channels=3):
  """Bytes of one record: int32 label + uint8 pixels."""
  return LABEL_BYTES + image_size * image_size * channels


def fingerprint(filenames, labels, bad_images='fail'):
  """SHA-256 over paths, sizes, modification times and labels of the files."""
  digest = hashlib.sha256(f'bad_images={bad_images}\n'.encode('utf-8'))
  for path, label in zip(filenames, labels):
    stat = os.stat(path)
    digest.update(f'{os.path.abspath(path)}\t{stat.st_size}\t'
                  f'{stat.st_mtime_ns}\t{label}\n'.encode('utf-8',
                                                       'surrogateescape'))
  return digest.hexdigest()


def _shard_name(index):
  return f'shard-{index:05d}.bin'


def _pack_header(image_size, channels, count):
  header = struct.pack(HEADER_FORMAT, MAGIC, VERSION, image_size, channels,
                       count)
  return header + b'\0' * (HEADER_BYTES - len(header))


def _read_header(path):
  with open(path, 'rb') as f:
    data = f.read(HEADER_BYTES)
  if len(data) < HEADER_BYTES:
    raise CacheError(f'{path}: header truncated ({len(data)} bytes)')
  magic, version, image_size, channels, count = struct.unpack_from(
      HEADER_FORMAT, data)
  if magic != MAGIC or version != VERSION:
    raise CacheError(f'{path}: not a version-{VERSION} tf1cnn cache shard')
  return image_size, channels, count


def _file_crc32(path):
  crc = 0
  with open(path, 'rb') as f:
    while True:
      block = f.read(1 << 22)
      if not block:
        return crc
      crc = zlib.crc32(block, crc)


def read_shard(path):
  """Memory-maps one shard; returns `(images uint8 [N,S,S,C], labels int32)`."""
  image_size, channels, count = _read_header(path)
  size = record_bytes(image_size, channels)
  records = np.memmap(path, np.uint8, 'r', offset=HEADER_BYTES,
                      shape=(count, size))
  labels = records[:, :LABEL_BYTES].copy().view('<i4').reshape(count)
  images = records[:, LABEL_BYTES:].reshape(count, image_size, image_size,
                                            channels)
  return images, labels.astype(np.int32)


@contextlib.contextmanager
def _exclusive(directory):
  """Holds an exclusive lock on `directory/LOCK_FILE` while checking/building.

  A directory that cannot be created or written (a read-only cache) is used
  without the lock: it can only be checked, not built.
  """
  with contextlib.ExitStack() as stack:
    try:
      os.makedirs(directory, exist_ok=True)
      stack.enter_context(filelock.exclusive(
          os.path.join(directory, LOCK_FILE), on_wait=lambda: logging.info(
              'cache: another process is checking or building %s; waiting '
              'for it', directory)))
    except OSError:
      pass  # A read-only cache: checked, not built, without the lock.
    yield


def _read_manifest(directory):
  path = os.path.join(directory, MANIFEST)
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as e:
    raise CacheError(f'{path}: unreadable manifest ({e})') from None


def _write_manifest(directory, manifest):
  path = os.path.join(directory, MANIFEST)
  tmp = path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    json.dump(manifest, f, indent=1)
    f.write('\n')
  os.replace(tmp, path)


def _expected_manifest(filenames, labels, class_names, image_size, channels,
                       decode, bad_images, shard_size, num_skipped=None,
                       order='scan'):
  return dict(version=VERSION, image_size=image_size, channels=channels,
              decode=decode, order=order, class_names=list(class_names),
              fingerprint=fingerprint(filenames, labels, bad_images),
              num_source_files=len(filenames), shard_size=shard_size,
              num_shards=None, num_examples=None, num_skipped=num_skipped,
              shards={}, complete=False)


_PLAN_KEYS = ('version', 'image_size', 'channels', 'decode', 'order',
              'class_names',
              'fingerprint', 'num_source_files', 'shard_size')


def _plan_mismatch(manifest, expected):
  """Returns a reason string if the manifest is for another plan, else None."""
  for key in _PLAN_KEYS:
    if manifest.get(key) != expected[key]:
      if key == 'fingerprint':
        return ('the source files changed (paths, sizes or modification '
                'times differ from when it was built)')
      return (f'it was built with {key}={manifest.get(key)!r}, this run uses '
              f'{expected[key]!r}')
  return None


def _check_shard(directory, name, info, image_size, channels, verify_crc):
  """Raises CacheError if shard `name` does not match its manifest entry."""
  path = os.path.join(directory, name)
  if not os.path.exists(path):
    raise CacheError(f'{path} is missing')
  want = HEADER_BYTES + info['count'] * record_bytes(image_size, channels)
  got = os.path.getsize(path)
  if got != want or info.get('bytes') != want:
    raise CacheError(f'{path} is truncated or padded ({got} bytes, expected '
                     f'{want})')
  header = _read_header(path)
  if header != (image_size, channels, info['count']):
    raise CacheError(f'{path}: header says {header[0]}x{header[0]}x{header[1]}'
                     f', {header[2]} records; expected {image_size}x'
                     f'{image_size}x{channels}, {info["count"]}')
  if verify_crc and _file_crc32(path) != info['crc32']:
    raise CacheError(f'{path}: CRC-32 mismatch (corrupt)')


def check_cache(directory, expected, verify_crc=True):
  """Checks a finished cache against the expected plan.

  Args:
    directory: the split's cache folder.
    expected: the plan (`_expected_manifest`); the number of shards comes
      from the manifest.
    verify_crc: also compare each shard's CRC-32 (reads the whole cache).

  Returns:
    The manifest.

  Raises:
    CacheError: why the cache cannot be used (missing, stale, truncated, ...).
  """
  manifest = _read_manifest(directory)
  if manifest is None:
    raise CacheError(f'no cache in {directory}')
  reason = _plan_mismatch(manifest, expected)
  if reason:
    raise CacheError(f'{directory} is stale: {reason}')
  if not manifest.get('complete'):
    raise CacheError(f'{directory} is incomplete (an interrupted build)')
  total = 0
  for index in range(manifest.get('num_shards') or 0):
    name = _shard_name(index)
    info = manifest['shards'].get(name)
    if info is None:
      raise CacheError(f'{directory}: {name} is not in the manifest')
    _check_shard(directory, name, info, expected['image_size'],
                 expected['channels'], verify_crc)
    total += info['count']
  if total != manifest.get('num_examples'):
    raise CacheError(f'{directory}: shards hold {total} records, the manifest '
                     f'says {manifest.get("num_examples")}')
  return manifest


def _decode_batches(filenames, image_size, decode, channels, num_threads):
  """Yields `(uint8 [n, S, S, C] images)` for `filenames`, in order."""
  graph = tf.Graph()
  with graph.as_default():
    dataset = tf.data.Dataset.from_tensor_slices(
        image_folder.path_tensor(filenames))

    def _load(path):
      image = preprocess.resize(
          preprocess.decode(tf.io.read_file(path), decode, image_size,
                            channels), image_size)
      return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)

    dataset = dataset.map(_load, num_parallel_calls=num_threads,
                          deterministic=True)
    dataset = dataset.batch(32).prefetch(2)
    iterator = _V1.data.make_one_shot_iterator(dataset)
    next_images = iterator.get_next()
    config = runtime.session_config(intra_op_threads=num_threads,
                                    inter_op_threads=num_threads)
    with _V1.Session(graph=graph, config=config) as sess:
      while True:
        try:
          yield sess.run(next_images)
        except tf.errors.OutOfRangeError:
          return


def _write_shard(directory, name, images, labels, image_size, channels):
  """Writes one shard atomically; returns its manifest entry."""
  path = os.path.join(directory, name)
  tmp = path + '.tmp'
  count = len(labels)
  records = np.empty((count, record_bytes(image_size, channels)), np.uint8)
  records[:, :LABEL_BYTES] = np.asarray(labels, '<i4').view(np.uint8).reshape(
      count, LABEL_BYTES)
  records[:, LABEL_BYTES:] = images.reshape(count, -1)
  data = _pack_header(image_size, channels, count) + records.tobytes()
  with open(tmp, 'wb') as f:
    f.write(data)
  os.replace(tmp, path)
  return dict(count=count, bytes=len(data), crc32=zlib.crc32(data))


def build_cache(directory, filenames, labels, expected, num_threads=None):
  """Builds (or finishes) the cache in `directory` for the expected plan.

  Shards already finished by an interrupted build with the same plan are
  checked and kept; everything else is (re)written.

  Returns:
    The complete manifest.
  """
  os.makedirs(directory, exist_ok=True)
  image_size, channels = expected['image_size'], expected['channels']
  shard_size = expected['shard_size']
  manifest = None
  try:
    manifest = _read_manifest(directory)
  except CacheError as e:
    logging.warning('cache: %s; starting over', e)
  if manifest is not None and _plan_mismatch(manifest, expected) is None:
    kept = {}
    for name, info in manifest.get('shards', {}).items():
      try:
        _check_shard(directory, name, info, image_size, channels, True)
        kept[name] = info
      except CacheError as e:
        logging.warning('cache: rewriting shard: %s', e)
    manifest['shards'] = kept
    manifest['complete'] = False
    manifest['num_shards'] = expected['num_shards']
    manifest['num_skipped'] = expected.get('num_skipped')
    if kept:
      logging.info('cache: resuming the build in %s: %d of %d shards done',
                   directory, len(kept), expected['num_shards'])
  else:
    manifest = dict(expected)
    manifest['shards'] = {}
    for name in os.listdir(directory):
      if name.startswith('shard-'):
        os.remove(os.path.join(directory, name))
  _write_manifest(directory, manifest)
  todo = [i for i in range(expected['num_shards'])
          if _shard_name(i) not in manifest['shards']]
  threads = num_threads or pipeline.default_num_threads()
  start = time.time()
  done_images = 0
  todo_images = sum(len(filenames[i * shard_size:(i + 1) * shard_size])
                    for i in todo)
  for position, index in enumerate(todo):
    lo, hi = index * shard_size, min(len(filenames), (index + 1) * shard_size)
    images = np.concatenate(list(_decode_batches(
        filenames[lo:hi], image_size, expected['decode'], channels, threads)))
    name = _shard_name(index)
    manifest['shards'][name] = _write_shard(directory, name, images,
                                            labels[lo:hi], image_size, channels)
    _write_manifest(directory, manifest)
    done_images += hi - lo
    elapsed = time.time() - start
    rate = done_images / elapsed if elapsed > 0 else 0.0
    left = (todo_images - done_images) / rate if rate else 0.0
    logging.info('cache: shard %d/%d written (%d/%d images this build, '
                 '%.0f images/sec, %.0f s left)', position + 1, len(todo),
                 done_images, todo_images, rate, left)
  manifest['num_examples'] = sum(
      info['count'] for info in manifest['shards'].values())
  manifest['complete'] = True
  _write_manifest(directory, manifest)
  return manifest


def ensure_cache(data_dir, split, image_size, cache_dir='', class_names=None,
                 bad_images='fail', decode='reduced', channels=3,
                 shard_size=DEFAULT_SHARD_SIZE, num_threads=None,
                 verify_crc=True, order='scan'):
  """Returns a valid cache for a split, building or rebuilding it if needed.

  Args:
    data_dir: image-folder dataset root.
    split: 'train', 'test', ...
    image_size: square size stored in the cache.
    cache_dir: cache root for this dataset ('' = `default_cache_dir`).
    class_names: fixed label mapping (evaluation), or None.
    bad_images: 'fail' or 'skip' (see `image_folder.filter_bad_images`).
    decode: 'reduced' or 'full' JPEG decode.
    channels: 3.
    shard_size: records per shard.
    num_threads: decode threads while building.
    verify_crc: check every shard's CRC-32 of an existing cache.
    order: 'scan' keeps the file order (evaluation); 'shuffled' writes the
      records in a fixed random permutation (training), so that every shard
      is a random sample of all classes and reading a few shards at a time
      still gives well-mixed batches.

  Returns:
    `(directory, manifest)`.

  Raises:
    UserInputError: bad data (see image_folder) or an unwritable cache_dir.
  """
  image_size = int(image_size)
  directory = split_cache_dir(cache_dir, data_dir, split)
  filenames, labels, class_names = image_folder.scan_split(data_dir, split,
                                                           class_names)
  if order not in ORDERS:
    raise ValueError(f'order={order!r}: use {" or ".join(ORDERS)}')
  expected = _expected_manifest(filenames, labels, class_names, image_size,
                                channels, decode, bad_images, shard_size,
                                order=order)
  with _exclusive(directory):
    return _check_or_build(directory, data_dir, split, filenames, labels,
                           expected, bad_images, shard_size, order,
                           num_threads, verify_crc)


def _check_or_build(directory, data_dir, split, filenames, labels, expected,
                    bad_images, shard_size, order, num_threads, verify_crc):
  """`ensure_cache` after the scan, under the folder's lock."""
  image_size = expected['image_size']
  try:
    manifest = check_cache(directory, expected, verify_crc)
    logging.info('cache: using %s (%d images, %dx%d)', directory,
                 manifest['num_examples'], image_size, image_size)
    return directory, manifest
  except CacheError as e:
    if os.path.exists(os.path.join(directory, MANIFEST)):
      logging.warning('cache: not using it: %s; rebuilding', e)
    else:
      logging.info('cache: building %s (%d images at %dx%d)', directory,
                   len(filenames), image_size, image_size)
  kept, kept_labels, skipped = image_folder.filter_bad_images(
      filenames, labels, bad_images)
  if not kept:
    raise runtime.UserInputError(f'no usable images left in {data_dir}/{split}')
  if order == 'shuffled':
    permutation = np.random.RandomState(SHUFFLE_SEED).permutation(len(kept))
    kept = [kept[i] for i in permutation]
    kept_labels = [kept_labels[i] for i in permutation]
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    raise runtime.UserInputError(
        f'--cache_dir: cannot create {directory!r} ({e.strerror})') from None
  # The fingerprint covers the scanned list; the shards hold the kept files.
  build_plan = dict(expected)
  build_plan['num_shards'] = -(-len(kept) // shard_size)
  build_plan['num_skipped'] = skipped
  manifest = build_cache(directory, kept, kept_labels, build_plan, num_threads)
  return directory, check_cache(directory, build_plan, verify_crc=False)


def _read_records(filename_queue, image_size, channels, read_batch):
  """One reader: up to `read_batch` records -> (uint8 images, int32 labels)."""
  reader = _V1.FixedLengthRecordReader(
      record_bytes=record_bytes(image_size, channels),
      header_bytes=HEADER_BYTES, name='cache_reader')
  _, values = reader.read_up_to(filename_queue, read_batch)
  raw = tf.io.decode_raw(values, tf.uint8)
  labels = tf.bitcast(raw[:, :LABEL_BYTES], tf.int32)
  images = tf.reshape(raw[:, LABEL_BYTES:],
                      [-1, image_size, image_size, channels])
  return images, labels


def _preprocess(images, image_size, is_training, augment, seed, recipe):
  """uint8 batch -> augmented (training) and normalised float32 batch."""
  if is_training and augment:
    images = preprocess.random_crops_and_flips(images, image_size, seed=seed)
  return recipe.normalize(tf.cast(images, tf.float32))


@register_pipeline('image_folder', 'cached')
def build_input(name, data_dir, split, batch_size, is_training,
                image_size=150, num_epochs=None, seed=None, class_names=None,
                *, augment=True, bad_images='fail', num_threads=None,
                cache_dir='',
                preprocessing=preprocess.Preprocessing(decode='reduced')):
  """The cached queue pipeline; builds or rebuilds the cache first if needed.

  Arguments as `image_folder.build_input`, plus:

  Args:
    cache_dir: cache root for this dataset ('' = `default_cache_dir`).
    preprocessing: a recipe the cache can serve (`Recipe.cacheable`); its
      decode mode builds the cache.

  Returns:
    pipeline.InputBatch.

  Raises:
    UserInputError: a preprocessing the cache cannot serve, bad data.
  """
  del name
  runtime.require_graph_mode('cache.build_input')
  recipe = preprocess.get_recipe(preprocessing.recipe)
  if not recipe.cacheable:
    raise runtime.UserInputError(
        f'--pipeline=cached cannot serve --preprocessing={recipe.name} (the '
        'cache stores squares resized as the standardize recipe does); use '
        '--pipeline=queue or tfdata')
  decode = preprocessing.decode
  image_size = int(image_size or 150)
  augment = preprocessing.augments(is_training, augment)
  stored_size = (recipe.train_source_size(image_size) if augment
                 else image_size)
  directory, manifest = ensure_cache(
      data_dir, split, stored_size, cache_dir=cache_dir,
      class_names=class_names, bad_images=bad_images, decode=decode,
      order='shuffled' if is_training else 'scan')
  shards = [os.path.join(directory, _shard_name(i))
            for i in range(manifest['num_shards'])]
  channels = manifest['channels']
  with tf.name_scope(f'cached_input_{split}'):
    filename_queue = _V1.train.string_input_producer(
        shards, num_epochs=num_epochs, shuffle=is_training, seed=seed,
        capacity=max(16, len(shards)), name='shards')
    if is_training:
      threads = num_threads or pipeline.default_num_threads()
      read_batch = max(8, batch_size)
      examples = []
      for _ in range(threads):
        images, labels = _read_records(filename_queue, stored_size, channels,
                                       read_batch)
        examples.append([_preprocess(images, image_size, True, augment, seed,
                                     recipe), labels])
      min_after_dequeue = max(4 * batch_size, 256)
      capacity = min_after_dequeue + (threads + 2) * max(batch_size,
                                                         read_batch)
      images, labels = _V1.train.shuffle_batch_join(
          examples, batch_size=batch_size, capacity=capacity,
          min_after_dequeue=min_after_dequeue, seed=seed, enqueue_many=True,
          shapes=[[image_size, image_size, channels], []], name='batch')
    else:
      images, labels = _read_records(filename_queue, image_size, channels,
                                     batch_size)
      images = _preprocess(images, image_size, False, False, seed, recipe)
      # One reader and one thread keep the file order.
      images, labels = _V1.train.batch(
          [images, labels], batch_size=batch_size, num_threads=1,
          capacity=4 * batch_size, enqueue_many=True,
          shapes=[[image_size, image_size, channels], []],
          allow_smaller_final_batch=True, name='batch')
  logging.info('%s/%s: %d cached images, %d classes %s', data_dir, split,
               manifest['num_examples'], len(manifest['class_names']),
               manifest['class_names'])
  return pipeline.InputBatch(images, labels, manifest['num_examples'],
                             list(manifest['class_names']))
