"""Graph-mode tests of tf1cnn.layers against numpy references."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tf1cnn import layers
from tf1cnn import runtime

from fixtures import subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1


def _var(name):
  """The global variable of the default graph whose op name is `name`."""
  return [v for v in _V1.global_variables() if v.op.name == name][0]


def _numpy_lrn(x, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75):
  out = np.empty_like(x)
  channels = x.shape[-1]
  for c in range(channels):
    lo, hi = max(0, c - depth_radius), min(channels, c + depth_radius + 1)
    sqr_sum = np.sum(x[..., lo:hi] ** 2, axis=-1)
    out[..., c] = x[..., c] / (bias + alpha * sqr_sum) ** beta
  return out


class ConvAndLocalTest(tf.test.TestCase):

  def test_conv_layer_names_shapes_and_values(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 9, 9, 3])
      out = layers.conv_layer('conv1', x, [3, 3, 3, 4], strides=2)
      self.assertEqual(out.shape.as_list(), [None, 5, 5, 4])
      names = sorted(v.op.name for v in _V1.global_variables())
      self.assertEqual(names, ['conv1/biases', 'conv1/weights'])
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        data = np.random.RandomState(0).randn(2, 9, 9, 3).astype(np.float32)
        got, w, b = sess.run([out] + [_V1.global_variables()[i] for i in (0, 1)],
                             {x: data})
      # numpy SAME conv with stride 2 (pad 1 on each side for k=3, n=9).
      padded = np.pad(data, ((0, 0), (1, 1), (1, 1), (0, 0)))
      want = np.zeros((2, 5, 5, 4), np.float32)
      for i in range(5):
        for j in range(5):
          patch = padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :]
          want[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
      want = np.maximum(want + b, 0)
      self.assertAllClose(got, want, atol=1e-4)

  def test_classic_signatures(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [4, 32, 32, 3])
      conv = layers.Conv_layer(names='conv1_scope', input=x,
                               w_shape=[5, 5, 3, 6], b_shape=[6], strid=[1, 1])
      pool = layers.Avg_pool_lrn(names='avg_pooling1', input=conv,
                                 ksize=[1, 2, 2, 1], is_lrn=True)
      reshape = tf.reshape(pool, shape=[4, -1])
      dim = reshape.get_shape()[1]
      local = layers.local_layer(names='local1_scope', input=reshape,
                                 w_shape=[dim, 84], b_shape=[84])
      self.assertEqual(pool.shape.as_list(), [4, 16, 16, 6])
      self.assertEqual(local.shape.as_list(), [4, 84])
      self.assertIn('local1_scope/weights',
                    [v.op.name for v in _V1.trainable_variables()])

  def test_local_layer_flattens_and_checks_width(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 3, 3, 2])
      out = layers.local_layer('fc', x, [None, 5], activation=None)
      self.assertEqual(out.shape.as_list(), [None, 5])
      with self.assertRaisesRegex(ValueError, 'expects 17'):
        layers.local_layer('fc2', x, [17, 5])
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        data = np.arange(36, dtype=np.float32).reshape(2, 3, 3, 2)
        got, w, b = sess.run([out, _var('fc/weights'), _var('fc/biases')], {x: data})
      self.assertAllClose(got, data.reshape(2, 18) @ w + b, rtol=1e-5)

  def test_weight_decay_goes_to_regularization_losses(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 4, 4, 1])
      layers.conv_layer('c', x, [3, 3, 1, 2], weight_decay=0.5)
      losses = _V1.get_collection(_V1.GraphKeys.REGULARIZATION_LOSSES)
      self.assertLen(losses, 1)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        loss, w = sess.run([losses[0], _var('c/weights')])
      self.assertAllClose(loss, 0.5 * np.sum(w ** 2) / 2, rtol=1e-5)

  def test_lrn_matches_numpy(self):
    with tf.Graph().as_default():
      data = np.random.RandomState(1).rand(2, 4, 4, 12).astype(np.float32) * 5
      out = layers.avg_pool_lrn('pool', tf.constant(data), 2, is_lrn=True)
      pooled = data.reshape(2, 2, 2, 2, 2, 12).mean(axis=(2, 4))
      with self.session() as sess:
        self.assertAllClose(sess.run(out), _numpy_lrn(pooled), rtol=1e-5)

  def test_max_pool_same_padding(self):
    with tf.Graph().as_default():
      data = np.random.RandomState(2).rand(1, 5, 5, 1).astype(np.float32)
      out = layers.max_pool_lrn('pool', tf.constant(data), [1, 2, 2, 1])
      self.assertEqual(out.shape.as_list(), [1, 3, 3, 1])
      with self.session() as sess:
        got = sess.run(out)
      self.assertAllClose(got[0, 0, 0, 0], data[0, :2, :2, 0].max())
      self.assertAllClose(got[0, 2, 2, 0], data[0, 4, 4, 0])


class BatchNormTest(tf.test.TestCase):

  def _data(self):
    return np.random.RandomState(3).randn(8, 5, 5, 3).astype(np.float32) * 2 + 1

  def test_training_mode_matches_numpy_and_collects_updates(self):
    with tf.Graph().as_default():
      data = self._data()
      x = tf.constant(data)
      out = layers.batch_norm(x, is_training=True, epsilon=1e-3)
      updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
      self.assertLen(updates, 2)
      names = sorted(v.op.name for v in _V1.global_variables())
      self.assertEqual(names, ['batch_norm/beta', 'batch_norm/gamma',
                               'batch_norm/moving_mean',
                               'batch_norm/moving_variance'])
      self.assertEqual(sorted(v.op.name for v in _V1.trainable_variables()),
                       ['batch_norm/beta', 'batch_norm/gamma'])
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        got = sess.run(out)
      mean = data.mean(axis=(0, 1, 2))
      var = data.var(axis=(0, 1, 2))
      self.assertAllClose(got, (data - mean) / np.sqrt(var + 1e-3), atol=1e-4)

  def test_moving_averages_follow_closed_form_and_eval_uses_them(self):
    decay, steps = 0.9, 7
    with tf.Graph().as_default():
      data = self._data()
      x = _V1.placeholder(tf.float32, data.shape)
      train_out = layers.batch_norm(x, is_training=True, decay=decay)
      with _V1.variable_scope('', reuse=True):
        eval_out = layers.batch_norm(x, is_training=False, decay=decay)
      update_ops = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        for _ in range(steps):
          sess.run([train_out] + update_ops, {x: data})
        moving_mean, moving_var, got = sess.run(
            [_var('batch_norm/moving_mean'), _var('batch_norm/moving_variance'),
             eval_out], {x: data})
      mean, var = data.mean(axis=(0, 1, 2)), data.var(axis=(0, 1, 2))
      # m_k = decay^k * m_0 + (1 - decay^k) * batch_stat, m_0 = 0 and 1.
      keep = decay ** steps
      self.assertAllClose(moving_mean, (1 - keep) * mean, rtol=1e-5)
      self.assertAllClose(moving_var, keep * 1.0 + (1 - keep) * var, rtol=1e-5)
      self.assertAllClose(
          got, (data - moving_mean) / np.sqrt(moving_var + 1e-3), atol=1e-4)

  def test_boolean_tensor_switches_mode_and_gates_updates(self):
    with tf.Graph().as_default():
      data = self._data()
      is_training = _V1.placeholder_with_default(False, [])
      out = layers.batch_norm(tf.constant(data), is_training)
      updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
      self.assertLen(updates, 2)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        eval_value, _ = sess.run([out, updates])
        # In eval mode the update ops ran but changed nothing.
        self.assertAllClose(sess.run(_var('batch_norm/moving_mean')), np.zeros(3))
        self.assertAllClose(eval_value, data / np.sqrt(1 + 1e-3), atol=1e-4)
        train_value, _ = sess.run([out, updates], {is_training: True})
        mean = data.mean(axis=(0, 1, 2))
        self.assertAllClose(sess.run(_var('batch_norm/moving_mean')), 0.1 * mean,
                            rtol=1e-5)
      self.assertAllClose(train_value.mean(axis=(0, 1, 2)), np.zeros(3),
                          atol=1e-4)

  def test_updates_in_place_without_collection(self):
    with tf.Graph().as_default():
      data = self._data()
      out = layers.batch_norm(tf.constant(data), True, updates_collections=None)
      self.assertEmpty(_V1.get_collection(_V1.GraphKeys.UPDATE_OPS))
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        sess.run(out)
        self.assertAllClose(sess.run(_var('batch_norm/moving_mean')),
                            0.1 * data.mean(axis=(0, 1, 2)), rtol=1e-5)

  def test_dense_input(self):
    with tf.Graph().as_default():
      data = np.random.RandomState(4).randn(16, 6).astype(np.float32)
      out = layers.batch_norm(tf.constant(data), True, center=False,
                              scale=False)
      self.assertEqual([v.op.name for v in _V1.trainable_variables()], [])
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        got = sess.run(out)
      self.assertAllClose(got, (data - data.mean(0)) / np.sqrt(data.var(0) + 1e-3),
                          atol=1e-4)


class DropoutTest(tf.test.TestCase):

  def test_dropout_modes(self):
    with tf.Graph().as_default():
      x = tf.ones([1000])
      self.assertIs(layers.dropout(x, 0.5, False), x)
      flag = _V1.placeholder_with_default(True, [])
      out = layers.dropout(x, 0.5, flag, seed=1)
      with self.session() as sess:
        train = sess.run(out)
        evaluated = sess.run(out, {flag: False})
      self.assertAllEqual(evaluated, np.ones(1000))
      kept = train > 0
      self.assertAllClose(train[kept], np.full(kept.sum(), 2.0))
      self.assertBetween(kept.mean(), 0.4, 0.6)


class GraphModeTest(tf.test.TestCase):

  def test_eager_call_names_the_layer(self):
    # A fresh interpreter is eager by default: the layer must refuse clearly.
    code = ('import tensorflow as tf\n'
            'from tf1cnn import layers, runtime\n'
            'try:\n'
            '  layers.conv_layer("c", tf.zeros([1, 4, 4, 1]), [3, 3, 1, 1])\n'
            'except runtime.GraphModeError as e:\n'
            '  print("GraphModeError:", e)\n')
    env = subprocess_env(
               PYTHONPATH=os.path.dirname(os.path.dirname(
                   os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, '-c', code], env=env,
                            capture_output=True, text=True, timeout=120,
                            check=True)
    self.assertIn('GraphModeError: conv_layer builds TF1 graph ops',
                  result.stdout)


if __name__ == '__main__':
  tf.test.main()
