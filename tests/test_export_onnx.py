"""The ONNX export format, the format registry and registry-read images.

The ONNX file of a tiny LeNet-5 is run by ONNX Runtime itself and compared
with the checkpoint rebuilt here from `tf1cnn.models` and restored with a
plain Saver; `scripts/eval.py --model_file=x.onnx` must give the
checkpoint's own confusion matrix. An MNIST-format export is verified on the
dataset's images (read through `tf1cnn.inputs`) and calibrates
`tflite_int8` on them.
"""

import json
import os
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl import flags as absl_flags
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import export
from tf1cnn import export_formats
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import models
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn import training

import fixtures
from test_inputs_datasets import make_idx

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SIZE = 32
_HAS_ONNX = not export_formats.get('onnx').missing_modules()


def _np_standardize(images):
  """`per_image_standardization` in numpy, per image of a batch."""
  flat = images.reshape(len(images), -1).astype(np.float64)
  mean = flat.mean(axis=1, keepdims=True)
  std = np.maximum(flat.std(axis=1, keepdims=True),
                   1.0 / np.sqrt(flat.shape[1]))
  return ((flat - mean) / std).reshape(images.shape).astype(np.float32)


def _test_pixels(data_dir):
  """Every test image resized to 32x32 (float32 0-255) and its path."""
  paths = sorted(os.path.join(data_dir, 'test', name, f)
                 for name in ('horizontal', 'vertical')
                 for f in os.listdir(os.path.join(data_dir, 'test', name)))
  raw = np.stack([np.asarray(Image.open(p).convert('RGB'), np.float32)
                  for p in paths])
  with tf.Graph().as_default(), _V1.Session() as sess:
    pixels = sess.run(tf.image.resize(raw, [_SIZE, _SIZE]))
  return pixels, paths


def _checkpoint_probabilities(train_dir, pixels):
  """The checkpoint's softmax, rebuilt by hand (moving averages restored)."""
  prefix = tf.train.latest_checkpoint(train_dir)
  with tf.Graph().as_default(), _V1.Session() as sess:
    images = _V1.placeholder(tf.float32, [None, _SIZE, _SIZE, 3])
    logits, _ = models.get_network_fn('lenet5', 2)(
        tf.map_fn(tf.image.per_image_standardization, images))
    variables = {v.op.name: v for v in _V1.global_variables()}
    _V1.train.Saver({f'{name}/ExponentialMovingAverage': var
                     for name, var in variables.items()}).restore(sess, prefix)
    return sess.run(tf.nn.softmax(logits), {images: pixels})


class FormatRegistryTest(tf.test.TestCase):

  def test_every_record_is_complete_and_loaded_by_its_runtime(self):
    folder = self.get_temp_dir()
    self.assertEqual(len(set(export_formats.FORMATS)),
                     len(export_formats.REGISTRY))
    self.assertIn('onnx', export_formats.FORMATS)
    for fmt in export_formats.REGISTRY:
      self.assertTrue(fmt.name and fmt.summary, fmt)
      self.assertTrue(callable(fmt.writer), fmt.name)
      self.assertIn(fmt.loader, served.RUNTIMES.values(), fmt.name)
      self.assertIn(fmt.kind, ('float', 'quantised'), fmt.name)
      self.assertIn(fmt.graph, ('jpeg', 'pixels'), fmt.name)
      path = fmt.path(folder)
      if fmt.file:
        self.assertEqual(os.path.dirname(path), os.path.join(
            folder, os.path.dirname(fmt.file)))
      # served.load picks the same runtime by the file's suffix alone.
      self.assertIs(served.runtime_for(path), fmt.loader, fmt.name)
    self.assertEqual(export_formats.get('onnx').kind, 'float')
    self.assertEqual(export_formats.get('tflite_int8').kind, 'quantised')
    self.assertEqual(export_formats.format_path('/v', 'onnx'),
                     os.path.join('/v', 'onnx', 'model.onnx'))

  def _flag_values(self):
    values = absl_flags.FlagValues()
    tf1cnn_flags.define(['common', 'export'], flag_values=values)
    return values

  def test_flag_choices_and_help_come_from_the_registry(self):
    values = self._flag_values()
    values(['prog', '--formats=onnx,tflite_int8'])
    self.assertEqual(values.formats, ['onnx', 'tflite_int8'])
    for fmt in export_formats.REGISTRY:
      self.assertIn(f'{fmt.name}: {fmt.summary}', values['formats'].help)
    with self.assertRaises(absl_flags.IllegalFlagValueError):
      self._flag_values()(['prog', '--formats=coreml'])
    # A record added to the registry is a choice without touching flags.
    extra = export_formats.CHOICES + ('coreml',)
    with mock.patch.object(export_formats, 'CHOICES', extra):
      values = self._flag_values()
      values(['prog', '--formats=coreml'])
      self.assertEqual(values.formats, ['coreml'])

  def test_missing_packages_are_named_or_skipped(self):
    absent = export_formats.ExportFormat(
        'absent', 'absent/model.bin', export_formats.write_frozen,
        served.RUNTIMES['frozen'], 'float', 'jpeg', 'test format',
        requires=('tf1cnn_no_such_module',), extra='absent')
    registry = export_formats.REGISTRY + (absent,)
    with mock.patch.object(export_formats, 'REGISTRY', registry), \
        mock.patch.dict(export_formats._BY_NAME, absent=absent), \
        mock.patch.object(export_formats, 'FORMATS',
                          export_formats.FORMATS + ('absent',)):
      with self.assertRaisesRegex(
          runtime.UserInputError,
          r"^--formats=absent needs tf1cnn_no_such_module, not installed: "
          r"pip install 'tf1cnn\[absent\]'$"):
        export_formats.parse_formats(['absent'])
      self.assertNotIn('absent', export_formats.parse_formats('all'))

  def test_pixels_behind_inverts_per_image_normalisations(self):
    rng = np.random.RandomState(0)
    pixels = rng.uniform(0, 255, (3, 5, 5, 3)).astype(np.float32)
    pixels[0, 0, 0, 0], pixels[0, 1, 1, 1] = 0.0, 255.0
    inception = lambda x: x * (2.0 / 255.0) - 1.0
    means = np.array([123.68, 116.78, 103.94], np.float32)
    vgg = lambda x: x - means
    for normalize in (_np_standardize, inception, vgg):
      normalized = normalize(pixels)
      got = export_formats.pixels_behind(normalized, normalize)
      self.assertIsNotNone(got)
      self.assertGreaterEqual(got.min(), 0.0)
      self.assertLessEqual(got.max(), 255.0)
      self.assertAllClose(normalize(got), normalized, atol=1e-4)
    # Fixed normalisations give the very pixels back.
    self.assertAllClose(export_formats.pixels_behind(inception(pixels),
                                                     inception), pixels,
                        atol=1e-3)
    # A normalisation that is not affine per image is refused.
    self.assertIsNone(export_formats.pixels_behind(np.sqrt(pixels), np.sqrt))


@pytest.mark.slow
@pytest.mark.skipif(not _HAS_ONNX, reason='the onnx extra is not installed')
class OnnxExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._temp = tempfile.TemporaryDirectory()
    cls.data_dir, cls.train_dir, cls.version = fixtures.trained_striped_export(
        cls._temp.name, per_class=6, max_steps=6,
        export_options=dict(formats=['onnx'], verify_images=8),
        image_size=_SIZE, moving_average_decay=0.5)
    cls.onnx_path = os.path.join(cls.version, 'onnx', 'model.onnx')
    cls.pixels, cls.paths = _test_pixels(cls.data_dir)
    cls.want = _checkpoint_probabilities(cls.train_dir, cls.pixels)

  @classmethod
  def tearDownClass(cls):
    cls._temp.cleanup()
    super().tearDownClass()

  def test_onnx_runtime_matches_checkpoint_within_float_tolerance(self):
    import onnx  # pylint: disable=g-import-not-at-top
    import onnxruntime  # pylint: disable=g-import-not-at-top
    model = onnx.load(self.onnx_path)
    self.assertEqual({o.domain: o.version for o in model.opset_import}[''],
                     export_formats.ONNX_OPSET)
    sess = onnxruntime.InferenceSession(self.onnx_path,
                                        providers=['CPUExecutionProvider'])
    self.assertEqual([i.name for i in sess.get_inputs()], ['input'])
    self.assertEqual([o.name for o in sess.get_outputs()],
                     ['probabilities', 'classes', 'logits'])
    probabilities, classes, logits = sess.run(None, {'input': self.pixels})
    self.assertLess(np.abs(probabilities - self.want).max(),
                    export_formats.FLOAT_TOLERANCE)
    self.assertAllEqual(classes, self.want.argmax(axis=1))
    self.assertEqual(logits.shape, (len(self.paths), 2))
    with open(os.path.join(self.version, 'onnx', 'labels.txt')) as f:
      self.assertEqual(f.read().split(), ['horizontal', 'vertical'])

  def test_verification_record_states_the_opset(self):
    with open(os.path.join(self.version, 'run_config.json')) as f:
      record = json.load(f)
    self.assertEqual(record['formats'], ['onnx'])
    verification = record['verification']
    self.assertEqual(verification['onnx_opset'], export_formats.ONNX_OPSET)
    rows = {row['format']: row for row in verification['results']}
    # ONNX Runtime, and OpenVINO where installed (an alternate runtime).
    self.assertEqual(set(rows), {'onnx', 'onnx:openvino'}
                     if served.runtime_installed('openvino') else {'onnx'})
    row = rows['onnx']
    self.assertEqual(row['runtime'], 'onnx')
    self.assertEqual(row['onnx_opset'], export_formats.ONNX_OPSET)
    self.assertLess(row['max_abs_diff'], export_formats.FLOAT_TOLERANCE)
    self.assertIn('8 images of', verification['images'])

  def test_eval_script_on_onnx_gives_checkpoint_accuracy(self):
    want = evaluation.evaluate(config_lib.eval_config(
        train_dir=self.train_dir, data_dir=self.data_dir,
        eval_dir=self.get_temp_dir()))
    output = os.path.join(self.get_temp_dir(), 'metrics.json')
    result = subprocess.run(
        [sys.executable, 'scripts/eval.py', f'--data_dir={self.data_dir}',
         f'--model_file={self.onnx_path}', f'--metrics_json={output}'],
        cwd=_ROOT, capture_output=True, text=True, timeout=300,
        env=fixtures.subprocess_env())
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    with open(output) as f:
      got = json.load(f)
    self.assertEqual(got['num_examples'], 12)
    self.assertEqual(got['confusion_matrix'], want['confusion_matrix'])
    self.assertIn(f'accuracy {want["accuracy"]:.4f} on 12 examples',
                  result.stdout)


@pytest.mark.slow
class MnistExportTest(tf.test.TestCase):
  """An MNIST-format export, verified and calibrated on its own images."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._temp = tempfile.TemporaryDirectory()
    cls.data_dir = os.path.join(cls._temp.name, 'idx')
    cls.train_dir = os.path.join(cls._temp.name, 'train')
    cls.data = make_idx(cls.data_dir, np.random.RandomState(3))
    training.train(config_lib.training_config(
        model='lenet5_bn', dataset='fashion_mnist', data_dir=cls.data_dir,
        train_dir=cls.train_dir, batch_size=8, max_steps=3, seed=1))

  @classmethod
  def tearDownClass(cls):
    cls._temp.cleanup()
    super().tearDownClass()

  def _config(self, **overrides):
    return config_lib.export_config(
        train_dir=self.train_dir, dataset='fashion_mnist',
        data_dir=self.data_dir, verify_images=6, representative_images=10,
        export_dir=os.path.join(self.get_temp_dir(), 'export'), **overrides)

  def test_verification_images_are_the_datasets_own(self):
    config = self._config()
    prefix = tf.train.latest_checkpoint(self.train_dir)
    spec = run_spec.for_checkpoint(config, prefix, need_data=False)
    pixels, files, description = export_formats.verification_images(
        spec, config, 6)
    self.assertEqual(files, [])
    self.assertIn('fashion_mnist', description)
    self.assertNotIn('random', description)
    stored = self.data['test'][0][:6, :, :, None].astype(np.float32)
    self.assertEqual(pixels.shape, stored.shape)
    # The same network input as the stored test images (standardize).
    self.assertAllClose(_np_standardize(pixels), _np_standardize(stored),
                        atol=1e-4)

  def test_tflite_int8_calibrates_on_the_dataset(self):
    version = export.export_saved_model(self._config(
        formats=['frozen', 'tflite_int8']))
    with open(os.path.join(version, 'run_config.json')) as f:
      verification = json.load(f)['verification']
    self.assertIn('6 images of fashion_mnist', verification['images'])
    rows = {row['format']: row for row in verification['results']}
    self.assertLess(rows['frozen']['max_abs_diff'],
                    export_formats.FLOAT_TOLERANCE)
    self.assertEqual(rows['tflite_int8']['input_dtype'], 'uint8')
    self.assertTrue(os.path.isfile(
        os.path.join(version, 'tflite', 'model_int8.tflite')))


if __name__ == '__main__':
  tf.test.main()
