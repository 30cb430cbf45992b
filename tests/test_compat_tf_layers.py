"""tf1cnn.compat.tf_layers against the real Keras-2 `tf.compat.v1.layers`.

Each check builds the same code twice, in separate graphs: once with the
reference (`reference_libs.real_tf_layers()`, TF 1.x's legacy layers as
tf_keras ships them) and once with tf1cnn's `tf.layers`. It then compares
variable names, shapes, dtypes and trainability, the UPDATE_OPS and
REGULARIZATION_LOSSES counts, copies the reference's (perturbed) variable
values into tf1cnn's variables and compares the outputs (inference and
training), the regularization losses and every variable after the update
ops and one gradient-descent step.
"""

import warnings

import numpy as np
import tensorflow as tf

import reference_libs
from tf1cnn import runtime
from tf1cnn.compat import missing
from tf1cnn.compat import tf_layers

runtime.use_graph_mode()
_V1 = tf.compat.v1
_KEYS = _V1.GraphKeys

_RTOL = 1e-5
_ATOL = 1e-5


def _l2(scale):
  return lambda w: scale * tf.nn.l2_loss(w)


class _Built:
  """One implementation's graph: variables, collections, a train op."""

  def __init__(self, layers, build_fn, train):
    self.graph = tf.Graph()
    with self.graph.as_default():
      _V1.set_random_seed(7)
      with warnings.catch_warnings():
        # The reference warns that tf.layers is deprecated, on every call.
        warnings.simplefilter('ignore', UserWarning)
        self.inputs, outputs = build_fn(layers)
      self.outputs = list(outputs)
      self.variables = _V1.global_variables()
      self.trainable = _V1.trainable_variables()
      self.updates = _V1.get_collection(_KEYS.UPDATE_OPS)
      self.reg_losses = _V1.get_collection(_KEYS.REGULARIZATION_LOSSES)
      self.train_op = None
      if train:
        loss = tf.add_n([tf.reduce_sum(tf.square(tf.cast(o, tf.float32)))
                         for o in self.outputs] +
                        [tf.cast(r, tf.float32) for r in self.reg_losses])
        self.train_op = _V1.train.GradientDescentOptimizer(0.01).minimize(
            loss)
      self._placeholders = {v: _V1.placeholder(v.dtype.base_dtype, v.shape)
                            for v in self.variables}
      self._load = tf.group([v.assign(p)
                             for v, p in self._placeholders.items()])
      self._init = _V1.global_variables_initializer()

  def signature(self):
    return [(v.op.name, v.shape.as_list(), v.dtype.base_dtype.name)
            for v in self.variables]

  def run(self, feeds, values=None):
    """Returns (initial values, per-feed results, values after a step)."""
    with self.graph.as_default(), _V1.Session(graph=self.graph) as sess:
      sess.run(self._init)
      if values is None:
        rng = np.random.RandomState(3)
        values = [v + rng.uniform(0.1, 0.5, v.shape).astype(v.dtype)
                  for v in sess.run(self.variables)]
      sess.run(self._load, {self._placeholders[v]: value
                            for v, value in zip(self.variables, values)})
      fetches = self.outputs + self.reg_losses
      results = [sess.run(fetches, self._feed(feed)) for feed in feeds]
      after = None
      if self.train_op is not None:
        # One update op per run, then the gradient step: run together, two
        # updates of one variable (a reused batch norm), or an update and a
        # read of the same statistics, race.
        for update in self.updates:
          sess.run(update, self._feed(feeds[0]))
        sess.run(self.train_op, self._feed(feeds[0]))
        after = sess.run(self.variables)
    return values, results, after

  def _feed(self, feed):
    return {self.inputs[name]: value for name, value in feed.items()}


class ReferenceTestCase(tf.test.TestCase):
  """Helpers comparing tf1cnn's layers with the reference on one build_fn."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.reference = reference_libs.real_tf_layers()

  def assert_matches_reference(self, build_fn, feeds, train=True,
                               rtol=_RTOL, atol=_ATOL):
    ref = _Built(self.reference, build_fn, train)
    ours = _Built(tf_layers, build_fn, train)
    self.assertEqual(ours.signature(), ref.signature())
    self.assertEqual([v.op.name for v in ours.trainable],
                     [v.op.name for v in ref.trainable])
    self.assertEqual(len(ours.updates), len(ref.updates), 'UPDATE_OPS')
    self.assertEqual(len(ours.reg_losses), len(ref.reg_losses),
                     'REGULARIZATION_LOSSES')
    for o, r in zip(ours.outputs, ref.outputs):
      self.assertEqual(o.shape.as_list(), r.shape.as_list())
      self.assertEqual(o.dtype, r.dtype)
    values, ref_results, ref_after = ref.run(feeds)
    _, our_results, our_after = ours.run(feeds, values)
    for i, (got, want) in enumerate(zip(our_results, ref_results)):
      for j, (g, w) in enumerate(zip(got, want)):
        self.assertAllClose(g, w, rtol=rtol, atol=atol,
                            msg=f'feed {i}, fetch {j}')
    if train and ref_after is not None:
      for v, g, w in zip(ours.variables, our_after, ref_after):
        self.assertAllClose(g, w, rtol=rtol, atol=atol,
                            msg=f'{v.op.name} after one step')
    return ours, ref

  @staticmethod
  def data(*shape, seed=0, dtype=np.float32):
    return np.random.RandomState(seed).randn(*shape).astype(dtype)


class ConvolutionTest(ReferenceTestCase):

  def test_conv2d_variants_and_unnamed_repeats(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 9, 9, 3])
      a = L.conv2d(x, 4, 3, activation=tf.nn.relu,
                   kernel_regularizer=_l2(0.1), bias_regularizer=_l2(0.2))
      b = L.conv2d(a, 5, (3, 2), strides=2, padding='SAME', use_bias=False)
      c = L.conv2d(a, 3, 3, dilation_rate=2, padding='same', name='dilated',
                   activity_regularizer=lambda o: tf.reduce_sum(tf.abs(o)))
      d = L.conv2d(c, 2, 1)
      return {'x': x}, [b, d]
    ours, _ = self.assert_matches_reference(build, [{'x': self.data(2, 9, 9, 3)}])
    self.assertEqual(
        [v.op.name for v in ours.variables],
        ['conv2d/kernel', 'conv2d/bias', 'conv2d_1/kernel', 'dilated/kernel',
         'dilated/bias', 'conv2d_2/kernel', 'conv2d_2/bias'])

  def test_conv1d_and_conv3d(self):
    def build(L):
      x1 = _V1.placeholder(tf.float32, [None, 11, 3])
      x3 = _V1.placeholder(tf.float32, [None, 5, 6, 6, 2])
      a = L.conv1d(x1, 4, 3, strides=2, activation=tf.nn.tanh,
                   kernel_regularizer=_l2(0.1))
      b = L.conv1d(x1, 2, 3, padding='causal', dilation_rate=2)
      c = L.conv3d(x3, 3, (2, 3, 3), padding='same', strides=(1, 2, 2))
      return {'x1': x1, 'x3': x3}, [a, b, c]
    self.assert_matches_reference(
        build, [{'x1': self.data(2, 11, 3), 'x3': self.data(2, 5, 6, 6, 2)}])

  def test_conv_transpose(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 5, 4, 3])
      x3 = _V1.placeholder(tf.float32, [2, 3, 3, 3, 2])
      a = L.conv2d_transpose(x, 4, 3, strides=2, kernel_regularizer=_l2(0.1))
      b = L.conv2d_transpose(x, 2, (2, 3), strides=(2, 1), padding='same',
                             activation=tf.nn.relu, use_bias=False)
      c = L.conv3d_transpose(x3, 2, 2, strides=2, padding='same')
      return {'x': x, 'x3': x3}, [a, b, c]
    self.assert_matches_reference(
        build, [{'x': self.data(2, 5, 4, 3), 'x3': self.data(2, 3, 3, 3, 2)}])

  def test_separable_conv(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 8, 8, 3])
      x1 = _V1.placeholder(tf.float32, [None, 10, 3])
      a = L.separable_conv2d(x, 4, 3, depth_multiplier=2, padding='same',
                             depthwise_regularizer=_l2(0.1),
                             pointwise_regularizer=_l2(0.2),
                             activation=tf.nn.relu)
      b = L.separable_conv2d(a, 2, 3, strides=2, use_bias=False)
      c = L.separable_conv2d(x, 2, 3, dilation_rate=2)
      d = L.separable_conv1d(x1, 5, 3, depth_multiplier=3, strides=2)
      return {'x': x, 'x1': x1}, [b, c, d]
    ours, _ = self.assert_matches_reference(
        build, [{'x': self.data(2, 8, 8, 3), 'x1': self.data(2, 10, 3)}])
    self.assertIn('separable_conv2d/depthwise_kernel',
                  [v.op.name for v in ours.variables])
    self.assertIn('separable_conv2d/pointwise_kernel',
                  [v.op.name for v in ours.variables])


class DenseDropoutFlattenPoolingTest(ReferenceTestCase):

  def test_dense(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 6])
      x3 = _V1.placeholder(tf.float32, [None, 3, 4])
      x64 = _V1.placeholder(tf.float64, [None, 6])
      a = L.dense(x, 5, activation=tf.nn.relu, kernel_regularizer=_l2(0.1),
                  bias_regularizer=_l2(0.3),
                  activity_regularizer=lambda o: tf.reduce_sum(o * o))
      b = L.dense(a, 3, use_bias=False, name='logits')
      c = L.dense(x3, 2)
      d = L.dense(x64, 2)
      return {'x': x, 'x3': x3, 'x64': x64}, [b, c, d]
    self.assert_matches_reference(
        build, [{'x': self.data(4, 6), 'x3': self.data(4, 3, 4),
                 'x64': self.data(4, 6, dtype=np.float64)}])

  def test_dropout(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 10, 6])
      training = _V1.placeholder_with_default(False, [])
      a = L.dropout(x, 0.4, training=training, seed=5)
      b = L.dropout(x, 0.5, noise_shape=[None, 1, 6], training=True, seed=6)
      c = L.dropout(x, training=False)
      d = L.dropout(x, 0.0, training=True)
      return {'x': x, 'training': training}, [a, b, c, d]
    x = self.data(3, 10, 6)
    ours, _ = self.assert_matches_reference(
        build, [{'x': x}, {'x': x, 'training': True}], train=False)
    with ours.graph.as_default(), _V1.Session() as sess:
      off, shared = sess.run(ours.outputs[:2], {ours.inputs['x']: x})
      on = sess.run(ours.outputs[0], {ours.inputs['x']: x,
                                      ours.inputs['training']: True})
    self.assertAllClose(off, x)
    kept = on != 0
    self.assertTrue(0 < kept.mean() < 1)
    self.assertAllClose(on[kept], x[kept] / 0.6, rtol=1e-5)
    # noise_shape [None, 1, 6]: one mask per (example, channel).
    zeros = shared == 0
    self.assertTrue((zeros == zeros[:, :1, :]).all())

  def test_flatten_and_pooling(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 6, 7, 3])
      x1 = _V1.placeholder(tf.float32, [None, 9, 2])
      x3 = _V1.placeholder(tf.float32, [None, 4, 4, 4, 2])
      outs = [
          L.max_pooling2d(x, 2, 2),
          L.max_pooling2d(x, (3, 2), (2, 1), padding='same'),
          L.average_pooling2d(x, 3, 2, padding='same'),
          L.average_pooling2d(x, 2, 1),
          L.max_pooling1d(x1, 3, 2),
          L.average_pooling1d(x1, 2, 2, padding='same'),
          L.max_pooling3d(x3, 2, 2),
          L.average_pooling3d(x3, (2, 1, 2), 1, padding='same'),
          L.flatten(x),
          L.flatten(x, data_format='channels_first'),
      ]
      return {'x': x, 'x1': x1, 'x3': x3}, outs
    self.assert_matches_reference(
        build, [{'x': self.data(2, 6, 7, 3), 'x1': self.data(2, 9, 2),
                 'x3': self.data(2, 4, 4, 4, 2)}], train=False)


class BatchNormalizationTest(ReferenceTestCase):

  def _bn_net(self, **bn_kwargs):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 6, 6, 3])
      x2 = _V1.placeholder(tf.float32, [None, 5])
      training = _V1.placeholder_with_default(False, [])
      a = L.batch_normalization(x, training=training, **bn_kwargs)
      b = L.batch_normalization(x2, training=training, **bn_kwargs)
      return {'x': x, 'x2': x2, 'training': training}, [a, b]
    return build

  def _feeds(self):
    x, x2 = self.data(4, 6, 6, 3) * 2 + 1, self.data(6, 5, seed=1) * 3 - 1
    return [{'x': x, 'x2': x2, 'training': False},
            {'x': x, 'x2': x2, 'training': True}]

  def test_training_placeholder(self):
    ours, _ = self.assert_matches_reference(self._bn_net(), self._feeds())
    self.assertEqual(
        [v.op.name for v in ours.variables][:4],
        ['batch_normalization/gamma', 'batch_normalization/beta',
         'batch_normalization/moving_mean',
         'batch_normalization/moving_variance'])
    self.assertLen(ours.updates, 4)
    moving = [v.op.name for v in ours.variables if 'moving' in v.op.name]
    self.assertLen(moving, 4)
    self.assertFalse(set(moving) & {v.op.name for v in ours.trainable})

  def test_training_placeholder_false_leaves_statistics(self):
    # One step with training fed False: update ops run but change nothing.
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 4, 4, 2])
      return {'x': x}, [L.batch_normalization(
          x, training=_V1.placeholder_with_default(False, []))]
    ours = _Built(tf_layers, build, train=True)
    values, _, after = ours.run([{'x': self.data(3, 4, 4, 2)}])
    names = [v.op.name for v in ours.variables]
    for name, before, now in zip(names, values, after):
      if 'moving' in name:
        self.assertAllClose(before, now)

  def test_python_bools_options_and_regularizers(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 5, 5, 4])
      x3 = _V1.placeholder(tf.float32, [None, 7, 3])
      outs = [
          L.batch_normalization(x, training=True, momentum=0.9,
                                epsilon=1e-2, beta_regularizer=_l2(0.1),
                                gamma_regularizer=_l2(0.2)),
          L.batch_normalization(x, training=False, center=False),
          L.batch_normalization(x, axis=1, training=True, scale=False),
          L.batch_normalization(x3, training=True, name='seq_bn'),
          L.batch_normalization(x, axis=[1, 3], training=True),
          L.batch_normalization(x, training=True, fused=False),
          L.batch_normalization(x, training=tf.constant(True)),
      ]
      return {'x': x, 'x3': x3}, outs
    self.assert_matches_reference(
        build, [{'x': self.data(3, 5, 5, 4) + 2, 'x3': self.data(4, 7, 3)}])

  def test_renorm_and_friends_are_refused(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 3])
      for kwargs in ({'renorm': True}, {'virtual_batch_size': 2},
                     {'adjustment': lambda shape: (1.0, 0.0)}):
        with self.assertRaisesRegex(missing.UnsupportedArgumentError,
                                    list(kwargs)[0]):
          tf_layers.batch_normalization(x, **kwargs)
      with self.assertRaises(runtime.UserInputError):
        tf_layers.batch_normalization(x, renorm=True)

  def test_numpy_formula(self):
    rng = np.random.RandomState(0)
    x4 = rng.randn(4, 3, 3, 2).astype(np.float32) * 2 + 3
    x2 = rng.randn(5, 3).astype(np.float32) - 1
    with tf.Graph().as_default():
      p4 = _V1.placeholder(tf.float32, x4.shape)
      p2 = _V1.placeholder(tf.float32, x2.shape)
      training = _V1.placeholder(tf.bool, [])
      y4 = tf_layers.batch_normalization(p4, training=training, momentum=0.9)
      y2 = tf_layers.batch_normalization(
          p2, training=training, epsilon=0.01,
          gamma_initializer=_V1.constant_initializer(2.0),
          beta_initializer=_V1.constant_initializer(-1.0))
      updates = _V1.get_collection(_KEYS.UPDATE_OPS)
      stats = [v for v in _V1.global_variables() if 'moving' in v.op.name]
      feed = {p4: x4, p2: x2}
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        out4, out2 = sess.run([y4, y2], {**feed, training: True})
        sess.run(updates, {**feed, training: True})
        mean4, var4, mean2, var2 = sess.run(stats)
        inf4, inf2 = sess.run([y4, y2], {**feed, training: False})
    # Training: batch statistics (biased variance) normalise the input.
    m4, v4 = x4.mean(axis=(0, 1, 2)), x4.var(axis=(0, 1, 2))
    m2, v2 = x2.mean(axis=0), x2.var(axis=0)
    self.assertAllClose(out4, (x4 - m4) / np.sqrt(v4 + 1e-3), atol=1e-4)
    self.assertAllClose(out2, 2 * (x2 - m2) / np.sqrt(v2 + 0.01) - 1,
                        atol=1e-4)
    # moving = moving * momentum + batch * (1 - momentum). The fused 4-D
    # kernel hands over the Bessel-corrected variance (as in TF 1.15);
    # the tf.nn.moments path the biased one.
    n4 = x4.size / x4.shape[-1]
    self.assertAllClose(mean4, 0.9 * 0 + 0.1 * m4, atol=1e-5)
    self.assertAllClose(var4, 0.9 * 1 + 0.1 * v4 * n4 / (n4 - 1), atol=1e-5)
    self.assertAllClose(mean2, 0.99 * 0 + 0.01 * m2, atol=1e-6)
    self.assertAllClose(var2, 0.99 * 1 + 0.01 * v2, atol=1e-6)
    # Inference: the moving statistics.
    self.assertAllClose(inf4, (x4 - mean4) / np.sqrt(var4 + 1e-3), atol=1e-4)
    self.assertAllClose(inf2, 2 * (x2 - mean2) / np.sqrt(var2 + 0.01) - 1,
                        atol=1e-4)


class NetworkStepTest(ReferenceTestCase):

  def test_small_cnn_one_step(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 8, 8, 3])
      training = _V1.placeholder_with_default(False, [])
      net = L.conv2d(x, 6, 3, padding='same', use_bias=False,
                     kernel_regularizer=_l2(1e-2))
      net = tf.nn.relu(L.batch_normalization(net, training=training))
      net = L.max_pooling2d(net, 2, 2)
      net = L.conv2d(net, 8, 3, activation=tf.nn.relu,
                     kernel_regularizer=_l2(1e-2))
      net = L.dropout(L.flatten(net), 0.3, training=training, seed=1)
      net = L.dense(net, 10, activation=tf.nn.relu)
      net = L.batch_normalization(net, training=training)
      return {'x': x, 'training': training}, [L.dense(net, 3)]
    x = self.data(4, 8, 8, 3)
    self.assert_matches_reference(
        build, [{'x': x, 'training': True}, {'x': x}])


class ScopeAndReuseTest(ReferenceTestCase):

  def test_nested_scopes_and_repeats(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 4])
      outs = [L.dense(x, 2), L.dense(x, 2)]
      with _V1.variable_scope('block'):
        outs += [L.dense(x, 2), L.dense(x, 2, name='fc'), L.dense(x, 2)]
        with _V1.variable_scope('inner'):
          outs.append(L.dense(x, 2))
      with _V1.variable_scope('other'):
        outs.append(L.dense(x, 2))
      outs.append(L.dense(x, 2))
      return {'x': x}, outs
    ours, _ = self.assert_matches_reference(build, [{'x': self.data(2, 4)}],
                                            train=False)
    self.assertEqual(
        [v.op.name for v in ours.variables if v.op.name.endswith('kernel')],
        ['dense/kernel', 'dense_1/kernel', 'block/dense/kernel',
         'block/fc/kernel', 'block/dense_1/kernel', 'block/inner/dense/kernel',
         'other/dense/kernel', 'dense_2/kernel'])

  def test_reuse(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 5, 5, 2])
      outs = [L.conv2d(x, 3, 3, name='shared', kernel_regularizer=_l2(0.1))]
      outs.append(L.conv2d(x * 2, 3, 3, name='shared', reuse=True,
                           kernel_regularizer=_l2(0.1)))
      for _ in range(2):
        outs.append(L.conv2d(x, 3, 3, name='auto', reuse=_V1.AUTO_REUSE,
                             kernel_regularizer=_l2(0.1)))
      outs.append(L.batch_normalization(outs[0], training=True, name='bn'))
      outs.append(L.batch_normalization(outs[1], training=True, name='bn',
                                        reuse=True))
      with _V1.variable_scope('tower', reuse=_V1.AUTO_REUSE):
        for _ in range(2):
          outs.append(L.dense(L.flatten(x), 2, name='head'))
      return {'x': x}, outs
    ours, _ = self.assert_matches_reference(build, [{'x': self.data(2, 5, 5, 2)}])
    self.assertEqual(
        [v.op.name for v in ours.variables],
        ['shared/kernel', 'shared/bias', 'auto/kernel', 'auto/bias',
         'bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance',
         'tower/head/kernel', 'tower/head/bias'])
    self.assertLen(ours.reg_losses, 2)  # once per created variable
    self.assertLen(ours.updates, 4)

  def test_same_name_without_reuse_fails(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 3])
      tf_layers.dense(x, 2, name='fc')
      with self.assertRaisesRegex(ValueError, 'fc/kernel already exists'):
        tf_layers.dense(x, 2, name='fc')

  def test_layer_objects(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 6, 6, 2])
      conv = L.Conv2D(4, 3, padding='same', kernel_regularizer=_l2(0.1))
      bn = L.BatchNormalization()
      dense = L.Dense(3)
      a = conv(x)
      b = conv.apply(x * 0.5)
      c = bn(a, training=True)
      d = bn(b, training=False)
      e = dense(L.Flatten()(c))
      f = L.MaxPooling2D(2, 2)(d)
      g = L.Dropout(0.5, seed=3)(f, training=True)
      return {'x': x}, [e, f, g, L.Dense(2, name='named')(e)]
    ours, ref = self.assert_matches_reference(
        build, [{'x': self.data(2, 6, 6, 2)}])
    self.assertLen(ours.reg_losses, 1)
    with ours.graph.as_default():
      layer = tf_layers.Conv2D(2, 1)
      layer(_V1.placeholder(tf.float32, [None, 3, 3, 2]))
      self.assertEqual(layer.name, 'conv2d_1')
      self.assertEqual(layer.scope_name, 'conv2d_1')
      self.assertEqual([v.op.name for v in layer.trainable_variables],
                       ['conv2d_1/kernel', 'conv2d_1/bias'])
      self.assertIs(layer.kernel, layer.variables[0])

  def test_layer_subclass(self):
    def build(L):
      class MyScale(L.Layer):

        def build(self, input_shape):
          self.w = self.add_weight(
              'w', [int(input_shape[-1])], initializer=_V1.ones_initializer(),
              regularizer=_l2(0.1))

        def call(self, inputs):
          return inputs * self.w

      x = _V1.placeholder(tf.float32, [None, 3])
      layer = MyScale()
      return {'x': x}, [layer(x), layer(x * 2), MyScale(name='named')(x)]
    ours, _ = self.assert_matches_reference(build, [{'x': self.data(2, 3)}])
    self.assertEqual([v.op.name for v in ours.variables],
                     ['my_scale/w', 'named/w'])

  def test_not_trainable(self):
    def build(L):
      x = _V1.placeholder(tf.float32, [None, 4, 4, 2])
      a = L.conv2d(x, 2, 1, trainable=False)
      b = L.batch_normalization(a, training=True, trainable=False)
      return {'x': x}, [b, L.dense(L.flatten(b), 2)]
    ours, _ = self.assert_matches_reference(build, [{'x': self.data(2, 4, 4, 2)}])
    self.assertEqual([v.op.name for v in ours.trainable],
                     ['dense/kernel', 'dense/bias'])


class DefaultsTest(tf.test.TestCase):

  def test_initializers(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 20])
      tf_layers.dense(x, 30, name='glorot')
      with _V1.variable_scope('s', initializer=_V1.constant_initializer(0.5)):
        tf_layers.dense(x, 3, name='scoped')
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        kernel, bias, scoped, scoped_bias = sess.run(_V1.global_variables())
    limit = np.sqrt(6.0 / (20 + 30))
    self.assertLessEqual(np.abs(kernel).max(), limit)
    self.assertGreater(np.abs(kernel).max(), 0.8 * limit)
    self.assertAllEqual(bias, np.zeros(30))
    self.assertAllEqual(scoped, np.full((20, 3), 0.5))
    self.assertAllEqual(scoped_bias, np.zeros(3))

  def test_bad_arguments(self):
    with tf.Graph().as_default():
      x = _V1.placeholder(tf.float32, [None, 4, 4, 2])
      with self.assertRaisesRegex(ValueError, 'padding'):
        tf_layers.conv2d(x, 2, 3, padding='full')
      with self.assertRaisesRegex(ValueError, 'kernel_size'):
        tf_layers.conv2d(x, 2, (3, 3, 3))
      with self.assertRaisesRegex(TypeError, 'training'):
        tf_layers.dropout(x, training=tf.constant(1.0))
      with self.assertRaisesRegex(ValueError, 'channel'):
        tf_layers.conv2d(_V1.placeholder(tf.float32, [None, 4, 4, None]), 2, 3)

  def test_missing_names(self):
    self.assertFalse(hasattr(tf_layers, 'InputSpec'))
    with self.assertRaisesRegex(missing.NotProvidedError,
                                r'tf\.layers\.Embedding is not provided'):
      tf_layers.Embedding  # pylint: disable=pointless-statement


if __name__ == '__main__':
  tf.test.main()
