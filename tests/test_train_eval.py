"""End-to-end: train a few steps, checkpoint, restore, evaluate; bad input."""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from unittest import mock

import numpy as np
import tensorflow as tf

from tf1cnn import checkpoints
from tf1cnn import evaluation
from tf1cnn import config as config_lib
from tf1cnn import models
from tf1cnn import precision
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import image_folder

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _EvalLogitsHook(_V1.train.SessionRunHook):
  """Computes eval-mode logits of a fixed batch when training ends."""

  def __init__(self, model, images, num_classes):
    self._model, self._images, self._num_classes = model, images, num_classes
    self.logits = None

  def begin(self):
    with _V1.variable_scope(_V1.get_variable_scope(), reuse=True):
      network_fn = models.get_network_fn(self._model, self._num_classes)
      self._logits_tensor, _ = network_fn(tf.constant(self._images))

  def end(self, session):
    self.logits = session.run(self._logits_tensor)


def _config(data_dir, train_dir, **overrides):
  config = config_lib.training_config(
      model='lenet5', dataset='image_folder', data_dir=data_dir,
      train_dir=train_dir, image_size=32, batch_size=8, max_steps=30,
      learning_rate=3e-3, seed=1, log_every_n_steps=10,
      save_checkpoint_steps=10, input_threads=2)
  return config_lib.replace(config, **overrides)


def _eval_events(train_dir, tag, split='test'):
  """`[(step, value)]` of a scalar in the evaluation summaries."""
  found = []
  for path in sorted(glob.glob(os.path.join(train_dir, f'eval_{split}',
                                            'events.*'))):
    for event in _V1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          found.append((event.step, value.simple_value))
  return found


class TrainEvalTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir)

  def test_train_checkpoint_restore_gives_identical_logits(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    probe = np.random.RandomState(5).randn(4, 32, 32, 3).astype(np.float32)
    hook = _EvalLogitsHook('lenet5', probe, 2)
    result = training.train(_config(self.data_dir, train_dir),
                            extra_hooks=[hook])
    self.assertEqual(result.global_step, 30)
    self.assertTrue(result.checkpoint.endswith('model.ckpt-30'))
    self.assertEqual(checkpoints.read_labels(train_dir),
                     ['horizontal', 'vertical'])
    self.assertEqual(checkpoints.read_run_config(train_dir)['image_size'], 32)
    with tf.Graph().as_default():
      logits, _ = models.get_network_fn('lenet5', 2)(tf.constant(probe))
      with self.session() as sess:
        _V1.train.Saver().restore(sess, result.checkpoint)
        restored = sess.run(logits)
    self.assertAllEqual(restored, hook.logits)

    metrics_path = os.path.join(train_dir, 'metrics.json')
    done = _run_script(['scripts/eval.py', '--model=lenet5', '--dataset=image_folder',
                        f'--data_dir={self.data_dir}',
                        f'--train_dir={train_dir}', '--eval_batch_size=5',
                        f'--metrics_json={metrics_path}'])
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('accuracy ', done.stdout)  # the printed report
    with open(metrics_path) as f:
      saved = json.load(f)
    for key in ('accuracy', 'num_examples', 'global_step', 'confusion_matrix',
                'per_class'):
      self.assertIn(key, saved)
    self.assertEqual(saved['num_examples'], 24)  # 4 full batches + 4
    self.assertEqual(saved['global_step'], 30)
    confusion = np.array(saved['confusion_matrix'])
    self.assertEqual(confusion.sum(axis=1).tolist(), [12, 12])
    self.assertAllClose(saved['accuracy'], np.trace(confusion) / 24)
    recall = saved['per_class']['vertical']['recall']
    self.assertAllClose(recall, confusion[1, 1] / 12)

  def test_loss_falls_and_training_resumes(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    # One input thread (a fixed batch order) and a moderate rate: the loss
    # on the test images is compared before and after, so neither may hinge
    # on the order of the batches or on an Adam spike.
    steady = dict(input_threads=1, learning_rate=1e-3)
    first = training.train(_config(self.data_dir, train_dir, max_steps=2,
                                   **steady))
    self.assertEqual(first.global_step, 2)
    reader = _V1.train.load_checkpoint(os.path.join(train_dir,
                                                    'model.ckpt-2'))
    saved = reader.get_tensor('conv1_scope/weights')
    # At a learning rate of 0 a resumed run keeps the saved weights exactly;
    # a run that restarted at step 0 would hold freshly drawn ones.
    frozen = training.train(_config(self.data_dir, train_dir, max_steps=4,
                                    input_threads=1, learning_rate=0.0))
    self.assertEqual(frozen.global_step, 4)
    reader = _V1.train.load_checkpoint(os.path.join(train_dir,
                                                    'model.ckpt-4'))
    self.assertAllEqual(reader.get_tensor('conv1_scope/weights'), saved)
    second = training.train(_config(self.data_dir, train_dir, max_steps=60,
                                    keep_checkpoint_max=10, **steady))
    self.assertEqual(second.global_step, 60)

    def test_loss(step):
      return evaluation.evaluate(config_lib.eval_config(
          model='lenet5', data_dir=self.data_dir, train_dir=train_dir,
          checkpoint_path=os.path.join(train_dir, f'model.ckpt-{step}'),
          use_moving_averages=False))

    early, late = test_loss(2), test_loss(60)
    self.assertLess(late['loss'], 0.5 * early['loss'])
    self.assertGreaterEqual(late['accuracy'], 0.9)  # stripes are easy

  def test_profile_every_n_steps_writes_chrome_traces(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    training.train(_config(self.data_dir, train_dir, max_steps=6,
                           profile_every_n_steps=3))
    traces = sorted(f for f in os.listdir(train_dir)
                    if f.startswith('timeline-'))
    self.assertNotEmpty(traces)
    with open(os.path.join(train_dir, traces[-1])) as f:
      events = json.load(f)['traceEvents']
    names = {event.get('args', {}).get('name') for event in events}
    # The step's ops: the batch dequeue, forward, backward and update.
    for op_name in ('input_train/batch', 'avg_pooling1/avg_pool',
                    'gradients/conv1_scope/Conv2D_grad/Conv2DBackpropFilter',
                    'Adam/update_conv1_scope/weights/ResourceApplyAdam'):
      self.assertIn(op_name, names)

  def test_weight_moving_averages_are_restored_for_eval(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    training.train(_config(self.data_dir, train_dir, max_steps=5,
                           moving_average_decay=0.9))
    prefix = checkpoints.resolve_checkpoint('', train_dir)
    with tf.Graph().as_default():
      _V1.train.get_or_create_global_step()
      models.get_network_fn('lenet5', 2)(tf.zeros([1, 32, 32, 3]))
      var_map, used = checkpoints.restore_var_map(prefix)
    self.assertTrue(used)
    self.assertIn('conv1_scope/weights/ExponentialMovingAverage', var_map)
    self.assertIn('global_step', var_map)

  def test_evaluation_summaries_reach_tensorboard(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    training.train(_config(self.data_dir, train_dir, max_steps=10))
    metrics = evaluation.evaluate(config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir))
    # Summaries hold float32: compare the values to float32 precision.
    self.assertAllClose(_eval_events(train_dir, 'accuracy'),
                        [(10, metrics['accuracy'])], rtol=1e-6)
    self.assertAllClose(
        _eval_events(train_dir, 'recall/vertical'),
        [(10, metrics['per_class']['vertical']['recall'])], rtol=1e-6)

  def test_continuous_evaluation_follows_a_running_training(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    config = config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir,
        eval_interval_secs=1, eval_timeout_secs=120)
    results, errors = [], []

    def watch():
      try:
        results.extend(evaluation.evaluate_continuously(config))
      except Exception as e:  # pylint: disable=broad-except
        errors.append(e)

    class SlowSteps(_V1.train.SessionRunHook):  # Time to evaluate between.

      def after_run(self, run_context, run_values):
        time.sleep(0.15)

    watcher = threading.Thread(target=watch)
    watcher.start()
    training.train(_config(self.data_dir, train_dir, max_steps=40,
                           save_checkpoint_steps=10),
                   extra_hooks=[SlowSteps()])
    watcher.join(120)
    self.assertFalse(watcher.is_alive())  # It stopped by itself at step 40.
    self.assertEqual(errors, [])
    steps = [m['global_step'] for m in results]
    self.assertGreaterEqual(len(steps), 2)
    self.assertEqual(steps, sorted(set(steps)))
    self.assertEqual(steps[-1], 40)
    self.assertEqual([step for step, _ in _eval_events(train_dir,
                                                       'accuracy')],
                     steps)

  def test_continuous_evaluation_ends_without_checkpoints(self):
    empty = tempfile.mkdtemp(dir=self.get_temp_dir())
    config = config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=empty,
        eval_interval_secs=1, eval_timeout_secs=1)
    with self.assertRaisesRegex(runtime.UserInputError,
                                'no checkpoint appeared in .*within '
                                '--eval_timeout_secs=1'):
      evaluation.run(config)
    config.checkpoint_path = os.path.join(empty, 'model.ckpt-5')
    with self.assertRaisesRegex(runtime.UserInputError,
                                'give the folder to watch'):
      evaluation.run(config)

  def test_a_file_deleted_while_training_is_named(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir)
    victim = os.path.join(data_dir, 'train', 'vertical', '03.png')

    class DeleteAfterFirstStep(_V1.train.SessionRunHook):

      def after_run(self, run_context, run_values):
        if os.path.exists(victim):
          os.remove(victim)

    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    with self.assertRaisesRegex(
        runtime.UserInputError,
        f'reading --data_dir={data_dir} failed: {victim}; No such file or '
        r'directory \(in input_train/ReadFile; .*\); the latest checkpoint, '
        '.*model.ckpt-[0-9]+, is kept'):
      training.train(_config(data_dir, train_dir, max_steps=300),
                     extra_hooks=[DeleteAfterFirstStep()])

  def test_evaluation_input_failure_is_one_line(self):
    # A file that breaks after the start-up check (here: the check is told
    # it is fine) fails the pipeline; the error is one line, not a traceback.
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=3)
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    training.train(_config(data_dir, train_dir, max_steps=2))
    with open(os.path.join(data_dir, 'test', 'vertical', '01.png'), 'wb') as f:
      f.write(b'no longer a picture')
    with mock.patch.object(image_folder, 'check_image_files', return_value={}):
      with self.assertRaisesRegex(
          runtime.UserInputError,
          f'reading --data_dir={data_dir} failed: .* \\(in input_test/'):
        evaluation.evaluate(config_lib.eval_config(
            model='lenet5', data_dir=data_dir, train_dir=train_dir))

  def test_a_diverging_loss_is_one_line(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    with self.assertRaisesRegex(runtime.UserInputError,
                                'the loss became NaN: lower --learning_rate'):
      training.train(_config(self.data_dir, train_dir, optimizer='sgd',
                             learning_rate=1e30, max_steps=50))

  def test_checkpoints_resume_across_precisions(self):
    # fp32 -> fp16 -> fp32 in one train_dir. fp16 needs a GPU, so the support
    # check is told one is there: the loss-scale optimizer and its variables
    # are built the same way (the grappler rewrite skips a GPU-less machine).
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    first = training.train(_config(self.data_dir, train_dir, max_steps=4))
    # Read now: the next run saves its starting step under the same name.
    before = {name: tf.train.load_variable(first.checkpoint, name)
              for name, _ in tf.train.list_variables(first.checkpoint)}
    with mock.patch.object(precision, 'gpu_available', return_value=True):
      # Learning rate 0: the weights must come back exactly as stored.
      second = training.train(_config(self.data_dir, train_dir, max_steps=8,
                                      precision='fp16', learning_rate=0.0))
    self.assertEqual(second.global_step, 8)
    after = dict(tf.train.list_variables(second.checkpoint))
    self.assertNotIn('current_loss_scale', before)
    self.assertEqual(set(after) - set(before),
                     {'current_loss_scale', 'good_steps'})
    # A fresh loss scale: its initial value, and 4 finite steps counted.
    self.assertEqual(tf.train.load_variable(second.checkpoint,
                                            'current_loss_scale'), 2.0**15)
    self.assertEqual(tf.train.load_variable(second.checkpoint, 'good_steps'),
                     4)
    weights = [name for name in before
               if name != 'global_step' and 'Adam' not in name
               and not name.startswith('beta')]
    self.assertIn('conv1_scope/weights', weights)
    for name in weights:
      self.assertAllEqual(before[name],
                          tf.train.load_variable(second.checkpoint, name))
    third = training.train(_config(self.data_dir, train_dir, max_steps=10))
    self.assertEqual(third.global_step, 10)
    metrics = evaluation.evaluate(config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir))
    self.assertEqual(metrics['global_step'], 10)

  def test_checkpoint_of_another_model_is_refused_and_kept(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    training.train(_config(self.data_dir, train_dir, max_steps=2))
    before = sorted(os.listdir(train_dir))
    with self.assertRaisesRegex(runtime.UserInputError,
                                'is from a different model'):
      training.train(_config(self.data_dir, train_dir, image_size=40,
                             max_steps=4))
    self.assertEqual(sorted(os.listdir(train_dir)), before)
    with self.assertRaisesRegex(runtime.UserInputError,
                                'is from a different model: local1_scope'):
      evaluation.evaluate(config_lib.eval_config(
          model='lenet5', data_dir=self.data_dir, train_dir=train_dir,
          image_size=40))

  def test_metrics_from_confusion(self):
    metrics = evaluation.metrics_from_confusion([[3, 1], [2, 4]], ['a', 'b'])
    self.assertAllClose(metrics['accuracy'], 0.7)
    self.assertAllClose(metrics['per_class']['a']['precision'], 3 / 5)
    self.assertAllClose(metrics['per_class']['a']['recall'], 3 / 4)
    self.assertAllClose(metrics['per_class']['b']['precision'], 4 / 5)


def _run_script(args, **kwargs):
  env = subprocess_env()
  return subprocess.run([sys.executable] + args, cwd=_ROOT, env=env,
                        capture_output=True, text=True, timeout=300, **kwargs)


class ScriptErrorsTest(tf.test.TestCase):
  """Bad input: one clear line, a non-zero exit, nothing lost."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=4)

  def _assert_one_line_error(self, result, pattern):
    self.assertNotEqual(result.returncode, 0)
    self.assertNotIn('Traceback', result.stderr)
    self.assertRegex(result.stderr, pattern)

  def test_flag_typo_in_flagfile(self):
    flagfile = os.path.join(self.get_temp_dir(), 'typo.flags')
    with open(flagfile, 'w') as f:
      f.write('--data_dir=x\n--learnig_rate=0.1\n')
    result = _run_script(['scripts/train_catdog.py', f'--flagfile={flagfile}'])
    self._assert_one_line_error(result, "Unknown command line flag 'learnig_rate'")

  def test_missing_data_dir_and_no_checkpoint(self):
    missing = os.path.join(self.get_temp_dir(), 'missing')
    result = _run_script(['scripts/train_catdog.py', f'--data_dir={missing}',
                          '--max_steps=1'])
    self._assert_one_line_error(result, f"error: data_dir '{missing}' does not exist")
    empty = tempfile.mkdtemp(dir=self.get_temp_dir())
    result = _run_script(['scripts/eval_catdog.py', f'--data_dir={self.data_dir}',
                          f'--train_dir={empty}'])
    self._assert_one_line_error(result, f'--train_dir={empty}: no checkpoint')
    result = _run_script(['scripts/train.py', '--model=resnet',
                          f'--data_dir={self.data_dir}', '--max_steps=1'])
    self._assert_one_line_error(result, "unknown model 'resnet'; valid models: .*lenet5")

  def test_interrupt_saves_a_checkpoint(self):
    train_dir = os.path.join(self.get_temp_dir(), 'interrupted')
    env = subprocess_env()
    process = subprocess.Popen(
        [sys.executable, 'scripts/train_catdog.py', f'--data_dir={self.data_dir}',
         f'--train_dir={train_dir}', '--image_size=32', '--batch_size=4',
         '--max_steps=1000000', '--save_checkpoint_secs=100000',
         '--log_every_n_steps=1'],
        cwd=_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.time() + 120
    # Wait until a few steps have been logged, then press Ctrl-C.
    lines = []
    try:
      while time.time() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if 'step 5/' in line:
          break
      process.send_signal(signal.SIGINT)
      out, err = process.communicate(timeout=120)
    finally:
      if process.poll() is None:  # never leave the trainer running
        process.kill()
        process.wait()
    # Told apart from a finished run: exit 128 + SIGINT, and it says so.
    self.assertEqual(process.returncode, 130, ''.join(lines) + err)
    prefix = checkpoints.latest_checkpoint(train_dir)
    self.assertIsNotNone(prefix)
    self.assertGreater(int(tf.train.load_variable(prefix, 'global_step')), 5)
    self.assertIn('by SIGINT', err)
    self.assertIn('interrupted at step', out)


if __name__ == '__main__':
  tf.test.main()
