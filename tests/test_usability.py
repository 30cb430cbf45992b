"""TF-Slim's flag names, --precision=auto, progress lines, image formats."""

import io
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import precision
from tf1cnn import progress
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn.inputs import image_folder

from fixtures import make_striped_dataset
from fixtures import run_batches

runtime.use_graph_mode()


class SlimFlagsTest(tf.test.TestCase):

  def _parse(self, groups, *args):
    fv = flags.FlagValues()
    tf1cnn_flags.define(groups, flag_values=fv)
    fv(['prog'] + list(args))
    return fv

  def test_training_names(self):
    fv = self._parse(
        ('common', 'train'), '--dataset_dir=/photos', '--dataset_name=cifar10',
        '--model_name=bn_cnn', '--dataset_split_name=train2',
        '--max_number_of_steps=7', '--train_image_size=40',
        '--checkpoint_exclude_scopes=a,b', '--checkpoint_path=/zoo/x.ckpt',
        '--save_interval_secs=9', '--learning_rate_decay_type=exponential',
        '--learning_rate_decay_factor=0.5', '--num_epochs_per_decay=3',
        '--num_readers=3', '--ignore_missing_vars', '--num_clones=2',
        '--save_summaries_secs=30')
    config = tf1cnn_flags.config_from_flags(config_lib.TrainingConfig, fv)
    self.assertEqual(config.data.data_dir, '/photos')
    self.assertEqual(config.data.dataset, 'cifar10')
    self.assertEqual(config.model, 'bn_cnn')
    self.assertEqual(config.train_split, 'train2')
    self.assertEqual(config.max_steps, 7)
    self.assertEqual(config.data.image_size, 40)
    self.assertEqual(config.warm_start_exclude, ['a', 'b'])
    # Slim's meaning: warm start from it unless train_dir has a checkpoint.
    self.assertEqual(config.warm_start_from, '/zoo/x.ckpt')
    self.assertEqual(config.save_checkpoint_secs, 9)
    self.assertEqual(config.optim.lr_schedule, 'exponential')
    self.assertEqual(config.optim.lr_decay_rate, 0.5)
    self.assertEqual(config.optim.lr_decay_epochs, 3.0)
    self.assertEqual(config.input.input_threads, 3)
    self.assertTrue(config.ignore_missing_vars)
    self.assertEqual(config.num_clones, 2)
    self.assertEqual(config.save_summaries_secs, 30)

  def test_evaluation_names(self):
    fv = self._parse(('common', 'eval'), '--dataset_split_name=validation',
                     '--eval_image_size=64', '--max_num_batches=3')
    config = tf1cnn_flags.config_from_flags(config_lib.EvalConfig, fv)
    self.assertEqual(config.eval_split, 'validation')
    self.assertEqual(config.data.image_size, 64)
    self.assertEqual(config.max_num_batches, 3)

  def test_num_clones_are_gpu_towers(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=2)
    config = config_lib.training_config(
        model='lenet5', data_dir=data_dir, image_size=32, max_steps=1,
        num_clones=2)
    self.assertEqual(run_spec.for_training(config).devices,
                     ['/gpu:0', '/gpu:1'])
    with self.assertRaisesRegex(runtime.UserInputError, 'give one of them'):
      run_spec.for_training(config_lib.replace(config, devices='cpu:0'))


class AutoPrecisionTest(tf.test.TestCase):

  def _cpuinfo(self, flags_line):
    path = os.path.join(self.get_temp_dir(),
                        'cpuinfo-' + flags_line.replace(' ', '-'))
    with open(path, 'w', encoding='utf-8') as f:
      f.write(f'processor: 0\nflags\t\t: fpu sse2 {flags_line}\n')
    return path

  def test_choices(self):
    with_amx = self._cpuinfo('avx512f avx512_bf16 amx_bf16 amx_tile')
    without_amx = self._cpuinfo('avx512f avx512_bf16')
    plain = self._cpuinfo('avx2')
    self.assertEqual(precision.choose_auto(with_amx, [])[0],
                     'bf16' if precision.onednn_enabled() else 'fp32')
    chosen, reason = precision.choose_auto(without_amx, [])
    self.assertEqual(chosen, 'fp32')
    self.assertIn('no AMX', reason)
    self.assertEqual(precision.choose_auto(plain, [])[0], 'fp32')
    self.assertEqual(precision.choose_auto(plain, [(8, 0)])[0], 'fp16')
    self.assertEqual(precision.choose_auto(plain, [(6, 1)])[0], 'fp32')
    self.assertEqual(precision.resolve('auto', cpuinfo=without_amx), 'fp32')

  def test_explicit_bf16_without_amx_warns(self):
    without_amx = self._cpuinfo('avx512f avx512_bf16')
    if not precision.onednn_enabled():
      # The Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0) have no bfloat16 path:
      # an error naming the variable, or fp32 with --precision_fallback.
      with self.assertRaisesRegex(runtime.UserInputError,
                                  'TF_ENABLE_ONEDNN_OPTS=0'):
        precision.resolve('bf16', cpuinfo=without_amx)
      self.assertEqual(
          precision.resolve('bf16', fallback=True, cpuinfo=without_amx),
          'fp32')
      return
    with self.assertLogs(level='WARNING') as logs:
      self.assertEqual(precision.resolve('bf16', cpuinfo=without_amx),
                       'bf16')
    self.assertIn('without AMX', '\n'.join(logs.output))


class ProgressTest(tf.test.TestCase):

  def test_lines_say_count_rate_and_time_left(self):
    now = [0.0]
    counter = progress.Progress('evaluated', total=100, unit='examples',
                                interval_secs=5, clock=lambda: now[0])
    for _ in range(4):
      now[0] += 2.0
      counter.add(10)
    self.assertEqual(counter.lines, ['evaluated 30/100 examples (5.0/s, '
                                     '0:00:14 left)'])
    now[0] += 10
    counter.done()
    self.assertEqual(counter.lines[-1],
                     'evaluated 40/100 examples (2.2/s, 0:00:27 left)')

  def test_small_jobs_stay_quiet(self):
    now = [0.0]
    counter = progress.Progress('checked', total=10, min_total=500,
                                interval_secs=1, clock=lambda: now[0])
    now[0] += 100
    counter.add(10)
    counter.done()
    self.assertEqual(counter.lines, [])


class ImageFormatsTest(tf.test.TestCase):

  def test_webp_named_jpg_is_read_and_tiff_is_named(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    rng = np.random.RandomState(0)
    for name in ('a', 'b'):
      os.makedirs(os.path.join(root, 'test', name))
      for i in range(2):
        pixels = rng.randint(0, 256, (20, 20, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(
            os.path.join(root, 'test', name, f'{i}.jpg'), 'WEBP',
            lossless=True)
    with tf.Graph().as_default():
      batch = image_folder.build_input('image_folder', root, 'test', 4, False,
                                       image_size=20, num_epochs=1)
      images, labels = run_batches(batch)
    self.assertEqual(images.shape, (4, 20, 20, 3))
    self.assertEqual(sorted(labels.tolist()), [0, 0, 1, 1])
    tiff = os.path.join(root, 'test', 'a', 'scan.jpg')
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, 'TIFF')
    with open(tiff, 'wb') as f:
      f.write(buffer.getvalue())
    self.assertIn('unsupported format TIFF',
                  image_folder.check_image_file(tiff))


class PortableLockTest(tf.test.TestCase):
  """The cache lock without fcntl (Windows) uses msvcrt.locking."""

  def test_windows_path(self):
    import importlib  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top
    import types  # pylint: disable=g-import-not-at-top
    from unittest import mock  # pylint: disable=g-import-not-at-top
    from tf1cnn import filelock  # pylint: disable=g-import-not-at-top
    calls = []
    held = []

    def locking(fd, mode, nbytes):
      del fd, nbytes
      if mode == fake.LK_NBLCK:
        if held:
          raise OSError('locked')
        held.append(1)
      elif mode == fake.LK_UNLCK:
        held.pop()
      calls.append(mode)

    fake = types.SimpleNamespace(LK_NBLCK=2, LK_UNLCK=0, locking=locking)
    path = os.path.join(self.get_temp_dir(), 'lock')
    with mock.patch.dict(sys.modules, {'fcntl': None, 'msvcrt': fake}):
      windows = importlib.reload(filelock)
      self.assertFalse(windows.is_posix_locking())
      with windows.exclusive(path):
        self.assertEqual(held, [1])
        with open(path, 'a+', encoding='utf-8') as other:
          self.assertFalse(windows._try_lock(other))  # pylint: disable=protected-access
      self.assertEqual(held, [])
    importlib.reload(filelock)
    self.assertTrue(filelock.is_posix_locking())
    self.assertIn(fake.LK_UNLCK, calls)


if __name__ == '__main__':
  tf.test.main()
