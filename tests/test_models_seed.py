"""Graph-mode tests of the seed models: inception, bn_cnn, cifar_cnn, lenet5_bn.

For each model: the logits and end points, the variable names and shapes,
the exact parameter counts of the equivalent Keras model, the batch-norm
update ops, deterministic evaluation, a boolean-tensor `is_training`, and a
few Adam steps on a fixed batch that must lower the loss by a fifth.
"""

import numpy as np
import tensorflow as tf
from absl import logging
from absl.testing import parameterized

from tf1cnn import runtime
from tf1cnn import models
from tf1cnn.models import bn_cnn
from tf1cnn.models import cifar_cnn
from tf1cnn.models import inception
from tf1cnn.models import lenet5_bn

runtime.use_graph_mode()

_V1 = tf.compat.v1

SEED_MODELS = ('inception', 'bn_cnn', 'cifar_cnn', 'lenet5_bn')
EACH_MODEL = [dict(testcase_name=f'_{name}', name=name) for name in SEED_MODELS]

# name -> (total, trainable, non-trainable) parameters with default options.
EXPECTED_PARAMETERS = {
    'inception': (294218, 293226, 992),
    'bn_cnn': (63816, 63444, 372),
    'cifar_cnn': (2228740, 2228740, 0),
    'lenet5_bn': (60162, 60118, 44),
}

EXPECTED_END_POINTS = {
    'inception': {'stem', 'mixed_1a', 'mixed_1b', 'mixed_2a', 'mixed_2b',
                  'global_pool', 'Logits'},
    'bn_cnn': {'conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'pool1', 'pool2',
               'pool3', 'pool4', 'avg_pool', 'Logits'},
    'cifar_cnn': {'conv1', 'pool1', 'conv2', 'pool2', 'fc1', 'Logits'},
    'lenet5_bn': {'conv1', 'pool1', 'conv2', 'pool2', 'fc1', 'fc2', 'Logits'},
}

# name -> {variable name: shape}, a sample of each model's variables.
EXPECTED_VARIABLES = {
    'inception': {
        'inception/stem/weights': [3, 3, 1, 16],
        'inception/stem/biases': [16],
        'inception/stem/batch_norm/gamma': [16],
        'inception/stem/batch_norm/moving_mean': [16],
        'inception/blocks/mixed_1a/conv1/weights': [3, 3, 16, 16],
        'inception/blocks/mixed_1b/conv3_2/weights': [3, 3, 16, 16],
        'inception/blocks/mixed_2a/pool_conv/weights': [3, 3, 64, 32],
        'inception/blocks/mixed_2b/conv2/batch_norm/moving_variance': [32],
        'inception/logits/weights': [128, 10],
        'inception/logits/biases': [10],
    },
    'bn_cnn': {
        'bn_cnn/conv1/weights': [3, 3, 3, 64],
        'bn_cnn/conv1/biases': [64],
        'bn_cnn/conv1/batch_norm/beta': [64],
        'bn_cnn/conv3/weights': [3, 3, 64, 32],
        'bn_cnn/conv5/weights': [3, 3, 16, 10],
        'bn_cnn/conv5/batch_norm/moving_mean': [10],
        'bn_cnn/conv5/batch_norm/moving_variance': [10],
    },
    'cifar_cnn': {
        'cifar_cnn/conv1/weights': [5, 5, 3, 32],
        'cifar_cnn/conv1/biases': [32],
        'cifar_cnn/conv2/weights': [5, 5, 32, 32],
        'cifar_cnn/fc1/weights': [2048, 1024],
        'cifar_cnn/logits/weights': [1024, 100],
        'cifar_cnn/logits/biases': [100],
    },
    'lenet5_bn': {
        'lenet5_bn/conv1/weights': [3, 3, 1, 6],
        'lenet5_bn/conv1/batch_norm/gamma': [6],
        'lenet5_bn/conv2/biases': [16],
        'lenet5_bn/conv2/batch_norm/moving_mean': [16],
        'lenet5_bn/fc1/weights': [400, 120],
        'lenet5_bn/fc2/weights': [120, 84],
        'lenet5_bn/logits/weights': [84, 10],
    },
}

# Number of batch norms (each contributes two update ops while training).
NUM_BATCH_NORMS = {'inception': 21, 'bn_cnn': 5, 'cifar_cnn': 0,
                   'lenet5_bn': 2}


def _input_shape(name, batch_size):
  builder = models.get_builder(name)
  size = builder.default_image_size
  return [batch_size, size, size, builder.default_channels]


def _build(name, batch_size=2, is_training=False, **options):
  """Builds model `name` in the default graph on an image placeholder."""
  builder = models.get_builder(name)
  images = _V1.placeholder(tf.float32, _input_shape(name, batch_size),
                           name='images')
  logits, end_points = builder(images, builder.default_num_classes,
                               is_training=is_training, **options)
  return images, logits, end_points


def _count(variables):
  return sum(int(np.prod(v.shape.as_list())) for v in variables)


def _random_images(name, batch_size, seed=0):
  shape = _input_shape(name, batch_size)
  return np.random.RandomState(seed).uniform(-0.5, 0.5, shape).astype(
      np.float32)


class SeedModelsTest(tf.test.TestCase, parameterized.TestCase):

  def test_registered(self):
    names = models.list_models()
    for name in SEED_MODELS + ('lenet5',):
      self.assertIn(name, names)
    self.assertEqual(names, sorted(names))

  @parameterized.named_parameters(*EACH_MODEL)
  def test_factory_attributes(self, name):
    builder = models.get_builder(name)
    network_fn = models.get_network_fn(name, builder.default_num_classes)
    self.assertEqual(network_fn.default_image_size, builder.default_image_size)
    self.assertEqual(network_fn.default_channels, builder.default_channels)
    self.assertEqual(network_fn.default_num_classes,
                     builder.default_num_classes)

  @parameterized.named_parameters(*EACH_MODEL)
  def test_logits_and_end_points(self, name):
    with tf.Graph().as_default():
      _, logits, end_points = _build(name, batch_size=5)
      num_classes = models.get_builder(name).default_num_classes
      self.assertTrue(logits.op.name.startswith(f'{name}/logits'),
                      logits.op.name)
      self.assertListEqual(logits.shape.as_list(), [5, num_classes])
      self.assertSetEqual(set(end_points), EXPECTED_END_POINTS[name])
      self.assertIs(end_points['Logits'], logits)

  def test_inception_end_point_shapes(self):
    with tf.Graph().as_default():
      _, _, end_points = _build('inception', batch_size=3)
      shapes = {k: v.shape.as_list() for k, v in end_points.items()}
      self.assertDictEqual(shapes, {
          'stem': [3, 28, 28, 16], 'mixed_1a': [3, 14, 14, 64],
          'mixed_1b': [3, 14, 14, 64], 'mixed_2a': [3, 7, 7, 128],
          'mixed_2b': [3, 7, 7, 128], 'global_pool': [3, 128],
          'Logits': [3, 10]})

  def test_small_models_end_point_shapes(self):
    with tf.Graph().as_default():
      _, _, bn_points = _build('bn_cnn', batch_size=1)
      _, _, cifar_points = _build('cifar_cnn', batch_size=1)
      _, _, lenet_points = _build('lenet5_bn', batch_size=1)
    self.assertListEqual(bn_points['pool4'].shape.as_list(), [1, 2, 2, 16])
    self.assertListEqual(bn_points['avg_pool'].shape.as_list(), [1, 1, 1, 10])
    self.assertListEqual(cifar_points['pool2'].shape.as_list(), [1, 8, 8, 32])
    self.assertListEqual(lenet_points['conv1'].shape.as_list(), [1, 26, 26, 6])
    self.assertListEqual(lenet_points['pool2'].shape.as_list(), [1, 5, 5, 16])

  @parameterized.named_parameters(*EACH_MODEL)
  def test_variable_names_and_shapes(self, name):
    with tf.Graph().as_default():
      _build(name)
      shapes = {v.op.name: v.shape.as_list()
                for v in _V1.global_variables()}
      for var_name, shape in EXPECTED_VARIABLES[name].items():
        self.assertIn(var_name, shapes)
        self.assertListEqual(shapes[var_name], shape, var_name)
      non_trainable = {v.op.name for v in _V1.global_variables()} - {
          v.op.name for v in _V1.trainable_variables()}
      for var_name in non_trainable:
        self.assertRegex(var_name, r'/batch_norm/moving_(mean|variance)$')
      self.assertLen(non_trainable, 2 * NUM_BATCH_NORMS[name])

  def test_bn_cnn_has_no_batch_norm_scale(self):
    with tf.Graph().as_default():
      _build('bn_cnn')
      names = [v.op.name for v in _V1.global_variables()]
    self.assertEmpty([n for n in names if n.endswith('/gamma')])

  @parameterized.named_parameters(*EACH_MODEL)
  def test_parameter_counts(self, name):
    with tf.Graph().as_default():
      _build(name, is_training=True)
      total = _count(_V1.global_variables())
      trainable = _count(_V1.trainable_variables())
    self.assertEqual((total, trainable, total - trainable),
                     EXPECTED_PARAMETERS[name])

  def test_parameter_count_constants(self):
    # Each module's documented counts are those of the graph it builds.
    constants = {
        'inception': (inception.NUM_PARAMETERS,
                      inception.NUM_TRAINABLE_PARAMETERS,
                      inception.NUM_NON_TRAINABLE_PARAMETERS),
        'bn_cnn': (bn_cnn.NUM_PARAMETERS, bn_cnn.NUM_TRAINABLE_PARAMETERS,
                   bn_cnn.NUM_NON_TRAINABLE_PARAMETERS),
        'cifar_cnn': (cifar_cnn.NUM_PARAMETERS,),
        'lenet5_bn': (lenet5_bn.NUM_PARAMETERS,
                      lenet5_bn.NUM_TRAINABLE_PARAMETERS,
                      lenet5_bn.NUM_NON_TRAINABLE_PARAMETERS),
    }
    for name, documented in constants.items():
      with tf.Graph().as_default():
        _build(name)
        every = _count(_V1.global_variables())
        trainable = _count(_V1.trainable_variables())
      self.assertEqual(documented,
                       (every, trainable, every - trainable)[:len(documented)],
                       name)

  @parameterized.named_parameters(*EACH_MODEL)
  def test_logits_scopes_hold_the_classifier(self, name):
    builder = models.get_builder(name)
    self.assertNotEmpty(builder.logits_scopes)
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, _input_shape(name, 1))
      builder(images, num_classes=7)  # 7: a width no other layer has
      variables = _V1.global_variables()
    in_scopes = {v.op.name for v in variables
                 if any(v.op.name.startswith(scope + '/')
                        for scope in builder.logits_scopes)}
    sized_by_classes = {v.op.name for v in variables
                        if 7 in v.shape.as_list()}
    self.assertNotEmpty(sized_by_classes)
    # Every variable whose shape depends on the classes is in the scopes.
    self.assertContainsSubset(sized_by_classes, in_scopes)

  def test_inception_parameter_split(self):
    with tf.Graph().as_default():
      _build('inception')
      variables = _V1.global_variables()
      split = [_count([v for v in variables if v.op.name.startswith(prefix)])
               for prefix in ('inception/stem/', 'inception/blocks/',
                              'inception/logits/')]
    self.assertEqual(split, [inception.NUM_STEM_PARAMETERS,
                             inception.NUM_BLOCK_PARAMETERS,
                             inception.NUM_LOGITS_PARAMETERS])
    self.assertEqual(split, [224, 292704, 1290])

  def test_inception_options(self):
    with tf.Graph().as_default():
      _, logits, end_points = _build('inception', num_layers=1, init_ch=8)
      self.assertSetEqual(set(end_points), {'stem', 'mixed_1a', 'mixed_1b',
                                            'global_pool', 'Logits'})
      self.assertListEqual(end_points['mixed_1b'].shape.as_list(),
                           [2, 14, 14, 32])
      self.assertListEqual(logits.shape.as_list(), [2, 10])

  def test_bn_cnn_with_batch_norm_scale(self):
    with tf.Graph().as_default():
      _build('bn_cnn', batch_norm_scale=True)
      self.assertEqual(_count(_V1.global_variables()), 64002)
      self.assertEqual(_count(_V1.trainable_variables()), 63630)

  def test_cifar_cnn_other_counts(self):
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [None, 32, 32, 3])
      cifar_cnn.cifar_cnn(images, num_classes=10)
      self.assertEqual(_count(_V1.global_variables()),
                       cifar_cnn.NUM_PARAMETERS_10_CLASSES)
      self.assertEqual(cifar_cnn.NUM_PARAMETERS_10_CLASSES, 2136490)
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [None, 32, 32, 3])
      cifar_cnn.cifar_cnn(images, conv2_filters=64)
      self.assertEqual(_count(_V1.global_variables()),
                       cifar_cnn.NUM_PARAMETERS_CONV2_64)
      self.assertEqual(cifar_cnn.NUM_PARAMETERS_CONV2_64, 4351524)

  def test_cifar_cnn_conv_regulariser_matches_keras_l2(self):
    with tf.Graph().as_default() as graph:
      _build('cifar_cnn')
      losses = _V1.get_collection(_V1.GraphKeys.REGULARIZATION_LOSSES)
      self.assertLen(losses, 2)
      by_name = {v.op.name: v for v in _V1.global_variables()}
      kernels = [by_name[f'cifar_cnn/{layer}/weights']
                 for layer in ('conv1', 'conv2')]
      keras_penalty = tf.add_n(
          [0.01 * tf.reduce_sum(tf.square(k)) for k in kernels])
      with self.session(graph=graph) as sess:
        sess.run(_V1.global_variables_initializer())
        ours, keras = sess.run([tf.add_n(losses), keras_penalty])
    self.assertAllClose(ours, keras, rtol=1e-5)

  @parameterized.named_parameters(*EACH_MODEL)
  def test_update_ops(self, name):
    with tf.Graph().as_default():
      _build(name, is_training=True)
      training_updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
    with tf.Graph().as_default():
      _build(name, is_training=False)
      eval_updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
    self.assertLen(training_updates, 2 * NUM_BATCH_NORMS[name])
    self.assertEqual(bool(training_updates), name != 'cifar_cnn')
    self.assertEmpty(eval_updates)

  @parameterized.named_parameters(*EACH_MODEL)
  def test_eval_is_deterministic(self, name):
    with tf.Graph().as_default() as graph:
      _V1.set_random_seed(1)
      images, logits, _ = _build(name, batch_size=2, is_training=False,
                                 **({'drop_rate': 0.5}
                                    if name == 'cifar_cnn' else {}))
      batch = _random_images(name, 2)
      with self.session(graph=graph) as sess:
        sess.run(_V1.global_variables_initializer())
        first = sess.run(logits, {images: batch})
        second = sess.run(logits, {images: batch})
    self.assertAllEqual(first, second)
    self.assertTrue(np.all(np.isfinite(first)))

  @parameterized.named_parameters(*EACH_MODEL)
  def test_boolean_tensor_is_training(self, name):
    builder = models.get_builder(name)
    with tf.Graph().as_default() as graph:
      _V1.set_random_seed(2)
      is_training = _V1.placeholder_with_default(False, [], 'is_training')
      images = _V1.placeholder(tf.float32, _input_shape(name, 4))
      logits, _ = builder(images, builder.default_num_classes,
                          is_training=is_training)
      with _V1.variable_scope(_V1.get_variable_scope(), reuse=True):
        eval_logits, _ = builder(images, builder.default_num_classes,
                                 is_training=False)
      moving = [v for v in _V1.global_variables()
                if v.op.name.endswith('batch_norm/moving_mean')]
      updates = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS)
      batch = _random_images(name, 4)
      with self.session(graph=graph) as sess:
        sess.run(_V1.global_variables_initializer())
        default_out, eval_out = sess.run([logits, eval_logits],
                                         {images: batch})
        self.assertAllClose(default_out, eval_out, rtol=1e-5, atol=1e-6)
        before = sess.run(moving)
        sess.run([logits] + updates, {images: batch, is_training: False})
        self.assertAllClose(sess.run(moving), before)
        train_out = sess.run([logits] + updates,
                             {images: batch, is_training: True})[0]
        self.assertAllEqual(train_out.shape, default_out.shape)
        if moving:
          changed = [not np.allclose(a, b)
                     for a, b in zip(before, sess.run(moving))]
          self.assertTrue(all(changed))

  @parameterized.named_parameters(*EACH_MODEL)
  def test_training_lowers_the_loss(self, name):
    builder = models.get_builder(name)
    num_classes = builder.default_num_classes
    with tf.Graph().as_default() as graph:
      _V1.set_random_seed(3)
      images = tf.constant(_random_images(name, 16, seed=4))
      labels = tf.constant(
          np.random.RandomState(5).randint(0, num_classes, 16), tf.int32)
      logits, _ = builder(images, num_classes, is_training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=labels, logits=logits))
      regularisation = _V1.get_collection(
          _V1.GraphKeys.REGULARIZATION_LOSSES)
      if regularisation:
        loss += tf.add_n(regularisation)
      with tf.control_dependencies(_V1.get_collection(
          _V1.GraphKeys.UPDATE_OPS)):
        train_op = _V1.train.AdamOptimizer(1e-3).minimize(loss)
      with self.session(graph=graph) as sess:
        sess.run(_V1.global_variables_initializer())
        losses = [sess.run([loss, train_op])[0] for _ in range(8)]
        losses.append(sess.run(loss))
    logging.info('%s training losses: %s', name, np.round(losses, 4))
    self.assertTrue(np.all(np.isfinite(losses)))
    self.assertLess(losses[-1], 0.8 * losses[0])


if __name__ == '__main__':
  tf.test.main()
