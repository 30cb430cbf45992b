"""SavedModel export: signatures, same predictions as the checkpoint, safety."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import export
from tf1cnn import config as config_lib
from tf1cnn import models
from tf1cnn import prediction
from tf1cnn import runtime
from tf1cnn import training

from fixtures import make_striped_dataset

runtime.use_graph_mode()
_V1 = tf.compat.v1


def _train_on_stripes(max_steps, **options):
  """A few LeNet-5 steps on a striped image folder: `(data_dir, train_dir)`."""
  data_dir, train_dir = tempfile.mkdtemp(), tempfile.mkdtemp()
  make_striped_dataset(data_dir, per_class=6)
  training.train(config_lib.training_config(
      model='lenet5', data_dir=data_dir, train_dir=train_dir, image_size=32,
      batch_size=4, max_steps=max_steps, seed=1, input_threads=2, **options))
  return data_dir, train_dir


class ExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir, cls.train_dir = _train_on_stripes(
        6, moving_average_decay=0.5)

  def test_export_matches_checkpoint_and_is_never_overwritten(self):
    export_dir = os.path.join(self.get_temp_dir(), 'export')
    target = export.export_saved_model(config_lib.export_config(
        train_dir=self.train_dir, export_dir=export_dir))
    self.assertEqual(os.path.basename(target), '6')
    self.assertEqual(os.listdir(export_dir), ['6'])  # no staging left over

    path = os.path.join(self.data_dir, 'test', 'vertical', '00.png')
    with open(path, 'rb') as f:
      encoded = f.read()
    pixels = np.asarray(Image.open(path).convert('RGB'), np.float32)
    with tf.Graph().as_default(), self.session() as sess:
      resized = sess.run(tf.image.resize(pixels, [32, 32]))

    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      meta = _V1.saved_model.loader.load(
          sess, [_V1.saved_model.tag_constants.SERVING], target)
      self.assertCountEqual(meta.signature_def,
                            ['serving_default', 'predict_images',
                             'predict_images_any_size'])
      jpeg_sig = meta.signature_def['serving_default']
      pixel_sig = meta.signature_def['predict_images']
      from_bytes = sess.run(
          {k: v.name for k, v in jpeg_sig.outputs.items()},
          {jpeg_sig.inputs['image_bytes'].name: [encoded, encoded]})
      from_pixels = sess.run(
          {k: v.name for k, v in pixel_sig.outputs.items()},
          {pixel_sig.inputs['images'].name: resized[None]})
    self.assertAllClose(from_bytes['logits'][0], from_pixels['logits'][0],
                        atol=1e-4)
    # probabilities = softmax(logits), classes = argmax, class_names the
    # labels.txt name of each class (numpy, not the graph's own ops).
    logits = from_bytes['logits'].astype(np.float64)
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    self.assertAllClose(from_bytes['probabilities'], softmax, atol=1e-6)
    self.assertAllEqual(from_bytes['classes'], logits.argmax(axis=1))
    names = np.array([b'horizontal', b'vertical'])
    self.assertAllEqual(from_bytes['class_names'],
                        names[logits.argmax(axis=1)])

    # The export holds the moving averages, as evaluation restores them.
    prefix = tf.train.latest_checkpoint(self.train_dir)
    with tf.Graph().as_default(), self.session() as sess:
      logits, _ = models.get_network_fn('lenet5', 2)(
          tf.image.per_image_standardization(tf.constant(resized))[None])
      variables = {v.op.name: v for v in _V1.global_variables()}
      _V1.train.Saver({f'{name}/ExponentialMovingAverage': var
                       for name, var in variables.items()}).restore(sess, prefix)
      want = sess.run(logits)
    self.assertAllClose(from_pixels['logits'], want, atol=1e-4)

    with self.assertRaisesRegex(runtime.UserInputError, 'already exists'):
      export.export_saved_model(config_lib.export_config(
          train_dir=self.train_dir, export_dir=export_dir))
    self.assertEqual(os.listdir(export_dir), ['6'])

  def test_missing_checkpoint(self):
    with self.assertRaisesRegex(runtime.UserInputError, 'no checkpoint'):
      export.export_saved_model(config_lib.export_config(
          train_dir=self.get_temp_dir(), export_dir=self.get_temp_dir()))


_LOGITS_SCOPE_MODEL = """
import tensorflow.compat.v1 as tf


def _dense(inputs, units):
  weights = tf.get_variable('weights', [inputs.shape[1], units])
  biases = tf.get_variable('biases', [units],
                           initializer=tf.zeros_initializer())
  return weights, biases


def scoped(images, num_classes, is_training):
  flat = tf.reshape(images, [-1, 32 * 32 * 3])
  with tf.variable_scope('hidden'):
    weights, biases = _dense(flat, 8)
    hidden = tf.nn.relu(tf.matmul(flat, weights) + biases)
  with tf.variable_scope('logits'):  # as many TF 1.x tutorials name it
    weights, biases = _dense(hidden, num_classes)
    return tf.matmul(hidden, weights) + biases


def named_op(images, num_classes, is_training):
  flat = tf.reshape(images, [-1, 32 * 32 * 3])
  with tf.variable_scope('hidden'):
    weights, biases = _dense(flat, 8)
    hidden = tf.nn.relu(tf.matmul(flat, weights) + biases)
  with tf.variable_scope('out'):
    weights, biases = _dense(hidden, num_classes)
  return tf.add(tf.matmul(hidden, weights), biases, name='logits')
"""


class UserModelNamedLogitsTest(tf.test.TestCase):
  """A `--model=FILE.py:fn` whose own scope or op is named `logits`."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=6)
    cls.model_file = os.path.join(tempfile.mkdtemp(), 'logits_nets.py')
    with open(cls.model_file, 'w') as f:
      f.write(_LOGITS_SCOPE_MODEL)

  def _export_and_compare(self, function, output_scope):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    training.train(config_lib.training_config(
        model=f'{self.model_file}:{function}', data_dir=self.data_dir,
        train_dir=train_dir, image_size=32, batch_size=4, max_steps=3, seed=1,
        input_threads=1))
    # The frozen GraphDef and TFLite find their outputs by node name.
    target = export.export_saved_model(config_lib.export_config(
        train_dir=train_dir, data_dir=self.data_dir,
        export_dir=os.path.join(self.get_temp_dir(), function),
        formats=['saved_model', 'frozen', 'tflite'], verify_images=4))
    pixels = np.random.RandomState(0).uniform(
        0, 255, (3, 32, 32, 3)).astype(np.float32)
    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      meta = _V1.saved_model.loader.load(
          sess, [_V1.saved_model.tag_constants.SERVING], target)
      signature = meta.signature_def['predict_images']
      self.assertEqual(signature.outputs['logits'].name, 'logits:0')
      served = sess.run(signature.outputs['logits'].name,
                        {signature.inputs['images'].name: pixels})
    graph_def = _V1.GraphDef()
    with open(os.path.join(target, 'frozen', 'model.pb'), 'rb') as f:
      graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      _V1.import_graph_def(graph_def, name='')
      frozen = sess.run('logits:0', {'input:0': pixels})
    self.assertTrue(os.path.isfile(
        os.path.join(target, 'tflite', 'model_float32.tflite')))
    # The checkpoint's logits in numpy: per-image standardisation (the
    # folder's recipe), then the two dense layers from its variables.
    prefix = tf.train.latest_checkpoint(train_dir)
    variable = lambda name: tf.train.load_variable(prefix, name)
    flat = pixels.reshape(3, -1).astype(np.float64)
    mean = flat.mean(axis=1, keepdims=True)
    deviation = np.maximum(flat.std(axis=1, keepdims=True),
                           1 / np.sqrt(flat.shape[1]))
    flat = (flat - mean) / deviation
    hidden = np.maximum(
        flat @ variable('hidden/weights') + variable('hidden/biases'), 0)
    want = (hidden @ variable(f'{output_scope}/weights') +
            variable(f'{output_scope}/biases'))
    self.assertAllClose(served, want, atol=1e-5, rtol=0)
    self.assertAllClose(frozen, want, atol=1e-5, rtol=0)
    self.assertGreater(np.abs(want[:, 0] - want[:, 1]).max(), 1e-3)

  def test_a_top_level_logits_scope(self):
    self._export_and_compare('scoped', 'logits')

  def test_a_top_level_op_named_logits(self):
    self._export_and_compare('named_op', 'out')


class PredictionTest(tf.test.TestCase):
  """scripts/predict.py and tf1cnn.prediction on an export."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir, train_dir = _train_on_stripes(3)
    cls.export_dir = os.path.join(tempfile.mkdtemp(), 'export')
    cls.version = export.export_saved_model(config_lib.export_config(
        train_dir=train_dir, export_dir=cls.export_dir))
    cls.folder = os.path.join(cls.data_dir, 'test', 'vertical')
    cls.files = sorted(os.path.join(cls.folder, f)
                       for f in os.listdir(cls.folder))

  def _signature_probabilities(self):
    """The export's serving signature run directly on every file at once."""
    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      meta = _V1.saved_model.loader.load(
          sess, [_V1.saved_model.tag_constants.SERVING], self.version)
      signature = meta.signature_def['serving_default']
      encoded = [open(path, 'rb').read() for path in self.files]
      return sess.run(signature.outputs['probabilities'].name,
                      {signature.inputs['image_bytes'].name: encoded})

  def test_batches_follow_the_files_and_rank_the_classes(self):
    # The base folder resolves to its highest version; batches of 4 over 6.
    # The SavedModel itself (the default export's TFLite file is compared
    # with the checkpoint in test_serving.py).
    got, skipped = prediction.predict_files(self.export_dir, [self.folder],
                                            top_k=5, batch_size=4,
                                            serving_format='saved_model')
    self.assertEqual(skipped, 0)
    self.assertEqual([p.path for p in got], self.files)
    want = self._signature_probabilities()
    names = ['horizontal', 'vertical']  # labels.txt order
    for row, item in zip(want, got):
      self.assertLen(item.classes, 2)  # top_k is capped at the classes
      ranked = sorted(zip(names, row), key=lambda pair: -pair[1])
      self.assertEqual([name for name, _ in item.classes],
                       [name for name, _ in ranked])
      self.assertAllClose([p for _, p in item.classes],
                          [p for _, p in ranked], atol=1e-6)

  def test_bad_paths_name_the_culprit(self):
    with self.assertRaisesRegex(runtime.UserInputError,
                                'missing.jpg: no such file'):
      prediction.predict_files(self.version, [self.files[0], 'missing.jpg'])
    broken = os.path.join(self.get_temp_dir(), 'broken.jpg')
    with open(broken, 'wb') as f:
      f.write(b'not an image')
    with self.assertRaisesRegex(runtime.UserInputError, 'broken.jpg'):
      prediction.predict_files(self.version, [broken, self.files[0]])
    got, skipped = prediction.predict_files(
        self.version, [broken, self.files[0]], bad_images='skip')
    self.assertEqual(([p.path for p in got], skipped), ([self.files[0]], 1))
    with self.assertRaisesRegex(runtime.UserInputError,
                                'no SavedModel there'):
      prediction.predict_files(self.data_dir, [self.files[0]])

  def test_script_prints_and_writes_json(self):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    output = os.path.join(self.get_temp_dir(), 'predictions.json')
    result = subprocess.run(
        [sys.executable, 'scripts/predict.py',
         f'--saved_model_dir={self.export_dir}', '--top_k=1',
         f'--predictions_json={output}', self.files[0]],
        cwd=root, capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    with open(output) as f:
      saved = json.load(f)
    self.assertEqual(saved[0]['path'], self.files[0])
    name, probability = saved[0]['classes'][0]
    self.assertIn(f'{name} {probability:.4f}', result.stdout)
    result = subprocess.run(
        [sys.executable, 'scripts/predict.py',
         f'--saved_model_dir={self.export_dir}', 'missing.jpg'],
        cwd=root, capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 2)
    self.assertEqual(result.stderr.strip().splitlines()[-1],
                     'error: missing.jpg: no such file or folder')


if __name__ == '__main__':
  tf.test.main()
