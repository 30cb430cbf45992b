"""Tests of the synthetic cat/dog sample set (tf1cnn.inputs.sample_data)."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import runtime
from tf1cnn.inputs import sample_data

from fixtures import subprocess_env

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tree(root):
  """{relative path: bytes} of every file under `root`."""
  contents = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, 'rb') as f:
        contents[os.path.relpath(path, root)] = f.read()
  return contents


def _images(root, split, class_name):
  folder = os.path.join(root, split, class_name)
  return [os.path.join(folder, name) for name in sorted(os.listdir(folder))]


class SampleDataTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.out = os.path.join(self.tmp, 'sample')

  def test_layout_counts_and_decoding(self):
    counts = sample_data.write_sample_dataset(
        self.out, num_train_per_class=6, num_test_per_class=3, seed=0)
    self.assertEqual(counts, {'train': {'cat': 6, 'dog': 6},
                              'test': {'cat': 3, 'dog': 3}})
    self.assertCountEqual(os.listdir(self.out),
                          ['train', 'test', 'README.txt',
                           sample_data.MANIFEST_NAME])
    formats = []
    for split in ('train', 'test'):
      self.assertCountEqual(os.listdir(os.path.join(self.out, split)),
                            ['cat', 'dog'])
      for class_name in ('cat', 'dog'):
        paths = _images(self.out, split, class_name)
        self.assertLen(paths, counts[split][class_name])
        for path in paths:
          self.assertStartsWith(os.path.basename(path), class_name + '_')
          with Image.open(path) as image:
            image.load()
            formats.append((split, image.format, image.mode))
            for side in image.size:
              self.assertBetween(side, sample_data.MIN_SIDE,
                                 sample_data.MAX_SIDE)
    # The train split exercises the other formats; the test split is JPEG.
    train = [(fmt, mode) for split, fmt, mode in formats if split == 'train']
    self.assertEqual(train.count(('PNG', 'RGB')), 2)
    self.assertEqual(train.count(('BMP', 'RGB')), 1)
    self.assertEqual(train.count(('JPEG', 'L')), 1)
    self.assertEqual(train.count(('JPEG', 'RGB')), 8)
    self.assertEqual({(fmt, mode) for split, fmt, mode in formats
                      if split == 'test'}, {('JPEG', 'RGB')})

    with open(os.path.join(self.out, 'README.txt'), encoding='utf-8') as f:
      readme = f.read()
    self.assertIn('synthetic', readme)
    self.assertIn('tf1cnn', readme)
    self.assertIn('seed 0', readme)
    with open(os.path.join(self.out, sample_data.MANIFEST_NAME),
              encoding='utf-8') as f:
      manifest = json.load(f)
    self.assertEqual(manifest['parameters']['seed'], 0)
    self.assertEqual(manifest['counts'], counts)
    self.assertLen(manifest['files'], 18)

  def test_default_set_is_almost_all_jpeg(self):
    file_plan = sample_data._file_plan  # pylint: disable=protected-access
    names = [file_plan(split, class_name, i)
             for split, n in (('train', 200), ('test', 50))
             for class_name in ('cat', 'dog') for i in range(n)]
    jpegs = sum(1 for _, fmt, _ in names if fmt == 'JPEG')
    self.assertGreaterEqual(jpegs / len(names), 0.95)

  def test_same_seed_same_bytes_other_seed_differs(self):
    first = os.path.join(self.tmp, 'a')
    second = os.path.join(self.tmp, 'b')
    third = os.path.join(self.tmp, 'c')
    sample_data.write_sample_dataset(first, 5, 2, seed=7)
    sample_data.write_sample_dataset(second, 5, 2, seed=7)
    sample_data.write_sample_dataset(third, 5, 2, seed=8)
    tree_a, tree_b, tree_c = _tree(first), _tree(second), _tree(third)
    self.assertEqual(tree_a, tree_b)
    self.assertCountEqual(tree_a, tree_c)
    images = [path for path in tree_a if path.startswith(('train', 'test'))]
    self.assertLen(images, 14)
    for path in images:
      self.assertNotEqual(tree_a[path], tree_c[path], path)

  def test_complete_set_is_not_rewritten(self):
    sample_data.write_sample_dataset(self.out, 6, 3, seed=0)
    path = _images(self.out, 'train', 'cat')[0]
    with open(path, 'rb') as f:
      original = f.read()
    # Same size, other bytes: a skipped run leaves it, overwrite restores it.
    with open(path, 'wb') as f:
      f.write(b'x' * len(original))
    sample_data.write_sample_dataset(self.out, 6, 3, seed=0)
    with open(path, 'rb') as f:
      self.assertEqual(f.read(), b'x' * len(original))
    sample_data.write_sample_dataset(self.out, 6, 3, seed=0, overwrite=True)
    with open(path, 'rb') as f:
      self.assertEqual(f.read(), original)

  def test_incomplete_or_different_set_is_rewritten(self):
    sample_data.write_sample_dataset(self.out, 6, 3, seed=0)
    expected = _tree(self.out)
    missing = _images(self.out, 'test', 'dog')[1]
    os.remove(missing)
    sample_data.write_sample_dataset(self.out, 6, 3, seed=0)
    self.assertEqual(_tree(self.out), expected)

    # Fewer images: the surplus files of the earlier set are removed.
    counts = sample_data.write_sample_dataset(self.out, 4, 2, seed=0)
    self.assertEqual(counts['train'], {'cat': 4, 'dog': 4})
    for split, n in (('train', 4), ('test', 2)):
      for class_name in ('cat', 'dog'):
        self.assertLen(_images(self.out, split, class_name), n)

    # An interrupted run (no manifest) is never taken as complete.
    os.remove(os.path.join(self.out, sample_data.MANIFEST_NAME))
    os.remove(os.path.join(os.path.dirname(missing), 'dog_0000.jpg'))
    sample_data.write_sample_dataset(self.out, 4, 2, seed=0)
    self.assertLen(_images(self.out, 'test', 'dog'), 2)

  def test_bad_output_dir(self):
    a_file = os.path.join(self.tmp, 'not_a_folder')
    with open(a_file, 'w', encoding='utf-8') as f:
      f.write('x')
    with self.assertRaisesRegex(runtime.UserInputError, 'not_a_folder'):
      sample_data.write_sample_dataset(a_file, 2, 1)

    foreign = os.path.join(self.tmp, 'photos')
    os.makedirs(os.path.join(foreign, 'train', 'cat'))
    Image.new('RGB', (8, 8)).save(
        os.path.join(foreign, 'train', 'cat', 'cat.1.jpg'))
    with self.assertRaisesRegex(runtime.UserInputError, r'cat\.1\.jpg'):
      sample_data.write_sample_dataset(foreign, 2, 1, overwrite=True)

    with self.assertRaisesRegex(runtime.UserInputError, 'num_train'):
      sample_data.write_sample_dataset(self.out, 0, 1)

  def test_mean_colour_is_not_a_giveaway(self):
    sample_data.write_sample_dataset(self.out, num_train_per_class=40,
                                     num_test_per_class=1, seed=0)
    means = {}
    for class_name in ('cat', 'dog'):
      rows = []
      for path in _images(self.out, 'train', class_name):
        with Image.open(path) as image:
          pixels = np.asarray(image.convert('RGB'), np.float64)
        rows.append(pixels.reshape(-1, 3).mean(axis=0))
      means[class_name] = np.array(rows)
    cat, dog = means['cat'], means['dog']
    # Class means of the per-image mean RGB: within 20 of 255 per channel and
    # well inside the spread between images.
    gap = np.abs(cat.mean(axis=0) - dog.mean(axis=0))
    spread = np.concatenate([cat, dog]).std(axis=0)
    self.assertAllLess(gap, 20.0)
    self.assertTrue(np.all(gap < 0.6 * spread), f'{gap} vs {spread}')
    # Nearest class mean on the mean colour, scored on the very images it was
    # fitted to, stays near a coin toss.
    features = np.concatenate([cat, dog])
    labels = np.array([0] * len(cat) + [1] * len(dog))
    distance = np.stack([np.linalg.norm(features - cat.mean(axis=0), axis=1),
                         np.linalg.norm(features - dog.mean(axis=0), axis=1)])
    accuracy = np.mean(np.argmin(distance, axis=0) == labels)
    self.assertLess(accuracy, 0.75)

  def test_script(self):
    env = subprocess_env(PYTHONPATH=_ROOT)
    script = os.path.join(_ROOT, 'scripts', 'make_sample_data.py')
    done = subprocess.run(
        [sys.executable, script, f'--output_dir={self.out}',
         '--num_train_per_class=2', '--num_test_per_class=1', '--seed=3'],
        env=env, capture_output=True, text=True, check=False)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertLen(_images(self.out, 'train', 'dog'), 2)
    self.assertLen(_images(self.out, 'test', 'cat'), 1)

    a_file = os.path.join(self.tmp, 'a_file')
    with open(a_file, 'w', encoding='utf-8') as f:
      f.write('x')
    failed = subprocess.run(
        [sys.executable, script, f'--output_dir={a_file}'],
        env=env, capture_output=True, text=True, check=False)
    self.assertEqual(failed.returncode, 2)
    self.assertIn(f'error: output_dir {a_file!r} exists and is not a folder',
                  failed.stderr)
    self.assertNotIn('Traceback', failed.stderr)


if __name__ == '__main__':
  tf.test.main()
