"""The Estimator example programs in scripts/tf1_examples/ (TF 1.x code).

* estimator_bn_cnn.py: batch norm with `UPDATE_OPS`: after one step the input
  layer's moving mean is (1 - momentum) x the batch mean (numpy), and
  predictions use the moving statistics (an example's output does not
  depend on the rest of its batch);
* estimator_ema_cnn.py: evaluation restores the moving averages through the
  Scaffold's saver: predictions equal a plain forward pass with the
  checkpoint's `ExponentialMovingAverage` values (and differ from one with
  the raw weights);
* estimator_mnist_cnn.py's model_fn trained by the Estimator gives the
  losses and variables of the same model_fn trained by a plain
  MonitoredTrainingSession loop written here (same seed, same batches);
* estimator_mnist_cnn.py run as a program on Fashion-MNIST (a few steps):
  its reported accuracy equals a numpy count of the export's classes on the
  same test images, read here from the IDX files.
"""

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tf1cnn import runtime
from tf1cnn.compat import estimator as est

from fixtures import subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EXAMPLES = os.path.join(_ROOT, 'scripts', 'tf1_examples')
SHARED_DATA = os.environ.get('TF1CNN_SHARED_DATA',
                             os.path.join(_ROOT, '..', 'shared', 'data'))


def _load(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_EXAMPLES, name + '.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _images(count, seed):
  rng = np.random.RandomState(seed)
  x = rng.uniform(0, 1, (count, 8, 8, 1)).astype(np.float32) * 3 + 2
  y = rng.randint(0, 3, count).astype(np.int32)
  return x, y


def _predict(estimator, x, batch_size):
  return np.array([p['probabilities'] for p in estimator.predict(
      est.inputs.numpy_input_fn({'x': x}, batch_size=batch_size,
                                num_epochs=1, shuffle=False))])


class _LossRecorder(_V1.train.SessionRunHook):

  def begin(self):
    self.loss = _V1.get_collection(_V1.GraphKeys.LOSSES)[0]
    self.values = []

  def before_run(self, run_context):
    return _V1.train.SessionRunArgs(self.loss)

  def after_run(self, run_context, run_values):
    self.values.append(run_values.results)


class MnistModelParityTest(tf.test.TestCase):

  def test_estimator_equals_plain_monitored_session_loop(self):
    module = _load('estimator_mnist_cnn')
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 1, (12, 28, 28, 1)).astype(np.float32)
    y = rng.randint(0, 10, 12).astype(np.int32)
    params = {'filters': 4, 'hidden': 16, 'learning_rate': 0.1}
    steps, seed = 5, 5

    def input_fn():
      return est.inputs.numpy_input_fn({'x': x}, y, batch_size=4,
                                       num_epochs=None, shuffle=False)()

    recorder = _LossRecorder()
    estimator = est.Estimator(
        module.model_fn, params=params,
        config=est.RunConfig(model_dir=self.get_temp_dir() + '/parity',
                             tf_random_seed=seed))
    estimator.train(input_fn, steps=steps, hooks=[recorder])

    with tf.Graph().as_default():
      _V1.set_random_seed(seed)
      _V1.train.get_or_create_global_step()
      features, labels = input_fn()
      spec = module.model_fn(features, labels, est.ModeKeys.TRAIN, params)
      losses = []
      with _V1.train.MonitoredTrainingSession() as session:
        for _ in range(steps):
          losses.append(session.run([spec.train_op, spec.loss])[1])
        final = session.run({v.op.name: v
                             for v in _V1.trainable_variables()})
    self.assertAllClose(recorder.values, losses, rtol=1e-6, atol=1e-7)
    self.assertLess(losses[-1], losses[0])
    self.assertEqual(sorted(final), sorted(
        n for n in estimator.get_variable_names()
        if n != 'global_step'))
    for name, value in final.items():
      self.assertAllClose(estimator.get_variable_value(name), value,
                          rtol=1e-5, atol=1e-6)


class BatchNormExampleTest(tf.test.TestCase):

  def test_update_ops_and_moving_statistics(self):
    module = _load('estimator_bn_cnn')
    x, y = _images(8, 0)
    estimator = est.Estimator(
        module.model_fn, model_dir=self.get_temp_dir() + '/bn',
        params={'bn_momentum': 0.9, 'num_classes': 3, 'learning_rate': 0.1})
    estimator.train(est.inputs.numpy_input_fn(
        {'x': x}, y, batch_size=8, num_epochs=None, shuffle=False), steps=1)
    self.assertAllClose(
        estimator.get_variable_value('input_bn/moving_mean'),
        [0.1 * x.mean()], rtol=1e-5)
    self.assertNotAllClose(
        estimator.get_variable_value('conv1_bn/moving_mean'), np.zeros(8))
    one_by_one = _predict(estimator, x, 1)
    together = _predict(estimator, x, 8)
    self.assertAllClose(one_by_one, together, rtol=1e-5, atol=1e-6)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn(
        {'x': x}, y, batch_size=8, num_epochs=1, shuffle=False))
    self.assertAllClose(metrics['accuracy'],
                        np.mean(together.argmax(1) == y))


class MovingAverageExampleTest(tf.test.TestCase):

  def test_evaluation_uses_the_averages(self):
    module = _load('estimator_ema_cnn')
    x, y = _images(8, 1)
    model_dir = self.get_temp_dir() + '/ema'
    estimator = est.Estimator(
        module.model_fn, model_dir=model_dir,
        params={'ema_decay': 0.5, 'num_classes': 3, 'learning_rate': 0.2})
    estimator.train(est.inputs.numpy_input_fn(
        {'x': x}, y, batch_size=4, num_epochs=None, shuffle=False), steps=3)
    predicted = _predict(estimator, x, 4)

    def forward(suffix):
      with tf.Graph().as_default(), _V1.Session() as session:
        images = _V1.placeholder(tf.float32, [None, 8, 8, 1])
        logits = module.small_cnn(images, {'num_classes': 3})
        for variable in _V1.trainable_variables():
          variable.load(estimator.get_variable_value(
              variable.op.name + suffix), session)
        return session.run(tf.nn.softmax(logits), {images: x})

    self.assertAllClose(predicted, forward('/ExponentialMovingAverage'),
                        rtol=1e-5, atol=1e-6)
    self.assertNotAllClose(predicted, forward(''))


def _read_idx(path):
  with gzip.open(path, 'rb') as f:
    data = f.read()
  ndim = data[3]
  shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
           for i in range(ndim)]
  return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


class MnistProgramTest(tf.test.TestCase):

  def test_program_accuracy_equals_its_export(self):
    data_dir = os.path.join(SHARED_DATA, 'fashion_mnist')
    if not os.path.exists(os.path.join(data_dir,
                                       't10k-images-idx3-ubyte.gz')):
      self.skipTest('no Fashion-MNIST under TF1CNN_SHARED_DATA')
    with tempfile.TemporaryDirectory() as model_dir:
      result = subprocess.run(
          [sys.executable, os.path.join(_EXAMPLES, 'estimator_mnist_cnn.py'),
           '--data_dir=' + data_dir, '--model_dir=' + model_dir,
           '--train_steps=20', '--num_train=512', '--num_test=300',
           '--batch_size=32'],
          env=subprocess_env(), capture_output=True, text=True, timeout=300,
          check=False)
      self.assertEqual(result.returncode, 0, result.stderr[-3000:])
      report = json.loads(result.stdout.strip().splitlines()[-1])
      self.assertEqual(report['global_step'], 20)
      images = _read_idx(os.path.join(
          data_dir, 't10k-images-idx3-ubyte.gz'))[:300]
      labels = _read_idx(os.path.join(data_dir, 't10k-labels-idx1-ubyte.gz'))
      with tf.Graph().as_default(), _V1.Session() as session:
        meta = _V1.saved_model.load(session, ['serve'], report['export_dir'])
        signature = meta.signature_def['serving_default']
        classes = session.run(
            signature.outputs['classes'].name,
            {signature.inputs['x'].name:
             images[..., None].astype(np.float32) / 255.})
      self.assertAllClose(report['accuracy'],
                          np.mean(classes == labels[:300]), atol=1e-6)


if __name__ == '__main__':
  tf.test.main()
