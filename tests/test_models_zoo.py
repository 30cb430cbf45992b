"""Graph-mode tests of the TF-Slim model-zoo nets (`tf1cnn.models.zoo`).

The references are the real nets of the TF-Slim 1.1 wheel
(`reference_libs.real_slim_net`), not our own code: for every net the wheel
ships, the full-size graphs of both must have the same variables (names,
shapes, trainability), the same parameter count (also checked against
literal figures), regularisation losses and batch-norm updates; then, on
small inputs, our net loaded with the reference's values must give the same
logits in eval mode and, where there is batch norm, in train mode, with the
same moving-statistic updates. MobileNet v1 is not in the wheel: its
variables are checked against the layer list of the published
`mobilenet_v1_1.0_224` checkpoint (TF-Slim's per-layer table) and its
outputs against the same network written with plain `tf.nn` ops.
"""

import inspect

import numpy as np
import tensorflow as tf
from absl import logging
from absl.testing import parameterized

from tests import reference_libs
from tf1cnn import runtime
from tf1cnn.models import zoo

runtime.use_graph_mode()

_V1 = tf.compat.v1

ZOO_NAMES = ('vgg_16', 'vgg_19', 'inception_v1', 'inception_v2',
             'inception_v3', 'resnet_v1_50', 'resnet_v1_101', 'resnet_v2_50',
             'resnet_v2_101', 'mobilenet_v1', 'alexnet_v2')

# name -> (module of tf_slim.nets, net function, arg scope function).
WHEEL_NETS = {
    'vgg_16': ('vgg', 'vgg_16', 'vgg_arg_scope'),
    'vgg_19': ('vgg', 'vgg_19', 'vgg_arg_scope'),
    'alexnet_v2': ('alexnet', 'alexnet_v2', 'alexnet_v2_arg_scope'),
    'inception_v1': ('inception_v1', 'inception_v1', 'inception_v1_arg_scope'),
    'inception_v2': ('inception_v2', 'inception_v2', 'inception_v2_arg_scope'),
    'inception_v3': ('inception_v3', 'inception_v3', 'inception_v3_arg_scope'),
    'resnet_v1_50': ('resnet_v1', 'resnet_v1_50', 'resnet_arg_scope'),
    'resnet_v1_101': ('resnet_v1', 'resnet_v1_101', 'resnet_arg_scope'),
    'resnet_v2_50': ('resnet_v2', 'resnet_v2_50', 'resnet_arg_scope'),
    'resnet_v2_101': ('resnet_v2', 'resnet_v2_101', 'resnet_arg_scope'),
}

# name -> (image size, classes, preprocessing) of the zoo's checkpoints.
ZOO_DEFAULTS = {
    'vgg_16': (224, 1000, 'vgg'),
    'vgg_19': (224, 1000, 'vgg'),
    'alexnet_v2': (224, 1000, 'vgg'),
    'inception_v1': (224, 1001, 'inception'),
    'inception_v2': (224, 1001, 'inception'),
    'inception_v3': (299, 1001, 'inception'),
    'resnet_v1_50': (224, 1000, 'vgg'),
    'resnet_v1_101': (224, 1000, 'vgg'),
    'resnet_v2_50': (224, 1001, 'inception'),
    'resnet_v2_101': (224, 1001, 'inception'),
    'mobilenet_v1': (224, 1001, 'inception'),
}

# name -> (all parameters, trainable) at the zoo's classes; the difference
# is batch norm's moving means and variances.
EXPECTED_PARAMETERS = {
    'vgg_16': (138357544, 138357544),
    'vgg_19': (143667240, 143667240),
    'alexnet_v2': (50303912, 50303912),
    'inception_v1': (6633209, 6618649),
    'inception_v2': (11199137, 11179361),
    'inception_v3': (27182194, 27145970),
    'resnet_v1_50': (25610152, 25557032),
    'resnet_v1_101': (44654504, 44549160),
    'resnet_v2_50': (25615849, 25570409),
    'resnet_v2_101': (44677609, 44579945),
    'mobilenet_v1': (4254889, 4233001),
}

# name -> (image size, batch, classes) for the numerical comparisons: the
# smallest inputs each net takes (VGG's 7x7 fc6, AlexNet's 5x5 fc6 and
# Inception v1's 7x7 pool need 224).
COMPUTE_SETUPS = {
    'vgg_16': (224, 1, 10),
    'vgg_19': (224, 1, 10),
    'alexnet_v2': (224, 2, 10),
    'inception_v1': (224, 2, 10),
    'inception_v2': (112, 2, 10),
    'inception_v3': (160, 2, 10),
    'resnet_v1_50': (64, 2, 10),
    'resnet_v1_101': (64, 2, 10),
    'resnet_v2_50': (64, 2, 10),
    'resnet_v2_101': (64, 2, 10),
}
NETS_WITHOUT_BATCH_NORM = ('vgg_16', 'vgg_19', 'alexnet_v2')
NETS_WITH_DROPOUT = ('vgg_16', 'vgg_19', 'alexnet_v2', 'inception_v1',
                     'inception_v2', 'inception_v3', 'mobilenet_v1')

# MobileNet v1 1.0 / 224 layers after Conv2d_0 (3x3 / 2, 32 filters):
# (stride of the depthwise 3x3, pointwise filters) for Conv2d_1 .. Conv2d_13.
MOBILENET_LAYERS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256),
                    (2, 512), (1, 512), (1, 512), (1, 512), (1, 512),
                    (1, 512), (2, 1024), (1, 1024))
# Weights per convolution in TF-Slim's table for the 1.0 / 224 base
# (Conv2d_0, then depthwise and pointwise of Conv2d_1 .. 13); 3,185,088 in all.
MOBILENET_CONV_WEIGHTS = (
    864, 288, 2048, 576, 8192, 1152, 16384, 1152, 32768, 2304, 65536, 2304,
    131072, 4608, 262144, 4608, 262144, 4608, 262144, 4608, 262144, 4608,
    262144, 4608, 524288, 9216, 1048576)

EACH_NET = [dict(testcase_name=f'_{n}', name=n) for n in ZOO_NAMES]
EACH_WHEEL_NET = [dict(testcase_name=f'_{n}', name=n) for n in WHEEL_NETS]


def _count(shapes):
  return sum(int(np.prod(shape)) for shape in shapes)


def _real_net(name):
  """The wheel's net function and a fresh instance of its arg scope."""
  module_name, net_name, scope_name = WHEEL_NETS[name]
  module = reference_libs.real_slim_net(module_name)
  return getattr(module, net_name), getattr(module, scope_name)()


def _build_real(name, images, num_classes, is_training, **options):
  net_fn, arg_scope = _real_net(name)
  with reference_libs.real_tf_slim().arg_scope(arg_scope):
    logits, end_points = net_fn(images, num_classes=num_classes,
                                is_training=is_training, **options)
  if logits.shape.ndims == 4:  # The wheel's ResNets do not squeeze.
    logits = tf.squeeze(logits, [1, 2])
  return logits, end_points


def _graph_summary():
  """Variable shapes, trainable names, regularisation and update counts."""
  return dict(
      shapes={v.op.name: v.shape.as_list() for v in _V1.global_variables()},
      trainable={v.op.name for v in _V1.trainable_variables()},
      regularization=len(_V1.get_collection(
          _V1.GraphKeys.REGULARIZATION_LOSSES)),
      updates=len(_V1.get_collection(_V1.GraphKeys.UPDATE_OPS)))


def _randomise_batch_norm_op(variables, seed):
  """An op giving batch-norm parameters and statistics non-trivial values."""
  assigns = []
  for index, var in enumerate(variables):
    shape = var.shape.as_list()
    if var.op.name.endswith(('/moving_mean', '/beta')):
      value = tf.random.normal(shape, 0.0, 0.2, seed=seed + index)
    elif var.op.name.endswith(('/moving_variance', '/gamma')):
      value = tf.random.uniform(shape, 0.5, 1.5, seed=seed + index)
    else:
      continue
    assigns.append(_V1.assign(var, value))
  return tf.group(*assigns)


def _copy_op(source_prefix, target_prefix):
  """Assigns every `target_prefix/...` variable its `source_prefix` twin."""
  by_name = {v.op.name: v for v in _V1.global_variables()}
  assigns = []
  for name, var in by_name.items():
    if name.startswith(target_prefix + '/'):
      source = by_name[source_prefix + name[len(target_prefix):]]
      assigns.append(_V1.assign(var, source))
  return tf.group(*assigns)


def _max_error(actual, expected):
  """Largest absolute difference, and that over the largest |expected|."""
  error = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected))))
  return error, error / max(float(np.max(np.abs(expected))), 1e-12)


def _fast_config():
  """Session config without grappler: these graphs run once or twice."""
  config = _V1.ConfigProto()
  config.graph_options.rewrite_options.disable_meta_optimizer = True
  return config


class ZooBuildersTest(tf.test.TestCase, parameterized.TestCase):

  def test_zoo_names(self):
    self.assertCountEqual(zoo.ZOO_NETWORKS, ZOO_NAMES)
    self.assertCountEqual(zoo.ZOO_LOGITS_SCOPES, ZOO_NAMES)
    self.assertListEqual(zoo.ZOO_LOGITS_SCOPES['inception_v3'],
                         ['InceptionV3/Logits', 'InceptionV3/AuxLogits'])
    self.assertListEqual(zoo.ZOO_LOGITS_SCOPES['vgg_16'], ['vgg_16/fc8'])
    self.assertListEqual(zoo.ZOO_LOGITS_SCOPES['resnet_v1_50'],
                         ['resnet_v1_50/logits'])

  @parameterized.named_parameters(*EACH_NET)
  def test_builder_attributes_and_signature(self, name):
    builder = zoo.ZOO_NETWORKS[name]
    size, classes, preprocessing = ZOO_DEFAULTS[name]
    self.assertEqual(builder.default_image_size, size)
    self.assertEqual(builder.default_channels, 3)
    self.assertEqual(builder.default_num_classes, classes)
    self.assertEqual(builder.default_preprocessing, preprocessing)
    parameters = inspect.signature(builder).parameters
    self.assertListEqual(
        list(parameters)[:5],
        ['images', 'num_classes', 'is_training', 'weight_decay', 'scope'])
    self.assertEqual(parameters['num_classes'].default, classes)
    self.assertIs(parameters['is_training'].default, False)
    self.assertIsNone(parameters['scope'].default)
    self.assertEqual(parameters['weight_decay'].default, {
        'vgg': 5e-4, 'alexnet': 5e-4, 'resnet': 1e-4}.get(
            name.split('_')[0], 4e-5))
    if name in NETS_WITH_DROPOUT:
      self.assertIn('dropout_keep_prob', parameters)

  @parameterized.named_parameters(*EACH_WHEEL_NET)
  def test_variables_match_tf_slim(self, name):
    size, classes, _ = ZOO_DEFAULTS[name]
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [2, size, size, 3])
      real_logits, _ = _build_real(name, images, classes, is_training=True)
      real = _graph_summary()
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [2, size, size, 3])
      logits, end_points = zoo.ZOO_NETWORKS[name](images, is_training=True)
      ours = _graph_summary()
    self.assertSetEqual(set(ours['shapes']), set(real['shapes']))
    self.assertDictEqual(ours['shapes'], real['shapes'])
    self.assertSetEqual(ours['trainable'], real['trainable'])
    self.assertEqual(ours['regularization'], real['regularization'])
    self.assertEqual(ours['updates'], real['updates'])
    self.assertListEqual(logits.shape.as_list(), [2, classes])
    self.assertListEqual(real_logits.shape.as_list(), [2, classes])
    self.assertIs(end_points['Logits'], logits)
    total = _count(ours['shapes'].values())
    trainable = _count(ours['shapes'][n] for n in ours['trainable'])
    self.assertEqual(total, _count(real['shapes'].values()))
    self.assertEqual((total, trainable), EXPECTED_PARAMETERS[name])
    logging.info('%s: %d variables, %d parameters (%d trainable)', name,
                 len(ours['shapes']), total, trainable)

  @parameterized.named_parameters(*EACH_NET)
  def test_logits_scopes_hold_the_classifier(self, name):
    builder = zoo.ZOO_NETWORKS[name]
    size = builder.default_image_size
    shapes = {}
    for classes in (builder.default_num_classes, 7):
      with tf.Graph().as_default():
        images = _V1.placeholder(tf.float32, [1, size, size, 3])
        builder(images, num_classes=classes)
        shapes[classes] = _graph_summary()['shapes']
    default, seven = shapes[builder.default_num_classes], shapes[7]
    self.assertSetEqual(set(default), set(seven))
    changed = {n for n in default if default[n] != seven[n]}
    scopes = tuple(s + '/' for s in zoo.ZOO_LOGITS_SCOPES[name])
    self.assertNotEmpty(changed)
    for var_name in changed:
      self.assertTrue(var_name.startswith(scopes), var_name)
    for scope in scopes:
      self.assertTrue(any(n.startswith(scope) for n in changed), scope)

  @parameterized.named_parameters(*EACH_WHEEL_NET)
  def test_outputs_match_tf_slim(self, name):
    size, batch, classes = COMPUTE_SETUPS[name]
    has_batch_norm = name not in NETS_WITHOUT_BATCH_NORM
    options = {'dropout_keep_prob': 1.0} if name in NETS_WITH_DROPOUT else {}
    graph = tf.Graph()
    with graph.as_default():
      _V1.set_random_seed(7)
      images = _V1.placeholder(tf.float32, [batch, size, size, 3])
      with _V1.variable_scope('reference'):
        real_eval, _ = _build_real(name, images, classes, False, **options)
      if has_batch_norm:
        with _V1.variable_scope('reference', reuse=True):
          real_train, _ = _build_real(name, images, classes, True, **options)
      real_updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
      with _V1.variable_scope('ours'):
        # A boolean tensor switches our net between eval and train mode.
        is_training = _V1.placeholder_with_default(False, [])
        ours, _ = zoo.ZOO_NETWORKS[name](
            images, num_classes=classes,
            is_training=is_training if has_batch_norm else False, **options)
      our_updates = [op for op in _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
                     if op not in real_updates]
      reference_vars = _V1.global_variables('reference')
      randomise = _randomise_batch_norm_op(reference_vars, seed=2)
      copy = _copy_op('reference', 'ours')
      moving = sorted((v for v in _V1.global_variables()
                       if v.op.name.endswith(('/moving_mean',
                                              '/moving_variance'))),
                      key=lambda v: v.op.name)
      batch_images = np.random.RandomState(1).uniform(
          -1.0, 1.0, [batch, size, size, 3]).astype(np.float32)
      with self.session(graph=graph, config=_fast_config()) as sess:
        sess.run(_V1.variables_initializer(reference_vars))
        sess.run(randomise)
        sess.run(copy)
        expected, actual = sess.run([real_eval, ours], {images: batch_images})
        self.assertTrue(np.all(np.isfinite(expected)))
        scale = max(1.0, float(np.max(np.abs(expected))))
        self.assertAllClose(actual, expected, rtol=1e-4, atol=1e-5 * scale)
        errors = {'eval': _max_error(actual, expected)}
        if has_batch_norm:
          self.assertNotEmpty(real_updates)
          self.assertLen(our_updates, len(real_updates))
          expected, actual = sess.run(
              [real_train, ours] + real_updates + our_updates,
              {images: batch_images, is_training: True})[:2]
          scale = max(1.0, float(np.max(np.abs(expected))))
          self.assertAllClose(actual, expected, rtol=1e-3, atol=1e-4 * scale)
          errors['train'] = _max_error(actual, expected)
          values = dict(zip([v.op.name for v in moving], sess.run(moving)))
          for var_name, value in values.items():
            if var_name.startswith('ours/'):
              self.assertAllClose(
                  value, values['reference' + var_name[len('ours'):]],
                  rtol=1e-4, atol=1e-5, msg=var_name)
    logging.info('%s: max |ours - tf_slim| (absolute, relative) %s', name,
                 errors)


class MobilenetV1Test(tf.test.TestCase):
  """MobileNet v1 against its published layer list and a plain tf.nn net."""

  def _expected_variables(self, classes=1001):
    expected = {'MobilenetV1/Conv2d_0/weights': [3, 3, 3, 32]}
    batch_norms = {'MobilenetV1/Conv2d_0': 32}
    channels = 32
    for index, (_, depth) in enumerate(MOBILENET_LAYERS, start=1):
      base = f'MobilenetV1/Conv2d_{index}'
      expected[f'{base}_depthwise/depthwise_weights'] = [3, 3, channels, 1]
      expected[f'{base}_pointwise/weights'] = [1, 1, channels, depth]
      batch_norms[f'{base}_depthwise'] = channels
      batch_norms[f'{base}_pointwise'] = depth
      channels = depth
    for layer, width in batch_norms.items():
      for part in ('beta', 'gamma', 'moving_mean', 'moving_variance'):
        expected[f'{layer}/BatchNorm/{part}'] = [width]
    expected['MobilenetV1/Logits/Conv2d_1c_1x1/weights'] = [1, 1, 1024,
                                                           classes]
    expected['MobilenetV1/Logits/Conv2d_1c_1x1/biases'] = [classes]
    return expected

  def test_variables_match_published_checkpoint(self):
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [1, 224, 224, 3])
      logits, end_points = zoo.mobilenet_v1(images, is_training=True)
      summary = _graph_summary()
    self.assertDictEqual(summary['shapes'], self._expected_variables())
    self.assertListEqual(logits.shape.as_list(), [1, 1001])
    self.assertListEqual(end_points['Conv2d_13_pointwise'].shape.as_list(),
                         [1, 7, 7, 1024])
    non_trainable = set(summary['shapes']) - summary['trainable']
    self.assertTrue(all(n.endswith(('moving_mean', 'moving_variance'))
                        for n in non_trainable))
    # Pointwise/full convs and the logits are regularised, depthwise not.
    self.assertEqual(summary['regularization'], 15)
    self.assertEqual(summary['updates'], 2 * 27)
    conv_weights = [n for n in summary['shapes']
                    if n.endswith('weights') and '/Logits/' not in n]
    order = lambda n: (int(n.split('/')[1].split('_')[1]),
                       'pointwise' in n)
    self.assertListEqual(
        [_count([summary['shapes'][n]]) for n in sorted(conv_weights,
                                                        key=order)],
        list(MOBILENET_CONV_WEIGHTS))
    self.assertEqual(sum(MOBILENET_CONV_WEIGHTS), 3185088)
    total = _count(summary['shapes'].values())
    trainable = _count(summary['shapes'][n] for n in summary['trainable'])
    # Counted: convolution weights (3,185,088), batch-norm beta and gamma
    # (2 x 10,944 channels) and the logits layer (1024 x 1001 + 1001) are
    # trainable: 4,233,001; the moving means and variances add 21,888.
    # (Keras' 1000-class MobileNet: 4,231,976 trainable = 4,233,001 - 1,025.)
    self.assertEqual((total, trainable), EXPECTED_PARAMETERS['mobilenet_v1'])
    self.assertEqual(trainable - 1025, 4231976)

  def test_depth_multiplier(self):
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [1, 128, 128, 3])
      zoo.mobilenet_v1(images, depth_multiplier=0.75)
      shapes = _graph_summary()['shapes']
    conv_weights = sum(_count([s]) for n, s in shapes.items()
                       if n.endswith('weights') and '/Logits/' not in n)
    # TF-Slim's table for the 0.75 base.
    self.assertEqual(conv_weights, 1800144)

  def _reference_logits(self, images, values, is_training):
    """MobileNet v1 with tf.nn ops on the given variable values."""
    def batch_norm(net, layer):
      prefix = f'MobilenetV1/{layer}/BatchNorm/'
      if is_training:
        mean, variance = tf.nn.moments(net, [0, 1, 2])
      else:
        mean = values[prefix + 'moving_mean']
        variance = values[prefix + 'moving_variance']
      net = tf.nn.batch_normalization(net, mean, variance,
                                      values[prefix + 'beta'],
                                      values[prefix + 'gamma'], 1e-3)
      return tf.nn.relu6(net)

    net = tf.nn.conv2d(images, values['MobilenetV1/Conv2d_0/weights'],
                       [1, 2, 2, 1], 'SAME')
    net = batch_norm(net, 'Conv2d_0')
    for index, (stride, _) in enumerate(MOBILENET_LAYERS, start=1):
      layer = f'Conv2d_{index}'
      net = tf.nn.depthwise_conv2d(
          net, values[f'MobilenetV1/{layer}_depthwise/depthwise_weights'],
          [1, stride, stride, 1], 'SAME')
      net = batch_norm(net, layer + '_depthwise')
      net = tf.nn.conv2d(
          net, values[f'MobilenetV1/{layer}_pointwise/weights'],
          [1, 1, 1, 1], 'SAME')
      net = batch_norm(net, layer + '_pointwise')
    net = tf.reduce_mean(net, [1, 2])  # The map is smaller than 7x7.
    weights = values['MobilenetV1/Logits/Conv2d_1c_1x1/weights'][0, 0]
    return tf.matmul(net, weights) + values[
        'MobilenetV1/Logits/Conv2d_1c_1x1/biases']

  def test_outputs_match_plain_tf_nn(self):
    batch, size, classes = 2, 96, 10
    graph = tf.Graph()
    with graph.as_default():
      _V1.set_random_seed(3)
      images = _V1.placeholder(tf.float32, [batch, size, size, 3])
      is_training = _V1.placeholder_with_default(False, [])
      logits, _ = zoo.mobilenet_v1(images, num_classes=classes,
                                   is_training=is_training,
                                   dropout_keep_prob=1.0)
      variables = _V1.global_variables()
      updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
      randomise = _randomise_batch_norm_op(variables, seed=5)
      batch_images = np.random.RandomState(4).uniform(
          -1.0, 1.0, [batch, size, size, 3]).astype(np.float32)
      with self.session(graph=graph, config=_fast_config()) as sess:
        sess.run(_V1.global_variables_initializer())
        sess.run(randomise)
        values = dict(zip([v.op.name for v in variables],
                          sess.run(variables)))
        reference_eval = self._reference_logits(images, values, False)
        reference_train = self._reference_logits(images, values, True)
        expected, actual = sess.run([reference_eval, logits],
                                    {images: batch_images})
        self.assertAllClose(actual, expected, rtol=1e-4, atol=1e-4)
        errors = {'eval': _max_error(actual, expected)}
        expected, actual = sess.run([reference_train, logits] + updates,
                                    {images: batch_images,
                                     is_training: True})[:2]
        self.assertAllClose(actual, expected, rtol=1e-3, atol=1e-3)
        errors['train'] = _max_error(actual, expected)
        moved = sess.run('MobilenetV1/Conv2d_0/BatchNorm/moving_mean:0')
    self.assertNotAllClose(moved,
                           values['MobilenetV1/Conv2d_0/BatchNorm/moving_mean'])
    logging.info('mobilenet_v1: max |ours - tf.nn| (absolute, relative) %s',
                 errors)


if __name__ == '__main__':
  tf.test.main()
