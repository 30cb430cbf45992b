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
      self.assertEqual(lenet5.NUM_PARAMETERS_150_2, 14606766)
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
    with tf.Graph().as_default():
      images = tf.random.normal([2, 150, 150, 3], seed=1)
      is_training = _V1.placeholder_with_default(False, [])
      network_fn = models.get_network_fn('lenet5', 2, is_training=is_training,
                                         weight_decay=1e-4, drop_rate=0.5)
      logits, _ = network_fn(images)
      self.assertLen(
          _V1.get_collection(_V1.GraphKeys.REGULARIZATION_LOSSES), 5)
      with self.session() as sess:
        sess.run(_V1.global_variables_initializer())
        fixed = images.eval()
        first = sess.run(logits, {images: fixed})
        second = sess.run(logits, {images: fixed})
        self.assertAllEqual(first, second)  # eval mode: no dropout


if __name__ == '__main__':
  tf.test.main()
