"""tf1cnn.compat.slim against the real TF-Slim, layer by layer (graph mode).

Each comparison builds the same function twice, once with the real `tf_slim`
(`reference_libs.real_tf_slim()`) and once with `tf1cnn.compat.slim`, in two
graphs, and checks: variable names, shapes and dtypes in creation order; the
TRAINABLE_VARIABLES, MODEL_VARIABLES, UPDATE_OPS and REGULARIZATION_LOSSES
collections; the outputs after copying the real variables' values over; and
every variable after one gradient-descent step on `sum(out ** 2) +
regularization` that runs the update ops. Paths where TF-Slim 1.1 itself fails
on TensorFlow 2.21 (its own fused batch norm calls the removed `ops.Tensor`)
are checked against numpy instead.
"""

import inspect
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

import reference_libs
from tf1cnn import runtime
from tf1cnn.compat import slim
from tf1cnn.compat.slim import add_arg_scope
from tf1cnn.compat.slim import arg_scope
from tf1cnn.compat.slim import utils

from fixtures import subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_KEYS = _V1.GraphKeys


def _real():
  """The real tf_slim, imported on first use (not at collection time)."""
  return reference_libs.real_tf_slim()


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(shape, seed=0, scale=1.0, shift=0.0):
  rng = np.random.RandomState(seed)
  return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


class _Built:
  """One library's graph: outputs, feeds, variables and collections."""

  def __init__(self, lib, build_fn, step):
    self.graph = tf.Graph()
    with self.graph.as_default():
      _V1.set_random_seed(1234)
      result = build_fn(lib)
      if isinstance(result, tuple):
        outputs, self.feeds = result
      else:
        outputs, self.feeds = result, {}
      self.outputs = outputs if isinstance(outputs, (list, tuple)) else [
          outputs]
      self.variables = _V1.global_variables()
      self.info = {
          'variables': [(v.op.name, v.shape.as_list(), v.dtype.base_dtype)
                        for v in self.variables],
          'trainable': [v.op.name for v in _V1.trainable_variables()],
          'model': [v.op.name for v in _V1.model_variables()],
          'update_ops': len(_V1.get_collection(_KEYS.UPDATE_OPS)),
          'regularization_losses': len(
              _V1.get_collection(_KEYS.REGULARIZATION_LOSSES)),
      }
      self.reg_losses = _V1.get_collection(_KEYS.REGULARIZATION_LOSSES)
      self.train_op = None
      if step and _V1.trainable_variables():
        loss = tf.add_n([tf.reduce_sum(tf.square(o)) for o in self.outputs
                         if o.dtype.is_floating] + list(self.reg_losses))
        with tf.control_dependencies(_V1.get_collection(_KEYS.UPDATE_OPS)):
          self.train_op = _V1.train.GradientDescentOptimizer(0.01).minimize(
              loss)
      self.init = _V1.global_variables_initializer()
    self.session = _V1.Session(graph=self.graph)

  def feed(self, other_feeds=None):
    feeds = dict(self.feeds)
    if other_feeds:
      feeds.update(other_feeds)
    return feeds

  def values(self):
    return {v.op.name: value for v, value in zip(
        self.variables, self.session.run(self.variables))}

  def load(self, values):
    with self.graph.as_default():
      for v in self.variables:
        v.load(values[v.op.name], self.session)


class SlimTestCase(tf.test.TestCase):
  """Helpers to build a function with both libraries and compare them."""

  def compare(self, build_fn, step=True, atol=1e-5, rtol=1e-5,
              tweak_values=None):
    """Builds `build_fn(lib)` with both libraries and compares them.

    Args:
      build_fn: `fn(lib) -> outputs` or `(outputs, feed_dict)`.
      step: also compare one optimizer step (with the update ops).
      atol: absolute tolerance of the numeric comparisons.
      rtol: relative tolerance.
      tweak_values: `fn(values) -> values` applied to the real initial values
        before both graphs get them (e.g. non-trivial moving statistics).

    Returns:
      `(real, mine)` built graphs, sessions still open.
    """
    real = _Built(_real(), build_fn, step)
    mine = _Built(slim, build_fn, step)
    self.addCleanup(real.session.close)
    self.addCleanup(mine.session.close)
    self.assertEqual(real.info, mine.info)
    real.session.run(real.init)
    values = real.values()
    if tweak_values:
      values = tweak_values(values)
    real.load(values)
    mine.load(values)
    got_real = real.session.run(real.outputs, real.feed())
    got_mine = mine.session.run(mine.outputs, mine.feed())
    for a, b in zip(got_real, got_mine):
      self.assertEqual(a.shape, b.shape)
      self.assertAllClose(a, b, atol=atol, rtol=rtol)
    if real.reg_losses:
      self.assertAllClose(real.session.run(real.reg_losses),
                          mine.session.run(mine.reg_losses), atol=atol,
                          rtol=rtol)
    if step and real.train_op is not None:
      real.session.run(real.train_op, real.feed())
      mine.session.run(mine.train_op, mine.feed())
      after_real, after_mine = real.values(), mine.values()
      for name, value in after_real.items():
        self.assertAllClose(value, after_mine[name], atol=atol, rtol=rtol,
                            msg=name)
    return real, mine


def _moving_stats(values):
  """Non-trivial moving statistics, so that eval mode is a real check."""
  rng = np.random.RandomState(7)
  result = dict(values)
  for name, value in values.items():
    if name.endswith('moving_mean'):
      result[name] = rng.uniform(-0.5, 0.5, value.shape).astype(np.float32)
    elif name.endswith('moving_variance'):
      result[name] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
  return result


class ModuleLayoutTest(tf.test.TestCase):

  def test_no_tf_slim_or_keras_import(self):
    code = ('import sys; import tensorflow; before = set(sys.modules); '
            'import tf1cnn.compat.slim; '
            'from tf1cnn.compat.slim.layers import layers; '
            'new = set(sys.modules) - before; '
            'print(sorted(m for m in new if m.split(".")[0] in '
            '("tf_slim", "tf_keras", "keras")))')
    env = subprocess_env()
    env.pop('TF_USE_LEGACY_KERAS', None)
    out = subprocess.run([sys.executable, '-c', code], cwd=_ROOT, env=env,
                         capture_output=True, text=True, check=True)
    self.assertEqual(out.stdout.strip().splitlines()[-1], '[]')
    for path in ('tf1cnn/compat/slim',):
      for folder, _, files in os.walk(os.path.join(_ROOT, path)):
        for name in files:
          if name.endswith('.py'):
            with open(os.path.join(folder, name), encoding='utf-8') as f:
              text = f.read()
            for line in text.splitlines():
              words = line.split()
              if words and words[0] in ('import', 'from'):
                self.assertNotRegex(line, r'\b(tf_slim|tf_keras|keras)\b',
                                    name)
            self.assertNotIn('tf.keras', text, name)

  def test_module_paths_of_the_slim_nets(self):
    # pylint: disable=g-import-not-at-top,import-outside-toplevel
    from tf1cnn.compat.slim import layers
    from tf1cnn.compat.slim.layers import initializers
    from tf1cnn.compat.slim.layers import layers as layers_lib
    from tf1cnn.compat.slim.layers import regularizers
    from tf1cnn.compat.slim.layers import utils as layers_utils
    from tf1cnn.compat.slim.ops import variables
    from tf1cnn.compat.slim.ops.arg_scope import arg_scope as ops_arg_scope
    self.assertIs(layers.conv2d, layers_lib.conv2d)
    self.assertIs(layers.utils, layers_utils)
    self.assertIs(slim.utils.collect_named_outputs,
                  layers_utils.collect_named_outputs)
    self.assertIs(ops_arg_scope, arg_scope)
    self.assertIs(slim.arg_scope, arg_scope)
    self.assertIs(slim.add_arg_scope, add_arg_scope)
    self.assertIs(utils.convert_collection_to_dict,
                  layers_utils.convert_collection_to_dict)
    self.assertTrue(callable(regularizers.l2_regularizer))
    self.assertTrue(callable(initializers.variance_scaling_initializer))
    self.assertTrue(callable(variables.get_variables_to_restore))
    self.assertIs(slim.conv2d, slim.convolution2d)
    self.assertIs(slim.separable_conv2d, slim.separable_convolution2d)
    self.assertIs(slim.conv2d_transpose, slim.convolution2d_transpose)
    self.assertEqual(slim.conv2d.__name__, 'convolution2d')

  def test_signatures_match_tf_slim(self):
    names = [
        'avg_pool2d', 'batch_norm', 'bias_add', 'conv2d', 'conv2d_transpose',
        'convolution', 'dropout', 'flatten', 'fully_connected', 'layer_norm',
        'max_pool2d', 'one_hot_encoding', 'repeat', 'separable_conv2d',
        'softmax', 'stack', 'l1_regularizer', 'l2_regularizer',
        'l1_l2_regularizer', 'sum_regularizer', 'apply_regularization',
        'xavier_initializer', 'variance_scaling_initializer', 'arg_scope',
        'add_arg_scope', 'model_variable', 'variable', 'get_variables',
        'get_model_variables', 'get_variables_to_restore',
        'get_variables_by_name', 'get_variables_by_suffix',
        'get_unique_variable', 'assign_from_checkpoint_fn',
        'assign_from_checkpoint', 'assign_from_values_fn',
        'get_or_create_global_step', 'pool', 'conv1d', 'conv3d',
        'max_pool3d', 'avg_pool3d']
    plain = (bool, int, float, str, type(None), tuple)
    for name in names:
      ours = inspect.signature(getattr(slim, name))
      theirs = inspect.signature(getattr(_real(), name))
      self.assertEqual(list(ours.parameters), list(theirs.parameters), name)
      for param, want in theirs.parameters.items():
        if isinstance(want.default, plain):
          self.assertEqual(ours.parameters[param].default, want.default,
                           f'{name}({param})')
    utility_names = ['collect_named_outputs', 'convert_collection_to_dict',
                     'last_dimension', 'two_element_tuple', 'smart_cond',
                     'constant_value', 'get_tensor_aliases']
    real_utils = sys.modules['tf_slim.layers.utils']
    for name in utility_names:
      self.assertEqual(
          list(inspect.signature(getattr(utils, name)).parameters),
          list(inspect.signature(getattr(real_utils, name)).parameters), name)


class ConvolutionTest(SlimTestCase):

  def test_conv2d_defaults_and_unique_scopes(self):
    def build(lib):
      x = tf.constant(_data([2, 9, 9, 3]))
      net = lib.conv2d(x, 4, [3, 3])
      net = lib.conv2d(net, 5, 3, stride=2, padding='VALID')
      with _V1.variable_scope('block'):
        net = lib.conv2d(net, 6, [1, 2])
        net = lib.conv2d(net, 6, [1, 1], scope='named')
      return lib.conv2d(net, 3, 2, activation_fn=None)
    real, _ = self.compare(build)
    self.assertEqual(
        [name for name, _, _ in real.info['variables']],
        ['Conv/weights', 'Conv/biases', 'Conv_1/weights', 'Conv_1/biases',
         'block/Conv/weights', 'block/Conv/biases', 'block/named/weights',
         'block/named/biases', 'Conv_2/weights', 'Conv_2/biases'])

  def test_conv2d_rate_regularizers_and_collections(self):
    def build(lib):
      x = tf.constant(_data([2, 11, 11, 2]))
      net = lib.conv2d(x, 4, [3, 3], rate=2, scope='dilated',
                       weights_regularizer=lib.l2_regularizer(0.01),
                       biases_regularizer=lib.l1_regularizer(0.02),
                       biases_initializer=_V1.constant_initializer(0.1),
                       variables_collections={'weights': ['my_weights']},
                       outputs_collections='outs')
      net = lib.conv2d(net, 3, [3, 2], scope='plain', trainable=False,
                       variables_collections=['extra'],
                       outputs_collections='outs')
      self.assertEqual(
          [v.op.name for v in _V1.get_collection('my_weights')],
          ['dilated/weights'])
      self.assertEqual([v.op.name for v in _V1.get_collection('extra')],
                       ['plain/weights', 'plain/biases'])
      self.assertEqual(
          list(lib.utils.convert_collection_to_dict('outs')),
          ['dilated', 'plain'])
      return net
    self.compare(build)

  def test_conv2d_with_batch_norm_normalizer(self):
    for is_training in (True, False):
      for fused in (None, False):
        def build(lib, is_training=is_training, fused=fused):
          x = tf.constant(_data([4, 6, 6, 3], shift=0.5))
          return lib.conv2d(
              x, 5, [3, 3], normalizer_fn=lib.batch_norm,
              normalizer_params={'is_training': is_training, 'scale': True,
                                 'fused': fused, 'decay': 0.9},
              weights_regularizer=lib.l2_regularizer(0.05))
        self.compare(build, tweak_values=_moving_stats)

  def test_conv1d_and_conv3d(self):
    def build(lib):
      x1 = tf.constant(_data([2, 10, 3]))
      x3 = tf.constant(_data([2, 5, 6, 4, 2], seed=1))
      return [lib.conv1d(x1, 4, 3, stride=2),
              lib.convolution(x3, 3, [2, 3, 2], scope='c3d'),
              lib.conv3d(x3, 2, 1, padding='VALID')]
    self.compare(build)

  def test_separable_conv2d(self):
    def build(lib):
      x = tf.constant(_data([2, 8, 8, 3]))
      a = lib.separable_conv2d(x, 6, [3, 3], depth_multiplier=2)
      b = lib.separable_conv2d(x, None, [3, 3], depth_multiplier=2, stride=2,
                               weights_regularizer=lib.l2_regularizer(0.1))
      c = lib.separable_conv2d(x, 4, 3, rate=2, scope='sep',
                               normalizer_fn=lib.batch_norm,
                               weights_regularizer=lib.l2_regularizer(0.1))
      d = lib.separable_conv2d(x, None, 3, normalizer_fn=lib.batch_norm,
                               normalizer_params={'scale': True})
      return [a, b, c, d]
    self.compare(build)

  def test_conv2d_transpose(self):
    def build(lib):
      x = tf.constant(_data([2, 5, 4, 3]))
      a = lib.conv2d_transpose(x, 4, [3, 3], stride=2)
      b = lib.conv2d_transpose(x, 2, [3, 2], stride=[2, 1], padding='VALID',
                               activation_fn=None)
      return [a, b]
    real, _ = self.compare(build)
    self.assertEqual(real.info['variables'][0][:2],
                     ('Conv2d_transpose/weights', [3, 3, 4, 3]))

  def test_dynamic_batch_conv2d_transpose(self):
    def build(lib):
      x = _V1.placeholder(tf.float32, [None, 4, 4, 2])
      out = lib.conv2d_transpose(x, 3, 3, stride=2)
      self.assertEqual(out.shape.as_list(), [None, 8, 8, 3])
      return out, {x: _data([3, 4, 4, 2])}
    self.compare(build)


class FullyConnectedTest(SlimTestCase):

  def test_fully_connected(self):
    def build(lib):
      x = tf.constant(_data([3, 7]))
      net = lib.fully_connected(x, 5)
      net = lib.fully_connected(net, 4, activation_fn=tf.nn.tanh,
                                weights_regularizer=lib.l2_regularizer(0.1))
      rank3 = lib.fully_connected(tf.constant(_data([2, 3, 4], seed=2)), 6,
                                  scope='rank3')
      linear = lib.linear(net, 2)
      return [net, rank3, linear]
    real, _ = self.compare(build)
    self.assertEqual(
        [name for name, _, _ in real.info['variables']][:4],
        ['fully_connected/weights', 'fully_connected/biases',
         'fully_connected_1/weights', 'fully_connected_1/biases'])

  def test_fully_connected_batch_norm_rank2_moments_path(self):
    for is_training in (True, False):
      def build(lib, is_training=is_training):
        x = tf.constant(_data([6, 4], shift=1.0))
        return lib.fully_connected(
            x, 3, normalizer_fn=lib.batch_norm,
            normalizer_params={'is_training': is_training, 'fused': False,
                               'scale': True})
      self.compare(build, tweak_values=_moving_stats)

  def test_reuse(self):
    def build(lib):
      x = tf.constant(_data([2, 4]))
      a = lib.fully_connected(x, 3, scope='shared')
      b = lib.fully_connected(x * 2.0, 3, scope='shared', reuse=True)
      with _V1.variable_scope('outer', reuse=_V1.AUTO_REUSE):
        c = lib.conv2d(tf.reshape(x, [2, 2, 2, 1]), 2, 2, scope='conv')
        d = lib.conv2d(tf.reshape(x, [2, 2, 2, 1]), 2, 2, scope='conv')
      return [a, b, c, d]
    real, _ = self.compare(build)
    self.assertLen(real.info['variables'], 4)

  def test_bias_add(self):
    def build(lib):
      x = tf.constant(_data([2, 3, 3, 4]))
      return lib.bias_add(x, activation_fn=tf.nn.relu,
                          initializer=_V1.constant_initializer(0.3),
                          regularizer=lib.l2_regularizer(0.5),
                          outputs_collections='outs')
    self.compare(build)


class BatchNormTest(SlimTestCase):

  def test_variable_names_and_collections(self):
    def build(lib):
      x = tf.constant(_data([4, 3, 3, 2]))
      a = lib.batch_norm(x)
      b = lib.batch_norm(x, scale=True, center=False, scope='bn')
      c = lib.batch_norm(x, scale=True, activation_fn=tf.nn.relu,
                         param_initializers={
                             'gamma': _V1.constant_initializer(2.0),
                             'moving_variance': _V1.constant_initializer(3.0)},
                         param_regularizers={
                             'gamma': lib.l2_regularizer(0.1),
                             'beta': lib.l1_regularizer(0.2)},
                         variables_collections={'beta': ['betas']},
                         outputs_collections='outs')
      self.assertEqual([v.op.name for v in _V1.get_collection('betas')],
                       ['BatchNorm_1/beta'])
      return [a, b, c]
    real, _ = self.compare(build)
    self.assertEqual(
        [name for name, _, _ in real.info['variables']],
        ['BatchNorm/beta', 'BatchNorm/moving_mean', 'BatchNorm/moving_variance',
         'bn/gamma', 'bn/moving_mean', 'bn/moving_variance',
         'BatchNorm_1/gamma', 'BatchNorm_1/beta', 'BatchNorm_1/moving_mean',
         'BatchNorm_1/moving_variance'])
    self.assertEqual(real.info['update_ops'], 6)
    self.assertEqual(real.info['trainable'],
                     ['BatchNorm/beta', 'bn/gamma', 'BatchNorm_1/gamma',
                      'BatchNorm_1/beta'])

  def test_modes_fused_and_not(self):
    for fused in (None, True, False):
      for is_training in (True, False):
        for decay in (0.999, 0.9):
          def build(lib, fused=fused, is_training=is_training, decay=decay):
            x = tf.constant(_data([4, 5, 5, 3], scale=2.0, shift=1.0))
            return lib.batch_norm(x, fused=fused, is_training=is_training,
                                  decay=decay, scale=True, epsilon=0.01)
          self.compare(build, tweak_values=_moving_stats, atol=1e-6)

  def test_is_training_tensor(self):
    for fused in (None, False):
      for value in (True, False):
        def build(lib, fused=fused, value=value):
          x = tf.constant(_data([4, 3, 3, 2], shift=2.0))
          training = _V1.placeholder_with_default(True, [])
          out = lib.batch_norm(x, fused=fused, is_training=training,
                               scale=True)
          return out, {training: value}
        self.compare(build, tweak_values=_moving_stats, atol=1e-6)

  def test_rank5_and_rank3(self):
    for fused in (None, False):
      def build(lib, fused=fused):
        x5 = tf.constant(_data([2, 3, 2, 2, 3]))
        x3 = tf.constant(_data([3, 4, 2], seed=3))
        return [lib.batch_norm(x5, fused=fused),
                lib.batch_norm(x3, fused=False)]
      self.compare(build, tweak_values=_moving_stats, atol=1e-6)

  def _numpy_batch_norm(self, x, mean, var, beta, gamma, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta

  def test_in_place_updates_and_rank2_against_numpy(self):
    # TF-Slim 1.1 cannot build these paths on TF 2.21 (its fused path and its
    # legacy path call the removed `ops.Tensor`), so numpy is the reference.
    cases = [
        ([4, 3, 3, 2], dict(updates_collections=None)),
        ([4, 3, 3, 2], dict(updates_collections=None, fused=False)),
        ([6, 3], dict()),
        ([6, 3], dict(updates_collections=None)),
        ([4, 3, 3, 2], dict(updates_collections='my_updates')),
        ([4, 3, 3, 2], dict(updates_collections='my_updates', fused=False)),
    ]
    decay, eps = 0.9, 0.001
    for shape, kwargs in cases:
      for training_value in (True, False, None):
        with self.subTest(shape=shape, kwargs=kwargs, training=training_value):
          data = _data(shape, scale=2.0, shift=1.0)
          with tf.Graph().as_default():
            if training_value is None:
              training = _V1.placeholder_with_default(True, [])
            else:
              training = training_value
            out = slim.batch_norm(tf.constant(data), decay=decay, scale=True,
                                  is_training=training, **kwargs)
            names = [v.op.name for v in _V1.global_variables()]
            self.assertEqual(names, ['BatchNorm/beta', 'BatchNorm/gamma',
                                     'BatchNorm/moving_mean',
                                     'BatchNorm/moving_variance'])
            collection = kwargs.get('updates_collections', _KEYS.UPDATE_OPS)
            updates = (_V1.get_collection(collection) if collection else [])
            self.assertEqual(len(updates),
                             0 if (collection is None or
                                   training_value is False) else 2)
            v = {n.split('/')[-1]: var
                 for n, var in zip(names, _V1.global_variables())}
            with self.session() as sess:
              sess.run(_V1.global_variables_initializer())
              sess.run([v['beta'].assign([0.5] * shape[-1]),
                        v['gamma'].assign([2.0] * shape[-1]),
                        v['moving_mean'].assign([0.2] * shape[-1]),
                        v['moving_variance'].assign([1.5] * shape[-1])])
              got = sess.run(out)
              if updates:
                sess.run(updates)
              moving_mean, moving_var = sess.run(
                  [v['moving_mean'], v['moving_variance']])
          axes = tuple(range(len(shape) - 1))
          n = np.prod([shape[a] for a in axes])
          if training_value is False:
            want = self._numpy_batch_norm(data, 0.2, 1.5, 0.5, 2.0, eps)
            self.assertAllClose(got, want, atol=1e-5)
            self.assertAllClose(moving_mean, [0.2] * shape[-1])
            continue
          mean, var = data.mean(axis=axes), data.var(axis=axes)
          want = self._numpy_batch_norm(data, mean, var, 0.5, 2.0, eps)
          self.assertAllClose(got, want, atol=1e-4)
          fused = kwargs.get('fused', True)
          fed_var = var * n / (n - 1) if fused else var
          self.assertAllClose(moving_mean, 0.2 - (1 - decay) * (0.2 - mean),
                              atol=1e-6)
          self.assertAllClose(moving_var, 1.5 - (1 - decay) * (1.5 - fed_var),
                              atol=1e-5)

  def test_unsupported_options_raise(self):
    with tf.Graph().as_default():
      x = tf.zeros([2, 3, 3, 2])
      with self.assertRaises(NotImplementedError):
        slim.batch_norm(x, renorm=True)
      with self.assertRaises(NotImplementedError):
        slim.batch_norm(x, zero_debias_moving_mean=True)
      with self.assertRaisesRegex(ValueError, 'NCHW or NHWC'):
        slim.batch_norm(x, data_format='NWC')


class PoolDropoutAndShapesTest(SlimTestCase):

  def test_pools_flatten_softmax_one_hot(self):
    def build(lib):
      x = tf.constant(_data([2, 9, 8, 3]))
      outs = [
          lib.max_pool2d(x, [3, 3], outputs_collections='outs'),
          lib.max_pool2d(x, 2, stride=1, padding='SAME',
                         outputs_collections='outs'),
          lib.avg_pool2d(x, [3, 2], stride=[2, 1], scope='avg',
                         outputs_collections='outs'),
          lib.avg_pool2d(x, 3, padding='SAME', outputs_collections='outs'),
          lib.max_pool3d(tf.constant(_data([1, 4, 4, 4, 2])), 2),
          lib.avg_pool3d(tf.constant(_data([1, 4, 4, 4, 2])), 2, stride=1),
          lib.pool(x, [2, 2], 'AVG', stride=2),
          lib.flatten(x, outputs_collections='outs'),
          lib.softmax(tf.constant(_data([2, 3, 5]))),
          lib.one_hot_encoding(tf.constant([0, 2, 1]), 4),
          lib.layer_norm(x),
      ]
      self.assertEqual(list(lib.utils.convert_collection_to_dict('outs')),
                       ['MaxPool2D', 'MaxPool2D_1', 'avg', 'AvgPool2D',
                        'Flatten'])
      return outs
    self.compare(build)

  def test_flatten_dynamic_shapes(self):
    def build(lib):
      x = _V1.placeholder(tf.float32, [None, 3, None, 2])
      y = _V1.placeholder(tf.float32, [4, None, 2])
      a, b = lib.flatten(x), lib.flatten(y)
      return [a, b], {x: _data([2, 3, 5, 2]), y: _data([4, 3, 2])}
    real, mine = self.compare(build)
    self.assertEqual(real.outputs[1].shape.as_list(),
                     mine.outputs[1].shape.as_list())

  def test_dropout(self):
    def build(lib):
      x = tf.constant(_data([20, 30]) + 3.0)
      training = _V1.placeholder_with_default(True, [])
      outs = [
          lib.dropout(x, is_training=False),
          lib.dropout(x, 0.7, is_training=True, seed=5),
          lib.dropout(x, keep_prob=1.0),
          lib.dropout(x, 0.5, noise_shape=[20, 1], is_training=training,
                      seed=3, outputs_collections='outs'),
      ]
      self.assertEqual(list(lib.utils.convert_collection_to_dict('outs')),
                       ['Dropout_3'])
      return outs
    _, mine = self.compare(build, step=False)
    kept, _ = mine.session.run([mine.outputs[1], mine.outputs[0]])
    fraction = np.mean(kept != 0)
    self.assertBetween(fraction, 0.6, 0.8)
    self.assertAllClose(kept[kept != 0],
                        (_data([20, 30]) + 3.0)[kept != 0] / 0.7, rtol=1e-5)


class ArgScopeTest(SlimTestCase):

  def test_nesting_and_call_site_override(self):
    @add_arg_scope
    def layer(x, depth=1, padding='VALID', stride=1):
      return (x, depth, padding, stride)

    with arg_scope([layer, slim.conv2d], padding='SAME'):
      self.assertEqual(layer(0), (0, 1, 'SAME', 1))
      with arg_scope([layer], stride=2) as sc:
        self.assertEqual(layer(0), (0, 1, 'SAME', 2))
        self.assertEqual(layer(0, padding='X'), (0, 1, 'X', 2))
      with arg_scope([layer], padding='INNER'):
        self.assertEqual(layer(0), (0, 1, 'INNER', 1))
      self.assertEqual(layer(0), (0, 1, 'SAME', 1))
    self.assertEqual(layer(0), (0, 1, 'VALID', 1))
    with arg_scope(sc):
      self.assertEqual(layer(0), (0, 1, 'SAME', 2))
    self.assertTrue(slim.has_arg_scope(layer))
    self.assertEqual(slim.arg_scoped_arguments(layer),
                     ('depth', 'padding', 'stride'))
    self.assertEqual(slim.current_arg_scope(), {})

  def test_errors(self):
    def plain(x, depth=1):
      return x, depth
    with self.assertRaisesRegex(ValueError, 'not decorated'):
      with arg_scope([plain], depth=2):
        pass
    with self.assertRaises(TypeError):
      with arg_scope(slim.conv2d, padding='SAME'):
        pass
    with self.assertRaises(ValueError):
      with arg_scope({}, padding='SAME'):
        pass

  def test_arg_scope_in_graphs(self):
    def build(lib):
      x = tf.constant(_data([2, 8, 8, 3]))
      with lib.arg_scope([lib.conv2d, lib.fully_connected],
                         weights_regularizer=lib.l2_regularizer(0.1),
                         activation_fn=tf.nn.relu6,
                         outputs_collections='ends'):
        with lib.arg_scope([lib.conv2d], padding='VALID', stride=2):
          with lib.arg_scope([lib.batch_norm], scale=True, is_training=True):
            net = lib.conv2d(x, 4, 3, normalizer_fn=lib.batch_norm)
            net = lib.conv2d(net, 4, 1, padding='SAME')
        net = lib.flatten(net)
        net = lib.fully_connected(net, 3, activation_fn=None)
        self.assertEqual(list(lib.utils.convert_collection_to_dict('ends')),
                         ['Conv', 'Conv_1', 'fully_connected'])
      return net
    real, _ = self.compare(build, tweak_values=_moving_stats)
    self.assertEqual(real.info['regularization_losses'], 3)

  def test_model_variable_device_from_arg_scope(self):
    with tf.Graph().as_default():
      with arg_scope([slim.model_variable], device='/cpu:0'):
        v = slim.model_variable('w', shape=[2], initializer=_V1.zeros_initializer())
        conv = slim.conv2d(tf.zeros([1, 3, 3, 1]), 2, 1)
      del conv
      self.assertEqual(v.device, '/device:CPU:0')
      self.assertIn(v, _V1.get_collection(_KEYS.MODEL_VARIABLES))
      conv_weights = slim.get_unique_variable('Conv/weights')
      self.assertEqual(conv_weights.device, '/device:CPU:0')


class RepeatStackTest(SlimTestCase):

  def test_repeat_and_stack_scopes(self):
    def build(lib):
      x = tf.constant(_data([2, 6, 6, 2]))
      a = lib.repeat(x, 3, lib.conv2d, 3, [3, 3])
      b = lib.repeat(x, 2, lib.conv2d, 4, [1, 1], scope='conv3',
                     outputs_collections='outs')
      c = lib.stack(lib.flatten(x), lib.fully_connected, [5, 4, (3,)])
      d = lib.stack(x, lib.conv2d, [(2, [3, 3]), (3, [1, 1])], scope='cs')
      e = lib.repeat(x, 2, lib.max_pool2d, [2, 2], stride=1)
      self.assertEqual(list(lib.utils.convert_collection_to_dict('outs')),
                       ['conv3/conv3_1', 'conv3/conv3_2'])
      return [a, b, c, d, e]
    real, _ = self.compare(build)
    self.assertEqual(
        [name for name, _, _ in real.info['variables'] if
         name.endswith('weights')],
        ['Repeat/convolution2d_1/weights', 'Repeat/convolution2d_2/weights',
         'Repeat/convolution2d_3/weights', 'conv3/conv3_1/weights',
         'conv3/conv3_2/weights', 'Stack/fully_connected_1/weights',
         'Stack/fully_connected_2/weights', 'Stack/fully_connected_3/weights',
         'cs/cs_1/weights', 'cs/cs_2/weights'])


class InitializerRegularizerTest(SlimTestCase):

  def test_initializers_match_with_seeds(self):
    def build(lib):
      outs = []
      for shape in ([3, 3, 4, 8], [20, 10], [7]):
        for init in (lib.xavier_initializer(seed=1),
                     lib.xavier_initializer(uniform=False, seed=2),
                     lib.variance_scaling_initializer(seed=3),
                     lib.variance_scaling_initializer(
                         factor=1.0, mode='FAN_OUT', uniform=True, seed=4),
                     lib.variance_scaling_initializer(mode='FAN_AVG', seed=5)):
          outs.append(init(shape))
      return outs
    self.compare(build, step=False, atol=0)

  def test_variance_scaling_statistics(self):
    with tf.Graph().as_default():
      values = slim.variance_scaling_initializer(seed=9)([3, 3, 64, 64])
      with self.session() as sess:
        values = sess.run(values)
    # Truncated at 2 sigma of stddev sqrt(1.3 * 2 / 576).
    sigma = np.sqrt(1.3 * 2.0 / 576)
    self.assertLessEqual(np.abs(values).max(), 2 * sigma + 1e-6)
    self.assertAllClose(values.std(), sigma * 0.8796, rtol=0.03)

  def test_regularizers(self):
    def build(lib):
      w = tf.constant(_data([4, 3]))
      return [lib.l2_regularizer(0.3)(w), lib.l1_regularizer(0.2)(w),
              lib.l1_l2_regularizer(0.1, 0.4)(w),
              lib.l1_l2_regularizer(0.0, 0.4)(w),
              lib.sum_regularizer([lib.l2_regularizer(0.5),
                                   lib.l1_regularizer(0.25)])(w)]
    self.compare(build, step=False)
    with tf.Graph().as_default():
      w = tf.constant(_data([4, 3]))
      with self.session() as sess:
        self.assertAllClose(sess.run(slim.l2_regularizer(0.3)(w)),
                            0.3 * np.sum(_data([4, 3]) ** 2) / 2)
      self.assertIsNone(slim.l2_regularizer(0.0)(w))
      self.assertIsNone(slim.l1_regularizer(0.0)(w))
      with self.assertRaises(ValueError):
        slim.l2_regularizer(1)
      with self.assertRaises(ValueError):
        slim.l1_regularizer(-0.5)
      penalty = slim.apply_regularization(slim.l2_regularizer(0.5), [w, w])
      self.assertIn(penalty, _V1.get_collection(_KEYS.REGULARIZATION_LOSSES))

  def test_zero_scale_regularizer_adds_no_loss(self):
    def build(lib):
      x = tf.constant(_data([2, 4]))
      return lib.fully_connected(x, 3,
                                 weights_regularizer=lib.l2_regularizer(0.0))
    real, _ = self.compare(build)
    self.assertEqual(real.info['regularization_losses'], 0)


class VariablesTest(SlimTestCase):

  def _scoped_graph(self, lib):
    with _V1.variable_scope('net'):
      x = tf.constant(_data([2, 5, 5, 3]))
      net = lib.conv2d(x, 4, 3, scope='conv1',
                       normalizer_fn=lib.batch_norm)
      net = lib.conv2d(net, 2, 3, scope='conv2')
      net = lib.fully_connected(lib.flatten(net), 3, scope='logits')
    lib.variable('extra', shape=[2], initializer=_V1.ones_initializer())
    lib.model_variable('mv', shape=[1], initializer=_V1.ones_initializer(),
                       collections=['mine'])
    lib.get_or_create_global_step()
    return net

  def test_lookup_helpers_match(self):
    def names(variables):
      return [v.op.name for v in variables]

    results = []
    for lib in (_real(), slim):
      with tf.Graph().as_default():
        self._scoped_graph(lib)
        results.append({
            'all_restore': names(lib.get_variables_to_restore()),
            'include': names(lib.get_variables_to_restore(
                include=['net/conv1', 'net/logits'])),
            'exclude': names(lib.get_variables_to_restore(
                exclude=['net/logits', 'net/conv1/BatchNorm'])),
            'both': names(lib.get_variables_to_restore(
                include=['net'], exclude=['net/conv2'])),
            'model': names(lib.get_model_variables()),
            'model_scope': names(lib.get_model_variables('net/conv2')),
            'trainable': names(lib.get_trainable_variables('net')),
            'by_name': names(lib.get_variables_by_name('weights')),
            'by_suffix': names(lib.get_variables_by_suffix('biases')),
            'suffix_scope': names(lib.get_variables('net', suffix='beta')),
            'unique': lib.get_unique_variable('net/conv2/weights').op.name,
            'mine': names(_V1.get_collection('mine')),
            'local': names(lib.get_local_variables()),
        })
        with self.assertRaises(TypeError):
          lib.get_variables_to_restore(include='net')
        with self.assertRaises(ValueError):
          lib.get_unique_variable('net/conv')
    self.assertEqual(results[0], results[1])
    self.assertIn('net/conv1/BatchNorm/moving_mean', results[1]['model'])
    self.assertEqual(results[1]['both'][0], 'net/conv1/weights')

  def test_assign_from_checkpoint_fn(self):
    tmp = self.get_temp_dir()
    with tf.Graph().as_default():
      self._scoped_graph(_real())
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        saved = {v.op.name: sess.run(v) for v in _V1.global_variables()}
        path = _V1.train.Saver().save(sess, os.path.join(tmp, 'model.ckpt'))
    with tf.Graph().as_default():
      _V1.set_random_seed(99)
      self._scoped_graph(slim)
      _V1.get_variable('only_here', shape=[3],
                       initializer=_V1.constant_initializer(7.0))
      with self.assertRaises(ValueError):
        slim.assign_from_checkpoint_fn(path, [])
      restore = slim.get_variables_to_restore(
          exclude=['net/logits', 'only_here'])
      init_fn = slim.assign_from_checkpoint_fn(path, restore)
      missing_ok = slim.assign_from_checkpoint_fn(
          path, _V1.global_variables(), ignore_missing_vars=True)
      assign_op, feed = slim.assign_from_checkpoint(
          path, slim.get_variables_to_restore(include=['net/logits']))
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        init_fn(sess)
        for v in restore:
          self.assertAllEqual(sess.run(v), saved[v.op.name])
        logits_w = slim.get_unique_variable('net/logits/weights')
        self.assertNotAllClose(sess.run(logits_w), saved['net/logits/weights'])
        sess.run(assign_op, feed)
        self.assertAllEqual(sess.run(logits_w), saved['net/logits/weights'])
        sess.run(_V1.global_variables_initializer())
        missing_ok(sess)
        for name, value in saved.items():
          self.assertAllEqual(sess.run(slim.get_unique_variable(name)), value)
        self.assertAllEqual(
            sess.run(slim.get_unique_variable('only_here')), [7.0] * 3)
        values_fn = slim.assign_from_values_fn(
            {'net/logits/biases': np.full([3], 4.0, np.float32)})
        values_fn(sess)
        self.assertAllEqual(
            sess.run(slim.get_unique_variable('net/logits/biases')), [4.0] * 3)


class TrainingStepTest(SlimTestCase):

  def test_small_network_one_step(self):
    """A small conv net in Slim style: one step, UPDATE_OPS, regularizers."""
    for updates_in_scope in (True, False):
      def build(lib, updates_in_scope=updates_in_scope):
        x = tf.constant(_data([4, 12, 12, 3]))
        training = _V1.placeholder_with_default(True, [])
        bn = {'is_training': training, 'decay': 0.9, 'scale': True}
        if not updates_in_scope:
          bn['fused'] = False
        with lib.arg_scope(
            [lib.conv2d, lib.fully_connected],
            weights_regularizer=lib.l2_regularizer(0.01),
            normalizer_fn=lib.batch_norm, normalizer_params=bn):
          net = lib.conv2d(x, 8, [3, 3], scope='conv1')
          net = lib.max_pool2d(net, [2, 2], scope='pool1')
          net = lib.repeat(net, 2, lib.conv2d, 8, [3, 3], scope='conv2')
          net = lib.avg_pool2d(net, [2, 2], padding='SAME')
          net = lib.flatten(net)
          # Rank-2 fused batch norm fails in TF-Slim 1.1 on TF 2.21.
          net = lib.fully_connected(net, 16, scope='fc',
                                    normalizer_params=dict(bn, fused=False))
          net = lib.dropout(net, keep_prob=1.0, is_training=training)
          logits = lib.fully_connected(net, 5, activation_fn=None,
                                       normalizer_fn=None, scope='logits')
        return [logits, lib.softmax(logits)], {training: True}
      self.compare(build, tweak_values=_moving_stats, atol=2e-5)


if __name__ == '__main__':
  tf.test.main()
