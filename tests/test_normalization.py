"""The shared batch-norm formula (`tf1cnn.normalization`) against numpy."""

import numpy as np
import tensorflow as tf

from tf1cnn import normalization
from tf1cnn import runtime

runtime.use_graph_mode()
_V1 = tf.compat.v1


def _variable(name, value):
  return _V1.get_variable(name, initializer=np.asarray(value, np.float32),
                          trainable=False)


class AssignMovingAverageTest(tf.test.TestCase):

  def test_update_rule_matches_numpy(self):
    moving = np.array([0.5, -1.0, 2.0], np.float32)
    batch = np.array([1.5, 3.0, -2.0], np.float32)
    with tf.Graph().as_default():
      variable = _variable('moving', moving)
      update = normalization.assign_moving_average(variable, batch, 0.9)
      tensor_decay = normalization.assign_moving_average(
          variable, batch, tf.constant(0.9))
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        once = sess.run(update)
        twice = sess.run(tensor_decay)
    expected = moving - (moving - batch) * np.float32(1.0 - 0.9)
    self.assertAllClose(once, expected, rtol=0, atol=1e-7)
    expected = expected - (expected - batch) * (np.float32(1.0) -
                                                np.float32(0.9))
    self.assertAllClose(twice, expected, rtol=0, atol=1e-7)
    self.assertStartsWith(update.op.name, 'AssignMovingAvg')


class NormalizeWithMomentsTest(tf.test.TestCase):

  def _build(self, training, static, axes=(3,), shape=(4, 3, 3, 2)):
    """The formula on a fixed batch; `training=None`: a bool placeholder."""
    rng = np.random.RandomState(0)
    x = (rng.randn(*shape) * 2 + 1).astype(np.float32)
    channels = shape[axes[0]]
    moving_mean = np.full([channels], 0.25, np.float32)
    moving_variance = np.full([channels], 2.0, np.float32)
    beta = np.linspace(-1, 1, channels).astype(np.float32)
    gamma = np.linspace(0.5, 2, channels).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
      if training is None:
        training = _V1.placeholder_with_default(True, [], name='training')
      variables = [_variable(n, v) for n, v in (
          ('moving_mean', moving_mean), ('moving_variance', moving_variance),
          ('beta', beta), ('gamma', gamma))]
      outputs, updates = normalization.normalize_with_moments(
          tf.constant(x), list(axes), tf.float32, variables[0], variables[1],
          variables[2], variables[3], 1e-3, 0.9, training, static)
    return graph, x, (moving_mean, moving_variance, beta, gamma), (
        outputs, updates, variables, training)

  @staticmethod
  def _numpy_batch_norm(x, mean, variance, beta, gamma, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    return ((x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + 1e-3)
            * gamma.reshape(shape) + beta.reshape(shape))

  def test_training_uses_batch_moments_and_moves_the_statistics(self):
    for axis in (3, 1):
      graph, x, (mean0, var0, beta, gamma), (out, updates, variables, _) = (
          self._build(True, True, axes=(axis,)))
      self.assertLen(updates, 2)
      with self.session(graph=graph) as sess:
        sess.run(_V1.variables_initializer(variables))
        got = sess.run(out)
        sess.run(updates)
        moved = sess.run(variables[:2])
      reduce = tuple(i for i in range(4) if i != axis)
      batch_mean = x.mean(axis=reduce)
      batch_variance = x.var(axis=reduce)
      self.assertAllClose(
          got, self._numpy_batch_norm(x, batch_mean, batch_variance, beta,
                                      gamma, axis), rtol=1e-5, atol=1e-5)
      self.assertAllClose(moved[0], mean0 - (mean0 - batch_mean) * 0.1,
                          rtol=1e-5, atol=1e-6)
      self.assertAllClose(moved[1], var0 - (var0 - batch_variance) * 0.1,
                          rtol=1e-5, atol=1e-6)

  def test_eval_uses_the_moving_statistics_without_updates(self):
    graph, x, (mean0, var0, beta, gamma), (out, updates, variables, _) = (
        self._build(False, False))
    self.assertEqual(updates, [])
    with self.session(graph=graph) as sess:
      sess.run(_V1.variables_initializer(variables))
      got = sess.run(out)
    self.assertAllClose(
        got, self._numpy_batch_norm(x, mean0, var0, beta, gamma, 3),
        rtol=1e-5, atol=1e-5)

  def test_a_boolean_tensor_chooses_at_run_time(self):
    graph, x, (mean0, var0, beta, gamma), (out, updates, variables,
                                           training) = self._build(None, None)
    self.assertLen(updates, 2)
    with self.session(graph=graph) as sess:
      sess.run(_V1.variables_initializer(variables))
      eval_out = sess.run(out, {training: False})
      for update in updates:
        sess.run(update, {training: False})
      unchanged = sess.run(variables[:2])
      train_out = sess.run(out)
    self.assertAllClose(
        eval_out, self._numpy_batch_norm(x, mean0, var0, beta, gamma, 3),
        rtol=1e-5, atol=1e-5)
    self.assertAllEqual(unchanged[0], mean0)
    self.assertAllEqual(unchanged[1], var0)
    self.assertAllClose(
        train_out, self._numpy_batch_norm(x, x.mean(axis=(0, 1, 2)),
                                          x.var(axis=(0, 1, 2)), beta, gamma,
                                          3), rtol=1e-5, atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
