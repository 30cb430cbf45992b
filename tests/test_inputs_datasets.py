"""Tests of the IDX (MNIST) and CIFAR readers, the array pipeline and augmentation.

Small datasets are written into a temporary folder in every format the
readers accept; the real data (Fashion-MNIST, reduced CIFAR-10) is read from
`$TF1CNN_SHARED_DATA` (default `<repo>/../shared/data`) when it is there.
"""

import gzip
import os
import pickle
import re
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from tf1cnn import inputs
from tf1cnn import runtime
from tf1cnn.inputs import arrays
from tf1cnn.inputs import augment
from tf1cnn.inputs import cifar
from tf1cnn.inputs import idx

runtime.use_graph_mode()
_V1 = tf.compat.v1

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('TF1CNN_SHARED_DATA',
                             os.path.join(_REPO, '..', 'shared', 'data'))

TIMEOUT_MS = 20000
UserInputError = runtime.UserInputError


# ---------------------------------------------------------------- helpers


def np_standardize(image):
  """numpy version of tf.image.per_image_standardization."""
  image = image.astype(np.float64)
  adjusted_std = max(image.std(), 1.0 / np.sqrt(image.size))
  return (image - image.mean()) / adjusted_std


def session_config():
  # A blocked dequeue fails with DeadlineExceeded instead of hanging.
  return _V1.ConfigProto(operation_timeout_in_ms=TIMEOUT_MS,
                         intra_op_parallelism_threads=1,
                         inter_op_parallelism_threads=2)


def run_to_end(batch, max_batches=1000):
  """Runs a pipeline until OutOfRangeError; returns images, labels, sizes."""
  images, labels, sizes = [], [], []
  with _V1.Session(config=session_config()) as sess:
    sess.run([_V1.global_variables_initializer(),
              _V1.local_variables_initializer()])
    coord = _V1.train.Coordinator()
    threads = _V1.train.start_queue_runners(sess, coord)
    try:
      for _ in range(max_batches):
        x, y = sess.run([batch.images, batch.labels])
        images.append(x)
        labels.append(y)
        sizes.append(len(y))
      raise AssertionError(f'no OutOfRangeError after {max_batches} batches')
    except tf.errors.OutOfRangeError:
      pass
    finally:
      coord.request_stop()
      coord.join(threads, stop_grace_period_secs=10)
  return np.concatenate(images), np.concatenate(labels), sizes


def write_idx(path, array, magic=None):
  """Writes `array` (uint8) as an IDX file, gzipped when path ends in .gz."""
  array = np.asarray(array, np.uint8)
  magic = magic if magic is not None else (0x0800 | array.ndim)
  header = magic.to_bytes(4, 'big') + b''.join(
      int(d).to_bytes(4, 'big') for d in array.shape)
  data = header + array.tobytes()
  if path.endswith('.gz'):
    data = gzip.compress(data)
  with open(path, 'wb') as f:
    f.write(data)


def make_idx(root, rng, num_train=37, num_test=23, gz=True):
  """Writes the four IDX files; returns {split: (images [N,28,28], labels)}."""
  os.makedirs(root, exist_ok=True)
  suffix = '.gz' if gz else ''
  data = {}
  for split, prefix, n in (('train', 'train', num_train),
                           ('test', 't10k', num_test)):
    images = rng.randint(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, n).astype(np.uint8)
    write_idx(os.path.join(root, f'{prefix}-images-idx3-ubyte{suffix}'), images)
    write_idx(os.path.join(root, f'{prefix}-labels-idx1-ubyte{suffix}'), labels)
    data[split] = (images, labels)
  return data


def random_cifar(rng, n, num_classes):
  """Depth-major uint8 rows [n, 3072] and labels."""
  rows = rng.randint(0, 256, (n, 3072)).astype(np.uint8)
  labels = rng.randint(0, num_classes, n)
  return rows, labels


def write_pickle(path, value, protocol=2):
  with open(path, 'wb') as f:
    pickle.dump(value, f, protocol=protocol)


def make_cifar10(root, rng, counts=(8, 8, 7, 7, 7), num_test=11,
                 formats=('pickle', 'binary'), str_keys=False, protocol=2):
  """Writes CIFAR-10 in the pickle and/or binary layout under root.

  Returns:
    {split: (rows [N, 3072], labels [N])} for the whole split.
  """
  key = (lambda k: k) if str_keys else (lambda k: k.encode())
  batches = [random_cifar(rng, n, 10) for n in counts]
  test = random_cifar(rng, num_test, 10)
  if 'pickle' in formats:
    folder = os.path.join(root, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)
    for name, (rows, labels) in ([(f'data_batch_{i + 1}', b)
                                  for i, b in enumerate(batches)] +
                                 [('test_batch', test)]):
      write_pickle(os.path.join(folder, name),
                   {key('batch_label'): b'batch', key('data'): rows,
                    key('labels'): [int(l) for l in labels],
                    key('filenames'): [b'x.png'] * len(labels)},
                   protocol=protocol)
    write_pickle(os.path.join(folder, 'batches.meta'),
                 {key('label_names'): [n.encode() for n in
                                       cifar.CIFAR10_CLASSES],
                  key('num_vis'): 3072})
  if 'binary' in formats:
    folder = os.path.join(root, 'cifar-10-batches-bin')
    os.makedirs(folder, exist_ok=True)
    for name, (rows, labels) in ([(f'data_batch_{i + 1}.bin', b)
                                  for i, b in enumerate(batches)] +
                                 [('test_batch.bin', test)]):
      records = np.concatenate(
          [labels.astype(np.uint8)[:, None], rows], axis=1)
      records.tofile(os.path.join(folder, name))
    with open(os.path.join(folder, 'batches.meta.txt'), 'w') as f:
      f.write('\n'.join(cifar.CIFAR10_CLASSES) + '\n\n')
  return {'train': (np.concatenate([b[0] for b in batches]),
                    np.concatenate([b[1] for b in batches])),
          'test': test}


def make_cifar100(root, rng, num_train=37, num_test=9):
  """Writes CIFAR-100 in both layouts; returns {split: (rows, fine labels)}."""
  data = {}
  py = os.path.join(root, 'cifar-100-python')
  binary = os.path.join(root, 'cifar-100-binary')
  os.makedirs(py)
  os.makedirs(binary)
  for split, n in (('train', num_train), ('test', num_test)):
    rows, fine = random_cifar(rng, n, 100)
    coarse = rng.randint(0, 20, n)
    write_pickle(os.path.join(py, split),
                 {b'data': rows, b'fine_labels': list(map(int, fine)),
                  b'coarse_labels': list(map(int, coarse))})
    np.concatenate([coarse.astype(np.uint8)[:, None],
                    fine.astype(np.uint8)[:, None], rows],
                   axis=1).tofile(os.path.join(binary, f'{split}.bin'))
    data[split] = (rows, fine)
  write_pickle(os.path.join(py, 'meta'),
               {b'fine_label_names': [n.encode() for n in
                                      cifar.CIFAR100_CLASSES],
                b'coarse_label_names': [b'c%d' % i for i in range(20)]})
  with open(os.path.join(binary, 'fine_label_names.txt'), 'w') as f:
    f.write('\n'.join(cifar.CIFAR100_CLASSES) + '\n')
  return data


def rows_to_hwc(rows):
  return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


class _TempDirTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.rng = np.random.RandomState(7)
    idx.clear_cache()
    cifar.clear_cache()

  def assertUserError(self, fragment, fn, *args, **kwargs):
    """fn raises UserInputError whose message contains `fragment`."""
    with self.assertRaisesRegex(UserInputError, re.escape(fragment)):
      fn(*args, **kwargs)


# ---------------------------------------------------------------- IDX


class IdxTest(_TempDirTest):

  def check_eval_pipeline(self, gz):
    data = make_idx(self.root, self.rng, gz=gz)
    with tf.Graph().as_default():
      batch = inputs.build_input('fashion_mnist', self.root, 'train',
                                 batch_size=10, is_training=False,
                                 num_epochs=1)
      self.assertEqual(batch.num_examples, 37)
      self.assertEqual(batch.class_names[0], 'T-shirt/top')
      self.assertEqual(batch.images.shape.as_list()[1:], [28, 28, 1])
      images, labels, sizes = run_to_end(batch)
    self.assertEqual(sizes, [10, 10, 10, 7])
    source_images, source_labels = data['train']
    np.testing.assert_array_equal(labels, source_labels)
    expected = np.stack([np_standardize(im[..., None]) for im in source_images])
    self.assertAllClose(images, expected, atol=1e-4, rtol=1e-4)

  def test_eval_pipeline_gz_every_example_once(self):
    self.check_eval_pipeline(gz=True)

  def test_eval_pipeline_raw_every_example_once(self):
    self.check_eval_pipeline(gz=False)

  def test_gz_and_raw_read_the_same(self):
    data = make_idx(os.path.join(self.root, 'gz'), self.rng, gz=True)
    shutil.copytree(os.path.join(self.root, 'gz'), os.path.join(self.root, 'raw'))
    for name in os.listdir(os.path.join(self.root, 'raw')):
      path = os.path.join(self.root, 'raw', name)
      with gzip.open(path) as f:
        content = f.read()
      os.remove(path)
      # Dotted spelling, as in some MNIST mirrors.
      with open(path[:-3].replace('-idx', '.idx'), 'wb') as f:
        f.write(content)
    for split in ('train', 'test'):
      gz_images, gz_labels = idx.load_split(os.path.join(self.root, 'gz'), split)
      raw_images, raw_labels = idx.load_split(os.path.join(self.root, 'raw'),
                                              split)
      np.testing.assert_array_equal(gz_images, raw_images)
      np.testing.assert_array_equal(gz_labels, raw_labels)
      np.testing.assert_array_equal(gz_images[..., 0], data[split][0])
      self.assertEqual(gz_images.dtype, np.uint8)
      self.assertEqual(gz_labels.dtype, np.int32)

  def test_dataset_info(self):
    make_idx(self.root, self.rng)
    info = inputs.dataset_info('fashion_mnist', self.root)
    self.assertEqual((info.image_size, info.channels, info.num_classes),
                     (28, 1, 10))
    self.assertEqual(info.class_names,
                     ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                      'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'])
    self.assertEqual(inputs.dataset_info('mnist', self.root).class_names,
                     [str(d) for d in range(10)])

  def test_training_pipeline_and_num_epochs_end(self):
    make_idx(self.root, self.rng)
    with tf.Graph().as_default():
      batch = inputs.build_input('mnist', self.root, 'train', batch_size=8,
                                 is_training=True, num_epochs=2,
                                 augmentation='light', seed=3)
      self.assertEqual(batch.images.shape.as_list(), [8, 28, 28, 1])
      _, labels, sizes = run_to_end(batch)
    # shuffle_batch drops the remainder: 74 examples -> 9 full batches.
    self.assertEqual(sizes, [8] * 9)
    self.assertTrue(set(labels) <= set(range(10)))

  def test_bad_magic(self):
    make_idx(self.root, self.rng)
    labels = os.path.join(self.root, 'train-labels-idx1-ubyte.gz')
    images = os.path.join(self.root, 'train-images-idx3-ubyte.gz')
    shutil.copy(images, labels)  # images where labels belong
    self.assertUserError('train-labels-idx1-ubyte.gz: magic number 2051',
                         idx.load_split, self.root, 'train')
    write_idx(images, np.zeros((3, 28, 28)), magic=0x12345678)
    self.assertUserError('train-images-idx3-ubyte.gz', idx.load_split,
                         self.root, 'train')

  def test_truncated_raw_file(self):
    make_idx(self.root, self.rng, gz=False)
    path = os.path.join(self.root, 'train-images-idx3-ubyte')
    with open(path, 'r+b') as f:
      f.truncate(16 + 28 * 28 * 5 - 1)
    self.assertUserError('train-images-idx3-ubyte: truncated', idx.load_split,
                         self.root, 'train')
    with open(path, 'r+b') as f:
      f.truncate(10)
    self.assertUserError('train-images-idx3-ubyte: truncated', idx.load_split,
                         self.root, 'train')

  def test_trailing_bytes(self):
    make_idx(self.root, self.rng, gz=False)
    path = os.path.join(self.root, 't10k-labels-idx1-ubyte')
    with open(path, 'ab') as f:
      f.write(b'\0\0')
    self.assertUserError('t10k-labels-idx1-ubyte: 2 unexpected bytes',
                         idx.load_split, self.root, 'test')

  def test_truncated_gzip(self):
    make_idx(self.root, self.rng)
    path = os.path.join(self.root, 'train-images-idx3-ubyte.gz')
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)
    self.assertUserError('train-images-idx3-ubyte.gz: corrupt or truncated',
                         idx.load_split, self.root, 'train')

  def test_bad_gzip(self):
    make_idx(self.root, self.rng)
    path = os.path.join(self.root, 't10k-images-idx3-ubyte.gz')
    with open(path, 'r+b') as f:  # damage the deflate stream
      f.seek(30)
      f.write(b'\xff' * 64)
    self.assertUserError('t10k-images-idx3-ubyte.gz', idx.load_split,
                         self.root, 'test')
    with open(path, 'wb') as f:  # not gzip at all
      f.write(b'<html>not found</html>')
    self.assertUserError('t10k-images-idx3-ubyte.gz: not a gzip file',
                         idx.load_split, self.root, 'test')
    # dataset_info falls back to the test split and checks its header.
    os.remove(os.path.join(self.root, 'train-images-idx3-ubyte.gz'))
    self.assertUserError('t10k-images-idx3-ubyte.gz: not a gzip file',
                         inputs.dataset_info, 'fashion_mnist', self.root)

  def test_count_mismatch(self):
    make_idx(self.root, self.rng)
    write_idx(os.path.join(self.root, 'train-labels-idx1-ubyte.gz'),
              np.zeros(36))
    self.assertUserError('train-labels-idx1-ubyte.gz holds 36 labels',
                         idx.load_split, self.root, 'train')

  def test_label_out_of_range(self):
    make_idx(self.root, self.rng)
    labels = np.zeros(23)
    labels[5] = 10
    write_idx(os.path.join(self.root, 't10k-labels-idx1-ubyte.gz'), labels)
    self.assertUserError('t10k-labels-idx1-ubyte.gz: label 10 of example 5',
                         idx.load_split, self.root, 'test')

  def test_missing_file_and_bad_split(self):
    make_idx(self.root, self.rng)
    os.remove(os.path.join(self.root, 't10k-labels-idx1-ubyte.gz'))
    self.assertUserError('t10k-labels-idx1-ubyte.gz: missing',
                         idx.load_split, self.root, 'test')
    with tf.Graph().as_default():
      self.assertUserError('t10k-labels-idx1-ubyte.gz: missing',
                           inputs.build_input, 'fashion_mnist', self.root,
                           'test', 4, False)
      self.assertUserError("split 'valid'", inputs.build_input,
                           'fashion_mnist', self.root, 'valid', 4, False)
    self.assertUserError('does not exist', inputs.dataset_info, 'mnist',
                         os.path.join(self.root, 'nope'))

  def test_class_names_of_another_dataset_refused(self):
    make_idx(self.root, self.rng)
    with tf.Graph().as_default():
      self.assertUserError('trained on classes', inputs.build_input,
                           'fashion_mnist', self.root, 'test', 4, False,
                           class_names=[str(d) for d in range(10)])


# ---------------------------------------------------------------- CIFAR


class CifarTest(_TempDirTest):

  def eval_examples(self, name, data_dir, split, **options):
    with tf.Graph().as_default():
      batch = inputs.build_input(name, data_dir, split, batch_size=10,
                                 is_training=False, num_epochs=1, **options)
      self.assertEqual(batch.images.shape.as_list()[1:], [32, 32, 3])
      images, labels, sizes = run_to_end(batch)
    self.assertEqual(sum(sizes), batch.num_examples)
    return images, labels, sizes

  def test_cifar10_pickle_and_binary_identical(self):
    data = make_cifar10(self.root, self.rng)
    rows, labels = data['train']
    expected = np.stack([np_standardize(im) for im in rows_to_hwc(rows)])
    results = {}
    for fmt in ('pickle', 'binary'):
      images, got_labels, sizes = self.eval_examples(
          'cifar10', self.root, 'train', file_format=fmt)
      self.assertEqual(sizes, [10, 10, 10, 7])
      np.testing.assert_array_equal(got_labels, labels)
      self.assertAllClose(images, expected, atol=1e-4, rtol=1e-4)
      results[fmt] = images
    np.testing.assert_array_equal(results['pickle'], results['binary'])
    # numpy decoding of both formats agrees too.
    py_images, py_labels, names = cifar.load_split('cifar10', self.root,
                                                   'test', 'pickle')
    bin_images, bin_labels, _ = cifar.load_split('cifar10', self.root,
                                                 'test', 'binary')
    np.testing.assert_array_equal(py_images, bin_images)
    np.testing.assert_array_equal(py_labels, bin_labels)
    np.testing.assert_array_equal(py_images, rows_to_hwc(data['test'][0]))
    self.assertEqual(names, cifar.CIFAR10_CLASSES)

  def test_cifar100_pickle_and_binary_identical(self):
    data = make_cifar100(self.root, self.rng)
    for split, n in (('train', 37), ('test', 9)):
      rows, fine = data[split]
      outputs = []
      for fmt in ('pickle', 'binary'):
        images, labels, _ = self.eval_examples('cifar100', self.root, split,
                                               file_format=fmt)
        self.assertLen(labels, n)
        np.testing.assert_array_equal(labels, fine)  # fine, not coarse
        outputs.append(images)
      np.testing.assert_array_equal(outputs[0], outputs[1])
      self.assertAllClose(outputs[0][3], np_standardize(rows_to_hwc(rows)[3]),
                          atol=1e-4, rtol=1e-4)
    info = inputs.dataset_info('cifar100', self.root)
    self.assertEqual(info.num_classes, 100)
    self.assertEqual(info.class_names[:2], ['apple', 'aquarium_fish'])

  def test_folder_itself_str_keys_and_format_detection(self):
    # str keys and the newest pickle protocol, as a home-made file would be.
    data = make_cifar10(self.root, self.rng, formats=('pickle',),
                        str_keys=True, protocol=pickle.HIGHEST_PROTOCOL)
    folder = os.path.join(self.root, 'cifar-10-batches-py')
    images, labels, names = cifar.load_split('cifar10', folder, 'train')
    np.testing.assert_array_equal(labels, data['train'][1])
    self.assertEqual(images.shape, (37, 32, 32, 3))
    self.assertEqual(names, cifar.CIFAR10_CLASSES)
    layout, found = cifar.locate('cifar10', self.root)
    self.assertEqual((layout.file_format, found), ('pickle', folder))
    self.assertUserError('no cifar10 data found', cifar.locate, 'cifar10',
                         self.root, 'binary')
    self.assertUserError('no cifar100 data found', inputs.dataset_info,
                         'cifar100', self.root)
    # Binary-only folder given directly.
    bin_root = os.path.join(self.root, 'b')
    make_cifar10(bin_root, self.rng, formats=('binary',))
    bin_folder = os.path.join(bin_root, 'cifar-10-batches-bin')
    layout, found = cifar.locate('cifar10', bin_folder)
    self.assertEqual((layout.file_format, found), ('binary', bin_folder))
    self.assertEqual(inputs.dataset_info('cifar10', bin_folder).class_names,
                     cifar.CIFAR10_CLASSES)

  def test_missing_meta_uses_standard_names(self):
    make_cifar10(self.root, self.rng, formats=('binary',))
    os.remove(os.path.join(self.root, 'cifar-10-batches-bin',
                           'batches.meta.txt'))
    self.assertEqual(inputs.dataset_info('cifar10', self.root).class_names,
                     cifar.CIFAR10_CLASSES)

  def test_missing_file(self):
    make_cifar10(self.root, self.rng)
    os.remove(os.path.join(self.root, 'cifar-10-batches-py', 'data_batch_3'))
    os.remove(os.path.join(self.root, 'cifar-10-batches-bin',
                           'data_batch_4.bin'))
    self.assertUserError('data_batch_3: missing', cifar.load_split, 'cifar10',
                         self.root, 'train')
    with tf.Graph().as_default():
      self.assertUserError('data_batch_4.bin: missing', inputs.build_input,
                           'cifar10', self.root, 'train', 4, True,
                           file_format='binary')

  def test_wrong_record_size(self):
    make_cifar10(self.root, self.rng, formats=('binary',))
    path = os.path.join(self.root, 'cifar-10-batches-bin', 'test_batch.bin')
    with open(path, 'r+b') as f:
      f.truncate(3073 * 11 - 1)
    with tf.Graph().as_default():
      self.assertUserError('test_batch.bin: size 33802 bytes is not',
                           inputs.build_input, 'cifar10', self.root, 'test',
                           4, False)
    # A CIFAR-100 file where a CIFAR-10 one belongs.
    np.zeros((3, 3074), np.uint8).tofile(path)
    self.assertUserError('cifar-100-binary records', cifar.load_split,
                         'cifar10', self.root, 'test')

  def test_label_out_of_range(self):
    make_cifar10(self.root, self.rng)
    rows, labels = random_cifar(self.rng, 5, 10)
    labels[2] = 10
    write_pickle(os.path.join(self.root, 'cifar-10-batches-py', 'test_batch'),
                 {b'data': rows, b'labels': list(map(int, labels))})
    self.assertUserError('test_batch: label 10 of example 2',
                         cifar.load_split, 'cifar10', self.root, 'test')
    records = np.concatenate([labels.astype(np.uint8)[:, None], rows], 1)
    records.tofile(os.path.join(self.root, 'cifar-10-batches-bin',
                                'test_batch.bin'))
    self.assertUserError('test_batch.bin: label byte 0 of record 2 is 10',
                         cifar.load_split, 'cifar10', self.root, 'test',
                         'binary')

  def test_bad_pickles(self):
    make_cifar10(self.root, self.rng, formats=('pickle',))
    path = os.path.join(self.root, 'cifar-10-batches-py', 'data_batch_2')
    rows, labels = random_cifar(self.rng, 4, 10)
    cases = [
        ({b'data': rows[:, :3071], b'labels': list(labels)}, 'shape (N, 3072)'),
        ({b'data': rows.astype(np.int64), b'labels': list(labels)},
         'must be a uint8 array'),
        ({b'data': rows, b'labels': list(labels[:3])}, '4 images but 3 labels'),
        ({b'data': rows, b'fine_labels': list(labels)}, "no 'labels' entry"),
        ([rows], 'holds a dict'),
    ]
    for value, message in cases:
      write_pickle(path, value)
      with self.assertRaises(UserInputError) as raised:
        cifar.load_split('cifar10', self.root, 'train')
      self.assertIn(f'{path}: ', str(raised.exception))
      self.assertIn(message, str(raised.exception))
    with open(path, 'r+b') as f:  # truncated pickle
      f.truncate(1000)
    self.assertUserError('data_batch_2: not a readable CIFAR pickle',
                         cifar.load_split, 'cifar10', self.root, 'train')
    # A pickle that would build an arbitrary object is refused.
    import collections  # pylint: disable=g-import-not-at-top
    write_pickle(path, collections.OrderedDict(data=rows))
    self.assertUserError('data_batch_2: not a readable CIFAR pickle',
                         cifar.load_split, 'cifar10', self.root, 'train')


# ---------------------------------------------------------------- augmentation


class AugmentTest(_TempDirTest):

  def test_crop_pixels_come_from_padded_source(self):
    image = self.rng.randint(1, 256, (32, 32, 3)).astype(np.uint8)
    padded = np.pad(image, [[4, 4], [4, 4], [0, 0]])
    windows = {}
    for dy in range(9):
      for dx in range(9):
        window = padded[dy:dy + 32, dx:dx + 32]
        windows[(dy, dx, False)] = window
        windows[(dy, dx, True)] = window[:, ::-1]
    with tf.Graph().as_default():
      tensor = tf.constant(image)
      out = augment.cifar_augment(tensor, seed=1)
      out_float = augment.augment_fn('fashion_mnist', 'light', seed=2)(
          tf.constant(image[..., :1].astype(np.float32)))
      self.assertEqual(out.shape.as_list(), [32, 32, 3])
      self.assertEqual(out.dtype, tf.uint8)
      self.assertEqual(out_float.shape.as_list(), [32, 32, 1])
      self.assertEqual(out_float.dtype, tf.float32)
      seen = set()
      with _V1.Session(config=session_config()) as sess:
        for _ in range(40):
          result, result_float = sess.run([out, out_float])
          matches = [k for k, w in windows.items()
                     if np.array_equal(result, w)]
          self.assertTrue(matches, 'crop is not a window of the padded image')
          seen.add(matches[0])
          padded2 = np.pad(image[..., :1].astype(np.float32),
                           [[2, 2], [2, 2], [0, 0]])
          self.assertTrue(any(
              np.array_equal(result_float, w) or
              np.array_equal(result_float, w[:, ::-1])
              for w in (padded2[dy:dy + 32, dx:dx + 32]
                        for dy in range(5) for dx in range(5))))
    self.assertGreater(len(seen), 10)  # really random
    self.assertIn(True, {k[2] for k in seen})
    self.assertIn(False, {k[2] for k in seen})

  def test_policies(self):
    self.assertIsNone(augment.augment_fn('fashion_mnist'))
    self.assertIsNone(augment.augment_fn('mnist', 'none'))
    self.assertIsNotNone(augment.augment_fn('cifar10'))
    self.assertEqual(augment.resolve_policy('cifar100', None), 'standard')
    self.assertEqual(augment.resolve_policy('fashion_mnist', 'light'), 'light')
    self.assertUserError("augmentation='wild'", augment.resolve_policy,
                         'cifar10', 'wild')
    self.assertUserError('not mirror-symmetric', augment.resolve_policy,
                         'mnist', 'flip')

  def test_mnist_light_never_flips(self):
    image = np.zeros((28, 28, 1), np.uint8)
    image[10:18, 3:6] = 255  # a bar near the left edge
    with tf.Graph().as_default():
      out = augment.augment_fn('mnist', 'light', seed=5)(tf.constant(image))
      with _V1.Session(config=session_config()) as sess:
        for _ in range(20):
          columns = np.nonzero(sess.run(out)[..., 0].any(axis=0))[0]
          self.assertLessEqual(columns.max(), 7)  # shifted by <= 2, not mirrored

  def test_training_pipeline_augments_with_static_shape(self):
    make_cifar10(self.root, self.rng, formats=('binary',))
    with tf.Graph().as_default():
      batch = inputs.build_input('cifar10', self.root, 'train', batch_size=6,
                                 is_training=True, seed=4)
      self.assertEqual(batch.images.shape.as_list(), [6, 32, 32, 3])
      with _V1.Session(config=session_config()) as sess:
        sess.run(_V1.local_variables_initializer())
        coord = _V1.train.Coordinator()
        threads = _V1.train.start_queue_runners(sess, coord)
        try:
          images, labels = sess.run([batch.images, batch.labels])
        finally:
          coord.request_stop()
          coord.join(threads, stop_grace_period_secs=10)
    self.assertEqual(images.shape, (6, 32, 32, 3))
    # Standardised: mean 0, unit variance per image.
    self.assertAllClose(images.mean(axis=(1, 2, 3)), np.zeros(6), atol=1e-4)
    self.assertTrue(set(labels) <= set(range(10)))


# ---------------------------------------------------------------- array pipeline


class ArrayPipelineTest(_TempDirTest):

  def test_data_stays_out_of_graph_def_and_checkpoints(self):
    images = self.rng.randint(0, 256, (5000, 28, 28, 1)).astype(np.uint8)
    labels = self.rng.randint(0, 10, 5000)
    with tf.Graph().as_default() as graph:
      global_step = _V1.train.get_or_create_global_step()
      batch = arrays.build_array_input(images, labels, list('abcdefghij'),
                                       batch_size=16, is_training=True,
                                       seed=1)
      weight = _V1.get_variable('w', [], initializer=tf.zeros_initializer())
      loss = tf.reduce_mean(batch.images) * weight
      train_op = tf.group(_V1.assign_add(global_step, 1),
                          _V1.train.GradientDescentOptimizer(0.1).minimize(loss))
      # 3.9 MB of pixels, but the GraphDef stays small.
      self.assertLess(graph.as_graph_def().ByteSize(), 200000)
      self.assertEmpty([v for v in _V1.global_variables()
                        if v.shape.num_elements() >= 5000])
      train_dir = os.path.join(self.root, 'train')
      with _V1.train.MonitoredTrainingSession(
          checkpoint_dir=train_dir, save_summaries_steps=None,
          save_checkpoint_steps=2, log_step_count_steps=None,
          hooks=[_V1.train.StopAtStepHook(last_step=3)],
          config=session_config()) as sess:
        while not sess.should_stop():
          sess.run(train_op)
    checkpoint = tf.train.latest_checkpoint(train_dir)
    self.assertIsNotNone(checkpoint)
    names = [name for name, _ in tf.train.list_variables(checkpoint)]
    self.assertCountEqual(names, ['global_step', 'w'])

  def test_rejects_bad_arrays(self):
    with tf.Graph().as_default():
      good = np.zeros((4, 8, 8, 1), np.uint8)
      self.assertUserError('src: label 10 of example 3',
                           arrays.build_array_input, good, [0, 1, 2, 10],
                           list('abcdefghij'), 2, False, source='src')
      self.assertUserError('src: images must be uint8',
                           arrays.build_array_input, good.astype(np.float32),
                           [0, 1, 2, 3], list('ab'), 2, False, source='src')

  def test_eval_resize(self):
    images = self.rng.randint(0, 256, (5, 8, 8, 3)).astype(np.uint8)
    with tf.Graph().as_default():
      batch = arrays.build_array_input(images, [0, 1, 0, 1, 0], ['a', 'b'],
                                       batch_size=4, is_training=False,
                                       num_epochs=1, image_size=16)
      self.assertEqual(batch.images.shape.as_list()[1:], [16, 16, 3])
      out, labels, sizes = run_to_end(batch)
    self.assertEqual(sizes, [4, 1])
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0])


# ---------------------------------------------------------------- real data


def _shared(name):
  return os.path.join(SHARED_DATA, name)


class FashionMnistRealDataTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.data_dir = _shared('fashion_mnist')
    if not os.path.isfile(os.path.join(self.data_dir,
                                       'train-images-idx3-ubyte.gz')):
      self.skipTest(f'Fashion-MNIST not found in {self.data_dir} '
                    '(set TF1CNN_SHARED_DATA)')

  def test_arrays(self):
    info = inputs.dataset_info('fashion_mnist', self.data_dir)
    self.assertEqual((info.image_size, info.channels, info.num_classes),
                     (28, 1, 10))
    for split, count in (('train', 60000), ('test', 10000)):
      images, labels = idx.load_split(self.data_dir, split)
      self.assertEqual(images.shape, (count, 28, 28, 1))
      self.assertEqual(images.dtype, np.uint8)
      np.testing.assert_array_equal(np.bincount(labels, minlength=10),
                                    [count // 10] * 10)
      if split == 'train':
        self.assertAllClose(images.mean() / 255.0, 0.2860, atol=5e-4)

  def test_first_test_batch_through_pipeline(self):
    images, labels = idx.load_split(self.data_dir, 'test')
    with tf.Graph().as_default():
      batch = inputs.build_input('fashion_mnist', self.data_dir, 'test',
                                 batch_size=50, is_training=False,
                                 num_epochs=1)
      self.assertEqual(batch.num_examples, 10000)
      with _V1.Session(config=session_config()) as sess:
        sess.run(_V1.local_variables_initializer())
        coord = _V1.train.Coordinator()
        threads = _V1.train.start_queue_runners(sess, coord)
        try:
          x, y = sess.run([batch.images, batch.labels])
        finally:
          coord.request_stop()
          coord.join(threads, stop_grace_period_secs=10)
    np.testing.assert_array_equal(y, labels[:50])
    self.assertAllClose(x[7], np_standardize(images[7]), atol=1e-4, rtol=1e-4)


class Cifar10RealDataTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.data_dir = _shared('cifar10')
    if not os.path.isdir(os.path.join(self.data_dir, 'cifar-10-batches-py')):
      self.skipTest(f'CIFAR-10 not found in {self.data_dir} '
                    '(set TF1CNN_SHARED_DATA)')

  def test_arrays(self):
    for data_dir in (self.data_dir,
                     os.path.join(self.data_dir, 'cifar-10-batches-py')):
      info = inputs.dataset_info('cifar10', data_dir)
      self.assertEqual(info.class_names, cifar.CIFAR10_CLASSES)
    images, labels, _ = cifar.load_split('cifar10', self.data_dir, 'train')
    self.assertEqual(images.shape, (10000, 32, 32, 3))
    np.testing.assert_array_equal(np.bincount(labels, minlength=10),
                                  [1000] * 10)
    images, labels, _ = cifar.load_split('cifar10', self.data_dir, 'test')
    self.assertEqual(images.shape, (2000, 32, 32, 3))
    np.testing.assert_array_equal(np.bincount(labels, minlength=10),
                                  [200] * 10)


if __name__ == '__main__':
  tf.test.main()
