"""Serving: the `onnx_int8` format, OpenVINO, the serving table, predict's choice.

A tiny LeNet-5 trained on the striped images is exported in the float and
quantised formats. Each runtime's probabilities are compared with the
checkpoint rebuilt by hand (`test_export_onnx._checkpoint_probabilities`,
moving averages restored with a plain Saver); the serving table's accuracy
with a numpy count over those probabilities; `tf1cnn-predict`'s default
choice with the format it must pick and with the SavedModel's answers.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tf1cnn import config as config_lib
from tf1cnn import export
from tf1cnn import export_formats
from tf1cnn import prediction
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn import serving_benchmark

import fixtures
from test_export_onnx import _checkpoint_probabilities
from test_export_onnx import _SIZE
from test_export_onnx import _test_pixels

runtime.use_graph_mode()
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HAS_ONNX = not export_formats.get('onnx').missing_modules()
_HAS_OPENVINO = served.runtime_installed('openvino')
_FORMATS = ['saved_model', 'tflite_dynamic', 'onnx', 'onnx_int8']


class ServingChoiceTest(tf.test.TestCase):
  """`prediction.choose_serving` on written export records (no models)."""

  def _version(self, formats, agreements):
    folder = self.get_temp_dir()
    version = tempfile.mkdtemp(dir=folder)
    rows = [dict(format=name, top1_agreement=agree, max_abs_diff=0.01)
            for name, agree in agreements.items()]
    with open(os.path.join(version, 'run_config.json'), 'w') as f:
      json.dump(dict(formats=formats, verification=dict(
          images='40 images of data/test', results=rows)), f)
    return version

  def test_auto_takes_the_first_preferred_format_that_agreed(self):
    first = prediction.SERVING_PREFERENCE[0]
    version = self._version(['saved_model', first],
                            {'saved_model': 1.0, first: 0.995})
    choice = prediction.choose_serving(version)
    self.assertEqual(choice.name, first)
    self.assertEqual(choice.path, export_formats.format_path(version, first))
    self.assertIn('99.5% of 40 images', choice.reason)

  def test_auto_skips_a_format_that_disagreed_with_the_checkpoint(self):
    first = prediction.SERVING_PREFERENCE[0]
    version = self._version(['saved_model', first],
                            {'saved_model': 1.0, first: 0.95})
    self.assertEqual(prediction.choose_serving(version).name, 'saved_model')

  def test_auto_without_a_faster_format_serves_the_saved_model(self):
    version = self._version(['saved_model', 'frozen'],
                            {'saved_model': 1.0, 'frozen': 1.0})
    choice = prediction.choose_serving(version)
    self.assertEqual((choice.name, choice.runtime),
                     ('saved_model', 'saved_model'))

  def test_requested_formats_are_checked(self):
    version = self._version(['saved_model', 'onnx'], {'onnx': 1.0})
    with self.assertRaisesRegex(runtime.UserInputError, 'holds only onnx, '
                                'saved_model'):
      prediction.choose_serving(version, 'tflite_dynamic')
    with self.assertRaisesRegex(runtime.UserInputError, 'unknown format'):
      prediction.choose_serving(version, 'tflite_dymanic')
    with self.assertRaisesRegex(runtime.UserInputError, 'runs on'):
      prediction.choose_serving(version, 'onnx:litert')
    choice = prediction.choose_serving(version, 'onnx')
    self.assertEqual((choice.runtime, choice.path),
                     ('onnx', os.path.join(version, 'onnx', 'model.onnx')))

  def test_fastest_keeps_to_one_point_of_accuracy(self):
    rows = [dict(name='a', test_accuracy=0.90, batch_images_per_sec=900.0,
                 single_images_per_sec=10.0),
            dict(name='b', test_accuracy=0.915, batch_images_per_sec=500.0,
                 single_images_per_sec=50.0),
            dict(name='c', test_accuracy=0.92, batch_images_per_sec=400.0,
                 single_images_per_sec=20.0)]
    self.assertEqual(serving_benchmark.fastest(rows, 0.92)['name'], 'b')
    self.assertEqual(serving_benchmark.fastest(rows, 0.91)['name'], 'a')
    self.assertEqual(serving_benchmark.fastest(
        rows, 0.92, key='single_images_per_sec')['name'], 'b')
    self.assertIsNone(serving_benchmark.fastest(rows, 0.99))


@pytest.mark.slow
@pytest.mark.skipif(not _HAS_ONNX, reason='the onnx extra is not installed')
class ServingFormatsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._temp = tempfile.TemporaryDirectory()
    cls.data_dir, cls.train_dir, cls.version = fixtures.trained_striped_export(
        cls._temp.name, per_class=10, max_steps=30,
        export_options=dict(formats=_FORMATS, verify_images=20,
                            representative_images=20),
        image_size=_SIZE, moving_average_decay=0.5, learning_rate=3e-3)
    cls.pixels, cls.paths = _test_pixels(cls.data_dir)
    cls.labels = np.array([0 if '/horizontal/' in p else 1
                           for p in cls.paths])
    cls.want = _checkpoint_probabilities(cls.train_dir, cls.pixels)
    with open(os.path.join(cls.version, 'run_config.json')) as f:
      cls.rows = {row['format']: row
                  for row in json.load(f)['verification']['results']}

  @classmethod
  def tearDownClass(cls):
    cls._temp.cleanup()
    super().tearDownClass()

  def test_onnx_int8_is_quantised_and_close_to_the_checkpoint(self):
    import onnx  # pylint: disable=g-import-not-at-top
    path = export_formats.format_path(self.version, 'onnx_int8')
    model = onnx.load(path)
    ops = {node.op_type for node in model.graph.node}
    self.assertIn('QuantizeLinear', ops)
    self.assertIn('DequantizeLinear', ops)
    int8_weights = [t for t in model.graph.initializer
                    if t.data_type == onnx.TensorProto.INT8]
    # Both convolutions and all three fully connected layers.
    self.assertGreaterEqual(len(int8_weights), 5)
    self.assertLess(os.path.getsize(path), 0.4 * os.path.getsize(
        export_formats.format_path(self.version, 'onnx')))
    with served.load(path) as served_model:
      self.assertEqual(served_model.kind, 'onnx')
      self.assertEqual(served_model.input_dtype, 'float32')
      got = served_model.probabilities(self.pixels)
    diff = np.abs(got - self.want).max()
    self.assertLess(diff, 0.1)
    self.assertGreaterEqual(
        np.mean(got.argmax(axis=1) == self.want.argmax(axis=1)), 0.9)
    self.assertFalse(self.rows['onnx_int8']['float'])
    self.assertAllClose(self.rows['onnx_int8']['max_abs_diff'], diff,
                        atol=1e-6)

  @pytest.mark.skipif(not _HAS_OPENVINO, reason='openvino is not installed')
  def test_openvino_serves_the_onnx_files_in_float32(self):
    path = export_formats.format_path(self.version, 'onnx')
    with served.load(path, loader=served.RUNTIMES['openvino'],
                     num_threads=1) as served_model:
      self.assertEqual(served_model.kind, 'openvino')
      self.assertEqual(served_model.class_names, ['horizontal', 'vertical'])
      got = served_model.probabilities(self.pixels)
      # One image at a time gives the same numbers.
      single = served_model.probabilities(self.pixels[:1])
    self.assertLess(np.abs(got - self.want).max(),
                    export_formats.FLOAT_TOLERANCE)
    self.assertAllClose(single[0], got[0], atol=1e-6)
    row = self.rows['onnx:openvino']
    self.assertEqual(row['runtime'], 'openvino')
    self.assertTrue(row['float'])
    self.assertIn('onnx_int8:openvino', self.rows)

  def test_serving_table_rows_and_accuracy(self):
    rows = serving_benchmark.measure(
        self.version, self.data_dir, repeats=1, batch_size=8,
        latency_images=5, threads=(0, 1))
    names = {(row['name'], row['threads']) for row in rows}
    expected = {'saved_model', 'tflite_dynamic', 'onnx', 'onnx_int8'}
    if _HAS_OPENVINO:
      expected |= {'onnx:openvino', 'onnx_int8:openvino'}
    self.assertEqual(names, {(name, threads) for name in expected
                             for threads in (0, 1)})
    checkpoint_accuracy = float(np.mean(self.want.argmax(axis=1)
                                        == self.labels))
    for row in rows:
      self.assertEqual(row['test_examples'], len(self.paths))
      self.assertGreater(row['batch_images_per_sec'], 0)
      self.assertGreater(row['single_images_per_sec'], 0)
      self.assertLessEqual(row['p50_ms'], row['p99_ms'])
      self.assertEqual(row['max_abs_diff'], self.rows[row['name']][
          'max_abs_diff'])
      self.assertEqual(row['top1_agreement'], self.rows[row['name']][
          'top1_agreement'])
      if row['format'] in ('saved_model', 'onnx'):
        self.assertAllClose(row['test_accuracy'], checkpoint_accuracy)
    runtimes = {row['name']: row['runtime'] for row in rows}
    self.assertEqual(runtimes['saved_model'], 'tensorflow')
    self.assertEqual(runtimes['onnx'], 'onnxruntime')
    self.assertIn(runtimes['tflite_dynamic'], ('litert', 'tf.lite'))
    text = '\n'.join(serving_benchmark.format_rows(rows,
                                                   checkpoint_accuracy))
    self.assertIn('fastest at batch 64 within 1 point', text)
    self.assertIn('top-1 agree', text)

  def test_predict_default_serves_the_preferred_format(self):
    choice = prediction.choose_serving(self.version)
    # The fastest of the serving table that agreed with the checkpoint.
    self.assertEqual(prediction.SERVING_PREFERENCE[:2],
                     ('onnx_int8', 'tflite_dynamic'))
    agreed = [name for name in ('onnx_int8', 'tflite_dynamic')
              if self.rows[name]['top1_agreement'] >= prediction.MIN_AGREEMENT]
    self.assertEqual(choice.name, (agreed or ['saved_model'])[0])
    auto, _ = prediction.predict_files(self.version, self.paths, top_k=2)
    saved, _ = prediction.predict_files(self.version, self.paths, top_k=2,
                                        serving_format='saved_model')
    self.assertEqual([p.path for p in auto], self.paths)
    for got, base, want in zip(auto, saved, self.want):
      self.assertLess(abs(dict(base.classes)['vertical'] - want[1]),
                      export_formats.FLOAT_TOLERANCE)
      self.assertLess(abs(dict(got.classes)['vertical'] - want[1]),
                      max(0.05, 2 * self.rows[choice.name]['max_abs_diff']))

  def test_default_export_holds_the_fast_format(self):
    version = export.export_saved_model(config_lib.export_config(
        train_dir=self.train_dir, data_dir=self.data_dir,
        export_dir=os.path.join(self.get_temp_dir(), 'default'),
        verify_images=4))
    record = served.read_run_config(version)
    self.assertEqual(record['formats'],
                     ['saved_model', 'tflite_dynamic', 'onnx_int8'])
    self.assertEqual(tuple(record['formats']), export_formats.DEFAULT_FORMATS)
    for name in ('tflite_dynamic', 'onnx_int8'):
      self.assertTrue(os.path.isfile(
          export_formats.format_path(version, name)))

  def test_default_export_without_training_images_leaves_int8_out(self):
    # Test photos to verify on, no training photos to calibrate on.
    data_dir = os.path.join(self.get_temp_dir(), 'test_only')
    shutil.copytree(os.path.join(self.data_dir, 'test'),
                    os.path.join(data_dir, 'test'))
    with self.assertLogs(level='WARNING') as logs:
      version = export.export_saved_model(config_lib.export_config(
          train_dir=self.train_dir, data_dir=data_dir,
          export_dir=os.path.join(self.get_temp_dir(), 'uncalibrated'),
          verify_images=4))
    self.assertEqual(served.read_run_config(version)['formats'],
                     ['saved_model', 'tflite_dynamic'])
    self.assertIn('goes on without onnx_int8', '\n'.join(logs.output))
    self.assertFalse(os.path.exists(
        export_formats.format_path(version, 'onnx_int8')))
    # Named in --formats, the missing calibration set is an error.
    with self.assertRaisesRegex(runtime.UserInputError,
                                'onnx_int8 calibrates on training images'):
      export.export_saved_model(config_lib.export_config(
          train_dir=self.train_dir, data_dir=data_dir,
          export_dir=os.path.join(self.get_temp_dir(), 'named_int8'),
          formats=['saved_model', 'onnx_int8'], verify_images=4))

  def test_default_export_without_the_onnx_extra(self):
    onnx_int8 = export_formats.get('onnx_int8')
    with mock.patch.object(type(onnx_int8), 'missing_modules',
                           lambda fmt: ['tf2onnx'] if fmt.extra == 'onnx'
                           else []):
      self.assertEqual(export_formats.parse_formats('default'),
                       ('saved_model', 'tflite_dynamic'))
      with self.assertRaisesRegex(runtime.UserInputError,
                                  r"pip install 'tf1cnn\[onnx\]'"):
        export_formats.parse_formats('saved_model,onnx_int8')

  def test_default_export_goes_on_when_the_fast_format_is_refused(self):
    def refuse(job, fmt):
      del job
      raise runtime.UserInputError(f'--formats={fmt.name}: TFLite cannot '
                                   'convert this model (test)')
    refused = dict(export_formats._BY_NAME)  # pylint: disable=protected-access
    for name in ('tflite_dynamic', 'onnx_int8'):
      refused[name] = dataclasses.replace(refused[name], writer=refuse)
    with mock.patch.object(export_formats, '_BY_NAME', refused):
      with self.assertLogs(level='WARNING') as logs:
        version = export.export_saved_model(config_lib.export_config(
            train_dir=self.train_dir, data_dir=self.data_dir,
            export_dir=os.path.join(self.get_temp_dir(), 'refused'),
            verify_images=4))
      self.assertEqual(served.read_run_config(version)['formats'],
                       ['saved_model'])
      self.assertIn('goes on without it', '\n'.join(logs.output))
      self.assertEqual(prediction.choose_serving(version).name,
                       'saved_model')
      # Named in --formats, the same refusal is an error.
      with self.assertRaisesRegex(runtime.UserInputError,
                                  'tflite_dynamic: TFLite cannot convert'):
        export.export_saved_model(config_lib.export_config(
            train_dir=self.train_dir, data_dir=self.data_dir,
            export_dir=os.path.join(self.get_temp_dir(), 'named'),
            formats=['saved_model', 'tflite_dynamic'], verify_images=4))

  def test_benchmark_serving_only_run(self):
    output = os.path.join(self.get_temp_dir(), 'serving.json')
    result = subprocess.run(
        [sys.executable, 'scripts/benchmark.py', f'--data_dir={self.data_dir}',
         f'--serving_checkpoint={self.train_dir}', '--repeats=1',
         '--serving_latency_images=3', '--serving_threads=0',
         '--serving_batch_size=8', f'--json={output}',
         f'--work_dir={self.get_temp_dir()}'],
        cwd=_ROOT, capture_output=True, text=True, timeout=600,
        env=fixtures.subprocess_env())
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(output) as f:
      serving = json.load(f)['serving']
    self.assertIn('saved_model', {row['name'] for row in serving['rows']})
    self.assertIn('onnx_int8', {row['name'] for row in serving['rows']})
    self.assertIn('serving saved_model', result.stdout)
    self.assertIsNotNone(serving['fastest_batch'])


if __name__ == '__main__':
  tf.test.main()
