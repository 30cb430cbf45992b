"""Tests of the image-folder scanner, checker and queue pipeline."""

import os
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import runtime
from tf1cnn.inputs import image_folder

from fixtures import run_batches

runtime.use_graph_mode()
_V1 = tf.compat.v1


def write_image(path, rng, size=(40, 30), mode='RGB', fmt=None):
  """Writes a random image; returns its uint8 RGB pixels as decoded by Pillow."""
  channels = {'RGB': 3, 'L': 1, 'CMYK': 4, 'RGBA': 4}[mode]
  pixels = rng.randint(0, 256, (size[1], size[0], channels), np.uint8)
  image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
  image.save(path, format=fmt)
  with Image.open(path) as reread:
    return np.asarray(reread.convert('RGB'))


def make_folder(root, layout, counts, rng, formats=('JPEG',)):
  """Creates a split 'train' with `counts` images per class."""
  extension = {'JPEG': '.jpg', 'PNG': '.png', 'BMP': '.bmp', 'GIF': '.gif'}
  for split in ('train', 'test'):
    for class_name, count in counts.items():
      folder = (os.path.join(root, split, class_name) if layout == 'folders'
                else os.path.join(root, split))
      os.makedirs(folder, exist_ok=True)
      for i in range(count):
        fmt = formats[i % len(formats)]
        name = (f'{i:03d}{extension[fmt]}' if layout == 'folders'
                else f'{class_name}.{i}{extension[fmt]}')
        mode = 'RGB' if fmt != 'GIF' else 'L'
        write_image(os.path.join(folder, name), rng, mode=mode, fmt=fmt)


class ScanTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.rng = np.random.RandomState(0)

  def test_class_folders(self):
    make_folder(self.root, 'folders', {'dog': 3, 'cat': 2, 'bird': 1}, self.rng)
    files, labels, names = image_folder.scan_split(self.root, 'train')
    self.assertEqual(names, ['bird', 'cat', 'dog'])
    self.assertEqual(labels, [0, 1, 1, 2, 2, 2])
    self.assertEqual([os.path.basename(os.path.dirname(f)) for f in files],
                     ['bird', 'cat', 'cat', 'dog', 'dog', 'dog'])

  def test_kaggle_flat_layout(self):
    make_folder(self.root, 'flat', {'cat': 2, 'dog': 3}, self.rng)
    files, labels, names = image_folder.scan_split(self.root, 'train')
    self.assertEqual(names, ['cat', 'dog'])
    self.assertEqual(labels, [0, 0, 1, 1, 1])
    for path, label in zip(files, labels):
      self.assertTrue(os.path.basename(path).startswith(names[label] + '.'))

  def test_fixed_class_names_and_unknown_class(self):
    make_folder(self.root, 'folders', {'cat': 1, 'dog': 1}, self.rng)
    _, labels, _ = image_folder.scan_split(self.root, 'test', ['dog', 'cat'])
    self.assertEqual(labels, [0, 1])
    with self.assertRaisesRegex(runtime.UserInputError, 'not trained on'):
      image_folder.scan_split(self.root, 'test', ['cat'])

  def test_missing_and_empty_folders(self):
    with self.assertRaisesRegex(runtime.UserInputError, 'does not exist'):
      image_folder.scan_split(os.path.join(self.root, 'nope'), 'train')
    with self.assertRaisesRegex(runtime.UserInputError, 'no \'train\' folder'):
      image_folder.scan_split(self.root, 'train')
    os.makedirs(os.path.join(self.root, 'train', 'cat'))
    with self.assertRaisesRegex(runtime.UserInputError,
                                r"class folder .*train/cat' has no images"):
      image_folder.scan_split(self.root, 'train')
    with self.assertRaisesRegex(runtime.UserInputError, '--data_dir is empty'):
      image_folder.scan_split('', 'train')


class BadImageTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_folder(self.root, 'folders', {'cat': 3, 'dog': 3},
                np.random.RandomState(1))
    self.good = image_folder.scan_split(self.root, 'train')[0]

  def _corrupt(self):
    cat = os.path.join(self.root, 'train', 'cat')
    with open(self.good[0], 'rb') as f:
      data = f.read()
    with open(os.path.join(cat, 'truncated.jpg'), 'wb') as f:
      f.write(data[:len(data) // 2])
    open(os.path.join(cat, 'empty.jpg'), 'wb').close()
    with open(os.path.join(cat, 'text.png'), 'w') as f:
      f.write('this is not an image\n')

  def test_fail_names_the_file(self):
    self._corrupt()
    files, labels, _ = image_folder.scan_split(self.root, 'train')
    with self.assertRaisesRegex(runtime.UserInputError,
                                r"bad image '.*empty\.jpg': zero-byte file "
                                r'\(and 2 more\)'):
      image_folder.filter_bad_images(files, labels, 'fail')
    reasons = image_folder.check_image_files(files)
    self.assertEqual(sorted(os.path.basename(p) for p in reasons),
                     ['empty.jpg', 'text.png', 'truncated.jpg'])

  def test_skip_counts_and_keeps_labels(self):
    self._corrupt()
    files, labels, _ = image_folder.scan_split(self.root, 'train')
    kept, kept_labels, skipped = image_folder.filter_bad_images(
        files, labels, 'skip')
    self.assertEqual(skipped, 3)
    self.assertEqual(kept, self.good)
    self.assertEqual(kept_labels, [0, 0, 0, 1, 1, 1])


class PipelineTest(tf.test.TestCase):

  def test_eval_pipeline_yields_every_file_once_with_its_pixels(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    rng = np.random.RandomState(2)
    make_folder(root, 'folders', {'cat': 6, 'dog': 5}, rng,
                formats=('PNG', 'BMP', 'GIF'))
    # A grayscale JPEG and a CMYK JPEG must both come out as RGB.
    write_image(os.path.join(root, 'test', 'cat', 'gray.jpg'), rng, mode='L')
    write_image(os.path.join(root, 'test', 'dog', 'cmyk.jpg'), rng,
                mode='CMYK')
    files, labels, _ = image_folder.scan_split(root, 'test')
    with tf.Graph().as_default():
      batch = image_folder.build_input('image_folder', root, 'test',
                                       batch_size=4, is_training=False,
                                       image_size=24, num_epochs=1)
      self.assertEqual(batch.num_examples, 13)
      self.assertEqual(batch.images.shape.as_list(), [None, 24, 24, 3])
      images, got_labels = run_batches(batch)
    self.assertEqual(list(got_labels), labels)  # in order, each exactly once
    for path, got in zip(files, images):
      with Image.open(path) as image:
        rgb = np.asarray(image.convert('RGB'), np.float32)
      with tf.Graph().as_default(), self.session() as sess:
        want = sess.run(tf.image.per_image_standardization(
            tf.image.resize(rgb, [24, 24])))
      tolerance = 0.15 if path.endswith('.jpg') else 1e-4  # JPEG decoders differ
      self.assertAllClose(got, want, atol=tolerance, msg=path)

  def test_training_pipeline_shuffles_and_labels_match(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    rng = np.random.RandomState(3)
    # Class 0: dark centre on a light border; class 1: the reverse. A random
    # crop keeps some border, so the centre's sign after standardisation
    # tells the label of a shuffled, cropped, flipped example.
    for label, name in enumerate(['dark_centre', 'light_centre']):
      folder = os.path.join(root, 'train', name)
      os.makedirs(folder)
      for i in range(8):
        pixels = np.full((20, 20, 3), 255 * (1 - label), np.uint8)
        pixels[4:16, 4:16] = 255 * label
        Image.fromarray(pixels).save(os.path.join(folder, f'{i}.png'))
    with tf.Graph().as_default():
      _V1.set_random_seed(0)
      batch = image_folder.build_input('image_folder', root, 'train',
                                       batch_size=8, is_training=True,
                                       image_size=16, seed=1, num_threads=2)
      with _V1.train.MonitoredSession() as sess:
        for _ in range(3):
          images, labels = sess.run([batch.images, batch.labels])
          centre = images[:, 8, 8, 0]
          self.assertAllEqual(centre > 0, labels == 1)


if __name__ == '__main__':
  tf.test.main()
