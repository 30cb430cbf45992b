"""Tests of the TF 1.x drop-in `tf1cnn.compat.v1` and `tf1cnn.compat.contrib`.

The layers themselves are compared with the real tf.compat.v1.layers in
test_compat_tf_layers.py; here: forwarding to tensorflow.compat.v1, the
added `tf.layers` / `tf.contrib`, the errors for missing symbols, and a
TF 1.x script run in a subprocess (`tf.disable_v2_behavior`, `tf.app.flags`,
`tf.app.run`, a training step) that must not import tf_keras, tf_slim or
more of Keras than `import tensorflow` already does.
"""

import os
import subprocess
import sys
import textwrap

import absl.flags
import numpy as np
import tensorflow as tf

import tf1cnn.compat.v1 as tf1
from tf1cnn import runtime
from tf1cnn.compat import contrib
from tf1cnn.compat import missing
from tf1cnn.compat import tf_layers

from fixtures import subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _slim_or_none():
  try:
    from tf1cnn.compat import slim  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return slim


class ForwardingTest(tf.test.TestCase):

  def test_forwards_tensorflow_compat_v1(self):
    self.assertIs(tf1.placeholder, _V1.placeholder)
    self.assertIs(tf1.nn, _V1.nn)
    self.assertIs(tf1.train, _V1.train)
    self.assertIs(tf1.Session, _V1.Session)
    self.assertIs(tf1.GraphKeys, _V1.GraphKeys)
    self.assertIs(tf1.AUTO_REUSE, _V1.AUTO_REUSE)
    self.assertIs(tf1.disable_v2_behavior, _V1.disable_v2_behavior)
    self.assertIs(tf1.enable_eager_execution, _V1.enable_eager_execution)
    self.assertIs(tf1.float32, tf.float32)
    self.assertEqual(tf1.__version__, tf.__version__)

  def test_own_names(self):
    self.assertIs(tf1.layers, tf_layers)
    self.assertIs(tf1.contrib, contrib)
    self.assertIn('layers', dir(tf1))
    self.assertIn('contrib', dir(tf1))
    self.assertIn('placeholder', dir(tf1))

  def test_graph_code_through_the_drop_in(self):
    with tf1.Graph().as_default():
      x = tf1.placeholder(tf1.float32, [None, 6, 6, 2])
      is_training = tf1.placeholder_with_default(False, [])
      net = tf1.layers.conv2d(x, 3, 3, activation=tf1.nn.relu)
      net = tf1.layers.batch_normalization(net, training=is_training)
      logits = tf1.layers.dense(tf1.layers.flatten(net), 2)
      self.assertEqual(logits.shape.as_list(), [None, 2])
      self.assertLen(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS), 2)
      self.assertEqual(
          sorted(v.op.name for v in tf1.trainable_variables()),
          ['batch_normalization/beta', 'batch_normalization/gamma',
           'conv2d/bias', 'conv2d/kernel', 'dense/bias', 'dense/kernel'])

  def test_flags_and_app(self):
    for name in ('DEFINE_string', 'DEFINE_integer', 'DEFINE_float',
                 'DEFINE_boolean', 'DEFINE_bool', 'DEFINE_enum',
                 'DEFINE_list', 'DEFINE_multi_string'):
      self.assertTrue(callable(getattr(tf1.app.flags, name)), name)
      self.assertTrue(callable(getattr(tf1.flags, name)), name)
    self.assertIs(tf1.app.flags.FlagValues, absl.flags.FlagValues)
    values = absl.flags.FlagValues()
    tf1.app.flags.DEFINE_integer('batch', 32, 'batch size', flag_values=values)
    values(['prog', '--batch=8'])
    self.assertEqual(values.batch, 8)
    self.assertTrue(callable(tf1.app.run))  # run in ScriptTest


class MissingSymbolTest(tf.test.TestCase):

  def test_top_level(self):
    # tf.estimator is tf1cnn.compat.estimator (test_tf1cnn_run.py); TF 1.15's
    # tf.pywrap_tensorflow is a name TensorFlow 2.21 removed.
    self.assertFalse(hasattr(tf1, 'pywrap_tensorflow'))
    self.assertIsNone(getattr(tf1, 'no_such_symbol', None))
    with self.assertRaisesRegex(missing.NotProvidedError,
                                r'^tf\.pywrap_tensorflow is not provided'):
      tf1.pywrap_tensorflow  # pylint: disable=pointless-statement
    with self.assertRaisesRegex(AttributeError, 'tf.no_such_symbol'):
      tf1.no_such_symbol  # pylint: disable=pointless-statement
    # A user-fixable error: run_main prints it as one line.
    with self.assertRaises(runtime.UserInputError):
      tf1.pywrap_tensorflow  # pylint: disable=pointless-statement

  def test_dunders_are_not_forwarded(self):
    # tf.compat.v1 is a package; this module must not pretend to be one.
    self.assertFalse(hasattr(tf1, '__path__'))

  def test_contrib(self):
    for name in ('learn', 'rnn', 'training', 'opt'):
      self.assertFalse(hasattr(tf1.contrib, name), name)
      with self.assertRaisesRegex(missing.NotProvidedError,
                                  rf'tf\.contrib\.{name} is not provided'):
        getattr(tf1.contrib, name)
    with self.assertRaisesRegex(missing.NotProvidedError,
                                r'tf\.contrib\.framework\.no_such_helper'):
      tf1.contrib.framework.no_such_helper  # pylint: disable=pointless-statement

  def test_layers(self):
    with self.assertRaisesRegex(missing.NotProvidedError,
                                r'tf\.layers\.experimental is not provided'):
      tf1.layers.experimental  # pylint: disable=pointless-statement


class ContribTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.slim = _slim_or_none()
    if self.slim is None:
      self.skipTest('tf1cnn.compat.slim is not in this checkout yet')

  def test_slim_and_layers_are_the_slim_module(self):
    self.assertIs(tf1.contrib.slim, self.slim)
    self.assertIs(tf1.contrib.layers, self.slim)

  def test_contrib_layers_helpers(self):
    for name in ('xavier_initializer', 'variance_scaling_initializer',
                 'l2_regularizer'):
      self.assertIs(getattr(tf1.contrib.layers, name),
                    getattr(self.slim, name))
    with tf.Graph().as_default():
      w = _V1.get_variable(
          'w', [3, 4], initializer=tf1.contrib.layers.xavier_initializer())
      loss = tf1.contrib.layers.l2_regularizer(0.5)(w)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        w_value, loss_value = sess.run([w, loss])
    self.assertLessEqual(np.abs(w_value).max(), np.sqrt(6.0 / 7))
    self.assertAllClose(loss_value, 0.5 * np.sum(w_value ** 2) / 2)

  def test_framework(self):
    framework = tf1.contrib.framework
    for name in ('arg_scope', 'add_arg_scope', 'get_variables_to_restore',
                 'assign_from_checkpoint_fn'):
      self.assertIs(getattr(framework, name), getattr(self.slim, name))
    self.assertIs(framework.get_or_create_global_step,
                  _V1.train.get_or_create_global_step)

    @framework.add_arg_scope
    def scaled(x, factor=1):
      return x * factor

    with framework.arg_scope([scaled], factor=3):
      self.assertEqual(scaled(2), 6)
    self.assertEqual(scaled(2), 2)

  def test_framework_restore_helpers(self):
    framework = tf1.contrib.framework
    prefix = os.path.join(self.get_temp_dir(), 'model.ckpt')
    with tf.Graph().as_default():
      with _V1.variable_scope('net'):
        tf1.layers.dense(_V1.placeholder(tf.float32, [None, 3]), 2)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        saved = sess.run(_V1.global_variables())
        _V1.train.Saver().save(sess, prefix)
    with tf.Graph().as_default():
      with _V1.variable_scope('net'):
        tf1.layers.dense(_V1.placeholder(tf.float32, [None, 3]), 2)
      to_restore = framework.get_variables_to_restore(include=['net/dense'])
      self.assertEqual(sorted(v.op.name for v in to_restore),
                       ['net/dense/bias', 'net/dense/kernel'])
      init_fn = framework.assign_from_checkpoint_fn(prefix, to_restore)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        init_fn(sess)
        restored = sess.run(_V1.global_variables())
    for want, got in zip(saved, restored):
      self.assertAllClose(got, want)


_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import tensorflow
    keras_before = {m for m in sys.modules if 'keras' in m}
    import tf1cnn.compat.v1 as tf
    assert tf.executing_eagerly(), 'importing tf1cnn.compat.v1 switched modes'
    tf.disable_v2_behavior()

    tf.app.flags.DEFINE_integer('steps', 1, 'training steps')
    tf.app.flags.DEFINE_string('tag', 'none', 'a label')
    FLAGS = tf.app.flags.FLAGS

    def main(argv):
      tf.set_random_seed(0)
      rng = np.random.RandomState(0)
      images = rng.randn(16, 8, 8, 1).astype(np.float32)
      labels = (images.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
      x = tf.placeholder(tf.float32, [None, 8, 8, 1])
      y = tf.placeholder(tf.int64, [None])
      training = tf.placeholder_with_default(False, [])
      net = tf.layers.conv2d(x, 4, 3, padding='same', activation=tf.nn.relu)
      net = tf.layers.batch_normalization(net, training=training)
      net = tf.layers.max_pooling2d(net, 2, 2)
      net = tf.layers.dropout(tf.layers.flatten(net), 0.1, training=training)
      net = tf.layers.dense(net, 8, activation=tf.nn.relu)
      net = tf.layers.batch_normalization(net, training=training)
      logits = tf.layers.dense(net, 2)
      loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
      with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.AdamOptimizer(0.05).minimize(loss)
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = {x: images, y: labels, training: True}
        losses = [sess.run([train_op, loss], feed)[1]
                  for _ in range(FLAGS.steps)]
        first, last = losses[0], np.mean(losses[-3:])
        moving = sess.run(tf.global_variables('batch_normalization.*/moving_mean'))
      variable_types = {type(v).__name__ for v in tf.global_variables()}
      new_keras = sorted({m for m in sys.modules if 'keras' in m} - keras_before)
      print('RESULT', FLAGS.tag, FLAGS.steps, argv[1:], first > last,
            len(moving) == 2 and all(np.all(m != 0) for m in moving),
            sorted(variable_types),
            'tf_keras' in sys.modules, 'tf_slim' in sys.modules, new_keras)

    tf.app.run(main)
''')


class ScriptTest(tf.test.TestCase):

  def test_tf1_script_with_app_run(self):
    env = subprocess_env(PYTHONPATH=_ROOT)
    result = subprocess.run(
        [sys.executable, '-c', _SCRIPT, '--steps=15', '--tag=ok', 'extra'],
        env=env, capture_output=True, text=True, timeout=180, check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    lines = [l for l in result.stdout.splitlines() if l.startswith('RESULT')]
    self.assertEqual(
        lines, ["RESULT ok 15 ['extra'] True True ['RefVariable'] False False "
                "[]"], result.stdout + result.stderr[-3000:])


if __name__ == '__main__':
  tf.test.main()
