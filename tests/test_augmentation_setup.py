"""Augmentation through the run set-up: the flags decide the training pixels.

Every test goes the way a program goes: a config -> `run_spec.for_training`
-> `RunSpec.build_input`, and compares each training image with numpy
references built from the stored pixels (per-image standardisation of the
image, its mirror, or a window of its zero-padded copy). The datasets are a
dozen real images from `$TF1CNN_SHARED_DATA` (default `../shared/data`)
written as tiny IDX / CIFAR pickle files, or random pixels where the real
data is absent.
"""

import gzip
import json
import os
import pickle
import struct

import numpy as np
import tensorflow as tf

from tf1cnn import config as config_lib
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn.inputs import preprocess

runtime.use_graph_mode()
_V1 = tf.compat.v1

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('TF1CNN_SHARED_DATA',
                             os.path.join(_REPO, '..', 'shared', 'data'))
COUNT = 12


def np_standardize(image):
  """numpy per-image standardisation (TensorFlow's formula)."""
  image = image.astype(np.float64)
  return (image - image.mean()) / max(image.std(), 1.0 / np.sqrt(image.size))


def _write_idx(path, array):
  array = np.asarray(array, np.uint8)
  header = struct.pack('>I', 0x800 + array.ndim) + b''.join(
      struct.pack('>I', d) for d in array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.tobytes())


def _real_fashion(count):
  """The first `count` Fashion-MNIST test images and labels, or None."""
  folder = os.path.join(SHARED_DATA, 'fashion_mnist')
  images_path = os.path.join(folder, 't10k-images-idx3-ubyte.gz')
  labels_path = os.path.join(folder, 't10k-labels-idx1-ubyte.gz')
  if not (os.path.isfile(images_path) and os.path.isfile(labels_path)):
    return None
  with gzip.open(images_path, 'rb') as f:
    images = np.frombuffer(f.read(16 + count * 784)[16:], np.uint8)
  with gzip.open(labels_path, 'rb') as f:
    labels = np.frombuffer(f.read(8 + count)[8:], np.uint8)
  return images.reshape(count, 28, 28), labels


def make_idx_dataset(root, count=COUNT):
  """Tiny IDX train/test files; returns (images [N, 28, 28, 1], labels)."""
  real = _real_fashion(count)
  if real is None:
    rng = np.random.RandomState(0)
    real = (rng.randint(0, 256, (count, 28, 28)).astype(np.uint8),
            np.arange(count) % 10)
  images, labels = real
  os.makedirs(root, exist_ok=True)
  for prefix in ('train', 't10k'):
    _write_idx(os.path.join(root, f'{prefix}-images-idx3-ubyte.gz'), images)
    _write_idx(os.path.join(root, f'{prefix}-labels-idx1-ubyte.gz'), labels)
  return images[..., None], np.asarray(labels, np.int64)


def _real_cifar(count):
  path = os.path.join(SHARED_DATA, 'cifar10', 'cifar-10-batches-py',
                      'test_batch')
  if not os.path.isfile(path):
    return None
  with open(path, 'rb') as f:
    batch = pickle.load(f, encoding='bytes')
  return (np.asarray(batch[b'data'][:count], np.uint8),
          np.asarray(batch[b'labels'][:count]))


def make_cifar_dataset(root, count=COUNT):
  """A tiny cifar-10-batches-py; returns (images [N, 32, 32, 3], labels)."""
  real = _real_cifar(count)
  if real is None:
    rng = np.random.RandomState(0)
    real = (rng.randint(0, 256, (count, 3072)).astype(np.uint8),
            np.arange(count) % 10)
  rows, labels = real
  folder = os.path.join(root, 'cifar-10-batches-py')
  os.makedirs(folder, exist_ok=True)
  names = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
  for i, name in enumerate(names):
    part = slice(0, count) if name == 'test_batch' else slice(
        i * count // 5, (i + 1) * count // 5)
    with open(os.path.join(folder, name), 'wb') as f:
      pickle.dump({b'data': rows[part],
                   b'labels': [int(x) for x in labels[part]]}, f, protocol=2)
  with open(os.path.join(folder, 'batches.meta'), 'wb') as f:
    pickle.dump({b'label_names': [f'c{i}'.encode() for i in range(10)]}, f,
                protocol=2)
  images = rows.reshape(count, 3, 32, 32).transpose(0, 2, 3, 1)
  return images, np.asarray(labels, np.int64)


def train_pixels(config, epochs=2, seed=7):
  """(spec, images, labels) of `epochs` passes of the training pipeline."""
  spec = run_spec.for_training(config)
  with tf.Graph().as_default():
    batch = spec.build_input('train', batch_size=1, is_training=True,
                             num_epochs=epochs, seed=seed)
    images, labels = [], []
    with _V1.Session(config=runtime.session_config()) as sess:
      sess.run([_V1.local_variables_initializer(),
                _V1.global_variables_initializer()])
      coord = _V1.train.Coordinator()
      threads = _V1.train.start_queue_runners(sess, coord)
      try:
        while True:
          x, y = sess.run([batch.images, batch.labels])
          images.extend(x)
          labels.extend(y)
      except tf.errors.OutOfRangeError:
        pass
      finally:
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=10)
  return spec, np.asarray(images), np.asarray(labels)


def shifted_windows(image, padding):
  """Every window of `image` zero-padded by `padding`: {(dy, dx): window}."""
  height, width = image.shape[:2]
  padded = np.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  return {(dy, dx): padded[dy:dy + height, dx:dx + width]
          for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)}


def match(output, candidates):
  """The keys of `candidates` (name -> uint8 image) `output` is (standardised)."""
  return [key for key, image in candidates.items()
          if np.allclose(output, np_standardize(image), atol=2e-4)]


class _SetupTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.get_temp_dir()

  def fashion(self, **values):
    data_dir = os.path.join(self.root, 'fashion')
    images, labels = make_idx_dataset(data_dir)
    config = config_lib.training_config(
        model='lenet5_bn', dataset='fashion_mnist', data_dir=data_dir,
        batch_size=1, max_steps=1, input_threads=1, **values)
    return config, images, labels

  def cifar(self, **values):
    data_dir = os.path.join(self.root, 'cifar')
    images, labels = make_cifar_dataset(data_dir)
    config = config_lib.training_config(
        model='bn_cnn', dataset='cifar10', data_dir=data_dir, batch_size=1,
        max_steps=1, input_threads=1, **values)
    return config, images, labels

  def assert_each_is_one_of(self, outputs, labels, images, source_labels,
                            candidates_of):
    """Every output is a candidate of the example its label allows.

    Returns:
      The list of matched candidate keys, one per output.
    """
    keys = []
    for output, label in zip(outputs, labels):
      found = []
      for i, image in enumerate(images):
        if source_labels[i] != label:
          continue
        found += [(i,) + tuple(k) for k in match(output,
                                                 candidates_of(image))]
      self.assertTrue(found, 'a training image is none of its candidates')
      keys.append(found[0])
    return keys


class FashionAugmentationTest(_SetupTest):

  def test_none_gives_the_stored_pixels_in_both_epochs(self):
    config, images, labels = self.fashion(augmentation='none')
    spec, outputs, out_labels = train_pixels(config)
    self.assertEqual(spec.preprocessing.augmentation, 'none')
    self.assertEqual(len(outputs), 2 * COUNT)
    keys = self.assert_each_is_one_of(
        outputs, out_labels, images, labels, lambda im: {('same',): im})
    # Each stored image comes out once per epoch, identical both times.
    counts = np.bincount([k[0] for k in keys], minlength=COUNT)
    if len({im.tobytes() for im in images}) == COUNT:
      np.testing.assert_array_equal(counts, [2] * COUNT)

  def test_the_default_policy_of_fashion_is_none(self):
    config, images, labels = self.fashion()
    spec, outputs, out_labels = train_pixels(config, epochs=1)
    self.assertEqual(spec.preprocessing.augmentation, 'none')
    self.assert_each_is_one_of(outputs, out_labels, images, labels,
                               lambda im: {('same',): im})

  def test_flip_gives_the_image_or_its_mirror_never_a_crop(self):
    config, images, labels = self.fashion(augmentation='flip')
    seen = set()
    for seed in (1, 2):
      spec, outputs, out_labels = train_pixels(config, epochs=2, seed=seed)
      keys = self.assert_each_is_one_of(
          outputs, out_labels, images, labels,
          lambda im: {('same',): im, ('mirror',): im[:, ::-1]})
      seen.update(k[1] for k in keys)
    self.assertEqual(spec.record()['preprocessing']['augmentation'], 'flip')
    self.assertEqual(seen, {'same', 'mirror'})

  def test_standard_shifts_by_up_to_four_pixels_and_flips(self):
    config, images, labels = self.fashion(augmentation='standard')

    def candidates(image):
      result = {}
      for (dy, dx), window in shifted_windows(image, 4).items():
        result[(dy, dx, False)] = window
        result[(dy, dx, True)] = window[:, ::-1]
      return result

    _, outputs, out_labels = train_pixels(config, epochs=3)
    keys = self.assert_each_is_one_of(outputs, out_labels, images, labels,
                                      candidates)
    self.assertGreater(len({k[1:3] for k in keys}), 3)  # really shifted

  def test_mnist_is_never_flipped_and_flip_is_refused(self):
    data_dir = os.path.join(self.root, 'mnist')
    images, labels = make_idx_dataset(data_dir)
    config = config_lib.training_config(
        model='lenet5_bn', dataset='mnist', data_dir=data_dir, batch_size=1,
        max_steps=1, augmentation='flip', input_threads=1)
    with self.assertRaisesRegex(runtime.UserInputError,
                                r'^--augmentation=flip: mnist digits'):
      run_spec.for_training(config)
    # light: shifts of up to 2 pixels, never a mirror.
    config = config_lib.replace(config, augmentation='light')
    spec, outputs, out_labels = train_pixels(config, epochs=2)
    self.assertEqual(spec.preprocessing.augmentation, 'light')
    self.assert_each_is_one_of(
        outputs, out_labels, images, labels,
        lambda im: shifted_windows(im, 2))

  def test_noaugment_contradicting_a_policy_is_refused(self):
    config, _, _ = self.fashion(augmentation='light', augment=False)
    with self.assertRaisesRegex(
        runtime.UserInputError,
        '--augmentation=light contradicts --noaugment'):
      run_spec.for_training(config)
    config, images, labels = self.fashion(augment=False)
    spec, outputs, out_labels = train_pixels(config, epochs=1)
    self.assertEqual(spec.preprocessing.augmentation, 'none')
    self.assert_each_is_one_of(outputs, out_labels, images, labels,
                               lambda im: {('same',): im})


class CifarAugmentationTest(_SetupTest):

  def test_default_standard_pads_crops_and_flips(self):
    config, images, labels = self.cifar()
    spec, outputs, out_labels = train_pixels(config, epochs=2)
    self.assertEqual(spec.preprocessing.augmentation, 'standard')

    def candidates(image):
      result = {}
      for (dy, dx), window in shifted_windows(image, 4).items():
        result[(dy, dx, False)] = window
        result[(dy, dx, True)] = window[:, ::-1]
      return result

    keys = self.assert_each_is_one_of(outputs, out_labels, images, labels,
                                      candidates)
    self.assertGreater(len({k[1:3] for k in keys}), 3)

  def test_none_and_flip(self):
    config, images, labels = self.cifar(augmentation='none')
    _, outputs, out_labels = train_pixels(config, epochs=2)
    self.assert_each_is_one_of(outputs, out_labels, images, labels,
                               lambda im: {('same',): im})
    config, images, labels = self.cifar(augmentation='flip')
    _, outputs, out_labels = train_pixels(config, epochs=3)
    keys = self.assert_each_is_one_of(
        outputs, out_labels, images, labels,
        lambda im: {('same',): im, ('mirror',): im[:, ::-1]})
    self.assertIn('mirror', {k[1] for k in keys})

  def test_an_explicit_recipe_uses_its_own_training_geometry(self):
    config, images, _ = self.cifar(preprocessing='cifar10_tutorial',
                                   image_size=24)
    spec, outputs, _ = train_pixels(config, epochs=1)
    self.assertEqual(spec.preprocessing,
                     preprocess.Preprocessing('cifar10_tutorial', 'full',
                                              'recipe'))
    self.assertEqual(outputs.shape, (COUNT, 24, 24, 3))
    # Its evaluation geometry is the central 24x24 crop.
    with tf.Graph().as_default():
      batch = spec.build_input('test', batch_size=COUNT, is_training=False,
                               num_epochs=1)
      with _V1.Session(config=runtime.session_config()) as sess:
        sess.run(_V1.local_variables_initializer())
        coord = _V1.train.Coordinator()
        threads = _V1.train.start_queue_runners(sess, coord)
        evaluated = sess.run(batch.images)
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=10)
    for output, image in zip(evaluated, images):
      self.assertAllClose(output, np_standardize(image[4:28, 4:28]),
                          atol=2e-4)


class RecordTest(_SetupTest):

  def test_policy_is_recorded_and_read_back(self):
    config, _, _ = self.fashion(augmentation='light')
    spec = run_spec.for_training(config)
    record = spec.record()
    self.assertEqual(record['preprocessing'],
                     dict(recipe='standardize', decode='full',
                          augmentation='light'))
    train_dir = os.path.join(self.root, 'run')
    os.makedirs(train_dir)
    with open(os.path.join(train_dir, 'run_config.json'), 'w') as f:
      json.dump(record, f)
    eval_config = config_lib.eval_config(
        model='lenet5_bn', dataset='fashion_mnist',
        data_dir=config.data.data_dir, train_dir=train_dir)
    read = run_spec.for_checkpoint(
        eval_config, os.path.join(train_dir, 'model.ckpt-1'))
    self.assertEqual(read.preprocessing.augmentation, 'light')

  def test_an_old_record_without_the_field_still_loads(self):
    config, _, _ = self.fashion()
    train_dir = os.path.join(self.root, 'old')
    os.makedirs(train_dir)
    record = run_spec.for_training(config).record()
    record['preprocessing'] = dict(recipe='standardize', decode='full')
    with open(os.path.join(train_dir, 'run_config.json'), 'w') as f:
      json.dump(record, f)
    eval_config = config_lib.eval_config(
        model='lenet5_bn', dataset='fashion_mnist',
        data_dir=config.data.data_dir, train_dir=train_dir)
    read = run_spec.for_checkpoint(
        eval_config, os.path.join(train_dir, 'model.ckpt-1'))
    self.assertEqual(read.preprocessing,
                     preprocess.Preprocessing('standardize', 'full',
                                              'recipe'))
    with self.assertRaisesRegex(runtime.UserInputError,
                                "augmentation 'wild' is not one of"):
      preprocess.Preprocessing.from_record(
          dict(recipe='standardize', decode='full', augmentation='wild'))

  def test_every_builder_gets_the_preprocessing(self):
    config, _, _ = self.fashion(augmentation='flip')
    spec = run_spec.for_training(config)
    self.assertIs(spec.input_options(True)['preprocessing'],
                  spec.preprocessing)
    self.assertIs(spec.input_options(False)['preprocessing'],
                  spec.preprocessing)
    self.assertNotIn('augmentation', spec.input_options(True))


class FlagfileTest(_SetupTest):

  def test_each_flagfile_policy_reaches_the_run(self):
    """The `--augmentation` of each data/*.flags is the recorded one."""
    data = os.path.join(_REPO, 'data')
    checked = 0
    for name in sorted(os.listdir(data)):
      if not name.endswith('.flags'):
        continue
      values = {}
      with open(os.path.join(data, name)) as f:
        for line in f:
          line = line.strip()
          for flag in ('augmentation', 'dataset', 'model'):
            if line.startswith(f'--{flag}='):
              values[flag] = line.split('=', 1)[1]
      if values.get('dataset') not in ('fashion_mnist', 'cifar10'):
        continue
      maker = self.fashion if values['dataset'] == 'fashion_mnist' else (
          self.cifar)
      config, _, _ = maker(augmentation=values.get('augmentation', ''))
      config = config_lib.replace(config, model=values['model'])
      spec = run_spec.for_training(config)
      self.assertEqual(spec.record()['preprocessing']['augmentation'],
                       values.get('augmentation') or
                       {'fashion_mnist': 'none',
                        'cifar10': 'standard'}[values['dataset']], name)
      checked += 1
    self.assertGreaterEqual(checked, 3)


if __name__ == '__main__':
  tf.test.main()
