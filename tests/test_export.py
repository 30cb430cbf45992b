"""SavedModel export: signatures, same predictions as the checkpoint, safety."""

import os
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

from tf1cnn import export
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import models
from tf1cnn import runtime
from tf1cnn import training

from fixtures import make_striped_dataset

runtime.use_graph_mode()
_V1 = tf.compat.v1


class ExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=6)
    cls.train_dir = tempfile.mkdtemp()
    training.train(tf1cnn_flags.TrainingConfig(
        model='lenet5', data_dir=cls.data_dir, train_dir=cls.train_dir,
        image_size=32, batch_size=4, max_steps=6, seed=1,
        moving_average_decay=0.5, input_threads=2))

  def test_export_matches_checkpoint_and_is_never_overwritten(self):
    export_dir = os.path.join(self.get_temp_dir(), 'export')
    target = export.export_saved_model(train_dir=self.train_dir,
                                       export_dir=export_dir)
    self.assertEqual(os.path.basename(target), '6')
    self.assertEqual(os.listdir(export_dir), ['6'])  # no staging left over

    path = os.path.join(self.data_dir, 'test', 'vertical', '00.png')
    with open(path, 'rb') as f:
      encoded = f.read()
    pixels = np.asarray(Image.open(path).convert('RGB'), np.float32)
    with tf.Graph().as_default(), self.session() as sess:
      resized = sess.run(tf.image.resize(pixels, [32, 32]))

    with tf.Graph().as_default() as graph, self.session(graph=graph) as sess:
      meta = _V1.saved_model.loader.load(
          sess, [_V1.saved_model.tag_constants.SERVING], target)
      self.assertCountEqual(meta.signature_def,
                            ['serving_default', 'predict_images'])
      jpeg_sig = meta.signature_def['serving_default']
      pixel_sig = meta.signature_def['predict_images']
      from_bytes = sess.run(
          {k: v.name for k, v in jpeg_sig.outputs.items()},
          {jpeg_sig.inputs['image_bytes'].name: [encoded, encoded]})
      from_pixels = sess.run(
          {k: v.name for k, v in pixel_sig.outputs.items()},
          {pixel_sig.inputs['images'].name: resized[None]})
    self.assertAllClose(from_bytes['logits'][0], from_pixels['logits'][0],
                        atol=1e-4)
    self.assertAllClose(from_bytes['probabilities'].sum(axis=1), [1.0, 1.0])
    self.assertIn(from_bytes['class_names'][0], (b'horizontal', b'vertical'))

    # The export holds the moving averages, as evaluation restores them.
    prefix = tf.train.latest_checkpoint(self.train_dir)
    with tf.Graph().as_default(), self.session() as sess:
      logits, _ = models.get_network_fn('lenet5', 2)(
          tf.image.per_image_standardization(tf.constant(resized))[None])
      variables = {v.op.name: v for v in _V1.global_variables()}
      _V1.train.Saver({f'{name}/ExponentialMovingAverage': var
                       for name, var in variables.items()}).restore(sess, prefix)
      want = sess.run(logits)
    self.assertAllClose(from_pixels['logits'], want, atol=1e-4)

    with self.assertRaisesRegex(runtime.UserInputError, 'already exists'):
      export.export_saved_model(train_dir=self.train_dir,
                                export_dir=export_dir)
    self.assertEqual(os.listdir(export_dir), ['6'])

  def test_missing_checkpoint(self):
    with self.assertRaisesRegex(runtime.UserInputError, 'no checkpoint'):
      export.export_saved_model(train_dir=self.get_temp_dir(),
                                export_dir=self.get_temp_dir())


if __name__ == '__main__':
  tf.test.main()
