"""Fine-tuning: warm start from another run, excluded and trainable scopes."""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from tf1cnn import evaluation
from tf1cnn import config as config_lib
from tf1cnn import runtime
from tf1cnn import training

from fixtures import make_striped_dataset

runtime.use_graph_mode()
_V1 = tf.compat.v1

BODY = ('conv1_scope/weights', 'conv2_scope/biases', 'local1_scope/weights')
HEAD = ('softmax_linear/softmax_linear', 'softmax_linear/biases')


def _config(data_dir, train_dir, **overrides):
  config = config_lib.training_config(
      model='lenet5', data_dir=data_dir, train_dir=train_dir, image_size=32,
      batch_size=8, max_steps=5, learning_rate=1e-2, seed=1,
      input_threads=2, log_every_n_steps=5)
  return config_lib.replace(config, **overrides)


def _values(prefix, names):
  return {name: tf.train.load_variable(prefix, name) for name in names}


class FineTuneTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=8)
    # A third class for the "new task": the vertical photos under a new name.
    cls.three_classes = tempfile.mkdtemp()
    shutil.copytree(cls.data_dir, cls.three_classes, dirs_exist_ok=True)
    for split in ('train', 'test'):
      shutil.copytree(os.path.join(cls.data_dir, split, 'vertical'),
                      os.path.join(cls.three_classes, split, 'zebra'))
    cls.source_dir = tempfile.mkdtemp()
    cls.source = training.train(_config(cls.data_dir, cls.source_dir,
                                        max_steps=6)).checkpoint

  def test_new_classes_keep_the_body_and_train_only_the_head(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    result = training.train(_config(
        self.three_classes, train_dir, warm_start_from=self.source_dir,
        warm_start_exclude=['softmax_linear'],
        trainable_scopes=['softmax_linear/']))
    self.assertEqual(result.global_step, 5)  # the step count starts afresh
    source_body = _values(self.source, BODY)
    tuned_body = _values(result.checkpoint, BODY)
    for name in BODY:  # taken from the source and frozen
      self.assertAllEqual(tuned_body[name], source_body[name], msg=name)
    head = tf.train.load_variable(result.checkpoint, HEAD[0])
    self.assertEqual(head.shape, (84, 3))
    self.assertFalse(any(name.startswith('conv1_scope/weights/Adam')
                         for name, _ in tf.train.list_variables(
                             result.checkpoint)))  # no slots: not trained
    metrics = evaluation.evaluate(config_lib.eval_config(
        model='lenet5', data_dir=self.three_classes, train_dir=train_dir))
    self.assertEqual(metrics['class_names'],
                     ['horizontal', 'vertical', 'zebra'])

  def test_towers_train_only_the_chosen_scopes(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    result = training.train(_config(
        self.data_dir, train_dir, devices='cpu:0,cpu:1',
        warm_start_from=self.source, trainable_scopes=['softmax_linear']))
    for name, value in _values(self.source, BODY).items():
      self.assertAllEqual(tf.train.load_variable(result.checkpoint, name),
                          value, msg=name)
    self.assertNotAllClose(
        tf.train.load_variable(result.checkpoint, HEAD[0]),
        tf.train.load_variable(self.source, HEAD[0]))

  def test_everything_trains_from_the_warm_start(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    # Learning rate 0 shows what the warm start restored: every variable.
    result = training.train(_config(self.data_dir, train_dir,
                                    warm_start_from=self.source,
                                    learning_rate=0.0))
    source = _values(self.source, BODY + HEAD)
    tuned = _values(result.checkpoint, BODY + HEAD)
    for name in BODY + HEAD:
      self.assertAllEqual(tuned[name], source[name], msg=name)
    # A later run resumes its own checkpoint; the warm start is not used.
    again = training.train(_config(self.data_dir, train_dir, max_steps=8,
                                   warm_start_from=self.source))
    self.assertEqual(again.global_step, 8)
    self.assertNotAllClose(_values(again.checkpoint, BODY)[BODY[0]],
                           source[BODY[0]])

  def test_weight_averages_are_what_a_warm_start_takes(self):
    averaged_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    source = training.train(_config(self.data_dir, averaged_dir, max_steps=4,
                                    moving_average_decay=0.5)).checkpoint
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    result = training.train(_config(self.data_dir, train_dir,
                                    warm_start_from=source, learning_rate=0.0))
    averages = _values(source, [f'{n}/ExponentialMovingAverage' for n in BODY])
    raw = _values(source, BODY)
    tuned = _values(result.checkpoint, BODY)
    for name in BODY:
      self.assertAllEqual(tuned[name],
                          averages[f'{name}/ExponentialMovingAverage'])
      self.assertNotAllClose(tuned[name], raw[name])

  def test_other_classes_leave_the_classifier_out_by_default(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    with self.assertLogs(level='WARNING') as logs:
      result = training.train(_config(
          self.three_classes, train_dir, warm_start_from=self.source_dir,
          learning_rate=0.0))
    self.assertTrue(any(
        'leaving out softmax_linear, as --warm_start_exclude=softmax_linear '
        'would' in line for line in logs.output), logs.output)
    source_body = _values(self.source, BODY)
    for name, value in _values(result.checkpoint, BODY).items():
      self.assertAllEqual(value, source_body[name], msg=name)
    self.assertEqual(
        tf.train.load_variable(result.checkpoint, HEAD[0]).shape, (84, 3))

  def test_mismatches_and_typos_are_refused_with_a_hint(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    # An exclusion the user chose replaces the default one.
    with self.assertRaisesRegex(
        runtime.UserInputError,
        r'softmax_linear/biases is \[2\] in the checkpoint, \[3\] in this '
        r'model \(leave such layers out with --warm_start_exclude\)'):
      training.train(_config(self.three_classes, train_dir,
                             warm_start_from=self.source_dir,
                             warm_start_exclude=['conv1_scope']))
    with self.assertRaisesRegex(
        runtime.UserInputError,
        "--trainable_scopes: no variable under 'softmax'; the model's "
        'scopes are conv1_scope, conv2_scope, conv3_scope, local1_scope, '
        'softmax_linear'):
      training.train(_config(self.data_dir, train_dir,
                             trainable_scopes=['softmax']))
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--warm_start_from=.*no checkpoint'):
      training.train(_config(self.data_dir, train_dir,
                             warm_start_from=self.get_temp_dir()))
    self.assertIsNone(tf.train.latest_checkpoint(train_dir))


if __name__ == '__main__':
  tf.test.main()
