"""An auxiliary classifier (`end_points['AuxLogits']`) weighs 0.4 in the loss.

TF-Slim's train_image_classifier adds the auxiliary head's cross-entropy
with weight 0.4 (Inception v3). The check builds a training graph for a user
network that exposes `AuxLogits` and compares its total loss at step 0, on
one device and on two towers, with the numpy sum of the two cross-entropies.
"""

import os
import textwrap

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import pipeline

runtime.use_graph_mode()
_V1 = tf.compat.v1

_NET = textwrap.dedent('''
    import tensorflow.compat.v1 as tf

    def aux_net(images, num_classes, is_training):
      flat = tf.reshape(images, [-1, 8 * 8 * 3])
      w = tf.get_variable('w', [8 * 8 * 3, num_classes])
      aux_w = tf.get_variable('aux/w', [8 * 8 * 3, num_classes])
      logits = tf.matmul(flat, w)
      return logits, {'AuxLogits': tf.matmul(flat, aux_w), 'Logits': logits}
''')


def _cross_entropy(logits, labels):
  logits = logits.astype(np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return float(-log_p[np.arange(len(labels)), labels].mean())


class AuxiliaryLossTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    root = self.get_temp_dir()
    self.model_file = os.path.join(root, 'aux_net.py')
    with open(self.model_file, 'w', encoding='utf-8') as f:
      f.write(_NET)
    self.data_dir = os.path.join(root, 'data')
    rng = np.random.RandomState(0)
    for split in ('train', 'test'):
      for label in range(3):
        folder = os.path.join(self.data_dir, split, f'c{label}')
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(rng.randint(0, 256, (8, 8, 3)).astype(
            np.uint8)).save(os.path.join(folder, '0.png'))

  def _step0(self, devices=''):
    config = config_lib.training_config(
        model=f'{self.model_file}:aux_net', data_dir=self.data_dir,
        image_size=8, batch_size=4, max_steps=1, input_threads=1, seed=1,
        devices=devices, train_dir=os.path.join(self.get_temp_dir(), 'run'))
    spec = run_spec.for_training(config)
    rng = np.random.RandomState(2)
    pixels = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 1], np.int32)
    ops = training.build_train_graph(spec, batch_fn=lambda: pipeline.InputBatch(
        tf.constant(pixels), tf.constant(labels), 4, spec.class_names))
    with ops.graph.as_default(), _V1.Session(
        graph=ops.graph, config=training.session_config(spec)) as sess:
      sess.run(_V1.global_variables_initializer())
      weights = {v.op.name: v for v in _V1.trainable_variables()}
      loss, xent, values = sess.run([ops.model.loss, ops.model.cross_entropy,
                                     weights])
    flat = pixels.reshape(4, -1).astype(np.float64)
    main = _cross_entropy(flat @ values['w'], labels)
    aux = _cross_entropy(flat @ values['aux/w'], labels)
    return loss, xent, main, aux

  def test_aux_logits_weigh_0_4(self):
    loss, xent, main, aux = self._step0()
    self.assertAllClose(xent, main, rtol=1e-5)
    self.assertAllClose(loss, main + training.AUX_LOSS_WEIGHT * aux,
                        rtol=1e-5)
    self.assertEqual(training.AUX_LOSS_WEIGHT, 0.4)
    self.assertGreater(abs(loss - xent), 1e-3)  # the head counts

  def test_each_tower_adds_its_own_aux_loss(self):
    # Two towers of two images each: the mean of the towers' totals, which
    # is the whole batch's (equal halves).
    loss, _, main, aux = self._step0(devices='cpu:0,cpu:1')
    self.assertAllClose(loss, main + 0.4 * aux, rtol=1e-5)


if __name__ == '__main__':
  tf.test.main()
