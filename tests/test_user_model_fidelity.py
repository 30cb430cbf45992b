"""`--model=FILE.py:function` trains the loss its own program trained.

The losses a network registers (the tutorial's `'losses'` collection,
`REGULARIZATION_LOSSES`), a Slim-style module's arg scope, a tutorial
module's own flags and fixed batch, declared sizes and classes, and one
line naming the function when it misbehaves. References: numpy sums of the
weights, collections summed by hand in plain `tf.compat.v1`.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import tensorflow as tf
from absl import flags as absl_flags
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import models
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import pipeline
from tf1cnn.models import user_model

import reference_libs
from fixtures import subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EXAMPLES = os.path.join(_ROOT, 'scripts', 'tf1_examples')
TUTORIAL = os.path.join(_EXAMPLES, 'cifar10_tutorial.py') + ':inference'
MYNET = os.path.join(_EXAMPLES, 'slim_mynet.py') + ':mynet'
_SHARED = os.environ.get('TF1CNN_SHARED_DATA') or os.path.join(
    _ROOT, '..', 'shared', 'data')


def _make_folder(root, classes, size=28, per_class=2):
  """A tiny image folder of random PNGs, `classes` classes."""
  rng = np.random.RandomState(0)
  for split in ('train', 'test'):
    for label in range(classes):
      folder = os.path.join(root, split, f'class{label}')
      os.makedirs(folder, exist_ok=True)
      for i in range(per_class):
        Image.fromarray(rng.randint(0, 256, (size, size, 3)).astype(
            np.uint8)).save(os.path.join(folder, f'{i}.png'))
  return root


def _run(script, *args, timeout=300):
  return subprocess.run(
      [sys.executable, os.path.join(_ROOT, 'scripts', script)] + list(args),
      cwd=_ROOT, env=subprocess_env(), capture_output=True, text=True,
      timeout=timeout, check=False)


def _l2(values):
  """`tf.nn.l2_loss` in numpy: sum(w**2) / 2."""
  return float(np.sum(np.square(values.astype(np.float64))) / 2.0)


def _graph_at_step_0(test, model, classes=10, batch=4, **config_values):
  """Builds `model`'s training graph on a fixed in-memory batch.

  Returns `(ops, values)`: the TrainGraph and, at step 0, the total loss,
  the cross-entropy and every trainable variable by name.
  """
  data_dir = _make_folder(os.path.join(test.get_temp_dir(), f'd{classes}'),
                          classes)
  config = config_lib.training_config(
      model=model, data_dir=data_dir, batch_size=batch, max_steps=1,
      input_threads=1, seed=3, train_dir=os.path.join(test.get_temp_dir(),
                                                      'run'),
      **config_values)
  spec = run_spec.for_training(config)
  rng = np.random.RandomState(1)
  pixels = rng.normal(size=(batch, spec.image_size, spec.image_size,
                            3)).astype(np.float32)
  classes_of = rng.randint(0, classes, batch).astype(np.int32)

  def batch_fn():
    return pipeline.InputBatch(tf.constant(pixels), tf.constant(classes_of),
                               batch, spec.class_names)

  ops = training.build_train_graph(spec, batch_fn=batch_fn)
  with ops.graph.as_default(), _V1.Session(graph=ops.graph) as sess:
    sess.run([_V1.global_variables_initializer(),
              _V1.local_variables_initializer()])
    variables = {v.op.name: v for v in _V1.trainable_variables()}
    loss, xent, weights = sess.run(
        [ops.model.loss, ops.model.cross_entropy, variables])
  return ops, spec, dict(loss=loss, xent=xent, weights=weights,
                        images=pixels, labels=classes_of)


class TotalLossTest(tf.test.TestCase):
  """`training.total_loss` against numpy sums of what was registered."""

  def _weights(self, name, seed):
    return _V1.get_variable(
        name, initializer=np.random.RandomState(seed).normal(
            size=(3, 4)).astype(np.float32))

  def test_losses_and_regularization_counted_once_each(self):
    def network(images):
      a, b, c = (self._weights(n, i) for i, n in enumerate('abc'))
      in_both = tf.multiply(tf.nn.l2_loss(a), 0.5, name='in_both')
      _V1.add_to_collection('losses', in_both)
      _V1.add_to_collection(_V1.GraphKeys.REGULARIZATION_LOSSES, in_both)
      _V1.add_to_collection(_V1.GraphKeys.LOSSES,
                            tf.multiply(tf.nn.l2_loss(b), 0.25))
      _V1.add_to_collection(_V1.GraphKeys.REGULARIZATION_LOSSES,
                            tf.multiply(tf.nn.l2_loss(c), 2.0))
      return images, [a, b, c]

    with tf.Graph().as_default():
      logits, weights = training.track_network_losses(network)(
          tf.constant([[1.0, -1.0], [0.5, 2.0]]))
      labels = tf.constant([0, 1])
      # A loss added beside the network (a reference), not by it.
      _V1.losses.sparse_softmax_cross_entropy(labels, logits)
      total, xent = training.total_loss(logits, labels)
      with self.cached_session() as sess:
        sess.run(_V1.global_variables_initializer())
        total, xent, (a, b, c) = sess.run([total, xent, weights])
    expected = 0.5 * _l2(a) + 0.25 * _l2(b) + 2.0 * _l2(c)
    self.assertAllClose(total - xent, expected, rtol=1e-5)
    # The cross-entropy itself: numpy log-softmax of the constants.
    z = np.array([[1.0, -1.0], [0.5, 2.0]])
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    self.assertAllClose(xent, -np.mean([log_p[0, 0], log_p[1, 1]]),
                        rtol=1e-5)

  def test_towers_count_their_own(self):
    def network(images, index):
      w = self._weights(f'w{index}', index)
      _V1.add_to_collection('losses', tf.multiply(tf.nn.l2_loss(w),
                                                  float(index + 1)))
      return images, w

    with tf.Graph().as_default():
      tracked = training.track_network_losses(network)
      totals, weights = [], []
      for i in range(2):
        with tf.name_scope(f'tower_{i}') as scope:
          logits, w = tracked(tf.zeros([2, 2]), i)
          weights.append(w)
          totals.append(training.total_loss(logits, tf.constant([0, 1]),
                                            scope))
      with self.cached_session() as sess:
        sess.run(_V1.global_variables_initializer())
        (t0, x0), (t1, x1), ws = sess.run([totals[0], totals[1], weights])
    self.assertAllClose(t0 - x0, _l2(ws[0]), rtol=1e-5)
    self.assertAllClose(t1 - x1, 2.0 * _l2(ws[1]), rtol=1e-5)

  def test_left_out_losses_are_named_in_a_warning(self):
    def network(images):
      w = self._weights('w', 0)
      _V1.add_to_collection('my_weight_losses', tf.nn.l2_loss(w))
      _V1.add_to_collection('losses', tf.constant(3, tf.int32, name='three'))
      return images

    with tf.Graph().as_default():
      logits = training.track_network_losses(network)(tf.zeros([2, 2]))
      with self.assertLogs(level='WARNING') as logs:
        total, xent = training.total_loss(logits, tf.constant([0, 1]))
      with self.cached_session() as sess:
        sess.run(_V1.global_variables_initializer())
        total, xent = sess.run([total, xent])
    text = '\n'.join(logs.output)
    self.assertIn("'my_weight_losses'", text)
    self.assertIn('three:0', text)
    self.assertIn('not a float tensor', text)
    self.assertEqual(total, xent)  # neither was added


class TutorialModuleTest(tf.test.TestCase):
  """The CIFAR-10-tutorial-style module, loaded and trained as it is."""

  def test_total_loss_includes_its_weight_decay(self):
    ops, spec, values = _graph_at_step_0(self, TUTORIAL)
    self.assertEqual(spec.image_size, 24)  # the module's IMAGE_SIZE
    weights = values['weights']
    expected = 0.004 * (_l2(weights['local3/weights'])
                        + _l2(weights['local4/weights']))
    self.assertGreater(expected, 1.0)
    self.assertAllClose(values['loss'] - values['xent'], expected, rtol=1e-4)
    # The module's 'losses' collection summed by hand in plain TF1.
    with ops.graph.as_default(), _V1.Session(graph=ops.graph) as sess:
      by_hand = tf.add_n(_V1.get_collection('losses'))
      sess.run(_V1.global_variables_initializer())
      self.assertAllClose(sess.run(by_hand), expected, rtol=1e-4)

  def test_its_classes_must_be_the_datasets(self):
    data_dir = _make_folder(os.path.join(self.get_temp_dir(), 'd2'), 2)
    config = config_lib.training_config(model=TUTORIAL, data_dir=data_dir,
                                        max_steps=1)
    with self.assertRaisesRegex(
        runtime.UserInputError,
        r'inference\(\) outputs 10 classes .*NUM_CLASSES.* but '
        r'--dataset=image_folder has 2$'):
      run_spec.for_training(config)

  def test_its_flags_live_apart_from_tf1cnn_flags(self):
    before = set(absl_flags.FLAGS)
    own = user_model.module_flags(TUTORIAL)
    self.assertEqual(set(absl_flags.FLAGS), before)
    self.assertIsNot(own, absl_flags.FLAGS)
    self.assertEqual(own.data_dir, '/tmp/cifar10_data')
    fv = absl_flags.FlagValues()
    tf1cnn_flags.define(('common', 'train'), flag_values=fv)
    try:
      tf1cnn_flags.parse(['train', f'--model={TUTORIAL}', '--use_fp16',
                          '--batch_size=8', '--data_dir=/x'], fv)
      self.assertEqual(fv.batch_size, 8)
      self.assertEqual(fv.data_dir, '/x')
      self.assertTrue(own.use_fp16)
      self.assertEqual(own.data_dir, '/tmp/cifar10_data')
    finally:
      user_model.set_module_flag_args(TUTORIAL, ['--nouse_fp16'])
    self.assertFalse(own.use_fp16)

  def test_absl_flags_and_logging_at_import(self):
    path = os.path.join(self.get_temp_dir(), 'absl_net.py')
    with open(path, 'w', encoding='utf-8') as f:
      f.write(textwrap.dedent('''
          from absl import flags
          from absl import logging
          import tensorflow.compat.v1 as tf
          flags.DEFINE_string('log_dir', '/tmp/mine', 'Redefines absl\\'s.')
          flags.DEFINE_integer('width', 3, 'Hidden units.')
          FLAGS = flags.FLAGS
          logging.warning('defined my flags')

          def net(images, num_classes, is_training):
            hidden = tf.reshape(images, [-1, 4 * 4 * 3])
            w = tf.get_variable('w', [4 * 4 * 3, FLAGS.width])
            v = tf.get_variable('v', [FLAGS.width, num_classes])
            return tf.matmul(tf.matmul(hidden, w), v)
          '''))
    global_log_dir = absl_flags.FLAGS['log_dir'].value
    name = f'{path}:net'
    own = user_model.module_flags(name)
    self.assertEqual(sorted(own), ['log_dir', 'width'])
    self.assertEqual(own.log_dir, '/tmp/mine')
    self.assertEqual(absl_flags.FLAGS['log_dir'].value, global_log_dir)
    user_model.set_module_flag_args(name, ['--width=7'])
    with tf.Graph().as_default():
      models.get_network_fn(name, 2)(_V1.placeholder(tf.float32,
                                                     [2, 4, 4, 3]))
      shapes = {v.op.name: v.shape.as_list()
                for v in _V1.trainable_variables()}
    self.assertEqual(shapes['v'], [7, 2])

  def test_trains_with_the_programs(self):
    root = self.get_temp_dir()
    data_dir = _make_folder(os.path.join(root, 'data'), 10)
    flagfile = os.path.join(root, 'run.flags')
    with open(flagfile, 'w', encoding='utf-8') as f:
      f.write('--nouse_fp16\n--max_steps=2\n')
    done = _run('train.py', f'--model={TUTORIAL}', f'--data_dir={data_dir}',
                f'--train_dir={os.path.join(root, "run")}', '--batch_size=6',
                f'--flagfile={flagfile}', '--input_threads=1')
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    self.assertIn('trained to step 2', done.stdout + done.stderr)
    # Evaluation in batches of 4 (20 images): the module's batch_size flag
    # follows the run's batch, the last batch is padded.
    done = _run('eval.py', f'--data_dir={data_dir}',
                f'--train_dir={os.path.join(root, "run")}',
                '--eval_batch_size=6')
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])


class SlimArgScopeTest(tf.test.TestCase):
  """`mynet` with `mynet_arg_scope`, against numpy l2 sums of its weights."""

  _DECAYED = ('MyNet/conv1/weights', 'MyNet/conv2/weights',
              'MyNet/fc3/weights')

  def _decay(self, weights, scale):
    return scale * sum(_l2(weights[name]) for name in self._DECAYED)

  def test_its_arg_scope_is_applied(self):
    _, _, values = _graph_at_step_0(self, MYNET)
    weights = values['weights']
    # Biases from the arg scope (0.1; Slim's own default is 0).
    self.assertAllEqual(weights['MyNet/conv1/biases'],
                        np.full([32], 0.1, np.float32))
    self.assertAllClose(values['loss'] - values['xent'],
                        self._decay(weights, 0.004), rtol=1e-4)

  def test_same_loss_as_real_tf_slim_with_its_arg_scope(self):
    _, _, values = _graph_at_step_0(
        self, MYNET, model_options={'dropout_keep_prob': 1.0})
    tf_slim = reference_libs.real_tf_slim()
    path = MYNET.rpartition(':')[0]
    spec = importlib.util.spec_from_file_location('mynet_on_real_slim', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.slim = tf_slim  # the same code on the real package
    with tf.Graph().as_default():
      images = tf.constant(values['images'])
      with tf_slim.arg_scope(module.mynet_arg_scope()):
        logits, _ = module.mynet(images, num_classes=10, is_training=True,
                                 dropout_keep_prob=1.0)
      loss = (_V1.losses.sparse_softmax_cross_entropy(values['labels'],
                                                      logits)
              + _V1.losses.get_regularization_loss())
      names = {v.op.name for v in _V1.trainable_variables()}
      self.assertEqual(names, set(values['weights']))
      with _V1.Session() as sess:
        for variable in _V1.trainable_variables():
          variable.load(values['weights'][variable.op.name], sess)
        reference = sess.run(loss)
    self.assertGreater(reference - values['xent'], 0.5)
    self.assertAllClose(values['loss'], reference, rtol=1e-5)

  def test_weight_decay_flag_goes_to_the_arg_scope(self):
    _, _, values = _graph_at_step_0(self, MYNET, weight_decay=0.01)
    self.assertAllClose(values['loss'] - values['xent'],
                        self._decay(values['weights'], 0.01), rtol=1e-4)

  def test_no_arg_scope_or_another(self):
    _, _, values = _graph_at_step_0(self, MYNET, model_arg_scope='none')
    self.assertEqual(values['loss'], values['xent'])
    self.assertAllEqual(values['weights']['MyNet/conv1/biases'],
                        np.zeros([32], np.float32))
    _, _, values = _graph_at_step_0(
        self, MYNET, model_arg_scope='mynet_plain_arg_scope')
    self.assertEqual(values['loss'], values['xent'])
    self.assertLess(np.abs(values['weights']['MyNet/conv1/weights']).max(),
                    2 * 5e-2 + 1e-6)  # its truncated normal
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--model_arg_scope=nope.*no function'):
      _graph_at_step_0(self, MYNET, model_arg_scope='nope')


_ODD = '''
import tensorflow.compat.v1 as tf

def _weights(images, width):
  w = tf.get_variable('w', [images.shape[-1], width])
  return tf.matmul(tf.reduce_mean(images, [1, 2]), w)

def wide(images, num_classes, is_training):
  return _weights(images, 5)

def rank4(images, num_classes, is_training):
  return tf.reshape(_weights(images, num_classes), [-1, 1, 1, num_classes])

def no_batch(images, num_classes, is_training):
  return tf.reduce_mean(_weights(images, num_classes), 0)

def ints(images, num_classes, is_training):
  return tf.cast(_weights(images, num_classes), tf.int32)

def nothing(images, num_classes, is_training):
  _weights(images, num_classes)

def text(images, num_classes, is_training):
  return 'logits'

def constant(images, num_classes, is_training):
  return tf.zeros([tf.shape(images)[0], num_classes])

def broken(images, num_classes, is_training):
  raise RuntimeError('my own bug')

def static_batch(images, num_classes, is_training):
  flat = tf.reshape(images, [images.shape[0], -1])
  w = tf.get_variable('w', [flat.shape[1], num_classes])
  return tf.matmul(flat, w)

def any_batch(images, num_classes, is_training):
  return _weights(images, num_classes)

def sized(images, num_classes, is_training):
  flat = tf.reshape(images, [-1, 20 * 20 * 3])
  return tf.matmul(flat, tf.get_variable('w', [20 * 20 * 3, num_classes]))
sized.default_image_size = 20
'''


class MisbehavingModelTest(tf.test.TestCase):
  """Each bad output is one line naming the function and the expectation."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.TemporaryDirectory()
    cls.path = os.path.join(cls.folder.name, 'odd_nets.py')
    with open(cls.path, 'w', encoding='utf-8') as f:
      f.write(_ODD)

  @classmethod
  def tearDownClass(cls):
    cls.folder.cleanup()
    super().tearDownClass()

  def _build(self, function, batch=4, fixed=None):
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [batch, 8, 8, 3])
      network_fn = models.get_network_fn(f'{self.path}:{function}', 2,
                                         is_training=True)
      kwargs = {'batch_size': fixed} if fixed else {}
      return network_fn(images, **kwargs)

  def test_each_bad_output(self):
    cases = {
        'wide': r'returned logits of shape \[4, 5\] for a batch of 4 images '
                r'and 2 classes',
        'rank4': r'returned logits of shape \[4, 1, 1, 2\]',
        'no_batch': r'returned logits of shape \[2\]',
        'ints': r'returned int32 logits',
        'nothing': r'returned None',
        'text': r"returned the string 'logits'",
        'constant': r'built no trainable variables',
        'broken': r'broken\(\) failed: RuntimeError: my own bug',
    }
    for function, pattern in cases.items():
      with self.subTest(function=function):
        with self.assertRaises(runtime.UserInputError) as caught:
          self._build(function)
        message = str(caught.exception)
        self.assertRegex(message, f'{function}\\(\\)')
        self.assertRegex(message, pattern)
        self.assertNotIn('\n', message)
        if function != 'broken':
          self.assertIn('expected float logits of shape [batch, 2]', message)

  def test_a_static_batch_is_given_only_where_needed(self):
    for function, rows in (('static_batch', 3), ('any_batch', 9)):
      with self.subTest(function=function), tf.Graph().as_default():
        images = _V1.placeholder(tf.float32, [None, 8, 8, 3])
        network_fn = models.get_network_fn(f'{self.path}:{function}', 2)
        logits, _ = network_fn(images, batch_size=4)
        pads = [op for op in _V1.get_default_graph().get_operations()
                if op.type in ('Pad', 'PadV2')]
        self.assertEqual(bool(pads), function == 'static_batch')
        with _V1.Session() as sess:
          sess.run(_V1.global_variables_initializer())
          pixels = np.random.RandomState(0).normal(size=(rows, 8, 8, 3))
          self.assertEqual(sess.run(logits, {images: pixels}).shape,
                           (rows, 2))

  def test_default_image_size_wins_over_the_dataset(self):
    data_dir = os.path.join(_SHARED, 'cifar10')
    if not os.path.isdir(data_dir):
      self.skipTest(f'no {data_dir}')
    config = config_lib.training_config(
        model=f'{self.path}:sized', dataset='cifar10', data_dir=data_dir,
        max_steps=1, batch_size=4)
    self.assertEqual(run_spec.for_training(config).image_size, 20)

  def test_the_program_exits_2_with_one_line(self):
    data_dir = _make_folder(os.path.join(self.get_temp_dir(), 'd'), 2)
    train_dir = os.path.join(self.get_temp_dir(), 'run')
    done = _run('train.py', f'--model={self.path}:wide',
                f'--data_dir={data_dir}', f'--train_dir={train_dir}',
                '--max_steps=1', '--batch_size=2', '--input_threads=1',
                '--image_size=8')
    self.assertEqual(done.returncode, 2, done.stderr[-2000:])
    self.assertNotIn('Traceback', done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    self.assertRegex(last, r'^error: --model=.*odd_nets.py:wide: wide\(\) '
                     r'returned logits of shape \[2, 5\]')
    self.assertFalse(os.path.exists(os.path.join(train_dir,
                                                 'run_config.json')))

  def test_an_exception_keeps_the_users_traceback(self):
    with self.assertLogs(level='ERROR') as logs:
      with self.assertRaisesRegex(
          runtime.UserInputError,
          r'^--model=.*:broken: broken\(\) failed: RuntimeError: my own '
          r'bug$'):
        self._build('broken')
    text = '\n'.join(logs.output)
    self.assertIn('odd_nets.py", line', text)
    self.assertIn("raise RuntimeError('my own bug')", text)


if __name__ == '__main__':
  tf.test.main()
