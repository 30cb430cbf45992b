"""LeNet-5 (seed 003) in the TF-Slim test style: names, shapes, parameters."""

import numpy as np
import tensorflow as tf

from tf1cnn import layers
from tf1cnn import models
from tf1cnn import runtime
from tf1cnn.models import lenet5

runtime.use_graph_mode()
_V1 = tf.compat.v1


def _count(variables):
  return int(sum(np.prod(v.shape.as_list()) for v in variables))


class LeNet5Test(tf.test.TestCase):

  def test_factory(self):
    self.assertIn('lenet5', models.list_models())
    network_fn = models.get_network_fn('lenet5', num_classes=2)
    self.assertEqual(network_fn.default_image_size, 150)
    self.assertEqual(network_fn.default_channels, 3)
    with self.assertRaisesRegex(KeyError, 'valid models: .*lenet5'):
      models.get_network_fn('vgg16', 2)

  def test_end_points_shapes_and_parameter_count(self):
    with tf.Graph().as_default():
      images = _V1.placeholder(tf.float32, [None, 150, 150, 3])
      logits, end_points = models.get_network_fn('lenet5', 2)(images)
      self.assertEqual(logits.shape.as_list(), [None, 2])
      self.assertTrue(logits.op.name.startswith('softmax_linear/softmax_linear'))
      expected = {
          'conv1_scope': [None, 150, 150, 6],
          'avg_pooling1': [None, 75, 75, 6],
          'conv2_scope': [None, 75, 75, 16],
          'avg_pooling2': [None, 38, 38, 16],
          'conv3_scope': [None, 38, 38, 120],
          'local1_scope': [None, 84],
          'softmax_linear': [None, 2],
          'Logits': [None, 2],
      }
      self.assertCountEqual(end_points, expected)
      for name, shape in expected.items():
        self.assertEqual(end_points[name].shape.as_list(), shape, name)
      self.assertEqual(
          sorted(v.op.name for v in _V1.trainable_variables()),
          ['conv1_scope/biases', 'conv1_scope/weights', 'conv2_scope/biases',
           'conv2_scope/weights', 'conv3_scope/biases', 'conv3_scope/weights',
           'local1_scope/biases', 'local1_scope/weights',
           'softmax_linear/biases', 'softmax_linear/softmax_linear'])
      self.assertEqual(_count(_V1.trainable_variables()), 14606766)
      # The module's documented count is the graph's.
      self.assertEqual(lenet5.NUM_PARAMETERS_150_2,
                       _count(_V1.trainable_variables()))
      self.assertEqual(_count(_V1.global_variables()), 14606766)
      self.assertLen(_V1.get_collection(layers.LAYER_OUTPUTS), 7)

  def test_seed_inference_signature_and_softmax_init(self):
    with tf.Graph().as_default():
      _V1.set_random_seed(0)
      images = tf.zeros([4, 150, 150, 3])
      logits = lenet5.inference(images, 4, 2, 0.0)
      self.assertEqual(logits.shape.as_list(), [4, 2])
      weights = [v for v in _V1.global_variables()
                 if v.op.name == 'softmax_linear/softmax_linear'][0]
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        w, out = sess.run([weights, logits])
      self.assertLess(np.abs(w).max(), 2 * 0.005 + 1e-6)  # truncated at 2 sigma
      self.assertAllClose(w.std(), 0.005 * 0.88, rtol=0.35)

  def test_weight_decay_and_dropout(self):
    fixed = np.random.RandomState(1).normal(
        size=[2, 150, 150, 3]).astype(np.float32)
    outputs = {}
    for drop_rate in (0.5, 0.0):
      with tf.Graph().as_default():
        _V1.set_random_seed(1)
        images = _V1.placeholder(tf.float32, [2, 150, 150, 3])
        is_training = _V1.placeholder_with_default(False, [])
        network_fn = models.get_network_fn(
            'lenet5', 2, is_training=is_training, weight_decay=1e-4,
            drop_rate=drop_rate)
        logits, _ = network_fn(images)
        decay = _V1.get_collection(_V1.GraphKeys.REGULARIZATION_LOSSES)
        self.assertLen(decay, 5)
        weights = [v for v in _V1.trainable_variables()
                   if not v.op.name.endswith('biases')]
        self.assertLen(weights, 5)
        with self.session() as sess:
          sess.run(_V1.global_variables_initializer())
          runs = [sess.run(logits, {images: fixed, is_training: mode})
                  for mode in (False, False, True, True)]
          decay_value, weight_values = sess.run([tf.add_n(decay), weights])
        outputs[drop_rate] = runs
        # weight_decay * l2_loss(w) = 1e-4 * sum(w^2) / 2 over every weight.
        self.assertAllClose(
            decay_value,
            1e-4 * sum(float((w.astype(np.float64) ** 2).sum()) / 2
                       for w in weight_values), rtol=1e-5)
    dropped = outputs[0.5]
    self.assertAllEqual(dropped[0], dropped[1])  # eval mode: no dropout
    # Training mode drops units: two runs on the same images differ...
    self.assertGreater(np.abs(dropped[2] - dropped[3]).max(), 1e-6)
    # ...and only because of drop_rate: without it they are the same.
    kept = outputs[0.0]
    self.assertAllClose(kept[2], kept[3], rtol=1e-6, atol=1e-6)


if __name__ == '__main__':
  tf.test.main()
