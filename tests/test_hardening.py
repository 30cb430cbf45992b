"""Bad flags, files, layouts and process faults: one line or correct behaviour.

Runs that end without their work (save settings, finished runs, damaged or
vanished checkpoints, a missing state file, full disks, input failures in
tf.data, killed saves, signals), images and layouts that went wrong
silently (non-UTF-8 names, emptied classes, the Kaggle layout, odd class
folders, EXIF orientation) and flags that gave a traceback or were
silently accepted.
"""

import errno
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

import numpy as np
import tensorflow as tf
from absl import flags as absl_flags
from PIL import Image

from tf1cnn import checkpoints
from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn import writable
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import tfdata

from fixtures import make_striped_dataset, run_batches, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(data_dir, train_dir, **overrides):
  config = config_lib.training_config(
      model='lenet5', dataset='image_folder', data_dir=data_dir,
      train_dir=train_dir, image_size=32, batch_size=4, max_steps=6,
      learning_rate=1e-3, seed=1, log_every_n_steps=100,
      save_checkpoint_steps=2, input_threads=1)
  return config_lib.replace(config, **overrides)


def _eval_config(data_dir, train_dir, **overrides):
  return config_lib.replace(config_lib.eval_config(
      model='lenet5', data_dir=data_dir, train_dir=train_dir,
      eval_batch_size=4), **overrides)


def _run_script(args, **kwargs):
  return subprocess.run([sys.executable] + args, cwd=_ROOT,
                        env=subprocess_env(), capture_output=True, text=True,
                        timeout=300, **kwargs)


def _damage(prefix, how):
  data = prefix + '.data-00000-of-00001'
  if how == 'truncated':
    with open(data, 'r+b') as f:
      f.truncate(os.path.getsize(data) // 2)
  elif how == 'emptied':
    open(data, 'wb').close()
  elif how == 'data deleted':
    os.remove(data)
  elif how == 'index deleted':
    os.remove(prefix + '.index')
  elif how == 'index corrupt':
    with open(prefix + '.index', 'wb') as f:
      f.write(b'\x00garbage' * 10)


class CheckpointHardeningTest(tf.test.TestCase):
  """One trained directory (checkpoints 0, 2, 4, 6), copied per test."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=4)
    cls.trained = tempfile.mkdtemp()
    training.train(_config(cls.data_dir, cls.trained))

  def _copy(self):
    target = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'run')
    shutil.copytree(self.trained, target)
    return target

  def test_damaged_newest_checkpoint_falls_back_with_a_warning(self):
    for how in ('truncated', 'emptied', 'data deleted', 'index deleted',
                'index corrupt'):
      with self.subTest(how=how):
        train_dir = self._copy()
        newest = os.path.join(train_dir, 'model.ckpt-6')
        _damage(newest, how)
        self.assertIsNotNone(checkpoints.checkpoint_problem(newest))
        with self.assertLogs('absl', 'WARNING') as logs:
          found = checkpoints.latest_checkpoint(train_dir)
        self.assertEqual(found, os.path.join(train_dir, 'model.ckpt-4'))
        self.assertIn('model.ckpt-6 is damaged', '\n'.join(logs.output))
        self.assertEqual(checkpoints.resolve_checkpoint('', train_dir), found)
        if how != 'index deleted':  # Without an index it is no prefix.
          with self.assertRaisesRegex(runtime.UserInputError,
                                      'model.ckpt-6: the checkpoint is '
                                      'damaged'):
            checkpoints.resolve_checkpoint(newest)
    # Evaluation and resume use the fallback (the last copy: corrupt index).
    metrics = evaluation.evaluate(_eval_config(self.data_dir, train_dir))
    self.assertEqual(metrics['global_step'], 4)
    truncated = self._copy()
    _damage(os.path.join(truncated, 'model.ckpt-6'), 'truncated')
    result = training.train(_config(self.data_dir, truncated, max_steps=8))
    self.assertEqual(result.global_step, 8)

  def test_no_intact_checkpoint_left_is_one_line(self):
    train_dir = self._copy()
    for prefix in glob.glob(os.path.join(train_dir, 'model.ckpt-*.index')):
      _damage(prefix[:-len('.index')], 'emptied')
    with self.assertRaisesRegex(runtime.UserInputError,
                                'model.ckpt-6 is damaged .*holds no intact '
                                'checkpoint'):
      checkpoints.latest_checkpoint(train_dir)
    with self.assertRaisesRegex(runtime.UserInputError, 'is damaged'):
      training.train(_config(self.data_dir, train_dir, max_steps=8))

  def test_missing_or_stale_state_file_finds_checkpoints_by_files(self):
    train_dir = self._copy()
    newest = os.path.join(train_dir, 'model.ckpt-6')
    with open(newest + '.data-00000-of-00001', 'rb') as f:
      newest_bytes = f.read()
    os.remove(os.path.join(train_dir, 'checkpoint'))
    self.assertEqual(checkpoints.latest_checkpoint(train_dir), newest)
    self.assertEqual(
        evaluation.evaluate(_eval_config(self.data_dir,
                                         train_dir))['global_step'], 6)
    # Stale: the state file names an older checkpoint.
    _V1.train.update_checkpoint_state(train_dir, 'model.ckpt-2')
    self.assertEqual(checkpoints.latest_checkpoint(train_dir), newest)
    os.remove(os.path.join(train_dir, 'checkpoint'))
    # Training resumes at 6 instead of restarting at 0 over them.
    result = training.train(_config(self.data_dir, train_dir, max_steps=8))
    self.assertEqual(result.global_step, 8)
    with open(newest + '.data-00000-of-00001', 'rb') as f:
      self.assertEqual(f.read(), newest_bytes)

  def test_finished_run_is_a_no_op_and_stale_tempstate_is_cleaned(self):
    train_dir = self._copy()
    stale = os.path.join(train_dir,
                         'model.ckpt-8.data-00000-of-00001.tempstate123')
    with open(stale, 'wb') as f:
      f.write(b'\x00' * 1000)
    before = sorted(f for f in os.listdir(train_dir) if 'ckpt' in f
                    and f != os.path.basename(stale))
    for max_steps in (6, 4):
      with self.assertLogs('absl', 'INFO') as logs:
        result = training.train(_config(self.data_dir, train_dir,
                                        max_steps=max_steps))
      self.assertTrue(result.already_finished)
      self.assertEqual(result.global_step, 6)
      self.assertIn('already finished', '\n'.join(logs.output))
    self.assertFalse(os.path.exists(stale))
    self.assertEqual(sorted(f for f in os.listdir(train_dir) if 'ckpt' in f),
                     before)
    self.assertEqual(checkpoints.read_run_config(train_dir)['last_step'], 6)

  def test_continuous_evaluation_skips_vanished_and_damaged_checkpoints(self):
    train_dir = self._copy()
    _damage(os.path.join(train_dir, 'model.ckpt-2'), 'truncated')
    vanishing = os.path.join(train_dir, 'model.ckpt-4')
    real_check = checkpoints.check_compatible

    def check_then_rotate(prefix, *args, **kwargs):
      result = real_check(prefix, *args, **kwargs)
      if prefix == vanishing:  # The trainer's keep-N deletes it now.
        for path in glob.glob(vanishing + '.*'):
          os.remove(path)
      return result

    yielded = [os.path.join(train_dir, f'model.ckpt-{s}') for s in (2, 4, 6)]
    with mock.patch.object(_V1.train, 'checkpoints_iterator',
                           return_value=iter(yielded)), \
        mock.patch.object(checkpoints, 'check_compatible',
                          side_effect=check_then_rotate):
      results = evaluation.evaluate_continuously(_eval_config(
          self.data_dir, train_dir, eval_interval_secs=1,
          eval_timeout_secs=5))
    self.assertEqual([m['global_step'] for m in results], [6])

  def test_final_checkpoint_and_save_settings(self):
    train_dir = os.path.join(self.get_temp_dir(), 'final')
    result = training.train(_config(self.data_dir, train_dir, max_steps=3,
                                    save_checkpoint_steps=0,
                                    save_checkpoint_secs=100000))
    self.assertEqual(result.checkpoint, os.path.join(train_dir,
                                                     'model.ckpt-3'))
    for bad in (dict(save_checkpoint_steps=-5), dict(save_checkpoint_secs=0),
                dict(keep_checkpoint_max=0)):
      with self.assertRaisesRegex(config_lib.ConfigError,
                                  f'--{list(bad)[0]}='):
        config_lib.validate(_config(self.data_dir, train_dir, **bad))

  def test_full_disk_while_training_names_train_dir_and_keeps_checkpoint(self):
    train_dir = os.path.join(self.get_temp_dir(), 'full')
    real_save = _V1.train.Saver.save

    def save(saver, sess, save_path, global_step=None, **kwargs):
      step = (sess.run(global_step)
              if isinstance(global_step, (tf.Tensor, tf.Variable))
              else global_step)
      if step is not None and int(step) > 0:
        raise tf.errors.ResourceExhaustedError(
            None, None, f'{save_path}-2.data-00000-of-00001.tempstate9; No '
            'space left on device')
      return real_save(saver, sess, save_path, global_step=global_step,
                       **kwargs)

    with mock.patch.object(_V1.train.Saver, 'save', autospec=True,
                           side_effect=save):
      with self.assertRaisesRegex(
          runtime.UserInputError,
          f'writing to --train_dir={train_dir} failed: .*No space left on '
          'device; the latest checkpoint, .*model.ckpt-0, is kept'):
        training.train(_config(self.data_dir, train_dir))

  def test_full_disk_while_evaluating_names_the_file(self):
    target = os.path.join(self.get_temp_dir(), 'metrics.json')
    with mock.patch.object(checkpoints, '_atomic_write', side_effect=OSError(
        errno.ENOSPC, os.strerror(errno.ENOSPC))):
      with self.assertRaisesRegex(runtime.UserInputError,
                                  f'cannot write {target}: No space left'):
        checkpoints.write_json(target, {'accuracy': 1.0})

  def test_unwritable_outputs_are_refused_before_any_work(self):
    base = tempfile.mkdtemp(dir=self.get_temp_dir())
    a_file = os.path.join(base, 'file')
    open(a_file, 'w').close()
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--train_dir=.*file: is a file'):
      writable.check_dir(a_file, '--train_dir')
    with self.assertRaisesRegex(runtime.UserInputError,
                                'is a file, so no folder can be made'):
      writable.check_dir(os.path.join(a_file, 'run'), '--train_dir')
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--metrics_json=.*: is a folder'):
      writable.check_file(base, '--metrics_json')
    read_only = os.path.join(base, 'read_only')
    os.mkdir(read_only, 0o555)
    refuse = (mock.patch.object(writable, '_probe', side_effect=PermissionError(
        errno.EACCES, 'Permission denied')) if os.geteuid() == 0
              else mock.MagicMock())  # root writes anywhere: simulate it.
    with refuse:
      with self.assertRaisesRegex(runtime.UserInputError,
                                  '--train_dir=.*read_only/run: cannot write '
                                  'there .*Permission denied'):
        writable.check_dir(os.path.join(read_only, 'run'), '--train_dir')
      with self.assertRaisesRegex(runtime.UserInputError,
                                  '--metrics_json \\(its folder\\)'):
        writable.check_file(os.path.join(read_only, 'm.json'),
                            '--metrics_json')
    # Training checks its train_dir before it even reads the data.
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--train_dir=.*: is a file'):
      training.train(_config('/nonexistent', a_file))
    self.assertTrue(writable.is_write_failure(OSError(errno.ENOSPC, 'x')))
    self.assertFalse(writable.is_write_failure(OSError(errno.ENOENT, 'x')))

  def test_programs_refuse_bad_output_paths_in_one_line(self):
    folder = tempfile.mkdtemp(dir=self.get_temp_dir())
    done = _run_script(['scripts/eval.py', f'--data_dir={self.data_dir}',
                        f'--train_dir={self.trained}',
                        f'--metrics_json={folder}'])
    self.assertEqual(done.returncode, 2, done.stderr)
    self.assertNotIn('Traceback', done.stderr)
    self.assertRegex(done.stderr, f'error: --metrics_json={folder}: is a '
                     'folder')
    a_file = os.path.join(folder, 'export_file')
    open(a_file, 'w').close()
    done = _run_script(['scripts/export.py', f'--train_dir={self.trained}',
                        f'--export_dir={a_file}'])
    self.assertEqual(done.returncode, 2, done.stderr)
    self.assertNotIn('Traceback', done.stderr)
    self.assertRegex(done.stderr, f'error: --export_dir={a_file}: is a file')


class InputFailureTest(tf.test.TestCase):

  def test_garbled_file_is_named_and_the_last_step_saved(self):
    for pipeline_name in ('tfdata', 'queue'):
      with self.subTest(pipeline=pipeline_name):
        data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
        make_striped_dataset(data_dir, per_class=4)
        victim = os.path.join(data_dir, 'train', 'vertical', '01.png')
        train_dir = os.path.join(data_dir, 'run')

        class Garble(_V1.train.SessionRunHook):

          def after_run(self, run_context, run_values):
            with open(victim, 'wb') as f:
              f.write(b'no longer a picture')

        with self.assertRaisesRegex(
            runtime.UserInputError,
            f'reading --data_dir={data_dir} failed: .*{victim} changed after '
            'the run started and is now unreadable.*the latest checkpoint, '
            r'.*model.ckpt-(\d+), is kept') as caught:
          training.train(_config(data_dir, train_dir, pipeline=pipeline_name,
                                 max_steps=500, save_checkpoint_steps=1000),
                         extra_hooks=[Garble()])
        saved = caught.exception.args[0].rsplit('model.ckpt-', 1)[1]
        self.assertGreater(int(saved.split(',')[0]), 0)  # the final save


class ImageLayoutTest(tf.test.TestCase):

  def _png(self, path, seed=0):
    pixels = np.random.RandomState(seed).randint(0, 255, (36, 36, 3))
    Image.fromarray(pixels.astype(np.uint8)).save(path, format='PNG')

  def test_non_utf8_file_names_are_read(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=2)
    odd = os.fsdecode(os.path.join(os.fsencode(data_dir), b'test',
                                   b'vertical', b'caf\xe9.png'))
    self._png(odd)
    filenames, labels, _ = image_folder.scan_and_check(data_dir, 'test')
    self.assertLen(filenames, 5)
    for build in (image_folder.build_input, tfdata.build_input):
      with tf.Graph().as_default():
        batch = build('image_folder', data_dir, 'test', 2, False,
                      image_size=32, num_epochs=1)
        _, got = run_batches(batch)
      self.assertEqual(sorted(got.tolist()), sorted(labels))
    # A bad file with such a name is named in a printable form.
    with open(odd, 'wb') as f:
      f.write(b'junk')
    with self.assertRaisesRegex(runtime.UserInputError,
                                r"bad image '.*caf\\\\xe9.png'"):
      image_folder.scan_and_check(data_dir, 'test')
    with self.assertLogs('absl', 'WARNING') as logs:
      filenames, _, _ = image_folder.scan_and_check(data_dir, 'test',
                                                    bad_images='skip')
    self.assertLen(filenames, 4)
    self.assertIn('caf\\xe9.png', '\n'.join(logs.output))

  def test_a_class_emptied_by_skip_is_an_error(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=2)
    for path in glob.glob(os.path.join(data_dir, 'train', 'vertical', '*')):
      with open(path, 'wb') as f:
        f.write(b'junk')
    with self.assertRaisesRegex(runtime.UserInputError,
                                r"\['vertical'\] have no usable image left"):
      image_folder.scan_and_check(data_dir, 'train', bad_images='skip')

  def test_kaggle_layout_reports_names_it_does_not_take(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    split = os.path.join(data_dir, 'train')
    os.makedirs(split)
    for name in ('cat.1.jpg', 'cat.2.jpg', 'dog.1.jpg', 'IMG_0001.jpeg',
                 'photo.jpg', 'notes.txt'):
      self._png(os.path.join(split, name))
    with self.assertLogs('absl', 'WARNING') as logs:
      filenames, _, class_names = image_folder.scan_split(data_dir, 'train')
    self.assertEqual(class_names, ['cat', 'dog'])
    self.assertLen(filenames, 3)
    text = '\n'.join(logs.output)
    self.assertIn("2 image file(s) not named <class>.<id>.<ext> (e.g. "
                  f"'{split}/IMG_0001.jpeg', '{split}/photo.jpg')", text)
    self.assertIn('1 non-image file(s)', text)

  def test_odd_class_folders_and_ignored_files(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=2)
    split = os.path.join(data_dir, 'train')
    self._png(os.path.join(split, 'loose.png'))
    nested = os.path.join(split, 'vertical', 'more', 'deeper')
    os.makedirs(nested)
    self._png(os.path.join(nested, 'a.png'))
    self._png(os.path.join(split, 'vertical', 'more', 'b.png'))
    with self.assertLogs('absl', 'WARNING') as logs:
      filenames, _, _ = image_folder.scan_split(data_dir, 'train')
    self.assertLen(filenames, 4)
    text = '\n'.join(logs.output)
    self.assertIn('1 loose file(s) beside the class folders', text)
    self.assertIn('2 file(s) in sub-folders of class folders', text)
    os.makedirs(os.path.join(split, 'two\nlines'))
    self._png(os.path.join(split, 'two\nlines', 'x.png'))
    with self.assertRaisesRegex(runtime.UserInputError,
                                'the class name has a line break'):
      image_folder.scan_split(data_dir, 'train')

  def test_exif_orientation_is_reported(self):
    folder = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = os.path.join(folder, 'sideways.jpg')
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to view
    Image.new('RGB', (40, 20), (200, 10, 10)).save(path, exif=exif)
    plain = os.path.join(folder, 'plain.jpg')
    Image.new('RGB', (40, 20)).save(plain)
    with self.assertLogs('absl', 'WARNING') as logs:
      self.assertEqual(image_folder.check_image_files([path, plain]), {})
    self.assertIn('1 of 2 image(s) carry an EXIF orientation',
                  '\n'.join(logs.output))


class FlagHardeningTest(tf.test.TestCase):
  """Each bad value through the programs' own flag definitions."""

  def _parse(self, groups, *args):
    fv = absl_flags.FlagValues()
    tf1cnn_flags.define(groups, flag_values=fv)
    return fv(['prog'] + list(args))

  def test_out_of_range_values_are_flag_errors(self):
    cases = [(('common', 'train'), '--drop_rate=1'),
             (('common', 'train'), '--drop_rate=-0.5'),
             (('common', 'train'), '--image_size=-6'),
             (('common', 'train'), '--input_threads=-1'),
             (('common', 'train'), '--model_option=foo'),
             (('common', 'train'), '--learning_rate=-0.1'),
             (('common', 'train'), '--moving_average_decay=2'),
             (('common', 'train'), '--save_checkpoint_steps=-5'),
             (('common', 'train'), '--save_checkpoint_secs=0'),
             (('common', 'eval'), '--eval_batch_size=0'),
             (('common', 'eval'), '--eval_batch_size=-1'),
             (('common', 'export'), '--export_version=-1')]
    for groups, arg in cases:
      with self.subTest(arg=arg):
        name = arg[2:].split('=')[0]
        with self.assertRaisesRegex(absl_flags.Error, f'--{name}'):
          self._parse(groups, arg)

  def test_flagfile_line_without_dashes_is_an_error(self):
    fv = absl_flags.FlagValues()
    tf1cnn_flags.define(('common', 'train'), flag_values=fv)
    flagfile = os.path.join(self.get_temp_dir(), 'bad.flags')
    with open(flagfile, 'w') as f:
      f.write('--batch_size=4\nmax_steps=5\n')
    with self.assertRaisesRegex(absl_flags.Error,
                                "bad.flags:2: 'max_steps=5' is not a flag"):
      tf1cnn_flags.expand_flagfiles([f'--flagfile={flagfile}'], fv)

  def test_image_size_below_a_models_minimum(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=2)
    for size in (1, 3, 16):
      with self.subTest(size=size):
        with self.assertRaisesRegex(runtime.UserInputError,
                                    f'--image_size={size} is too small for '
                                    '--model=lenet5: it takes images of at '
                                    'least 17x17'):
          run_spec.for_training(_config(data_dir, '', image_size=size))
    self.assertEqual(run_spec.for_training(
        _config(data_dir, '', image_size=17)).image_size, 17)


class SignalTest(tf.test.TestCase):

  def test_sigterm_saves_and_exits_143(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=4)
    train_dir = os.path.join(self.get_temp_dir(), 'preempted')
    process = subprocess.Popen(
        [sys.executable, 'scripts/train.py', f'--data_dir={data_dir}',
         f'--train_dir={train_dir}', '--image_size=32', '--batch_size=4',
         '--max_steps=1000000', '--save_checkpoint_secs=100000',
         '--log_every_n_steps=1', '--input_threads=1'],
        cwd=_ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    lines = []
    try:
      deadline = time.time() + 120
      while time.time() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if 'step 3/' in line or not line:
          break
      process.send_signal(signal.SIGTERM)
      out, err = process.communicate(timeout=120)
    finally:
      if process.poll() is None:
        process.kill()
        process.wait()
    self.assertEqual(process.returncode, 128 + signal.SIGTERM,
                     ''.join(lines) + err)
    prefix = checkpoints.latest_checkpoint(train_dir)
    step = int(tf.train.load_variable(prefix, 'global_step'))
    self.assertGreaterEqual(step, 3)
    self.assertRegex(err, f'interrupted at step {step} by SIGTERM .*; '
                     f'checkpoint {prefix}')
    self.assertIn(f'interrupted at step {step}', out)


if __name__ == '__main__':
  tf.test.main()
