"""Export formats checked with stock runtimes against the checkpoint.

`saved_model_cli`, `tf.saved_model.load` in plain TF 2 eager (a child
process), `tf.compat.v1.import_graph_def` and `tf.lite.Interpreter` each run
an export of a tiny LeNet-5 on the same pixels as the checkpoint itself
(rebuilt here from `tf1cnn.models` and restored with a plain Saver).
"""

import json
import os
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import export
from tf1cnn import export_formats
from tf1cnn import models
from tf1cnn import runtime
from tf1cnn import training

import fixtures

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SIZE = 32


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


class ExportFormatsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir, cls.train_dir = tempfile.mkdtemp(), tempfile.mkdtemp()
    fixtures.make_striped_dataset(cls.data_dir, per_class=6)
    training.train(config_lib.training_config(
        model='lenet5', data_dir=cls.data_dir, train_dir=cls.train_dir,
        image_size=_SIZE, batch_size=4, max_steps=6, seed=1, input_threads=2,
        moving_average_decay=0.5))
    cls.export_dir = os.path.join(tempfile.mkdtemp(), 'export')
    cls.version = export.export_saved_model(config_lib.export_config(
        train_dir=cls.train_dir, export_dir=cls.export_dir,
        data_dir=cls.data_dir, formats=['all'], verify_images=8))
    cls.pixels, cls.paths = _test_pixels(cls.data_dir)
    cls.want = _checkpoint_probabilities(cls.train_dir, cls.pixels)

  def test_layout_and_recorded_comparison(self):
    self.assertEqual(os.listdir(self.export_dir), ['6'])
    for path in ('saved_model.pb', 'assets/labels.txt', 'run_config.json',
                 'frozen/model.pb', 'frozen/labels.txt',
                 'tflite/model_float32.tflite', 'tflite/model_dynamic.tflite',
                 'tflite/model_int8.tflite', 'tflite/labels.txt'):
      self.assertTrue(os.path.isfile(os.path.join(self.version, path)), path)
    with open(os.path.join(self.version, 'tflite', 'labels.txt')) as f:
      self.assertEqual(f.read().split(), ['horizontal', 'vertical'])
    with open(os.path.join(self.version, 'run_config.json')) as f:
      record = json.load(f)
    self.assertEqual(record['formats'], list(export_formats.FORMATS))
    rows = {row['format']: row for row in record['verification']['results']}
    alternates = [f'{fmt.name}:{name}' for fmt in export_formats.REGISTRY
                  for name in fmt.installed_alternates()]
    self.assertCountEqual(rows, list(export_formats.FORMATS) +
                          ['frozen:input_jpeg'] + alternates)
    for name in ('saved_model', 'frozen', 'frozen:input_jpeg', 'tflite'):
      self.assertLess(rows[name]['max_abs_diff'], 1e-4, name)
    self.assertIn('8 images of', record['verification']['images'])
    self.assertEqual(rows['tflite_int8']['input_dtype'], 'uint8')

  def test_saved_model_cli_shows_named_outputs(self):
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'saved_model_cli'),
         'show', '--dir', self.version, '--all'],
        capture_output=True, text=True, timeout=300,
        env=fixtures.subprocess_env())
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    for text in ("signature_def['predict_images']",
                 "signature_def['serving_default']", 'name: input:0',
                 'name: input_jpeg:0', 'name: probabilities:0',
                 'name: classes:0', 'name: logits:0', 'name: class_names:0'):
      self.assertIn(text, result.stdout)

  def test_saved_model_in_tf2_eager_child(self):
    pixels_file = os.path.join(self.get_temp_dir(), 'pixels.npy')
    np.save(pixels_file, self.pixels)
    code = (
        'import json, sys, numpy as np, tensorflow as tf\n'
        'assert tf.executing_eagerly()\n'
        'model = tf.saved_model.load(sys.argv[1])\n'
        'out = model.signatures["predict_images"](\n'
        '    images=tf.constant(np.load(sys.argv[2])))\n'
        'jpeg = model.signatures["serving_default"](image_bytes=tf.constant(\n'
        '    [open(p, "rb").read() for p in sys.argv[3:]]))\n'
        'print(json.dumps(dict(p=out["probabilities"].numpy().tolist(),\n'
        '    names=[n.decode() for n in out["class_names"].numpy()],\n'
        '    jpeg=jpeg["probabilities"].numpy().tolist())))\n')
    result = subprocess.run(
        [sys.executable, '-c', code, self.version, pixels_file] + self.paths,
        capture_output=True, text=True, timeout=600,
        env=fixtures.subprocess_env())
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    got = json.loads(result.stdout.strip().splitlines()[-1])
    self.assertAllClose(got['p'], self.want, atol=1e-5)
    self.assertAllClose(got['jpeg'], self.want, atol=1e-5)
    names = np.array(['horizontal', 'vertical'])[self.want.argmax(axis=1)]
    self.assertEqual(got['names'], names.tolist())

  def test_frozen_graph_with_import_graph_def(self):
    graph_def = _V1.GraphDef()
    with open(os.path.join(self.version, 'frozen', 'model.pb'), 'rb') as f:
      graph_def.ParseFromString(f.read())
    op_types = {node.op for node in graph_def.node}
    self.assertFalse(op_types & {'VariableV2', 'VarHandleOp',
                                 'ReadVariableOp', 'Assign', 'SaveV2'})
    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      tf.compat.v1.import_graph_def(graph_def, name='')
      self.assertEqual(graph.get_tensor_by_name('input:0').shape.as_list(),
                       [None, _SIZE, _SIZE, 3])
      self.assertEqual(graph.get_tensor_by_name('input_jpeg:0').dtype,
                       tf.string)
      fetch = ['probabilities:0', 'classes:0', 'logits:0']
      # The batch is free: 3 images, then all of them.
      few = sess.run(fetch, {'input:0': self.pixels[:3]})
      probabilities, classes, logits = sess.run(
          fetch, {'input:0': self.pixels})
      encoded = [open(p, 'rb').read() for p in self.paths]
      from_jpeg = sess.run('probabilities:0', {'input_jpeg:0': encoded})
    self.assertAllClose(few[0], probabilities[:3], atol=1e-6)
    self.assertAllClose(probabilities, self.want, atol=1e-5)
    self.assertAllClose(from_jpeg, self.want, atol=1e-5)
    self.assertAllEqual(classes, self.want.argmax(axis=1))
    self.assertEqual(logits.shape, (len(self.paths), 2))

  def _tflite(self, name):
    interpreter = tf.lite.Interpreter(
        model_path=os.path.join(self.version, 'tflite', name))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail['index'], list(self.pixels.shape))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    pixels = self.pixels
    if detail['dtype'] != np.float32:
      scale, zero_point = detail['quantization']
      pixels = np.clip(np.round(pixels / scale + zero_point), 0, 255)
    interpreter.set_tensor(detail['index'], pixels.astype(detail['dtype']))
    interpreter.invoke()
    outputs = {d['name']: interpreter.get_tensor(d['index'])
               for d in interpreter.get_output_details()}
    return detail, outputs

  def test_tflite_with_interpreter(self):
    detail, outputs = self._tflite('model_float32.tflite')
    self.assertEqual(detail['dtype'], np.float32)
    self.assertCountEqual(outputs, ['probabilities', 'classes', 'logits'])
    self.assertAllClose(outputs['probabilities'], self.want, atol=1e-5)
    self.assertAllEqual(outputs['classes'], self.want.argmax(axis=1))

    detail, outputs = self._tflite('model_dynamic.tflite')
    self.assertEqual(detail['dtype'], np.float32)
    self.assertAllClose(outputs['probabilities'], self.want, atol=0.05)

    detail, outputs = self._tflite('model_int8.tflite')
    self.assertEqual(detail['dtype'], np.uint8)
    self.assertEqual(outputs['probabilities'].dtype, np.float32)
    self.assertAllClose(outputs['probabilities'].sum(axis=1),
                        np.ones(len(self.paths)), atol=0.05)
    self.assertLess(np.abs(outputs['probabilities'] - self.want).max(), 0.25)

  def test_eval_script_on_exports_matches_checkpoint(self):
    want = evaluation.evaluate(config_lib.eval_config(
        train_dir=self.train_dir, data_dir=self.data_dir,
        eval_dir=self.get_temp_dir()))
    for name in ('frozen/model.pb', 'tflite/model_float32.tflite'):
      output = os.path.join(self.get_temp_dir(), 'metrics.json')
      result = subprocess.run(
          [sys.executable, 'scripts/eval.py', f'--data_dir={self.data_dir}',
           f'--model_file={os.path.join(self.version, name)}',
           f'--metrics_json={output}'],
          cwd=_ROOT, capture_output=True, text=True, timeout=300,
          env=fixtures.subprocess_env())
      self.assertEqual(result.returncode, 0, result.stderr[-2000:])
      with open(output) as f:
        got = json.load(f)
      self.assertEqual(got['num_examples'], 12, name)
      self.assertEqual(got['confusion_matrix'], want['confusion_matrix'],
                       name)
      self.assertEqual(got['global_step'], 6)
      self.assertIn(f'accuracy {want["accuracy"]:.4f} on 12 examples',
                    result.stdout)

  def test_refuses_a_float_format_off_the_checkpoint(self):
    export_dir = os.path.join(self.get_temp_dir(), 'refused')
    real = export_formats.checkpoint_probabilities
    with mock.patch.object(
        export_formats, 'checkpoint_probabilities',
        lambda *args, **kwargs: real(*args, **kwargs) + 1e-3):
      with self.assertRaisesRegex(runtime.UserInputError,
                                  'export refused: frozen differs'):
        export.export_saved_model(config_lib.export_config(
            train_dir=self.train_dir, export_dir=export_dir,
            data_dir=self.data_dir, formats=['frozen'], verify_images=4))
    self.assertEqual(os.listdir(export_dir), [])

  def test_bad_requests_fail_before_writing(self):
    export_dir = os.path.join(self.get_temp_dir(), 'bad')
    with self.assertRaisesRegex(runtime.UserInputError, 'unknown coreml'):
      export.export_saved_model(config_lib.export_config(
          train_dir=self.train_dir, export_dir=export_dir,
          formats=['frozen', 'coreml']))
    with self.assertRaisesRegex(runtime.UserInputError,
                                'tflite_int8 calibrates on training images'):
      export.export_saved_model(config_lib.export_config(
          train_dir=self.train_dir, export_dir=export_dir,
          formats=['tflite_int8']))
    self.assertFalse(os.path.exists(export_dir))


if __name__ == '__main__':
  tf.test.main()
