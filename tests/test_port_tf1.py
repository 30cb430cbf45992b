"""Your own TF1 code and checkpoints through the programs, end to end."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tf1cnn import runtime
from tf1cnn.inputs import image_folder

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOG = os.path.join(_ROOT, 'scripts', 'tf1_examples', 'blog_lenet5.py')
BLOG_MAP = r'^(\w+)/(weights|biases)_\1$=\1/\2'
SIZE = 32


def _run(script, *args):
  env = subprocess_env()
  return subprocess.run(
      [sys.executable, os.path.join(_ROOT, 'scripts', script)] + list(args),
      cwd=_ROOT, env=env, capture_output=True, text=True, timeout=300,
      check=False)


# The blog's own program: its graph, an int32 global step, a Saver; no
# run_config.json, no labels.txt. It runs in its own process, since the
# blog code calls tf.disable_v2_behavior() (process-wide).
_WRITE_BLOG_CHECKPOINT = """
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location('blog', sys.argv[1])
blog = importlib.util.module_from_spec(spec)
spec.loader.exec_module(blog)
tf = blog.tf
pixels = np.load(sys.argv[2])
tf.set_random_seed(3)
images = tf.placeholder(tf.float32, pixels.shape)
standardized = tf.map_fn(tf.image.per_image_standardization, images)
logits = blog.inference(standardized, pixels.shape[0], 2, 0.0)
probabilities = tf.nn.softmax(logits)
tf.Variable(7, dtype=tf.int32, name='global_step', trainable=False)
saver = tf.train.Saver()
with tf.Session() as sess:
  sess.run(tf.global_variables_initializer())
  np.save(sys.argv[3], sess.run(probabilities, {images: pixels}))
  print(saver.save(sess, sys.argv[4], 7))
"""


def _pixels(files):
  """float32 0-255 pixels of `files`, resized as tf1cnn's default recipe."""
  with tf.Graph().as_default(), _V1.Session() as sess:
    contents = _V1.placeholder(tf.string, [])
    image = tf.image.resize(tf.io.decode_image(contents, channels=3,
                                               expand_animations=False),
                            [SIZE, SIZE])
    out = []
    for path in files:
      with open(path, 'rb') as f:
        out.append(sess.run(image, {contents: f.read()}))
  return np.stack(out).astype(np.float32)


def _signature_probabilities(export_dir, pixels):
  with tf.Graph().as_default(), _V1.Session() as sess:
    meta = _V1.saved_model.load(sess, ['serve'], export_dir)
    signature = meta.signature_def['predict_images']
    return sess.run(signature.outputs['probabilities'].name,
                    {signature.inputs['images'].name: pixels})


class ForeignCheckpointTest(tf.test.TestCase):
  """A checkpoint written by plain TF1 code (the blog's helpers)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.data_dir = os.path.join(cls.root, 'data')
    make_striped_dataset(cls.data_dir, per_class=4, size=SIZE)
    cls.files, _, cls.class_names = image_folder.scan_split(cls.data_dir,
                                                            'test')
    cls.labels_file = os.path.join(cls.root, 'classes.txt')
    with open(cls.labels_file, 'w', encoding='utf-8') as f:
      f.write('\n'.join(cls.class_names) + '\n')
    cls.pixels = _pixels(cls.files)
    cls.ckpt_dir = os.path.join(cls.root, 'blog_run')
    pixels_path = os.path.join(cls.root, 'pixels.npy')
    expected_path = os.path.join(cls.root, 'expected.npy')
    np.save(pixels_path, cls.pixels)
    done = subprocess.run(
        [sys.executable, '-c', _WRITE_BLOG_CHECKPOINT, BLOG, pixels_path,
         expected_path, os.path.join(cls.ckpt_dir, 'model.ckpt')],
        capture_output=True, text=True, timeout=300, check=True,
        env=subprocess_env())
    cls.prefix = done.stdout.strip().splitlines()[-1]
    cls.expected = np.load(expected_path)

  def test_evaluate_with_the_name_map(self):
    done = _run('eval.py', '--model=lenet5', f'--checkpoint_path={self.prefix}',
                f'--checkpoint_var_map={BLOG_MAP}', f'--data_dir={self.data_dir}',
                f'--image_size={SIZE}', '--eval_batch_size=5')
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('examples (global step 7)', done.stdout)

  def test_without_the_map_the_unmatched_names_are_listed(self):
    done = _run('eval.py', '--model=lenet5', f'--checkpoint_path={self.prefix}',
                f'--data_dir={self.data_dir}', f'--image_size={SIZE}')
    self.assertEqual(done.returncode, 2)
    self.assertNotIn('Traceback', done.stderr)
    self.assertRegex(done.stderr, r"it has no variable 'conv1_scope/biases'.*"
                     r"unmatched variables: 'conv1_scope/biases_conv1_scope'"
                     r".*--checkpoint_var_map")

  def test_a_shape_mismatch_names_the_map(self):
    done = _run('eval.py', '--model=lenet5', f'--checkpoint_path={self.prefix}',
                f'--checkpoint_var_map={BLOG_MAP}', f'--data_dir={self.data_dir}',
                '--image_size=40')
    self.assertEqual(done.returncode, 2)
    self.assertRegex(done.stderr.strip().splitlines()[-1],
                     r"^error: .*local1_scope/weights_local1_scope is "
                     r"\[7680, 84\] in the checkpoint, \[12000, 84\] in "
                     r"--model=lenet5 \(named by --checkpoint_var_map=")

  def test_export_matches_the_original_graph(self):
    export_dir = os.path.join(self.get_temp_dir(), 'export')
    done = _run('export.py', '--model=lenet5',
                f'--checkpoint_path={self.prefix}',
                f'--checkpoint_var_map={BLOG_MAP}', f'--image_size={SIZE}',
                f'--labels_file={self.labels_file}',
                f'--export_dir={export_dir}')
    self.assertEqual(done.returncode, 0, done.stderr)
    version = os.path.join(export_dir, '7')
    got = _signature_probabilities(version, self.pixels)
    self.assertAllClose(got, self.expected, atol=1e-5)
    predicted = _run('predict.py', f'--saved_model_dir={export_dir}',
                     self.files[0])
    self.assertEqual(predicted.returncode, 0, predicted.stderr)
    self.assertIn(self.files[0], predicted.stdout)

  def test_export_needs_the_classes(self):
    done = _run('export.py', '--model=lenet5',
                f'--checkpoint_path={self.prefix}',
                f'--checkpoint_var_map={BLOG_MAP}', f'--image_size={SIZE}',
                f'--export_dir={self.get_temp_dir()}/e2')
    self.assertEqual(done.returncode, 2)
    self.assertIn('no labels.txt beside the checkpoint; pass --labels_file',
                  done.stderr)

  def test_inspect_checkpoint(self):
    done = _run('inspect_checkpoint.py', self.prefix, '--model=lenet5',
                f'--image_size={SIZE}', f'--checkpoint_var_map={BLOG_MAP}')
    self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
    self.assertIn('conv1_scope/weights_conv1_scope  [5, 5, 3, 6]  float32  '
                  '-> conv1_scope/weights', done.stdout)
    self.assertIn('global_step  []  int32  (unused)', done.stdout)
    unmapped = _run('inspect_checkpoint.py', self.prefix, '--model=lenet5',
                    f'--image_size={SIZE}')
    self.assertEqual(unmapped.returncode, 1)
    self.assertIn('model variable not in the checkpoint: conv1_scope/weights',
                  unmapped.stdout)

  def test_warm_start_and_resume_from_it(self):
    train_dir = os.path.join(self.get_temp_dir(), 'finetune')
    done = _run('train.py', '--model=lenet5', f'--data_dir={self.data_dir}',
                f'--image_size={SIZE}', f'--train_dir={train_dir}',
                '--max_steps=2', '--batch_size=4', '--input_threads=1',
                f'--warm_start_from={self.prefix}',
                f'--checkpoint_var_map={BLOG_MAP}')
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('trained to step 2', done.stdout)
    # Resume: another program's checkpoint in --train_dir, int32 step 7.
    resume_dir = os.path.join(self.get_temp_dir(), 'resume')
    os.makedirs(resume_dir)
    for name in os.listdir(self.ckpt_dir):
      if not name.startswith(('model.ckpt', 'checkpoint')):
        continue  # eval_test/ summaries of the other tests
      with open(os.path.join(self.ckpt_dir, name), 'rb') as src, open(
          os.path.join(resume_dir, name), 'wb') as dst:
        dst.write(src.read())
    done = _run('train.py', '--model=lenet5', f'--data_dir={self.data_dir}',
                f'--image_size={SIZE}', f'--train_dir={resume_dir}',
                '--max_steps=9', '--batch_size=4', '--input_threads=1',
                f'--checkpoint_var_map={BLOG_MAP}')
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('trained to step 9', done.stdout)


class UserModelTest(tf.test.TestCase):
  """Seed 003's code with the blog helpers, trained by tf1cnn as it is."""

  def test_train_evaluate_export_predict(self):
    root = self.get_temp_dir()
    data_dir = os.path.join(root, 'data')
    make_striped_dataset(data_dir, per_class=6, size=SIZE)
    train_dir = os.path.join(root, 'run')
    model = f'--model={os.path.relpath(BLOG, _ROOT)}:inference'
    done = _run('train.py', model, f'--data_dir={data_dir}',
                f'--image_size={SIZE}', f'--train_dir={train_dir}',
                '--max_steps=30', '--batch_size=8', '--learning_rate=3e-3',
                '--input_threads=1', '--seed=1', '--drop_rate=0.3')
    self.assertEqual(done.returncode, 0, done.stderr)
    with open(os.path.join(train_dir, 'run_config.json')) as f:
      record = json.load(f)
    self.assertEqual(record['model_file'], BLOG)
    self.assertLen(record['model_sha256'], 64)
    # Evaluation finds the model in run_config.json (the flag says lenet5);
    # 12 test files in batches of 5: the last batch is padded for the
    # tutorial's fixed batch size and its padding dropped.
    metrics_json = os.path.join(root, 'metrics.json')
    done = _run('eval.py', f'--data_dir={data_dir}', f'--train_dir={train_dir}',
                '--eval_batch_size=5', f'--metrics_json={metrics_json}')
    self.assertEqual(done.returncode, 0, done.stderr)
    with open(metrics_json) as f:
      metrics = json.load(f)
    self.assertEqual(metrics['num_examples'], 12)
    self.assertEqual(metrics['global_step'], 30)
    export_dir = os.path.join(root, 'export')
    done = _run('export.py', f'--train_dir={train_dir}',
                f'--export_dir={export_dir}')
    self.assertEqual(done.returncode, 0, done.stderr)
    files, _, _ = image_folder.scan_split(data_dir, 'test')
    done = _run('predict.py', f'--saved_model_dir={export_dir}', *files[:3])
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertLen([l for l in done.stdout.splitlines() if l.strip()], 3)

  def test_a_function_of_neither_signature(self):
    path = os.path.join(self.get_temp_dir(), 'odd.py')
    with open(path, 'w', encoding='utf-8') as f:
      f.write('def net(x, y):\n  return x\n')
    done = _run('train.py', f'--model={path}:net', '--data_dir=.',
                '--max_steps=1')
    self.assertEqual(done.returncode, 2)
    self.assertIn('is neither fn(images, num_classes, is_training, ...) nor '
                  'inference(images, batch_size, n_classes', done.stderr)
    done = _run('train.py', f'--model={path}:missing', '--data_dir=.',
                '--max_steps=1')
    self.assertIn("has no function 'missing'", done.stderr)


if __name__ == '__main__':
  tf.test.main()
