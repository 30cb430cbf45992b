"""What a checkpoint says, read faithfully.

Global steps under other names and dtypes (written by plain
`tf.compat.v1`), the dataset recorded beside a checkpoint, what
`inspect_checkpoint.py` says evaluation restores (moving averages
included), `--checkpoint_var_map` rules that match nothing, collide or
refer to missing groups, and an export's pixel input fed the dataset's own
image size.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

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


def _save(prefix, make_variables, step_value=None):
  """Saves the variables `make_variables()` creates with a plain Saver."""
  with tf.Graph().as_default():
    make_variables()
    with _V1.Session() as sess:
      sess.run(_V1.global_variables_initializer())
      if step_value is not None:
        for variable in _V1.global_variables():
          if variable.op.name.endswith('global_step'):
            sess.run(variable.assign(step_value))
      _V1.train.Saver().save(sess, prefix, write_meta_graph=False)
  return prefix


def _rewrite(source, target, rename):
  """Copies checkpoint `source` to `target`, renaming/recasting variables.

  `rename(name, value) -> (name, value)`; a plain tf.compat.v1 Saver
  writes the copy.
  """
  reader = tf.train.load_checkpoint(source)
  with tf.Graph().as_default():
    var_list = {}
    for name in sorted(reader.get_variable_to_shape_map()):
      new_name, value = rename(name, reader.get_tensor(name))
      var_list[new_name] = _V1.Variable(value, name=f'v{len(var_list)}')
    with _V1.Session() as sess:
      sess.run(_V1.global_variables_initializer())
      _V1.train.Saver(var_list).save(sess, target, write_meta_graph=False)
  return target


def _run_script(script, *args):
  return subprocess.run(
      [sys.executable, os.path.join(_ROOT, 'scripts', script)] + list(args),
      cwd=_ROOT, env=subprocess_env(), capture_output=True, text=True,
      timeout=300, check=False)


class GlobalStepNameTest(tf.test.TestCase):
  """Which variable of a checkpoint is its global step."""

  def test_create_global_step_in_a_scope_int64(self):
    def _make():
      with _V1.variable_scope('optimizer'):
        _V1.train.create_global_step()
      _V1.get_variable('w', [3])
    prefix = _save(os.path.join(self.get_temp_dir(), 'a', 'model'), _make,
                   step_value=42)
    self.assertEqual(checkpoints.global_step_name(prefix),
                     'optimizer/global_step')
    self.assertEqual(checkpoints.checkpoint_step(prefix), 42)

  def test_int32_step_under_another_scope(self):
    def _make():
      _V1.get_variable('train/global_step', [], tf.int32,
                       initializer=_V1.zeros_initializer())
    prefix = _save(os.path.join(self.get_temp_dir(), 'b', 'model'), _make,
                   step_value=7)
    self.assertEqual(checkpoints.checkpoint_step(prefix), 7)

  def test_the_exact_name_wins_over_scoped_ones(self):
    def _make():
      _V1.train.create_global_step()
      with _V1.variable_scope('other'):
        _V1.get_variable('global_step', [], tf.int64,
                         initializer=tf.constant_initializer(99))
    prefix = _save(os.path.join(self.get_temp_dir(), 'c', 'model'), _make)
    self.assertEqual(checkpoints.global_step_name(prefix), 'global_step')
    self.assertEqual(checkpoints.checkpoint_step(prefix), 0)

  def test_two_scoped_candidates_are_named_and_none_is_taken(self):
    def _make():
      for scope in ('a', 'b'):
        with _V1.variable_scope(scope):
          _V1.get_variable('global_step', [], tf.int64,
                           initializer=_V1.zeros_initializer())
    prefix = _save(os.path.join(self.get_temp_dir(), 'd', 'model'), _make)
    with self.assertLogs('absl', 'WARNING') as logs:
      self.assertIsNone(checkpoints.checkpoint_step(prefix))
    self.assertIn('a/global_step, b/global_step', '\n'.join(logs.output))

  def test_non_scalar_and_float_variables_are_not_steps(self):
    def _make():
      _V1.get_variable('x/global_step', [2], tf.int64,
                       initializer=_V1.zeros_initializer())
      _V1.get_variable('y/global_step', [], tf.float32)
      _V1.get_variable('my_global_step', [], tf.int64,
                       initializer=_V1.zeros_initializer())
    prefix = _save(os.path.join(self.get_temp_dir(), 'e', 'model'), _make)
    self.assertIsNone(checkpoints.global_step_name(prefix))


def _train_config(data_dir, train_dir, **overrides):
  config = config_lib.training_config(
      model='lenet5', dataset='image_folder', data_dir=data_dir,
      train_dir=train_dir, image_size=32, batch_size=4, max_steps=4,
      learning_rate=1e-3, seed=1, log_every_n_steps=100,
      save_checkpoint_steps=4, input_threads=1, moving_average_decay=0.9)
  return config_lib.replace(config, **overrides)


def _eval_config(data_dir, **overrides):
  return config_lib.replace(config_lib.eval_config(
      model='lenet5', data_dir=data_dir, eval_batch_size=4), **overrides)


class TrainedRunTest(tf.test.TestCase):
  """One 4-step LeNet-5 run with moving averages, copied per test."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=4, size=32)
    cls.trained = tempfile.mkdtemp()
    training.train(_train_config(cls.data_dir, cls.trained))
    cls.prefix = os.path.join(cls.trained, 'model.ckpt-4')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.data_dir, ignore_errors=True)
    shutil.rmtree(cls.trained, ignore_errors=True)
    super().tearDownClass()

  def _copy(self):
    target = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'run')
    shutil.copytree(self.trained, target)
    return target

  def _foreign_step_dir(self):
    """The run's checkpoint with an int32 `optimizer/global_step`."""
    run_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'run')
    os.makedirs(run_dir)
    for name in ('labels.txt', 'run_config.json'):
      shutil.copy(os.path.join(self.trained, name), run_dir)

    def _rename(name, value):
      if name == 'global_step':
        return 'optimizer/global_step', value.astype(np.int32)
      return name, value
    return _rewrite(self.prefix, os.path.join(run_dir, 'model.ckpt-4'),
                    _rename)

  def test_foreign_global_step_in_evaluation_export_and_resume(self):
    prefix = self._foreign_step_dir()
    run_dir = os.path.dirname(prefix)
    stored = dict(tf.train.list_variables(prefix))
    self.assertIn('optimizer/global_step', stored)
    self.assertNotIn('global_step', stored)
    metrics = evaluation.evaluate(_eval_config(self.data_dir,
                                               checkpoint_path=prefix))
    self.assertEqual(metrics['global_step'], 4)
    self.assertIn('(global step 4)', evaluation.format_report(metrics))
    export_dir = os.path.join(self.get_temp_dir(), 'export_step')
    version = export.export_saved_model(config_lib.export_config(
        checkpoint_path=prefix, export_dir=export_dir, verify_images=2))
    self.assertEqual(os.path.basename(version), '4')
    result = training.train(_train_config(self.data_dir, run_dir,
                                          max_steps=6, save_checkpoint_steps=2))
    self.assertEqual(result.global_step, 6)
    self.assertEqual(checkpoints.checkpoint_step(result.checkpoint), 6)
    self.assertFalse(os.path.exists(os.path.join(run_dir, 'model.ckpt-2.index')),
                     'the resumed run restarted at step 0')

  def test_evaluation_reads_the_recorded_dataset(self):
    run_dir = self._copy()
    record_path = os.path.join(run_dir, 'run_config.json')
    with open(record_path) as f:
      record = json.load(f)
    record['dataset'] = 'cifar10'
    with open(record_path, 'w') as f:
      json.dump(record, f)
    prefix = os.path.join(run_dir, 'model.ckpt-4')
    # --dataset left at its default: the record's dataset is used.
    spec = run_spec.for_checkpoint(_eval_config('', train_dir=run_dir),
                                   prefix, need_data=False)
    self.assertEqual(spec.config.data.dataset, 'cifar10')
    self.assertEqual(spec.record()['dataset'], 'cifar10')
    # A --dataset that contradicts the record is named.
    with self.assertRaisesRegex(
        runtime.UserInputError,
        r'^--dataset=fashion_mnist but checkpoint .*model.ckpt-4 was trained '
        r'on --dataset=cifar10'):
      run_spec.for_checkpoint(
          _eval_config('', train_dir=run_dir, dataset='fashion_mnist'),
          prefix, need_data=False)
    # The same with data: evaluation reads the image folder it was trained on.
    with open(record_path, 'w') as f:
      json.dump(dict(record, dataset='image_folder'), f)
    metrics = evaluation.evaluate(_eval_config(self.data_dir,
                                               train_dir=run_dir))
    self.assertEqual(metrics['num_examples'], 8)

  def test_inspect_shows_the_moving_averages_evaluation_restores(self):
    stored = dict(tf.train.list_variables(self.prefix))
    self.assertIn('conv1_scope/weights/ExponentialMovingAverage', stored)
    done = _run_script('inspect_checkpoint.py', self.prefix)
    self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
    lines = done.stdout.splitlines()
    self.assertIn('conv1_scope/weights/ExponentialMovingAverage  [5, 5, 3, '
                  '6]  float32  -> conv1_scope/weights', lines)
    self.assertIn('conv1_scope/weights  [5, 5, 3, 6]  float32  (unused: its '
                  'moving average is restored)', lines)
    self.assertIn('global_step  []  int64  (unused) the global step, 4',
                  lines)
    self.assertIn('moving averages restored: yes', lines)
    # The same mapping evaluation builds (an independent count: one
    # restored name per trainable variable, all of them shadows).
    metrics = evaluation.evaluate(_eval_config(self.data_dir,
                                               checkpoint_path=self.prefix))
    self.assertTrue(metrics['used_moving_averages'])
    shadows = [n for n in stored if n.endswith('/ExponentialMovingAverage')]
    arrows = [line for line in lines if '/ExponentialMovingAverage' in
              line.split('  ')[0] and '  -> ' in line]
    self.assertLen(arrows, len(shadows))
    raw = _run_script('inspect_checkpoint.py', self.prefix,
                      '--nouse_moving_averages')
    self.assertEqual(raw.returncode, 0, raw.stderr)
    self.assertIn('conv1_scope/weights  [5, 5, 3, 6]  float32  -> '
                  'conv1_scope/weights', raw.stdout.splitlines())
    self.assertIn('moving averages restored: no', raw.stdout)

  def test_inspect_takes_the_data_flags_of_evaluation(self):
    bare = os.path.join(self.get_temp_dir(), 'bare')
    os.makedirs(bare)
    prefix = _rewrite(self.prefix, os.path.join(bare, 'model.ckpt-4'),
                      lambda name, value: (name, value))
    labels = os.path.join(self.get_temp_dir(), 'three.txt')
    with open(labels, 'w') as f:
      f.write('a\nb\nc\n')
    done = _run_script('inspect_checkpoint.py', prefix, '--model=lenet5',
                       '--image_size=32', f'--labels_file={labels}')
    self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
    self.assertRegex(done.stdout, r'mismatch: softmax_linear/biases: '
                     r'checkpoint \[2\] float32, model \[3\] float32')
    done = _run_script('inspect_checkpoint.py', prefix, '--model=lenet5',
                       '--image_size=32', f'--data_dir={self.data_dir}')
    self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
    refused = _run_script('inspect_checkpoint.py', prefix, '--model=lenet5',
                          '--num_classes=2')
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn('num_classes', refused.stderr)

  def test_a_rule_that_matches_nothing_is_named(self):
    with self.assertLogs('absl', 'WARNING') as logs:
      evaluation.evaluate(_eval_config(
          self.data_dir, checkpoint_path=self.prefix,
          checkpoint_var_map=['^nothing_here/(.*)$=\\1']))
    self.assertRegex('\n'.join(logs.output),
                     r"--checkpoint_var_map='\^nothing_here/\(\.\*\)\$=\\\\1' "
                     r'renames none of the checkpoint')

  def test_two_checkpoint_variables_onto_one_name_is_an_error(self):
    rule = '^conv(1|2)_scope/biases$=conv1_scope/biases'
    with self.assertRaisesRegex(
        runtime.UserInputError,
        r"^--checkpoint_var_map='\^conv\(1\|2\)_scope/biases\$="
        r"conv1_scope/biases' maps the checkpoint variables "
        r"'conv1_scope/biases' and 'conv2_scope/biases' onto one name, "
        r"'conv1_scope/biases'"):
      evaluation.evaluate(_eval_config(
          self.data_dir, checkpoint_path=self.prefix,
          checkpoint_var_map=[rule]))
    done = _run_script('inspect_checkpoint.py', self.prefix,
                       f'--checkpoint_var_map={rule}')
    self.assertEqual(done.returncode, 2)
    self.assertNotIn('Traceback', done.stderr)
    self.assertIn("'conv1_scope/biases' and 'conv2_scope/biases'",
                  done.stderr)

  def test_a_replacement_with_a_missing_group_is_one_line(self):
    done = _run_script('eval.py', f'--checkpoint_path={self.prefix}',
                       f'--data_dir={self.data_dir}',
                       '--checkpoint_var_map=^(conv1)/weights$=\\5/weights')
    self.assertEqual(done.returncode, 2)
    self.assertNotIn('Traceback', done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^error: --checkpoint_var_map='.*': bad "
                     r"replacement '\\\\5/weights' \(invalid group reference 5")

  def test_a_recorded_model_replacing_the_flag_is_a_warning(self):
    config = _eval_config(self.data_dir, checkpoint_path=self.prefix,
                          model='cifar_cnn',
                          checkpoint_var_map=['^conv1/=conv1/'])
    with self.assertLogs('absl', 'WARNING') as logs:
      spec = run_spec.for_checkpoint(config, self.prefix, need_data=False)
    self.assertEqual(spec.model, 'lenet5')
    text = '\n'.join(logs.output)
    self.assertRegex(text, r'WARNING:absl:building --model=lenet5, .*not '
                     r'--model=cifar_cnn; --checkpoint_var_map applies')


class ExportOfCropsTest(tf.test.TestCase):
  """A model trained on 24x24 crops of 32x32 images, exported."""

  def test_the_pixel_input_takes_the_datasets_own_size(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=3, size=32)
    train_dir = os.path.join(self.get_temp_dir(), 'crops')
    training.train(_train_config(data_dir, train_dir, image_size=24,
                                 preprocessing='crop_or_pad', max_steps=2,
                                 save_checkpoint_steps=2,
                                 moving_average_decay=0.0))
    version = export.export_saved_model(config_lib.export_config(
        train_dir=train_dir, data_dir=data_dir,
        export_dir=os.path.join(self.get_temp_dir(), 'crops_export'),
        verify_images=2, formats=['saved_model', 'frozen']))
    files = sorted(os.path.join(root, name)
                   for root, _, names in os.walk(os.path.join(data_dir,
                                                              'test'))
                   for name in names)
    full = np.stack([np.asarray(Image.open(f).convert('RGB'), np.float32)
                     for f in files])
    self.assertEqual(full.shape[1:], (32, 32, 3))
    crops = full[:, 4:28, 4:28]  # crop_or_pad 32 -> 24: the central window.
    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      meta = _V1.saved_model.loader.load(sess, ['serve'], version)
      def _run(signature, pixels):
        sig = meta.signature_def[signature]
        return sess.run(sig.outputs['probabilities'].name,
                        {sig.inputs['images'].name: pixels})
      want = _run('predict_images', crops)
      got = _run('predict_images_any_size', full)
      at_size = _run('predict_images_any_size', crops)
    self.assertAllClose(got, want, atol=1e-5)
    self.assertAllClose(at_size, want, atol=1e-6)
    with served.load(os.path.join(version, 'frozen', 'model.pb')) as model:
      self.assertAllClose(model.probabilities(crops), want, atol=1e-5)
      with self.assertRaisesRegex(
          runtime.UserInputError,
          r'model.pb: takes 24x24 pixels with 3 channel\(s\), got a batch of '
          r"shape \[6, 32, 32, 3\]: apply the recorded 'crop_or_pad' "
          r'evaluation geometry first'):
        model.probabilities(full)


if __name__ == '__main__':
  tf.test.main()
