"""Damaged files and full disks around checkpoints and exports.

A checkpoint whose data was zeroed at its full size, a checkpoint rotated
away under a one-shot evaluation, truncated/zeroed/random `.tflite` files,
and exports and trainings that run out of disk: each falls back to what is
intact or ends in one line naming the file, never in a traceback or a
crash.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf

from tf1cnn import checkpoints
from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import export
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn import training

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train_config(data_dir, train_dir, **overrides):
  config = config_lib.training_config(
      model='lenet5', dataset='image_folder', data_dir=data_dir,
      train_dir=train_dir, image_size=32, batch_size=4, max_steps=4,
      learning_rate=1e-3, seed=1, log_every_n_steps=100,
      save_checkpoint_steps=2, input_threads=1)
  return config_lib.replace(config, **overrides)


def _eval_config(data_dir, **overrides):
  return config_lib.replace(config_lib.eval_config(
      model='lenet5', data_dir=data_dir, eval_batch_size=4), **overrides)


def _zero(path):
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.write(b'\0' * size)


class _SmallDisk:
  """A 2 MiB tmpfs (root only); `umount -l` on exit."""

  def __init__(self, test):
    self.path = tempfile.mkdtemp()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs',
                           self.path], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
      test.skipTest('cannot mount a small tmpfs to fill (needs root): '
                    f'{done.stderr.strip()}')
    test.addCleanup(subprocess.run, ['umount', '-l', self.path],
                    capture_output=True, check=False)


class CheckpointFilesTest(tf.test.TestCase):
  """One trained directory (checkpoints 2 and 4), copied per test."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=4, size=32)
    cls.trained = tempfile.mkdtemp()
    training.train(_train_config(cls.data_dir, cls.trained))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.data_dir, ignore_errors=True)
    shutil.rmtree(cls.trained, ignore_errors=True)
    super().tearDownClass()

  def _copy(self):
    target = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'run')
    shutil.copytree(self.trained, target)
    return target

  def test_zeroed_data_at_full_size_falls_back(self):
    train_dir = self._copy()
    newest = os.path.join(train_dir, 'model.ckpt-4')
    _zero(newest + '.data-00000-of-00001')
    # The size check alone passes; reading the tensors back does not.
    self.assertIsNone(checkpoints.checkpoint_problem(newest))
    self.assertRegex(checkpoints.checkpoint_problem(newest, verify_data=True),
                     'does not match the checksums of its index')
    with self.assertLogs('absl', 'WARNING') as logs:
      found = checkpoints.latest_checkpoint(train_dir)
    self.assertEqual(found, os.path.join(train_dir, 'model.ckpt-2'))
    self.assertIn('model.ckpt-4 is damaged', '\n'.join(logs.output))
    with self.assertRaisesRegex(runtime.UserInputError,
                                'model.ckpt-4: the checkpoint is damaged'):
      checkpoints.resolve_checkpoint(newest)
    metrics = evaluation.evaluate(_eval_config(self.data_dir,
                                               train_dir=train_dir))
    self.assertEqual(metrics['global_step'], 2)
    result = training.train(_train_config(self.data_dir, train_dir,
                                          max_steps=6))
    self.assertEqual(result.global_step, 6)
    self.assertIsNone(checkpoints.checkpoint_problem(result.checkpoint,
                                                     verify_data=True))

  def test_zeroed_data_through_the_programs(self):
    train_dir = self._copy()
    _zero(os.path.join(train_dir, 'model.ckpt-4.data-00000-of-00001'))
    done = subprocess.run(
        [sys.executable, os.path.join(_ROOT, 'scripts', 'eval.py'),
         f'--train_dir={train_dir}', f'--data_dir={self.data_dir}',
         '--eval_batch_size=4'], cwd=_ROOT, env=subprocess_env(),
        capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertNotIn('Traceback', done.stderr)
    self.assertIn('(global step 2)', done.stdout)

  def test_one_shot_evaluation_retries_a_rotated_checkpoint(self):
    train_dir = self._copy()
    real = run_spec.for_checkpoint
    rotated = []

    def _rotate_then_build(config, prefix, *args, **kwargs):
      if not rotated:  # The trainer deletes it right after it was picked.
        rotated.append(prefix)
        for path in tf.io.gfile.glob(prefix + '.*'):
          os.remove(path)
      return real(config, prefix, *args, **kwargs)

    with mock.patch.object(run_spec, 'for_checkpoint',
                           side_effect=_rotate_then_build):
      with self.assertLogs('absl', 'WARNING') as logs:
        metrics = evaluation.evaluate(_eval_config(self.data_dir,
                                                   train_dir=train_dir))
    self.assertEqual(rotated, [os.path.join(train_dir, 'model.ckpt-4')])
    self.assertEqual(metrics['checkpoint'],
                     os.path.join(train_dir, 'model.ckpt-2'))
    self.assertEqual(metrics['global_step'], 2)
    self.assertEqual(metrics['num_examples'], 8)
    self.assertIn('model.ckpt-4 was deleted while it was evaluated',
                  '\n'.join(logs.output))

  def test_an_explicit_prefix_is_not_replaced(self):
    train_dir = self._copy()
    prefix = os.path.join(train_dir, 'model.ckpt-4')
    real = run_spec.for_checkpoint

    def _delete_then_build(config, prefix, *args, **kwargs):
      for path in tf.io.gfile.glob(prefix + '.*'):
        os.remove(path)
      return real(config, prefix, *args, **kwargs)

    with mock.patch.object(run_spec, 'for_checkpoint',
                           side_effect=_delete_then_build):
      with self.assertRaisesRegex(runtime.UserInputError, 'model.ckpt-4'):
        evaluation.evaluate(_eval_config(self.data_dir,
                                         checkpoint_path=prefix))

  def test_export_to_a_full_disk_is_one_line(self):
    disk = _SmallDisk(self)
    export_dir = os.path.join(disk.path, 'export')
    prefix = os.path.join(self.trained, 'model.ckpt-4')
    with self.assertRaises(runtime.UserInputError) as raised:
      export.export_saved_model(config_lib.export_config(
          checkpoint_path=prefix, export_dir=export_dir, verify_images=2))
    message = str(raised.exception)
    self.assertLen(message.splitlines(), 1)
    self.assertIn(export_dir, message)
    self.assertIn('No space left on device', message)
    self.assertNotIn('Graph execution error', message)
    self.assertEqual(os.listdir(export_dir), [])  # Staging removed.

  def test_training_on_a_full_disk_says_what_failed(self):
    disk = _SmallDisk(self)
    train_dir = os.path.join(disk.path, 'run')
    with self.assertRaises(runtime.UserInputError) as raised:
      training.train(_train_config(self.data_dir, train_dir))
    message = str(raised.exception)
    self.assertRegex(message, r'^writing to --train_dir=.*/run failed: '
                     r'saving a checkpoint: .*No space left on device')
    self.assertNotIn('Graph execution error', message)
    self.assertLen(message.splitlines(), 1)


def _tiny_tflite():
  """A float TFLite model of one convolution and a softmax."""
  with tf.Graph().as_default():
    images = _V1.placeholder(tf.float32, [1, 8, 8, 3], name='input')
    weights = _V1.get_variable(
        'w', initializer=np.random.RandomState(0).rand(3, 3, 3, 4).astype(
            np.float32))
    logits = tf.reduce_mean(tf.nn.conv2d(images, weights, 1, 'SAME'), [1, 2])
    probabilities = tf.nn.softmax(logits, name='probabilities')
    with _V1.Session() as sess:
      sess.run(_V1.global_variables_initializer())
      return _V1.lite.TFLiteConverter.from_session(
          sess, [images], [probabilities]).convert()


class TfliteFileTest(tf.test.TestCase):
  """A `.tflite` file is checked before the interpreter maps it."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = _tiny_tflite()

  def _write(self, data, name='model.tflite'):
    path = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), name)
    with open(path, 'wb') as f:
      f.write(data)
    return path

  def test_an_intact_model_passes_and_runs(self):
    path = self._write(self.model)
    served.check_tflite_file(path)
    with served.load(path) as model:
      got = model.probabilities(np.ones([1, 8, 8, 3], np.float32))
    self.assertAllClose(got.sum(axis=1), [1.0], atol=1e-5)

  def test_every_truncation_is_refused(self):
    self.assertEqual(self.model[4:8], b'TFL3')
    cuts = sorted(set(range(0, len(self.model), 7)) | {len(self.model) - 1})
    for cut in cuts:
      with self.subTest(cut=cut):
        path = self._write(self.model[:cut])
        with self.assertRaisesRegex(runtime.UserInputError,
                                    r'model\.tflite: (not a TFLite|damaged)'):
          served.check_tflite_file(path)

  def test_zeroed_and_random_files_are_refused(self):
    rng = np.random.RandomState(1)
    random_bytes = bytearray(rng.randint(0, 256, len(self.model),
                                         dtype=np.uint8).tobytes())
    random_tail = bytearray(self.model[:8]) + random_bytes[8:]
    for name, data in (('zeroed', bytes(len(self.model))),
                       ('random', bytes(random_bytes)),
                       ('random after the header', bytes(random_tail))):
      with self.subTest(name=name):
        with self.assertRaisesRegex(runtime.UserInputError,
                                    r'model\.tflite: (not a TFLite|damaged)'):
          served.check_tflite_file(self._write(data))

  def test_evaluating_a_truncated_file_is_one_line_not_a_crash(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=2, size=8)
    for name, data in (('truncated', self.model[:len(self.model) // 2]),
                       ('zeroed', bytes(len(self.model)))):
      with self.subTest(name=name):
        path = self._write(data)
        done = subprocess.run(
            [sys.executable, os.path.join(_ROOT, 'scripts', 'eval.py'),
             f'--model_file={path}', f'--data_dir={data_dir}'],
            cwd=_ROOT, env=subprocess_env(), capture_output=True, text=True,
            timeout=300, check=False)
        self.assertEqual(done.returncode, 2, done.stderr[-2000:])
        self.assertNotIn('Traceback', done.stderr)
        self.assertRegex(done.stderr.strip().splitlines()[-1],
                         r'^error: .*model\.tflite: ')


if __name__ == '__main__':
  tf.test.main()
