"""An Estimator `model_fn` as a tf1cnn model (`--model=FILE.py:model_fn`).

A checkpoint trained by the Estimator is evaluated and exported by tf1cnn's
programs; the accuracy must equal `Estimator.evaluate`'s on the same pixels
(tf1cnn's own evaluation pipeline, read here into arrays), and the export's
classes on the raw test images, counted in numpy, must give it again.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn.compat import estimator as estimator_lib
from tf1cnn.inputs import image_folder
from tf1cnn.models import estimator_model
from tf1cnn.models import user_model

from fixtures import make_striped_dataset, run_batches, subprocess_env

runtime.use_graph_mode()

_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16

_MODEL_FILE = textwrap.dedent('''
    """model_fns of three kinds of predictions (the test's)."""
    import tensorflow as tf
    from tf1cnn.compat import estimator as tf_estimator

    v1 = tf.compat.v1


    def _logits(features, params):
      images = features['x'] if isinstance(features, dict) else features
      channels = int(images.shape[-1])
      kernel = v1.get_variable(
          'conv1/kernel', [3, 3, channels, 4],
          initializer=v1.glorot_uniform_initializer(seed=1))
      bias = v1.get_variable('conv1/bias', [4],
                             initializer=v1.zeros_initializer())
      net = tf.nn.relu(tf.nn.conv2d(images, kernel, 1, 'SAME') + bias)
      net = tf.nn.max_pool2d(net, 4, 4, 'VALID')
      size = int(net.shape[1]) * int(net.shape[2]) * 4
      net = tf.reshape(net, [-1, size])
      weights = v1.get_variable(
          'logits/kernel', [size, params['num_classes']],
          initializer=v1.glorot_uniform_initializer(seed=2))
      return tf.matmul(net, weights)


    def _spec(mode, labels, logits, predictions):
      if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(mode, predictions=predictions)
      loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
      train_op = v1.train.AdamOptimizer(0.01).minimize(
          loss, global_step=v1.train.get_global_step())
      accuracy = v1.metrics.accuracy(labels, tf.argmax(logits, 1))
      return tf_estimator.EstimatorSpec(
          mode, loss=loss, train_op=train_op, predictions=predictions,
          eval_metric_ops={'accuracy': accuracy})


    def model_fn(features, labels, mode, params):
      logits = _logits(features, params)
      return _spec(mode, labels, logits, {
          'classes': tf.argmax(logits, 1), 'logits': logits,
          'probabilities': tf.nn.softmax(logits)})


    def probabilities_model_fn(features, labels, mode, params):
      logits = _logits(features, params)
      return _spec(mode, labels, logits, {
          'classes': tf.argmax(logits, 1),
          'probabilities': tf.nn.softmax(logits)})


    def classes_model_fn(features, labels, mode, params):
      logits = _logits(features, params)
      return _spec(mode, labels, logits, {'classes': tf.argmax(logits, 1)})
''')


def _run(script, *args):
  return subprocess.run(
      [sys.executable, os.path.join(_ROOT, 'scripts', script)] + list(args),
      cwd=_ROOT, env=subprocess_env(), capture_output=True, text=True,
      timeout=300, check=False)


def _load_module(path):
  import importlib.util  # pylint: disable=import-outside-toplevel
  spec = importlib.util.spec_from_file_location('test_model_fns', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class ModelFnRecognitionTest(tf.test.TestCase):

  def test_parameters_decide(self):
    def model_fn(features, labels, mode, params, config):
      del features, labels, mode, params, config

    def three(features, labels, mode):
      del features, labels, mode

    def factory(images, num_classes, is_training):
      del images, num_classes, is_training

    def extra(features, labels, mode, other):
      del features, labels, mode, other

    self.assertTrue(estimator_model.is_model_fn(model_fn))
    self.assertTrue(estimator_model.is_model_fn(three))
    self.assertFalse(estimator_model.is_model_fn(factory))
    self.assertFalse(estimator_model.is_model_fn(extra))


class AdapterGraphTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.model_file = os.path.join(self.get_temp_dir(), 'model_fns.py')
    with open(self.model_file, 'w') as f:
      f.write(_MODEL_FILE)

  def test_train_mode_leaves_its_loss_out_of_the_graph_losses(self):
    builder = user_model.load(f'{self.model_file}:model_fn')
    with tf.Graph().as_default() as graph:
      _V1.train.get_or_create_global_step()
      images = _V1.placeholder(tf.float32, [None, SIZE, SIZE, 3])
      logits, _ = builder(images, 2, is_training=True)
      self.assertEqual([], graph.get_collection(_V1.GraphKeys.LOSSES))
      self.assertEqual(['conv1/bias:0', 'conv1/kernel:0', 'logits/kernel:0'],
                       sorted(v.name for v in _V1.trainable_variables()))
      self.assertEqual([None, 2], logits.shape.as_list())

  def test_probabilities_become_log_probabilities(self):
    pixels = np.random.RandomState(0).randn(3, SIZE, SIZE, 3).astype(
        np.float32)
    outputs = {}
    for function in ('model_fn', 'probabilities_model_fn'):
      builder = user_model.load(f'{self.model_file}:{function}')
      with tf.Graph().as_default():
        logits, _ = builder(tf.constant(pixels), 2)
        with self.session() as sess:
          sess.run(_V1.global_variables_initializer())  # Seeded initialisers.
          outputs[function] = sess.run(logits)
    raw = outputs['model_fn'].astype(np.float64)
    log_softmax = raw - np.log(np.exp(raw).sum(axis=1, keepdims=True))
    self.assertAllClose(log_softmax, outputs['probabilities_model_fn'],
                        atol=1e-5)


class EstimatorCheckpointInTf1cnnTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._tmp = tempfile.TemporaryDirectory()  # pylint: disable=consider-using-with
    cls.root = cls._tmp.name
    cls.data_dir = os.path.join(cls.root, 'data')
    make_striped_dataset(cls.data_dir, per_class=8, size=SIZE)
    cls.model_file = os.path.join(cls.root, 'model_fns.py')
    with open(cls.model_file, 'w') as f:
      f.write(_MODEL_FILE)
    cls.model_dir = os.path.join(cls.root, 'estimator')
    # tf1cnn's evaluation pixels of both splits, as arrays.
    config = config_lib.make(
        config_lib.TrainingConfig, model=f'{cls.model_file}:model_fn',
        dataset='image_folder', data_dir=cls.data_dir, image_size=SIZE,
        train_dir=os.path.join(cls.root, 'unused'), max_steps=1)
    pixels = {}
    for split in ('train', 'test'):
      with tf.Graph().as_default():
        spec = run_spec.for_training(config)
        batch = spec.build_input(split, 4, is_training=False, num_epochs=1)
        pixels[split] = run_batches(batch)
    cls.test_x, cls.test_y = pixels['test']
    train_x, train_y = pixels['train']
    module = _load_module(cls.model_file)
    cls.estimator = estimator_lib.Estimator(
        module.model_fn, params={'num_classes': 2},
        config=estimator_lib.RunConfig(model_dir=cls.model_dir,
                                       tf_random_seed=1,
                                       save_checkpoints_steps=1000))
    cls.estimator.train(estimator_lib.inputs.numpy_input_fn(
        {'x': train_x}, train_y.astype(np.int32), batch_size=8,
        num_epochs=None, shuffle=True), max_steps=12)
    cls.metrics = cls.estimator.evaluate(estimator_lib.inputs.numpy_input_fn(
        {'x': cls.test_x}, cls.test_y.astype(np.int32), batch_size=16,
        num_epochs=1, shuffle=False))
    cls.checkpoint = cls.estimator.latest_checkpoint()

  @classmethod
  def tearDownClass(cls):
    cls._tmp.cleanup()
    super().tearDownClass()

  def _evaluate(self, function):
    metrics_json = os.path.join(self.root, f'{function}.json')
    done = _run('eval.py', f'--model={self.model_file}:{function}',
                f'--checkpoint_path={self.checkpoint}',
                f'--data_dir={self.data_dir}', f'--image_size={SIZE}',
                '--eval_batch_size=5', f'--metrics_json={metrics_json}')
    self.assertEqual(0, done.returncode, done.stderr[-3000:])
    with open(metrics_json) as f:
      return json.load(f), done.stderr

  def test_eval_py_matches_estimator_evaluate(self):
    self.assertEqual(12, self.metrics['global_step'])
    metrics, log = self._evaluate('model_fn')
    self.assertEqual(16, metrics['num_examples'])
    self.assertEqual(12, metrics['global_step'])
    self.assertAllClose(self.metrics['accuracy'], metrics['accuracy'])
    self.assertIn("logits from predictions['logits']", log)

  def test_probabilities_only_give_the_same_accuracy(self):
    metrics, log = self._evaluate('probabilities_model_fn')
    self.assertAllClose(self.metrics['accuracy'], metrics['accuracy'])
    self.assertIn("the log of predictions['probabilities']", log)

  def test_classes_only_is_one_line_error(self):
    done = _run('eval.py', f'--model={self.model_file}:classes_model_fn',
                f'--checkpoint_path={self.checkpoint}',
                f'--data_dir={self.data_dir}', f'--image_size={SIZE}')
    self.assertEqual(2, done.returncode, done.stderr[-2000:])
    last = done.stderr.strip().splitlines()[-1]
    self.assertIn('classes_model_fn', last)
    self.assertIn('no logits', last)
    self.assertNotIn('Traceback', done.stderr)

  def test_export_py_classes_give_the_estimator_accuracy(self):
    export_dir = os.path.join(self.root, 'export')
    done = _run('export.py', f'--model={self.model_file}:model_fn',
                f'--checkpoint_path={self.checkpoint}',
                f'--data_dir={self.data_dir}', f'--image_size={SIZE}',
                f'--export_dir={export_dir}')
    self.assertEqual(0, done.returncode, done.stderr[-3000:])
    version = os.path.join(export_dir, os.listdir(export_dir)[0])
    files, labels, _ = image_folder.scan_split(self.data_dir, 'test')
    raw = np.stack([np.asarray(Image.open(f).convert('RGB'), np.float32)
                    for f in files])
    with tf.Graph().as_default(), _V1.Session() as sess:
      meta = _V1.saved_model.loader.load(sess, ['serve'], version)
      signature = meta.signature_def['predict_images']
      classes, logits = sess.run(
          [signature.outputs['classes'].name,
           signature.outputs['logits'].name],
          {signature.inputs['images'].name: raw})
    self.assertAllClose(self.metrics['accuracy'],
                        np.mean(classes == np.asarray(labels)))
    # The export's logits are the Estimator's own predictions, image by
    # image, on the same files standardised as TF does
    # (per_image_standardization: the images are already at SIZE).
    with tf.Graph().as_default(), _V1.Session() as sess:
      standardised = sess.run(tf.map_fn(tf.image.per_image_standardization,
                                        tf.constant(raw)))
    predicted = np.stack([p['logits'] for p in self.estimator.predict(
        estimator_lib.inputs.numpy_input_fn(
            {'x': standardised}, batch_size=16, num_epochs=1,
            shuffle=False))])
    self.assertAllClose(predicted, logits, atol=1e-4)

  def test_train_py_trains_the_model_fn(self):
    train_dir = os.path.join(self.root, 'tf1cnn_run')
    done = _run('train.py', f'--model={self.model_file}:model_fn',
                f'--data_dir={self.data_dir}', f'--image_size={SIZE}',
                f'--train_dir={train_dir}', '--max_steps=5',
                '--batch_size=4', '--input_threads=1')
    self.assertEqual(0, done.returncode, done.stderr[-3000:])
    prefix = _V1.train.latest_checkpoint(train_dir)
    self.assertEqual(5, _V1.train.load_variable(prefix, 'global_step'))
    # The model_fn's variables were trained (they left their initial values).
    with tf.Graph().as_default():
      builder = user_model.load(f'{self.model_file}:model_fn')
      self.assertEqual('model_fn', builder.user_model_kind)
      builder(_V1.placeholder(tf.float32, [None, SIZE, SIZE, 3]), 2)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        initial = sess.run(_V1.global_variables('logits/kernel')[0])
    self.assertNotAllClose(initial,
                           _V1.train.load_variable(prefix, 'logits/kernel'))


if __name__ == '__main__':
  tf.test.main()
