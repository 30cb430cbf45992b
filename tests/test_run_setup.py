"""The run set-up: strict options, flag groups, the recorded preprocessing."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import export
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import inputs
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import preprocess

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args):
  env = subprocess_env()
  return subprocess.run([sys.executable] + args, cwd=_ROOT, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


class StrictOptionsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=4)

  def _config(self, **values):
    return config_lib.training_config(
        model='lenet5', data_dir=self.data_dir, image_size=32, max_steps=1,
        **values)

  def test_an_option_the_pipeline_does_not_take_is_named(self):
    with self.assertRaisesRegex(
        runtime.UserInputError,
        r"--dataset=image_folder --pipeline=queue has no option "
        r"'augmentation' \(its options: augment, bad_images, num_threads, "
        r"preprocessing\)"):
      run_spec.for_training(self._config(augmentation='standard'))
    with tf.Graph().as_default():
      with self.assertRaisesRegex(runtime.UserInputError,
                                  "no option 'num_thread'"):
        inputs.build_input('image_folder', self.data_dir, 'train', 4, True,
                           num_thread=2)

  def test_a_pipeline_the_dataset_lacks_is_named(self):
    with self.assertRaisesRegex(
        runtime.UserInputError,
        '--pipeline=cached is not available for --dataset=mnist'):
      inputs.get_builder('mnist', 'cached')

  def test_an_unknown_model_option_is_named(self):
    with self.assertRaisesRegex(runtime.UserInputError,
                                "--model=lenet5: model 'lenet5' has no "
                                "option 'foo' .*drop_rate"):
      run_spec.for_training(self._config(model_options=dict(foo=1)))

  def test_builders_must_declare_their_options(self):
    with self.assertRaisesRegex(TypeError, 'keyword-only'):
      inputs.register_pipeline('nothing', 'queue')(
          lambda name, data_dir, **options: None)

  def test_config_fields_are_strict(self):
    with self.assertRaisesRegex(TypeError, "no field 'learning_rat'"):
      config_lib.training_config(learning_rat=0.1)
    with self.assertRaisesRegex(config_lib.ConfigError,
                                "--pipeline='fast': use one of queue"):
      config_lib.training_config(pipeline='fast')
    config = config_lib.training_config(learning_rate=0.5, pipeline='cached')
    self.assertEqual(config.optim.learning_rate, 0.5)
    self.assertEqual(config.input.pipeline, 'cached')
    self.assertEqual(config_lib.replace(config, batch_size=3).batch_size, 3)

  def test_preprocessing_resolution(self):
    spec = run_spec.for_training(self._config(pipeline='tfdata'))
    self.assertEqual(spec.preprocessing,
                     preprocess.Preprocessing('standardize', 'reduced'))
    spec = run_spec.for_training(self._config())
    self.assertEqual(spec.preprocessing.decode, 'full')
    self.assertEqual(spec.record()['preprocessing'],
                     dict(recipe='standardize', decode='full',
                          augmentation='recipe'))
    with self.assertRaisesRegex(runtime.UserInputError,
                                "--preprocessing='bogus': use one of"):
      run_spec.for_training(self._config(preprocessing='bogus'))


class RecipesTest(tf.test.TestCase):

  def test_cifar10_tutorial_crops_arrays(self):
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
    recipe = preprocess.Preprocessing(recipe='cifar10_tutorial')
    from tf1cnn.inputs import arrays  # pylint: disable=g-import-not-at-top
    with self.cached_session() as sess:
      evaluated = sess.run(arrays.preprocess_example(
          tf.constant(image), False, image_size=24, preprocessing=recipe))
      trained = sess.run(arrays.preprocess_example(
          tf.constant(image), True, image_size=24, preprocessing=recipe,
          seed=1))
    center = image[4:28, 4:28].astype(np.float64)
    expected = (center - center.mean()) / max(center.std(),
                                               1 / np.sqrt(center.size))
    self.assertAllClose(evaluated, expected, atol=1e-4)
    self.assertEqual(trained.shape, (24, 24, 3))

  def test_vgg_and_inception_normalisation(self):
    pixels = np.full((3, 3, 3), 255.0, np.float32)
    with self.cached_session() as sess:
      vgg = sess.run(preprocess.get_recipe('vgg').normalize(pixels))
      inception = sess.run(preprocess.get_recipe('inception').normalize(
          pixels))
    self.assertAllClose(vgg[0, 0], [255 - 123.68, 255 - 116.78, 255 - 103.94])
    self.assertAllClose(inception, np.ones_like(pixels))

  def test_vgg_eval_is_an_aspect_resize_and_central_crop(self):
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 30:50] = 200  # a central band
    with self.cached_session() as sess:
      out = sess.run(preprocess.get_recipe('vgg').eval_pixels(
          tf.constant(image), 28))
    # Smaller side 40 -> 32 (28 * 256/224), width 64; central 28 columns
    # of 64 start at 18: the band (24..40 after scaling) is columns 6..22.
    self.assertEqual(out.shape, (28, 28, 3))
    self.assertGreater(out[14, 14, 0], 150)
    self.assertLess(out[14, 1, 0], 50)


class FlagGroupsTest(tf.test.TestCase):

  def test_flagfile_shared_by_programs(self):
    fv = flags.FlagValues()
    tf1cnn_flags.define(('common', 'eval'), flag_values=fv)
    path = os.path.join(self.get_temp_dir(), 'run.flags')
    with open(path, 'w', encoding='utf-8') as f:
      f.write('# comment\n--model=inception\n--batch_size=7\n--noaugment\n'
              '--eval_batch_size=9\n')
    argv = tf1cnn_flags.expand_flagfiles([f'--flagfile={path}'], fv)
    self.assertEqual(argv, ['--model=inception', '--eval_batch_size=9'])
    with open(path, 'a', encoding='utf-8') as f:
      f.write('--eval_batch_sise=3\n')
    with self.assertRaises(flags.Error):
      fv(['prog'] + tf1cnn_flags.expand_flagfiles([f'--flagfile={path}'], fv))

  def test_a_flagfile_line_that_is_not_a_flag(self):
    path = os.path.join(self.get_temp_dir(), 'bad.flags')
    with open(path, 'w', encoding='utf-8') as f:
      f.write('--max_steps=4\nmax_steps=5\n')
    fv = flags.FlagValues()
    tf1cnn_flags.define(('common', 'train'), flag_values=fv)
    with self.assertRaisesRegex(flags.Error,
                                r"bad.flags:2: 'max_steps=5' is not a flag"):
      tf1cnn_flags.expand_flagfiles([f'--flagfile={path}'], fv)

  def test_config_from_flags(self):
    fv = flags.FlagValues()
    tf1cnn_flags.define(('common', 'train'), flag_values=fv)
    fv(['prog', '--pipeline=cached', '--learning_rate=0.01',
        '--model_option=num_layers=3'])
    config = tf1cnn_flags.config_from_flags(config_lib.TrainingConfig, fv)
    self.assertEqual(config.input.pipeline, 'cached')
    self.assertEqual(config.optim.learning_rate, 0.01)
    self.assertEqual(config.model_options, dict(num_layers=3))

  def test_bounds_are_validated_where_defined(self):
    fv = flags.FlagValues()
    tf1cnn_flags.define(('common', 'train'), flag_values=fv)
    for bad in ('--drop_rate=1', '--drop_rate=-0.5', '--image_size=-6',
                '--input_threads=-1', '--learning_rate=-0.1',
                '--moving_average_decay=2', '--batch_size=0',
                '--model_option=foo'):
      with self.assertRaises(flags.IllegalFlagValueError, msg=bad):
        fv(['prog', bad])
      fv.unparse_flags()

  def test_predict_lists_only_its_flags(self):
    done = _run(['scripts/predict.py', '--helpfull'])
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('--saved_model_dir', done.stdout)
    for training_flag in ('--batch_size', '--learning_rate', '--max_steps',
                          '--eval_split'):
      self.assertNotIn(training_flag, done.stdout)

  def test_help_shows_the_program_flags_and_usage(self):
    done = _run(['scripts/train.py', '--help'])
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('tf1cnn-train --flagfile=data/fashion_inception.flags\n',
                  done.stdout)
    self.assertIn('--learning_rate', done.stdout)
    self.assertNotIn('--saved_model_dir', done.stdout)


class RecordedPreprocessingTest(tf.test.TestCase):
  """A model trained on reduced-scale decodes is served reduced decodes."""

  def test_export_decodes_as_training_did(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    rng = np.random.RandomState(0)
    large = None
    for split in ('train', 'test'):
      for label, name in enumerate(('a', 'b')):
        folder = os.path.join(root, split, name)
        os.makedirs(folder)
        for i in range(3):
          coarse = rng.randint(0, 256, (12, 12, 3), np.uint8)
          image = Image.fromarray(coarse).resize((180, 140), Image.BILINEAR)
          path = os.path.join(folder, f'{label}{i}.jpg')
          image.save(path, quality=90)
          large = path
    train_dir = os.path.join(root, 'run')
    training.train(config_lib.training_config(
        model='lenet5', data_dir=root, train_dir=train_dir, image_size=32,
        batch_size=4, max_steps=2, jpeg_decode='reduced', input_threads=1,
        log_every_n_steps=1))
    with open(os.path.join(train_dir, 'run_config.json')) as f:
      self.assertEqual(json.load(f)['preprocessing'],
                       dict(recipe='standardize', decode='reduced',
                            augmentation='recipe'))
    target = export.export_saved_model(config_lib.export_config(
        train_dir=train_dir, export_dir=os.path.join(root, 'export')))
    with open(os.path.join(target, 'run_config.json')) as f:
      self.assertEqual(json.load(f)['preprocessing']['decode'], 'reduced')

    with open(large, 'rb') as f:
      contents = f.read()

    def pixels(decode):
      with tf.Graph().as_default(), _V1.Session() as sess:
        return sess.run(preprocess.photo_pixels(
            tf.constant(contents), 32, preprocess.Preprocessing(
                decode=decode)))

    reduced, full = pixels('reduced'), pixels('full')
    self.assertGreater(np.abs(reduced - full).max(), 1.0)
    with tf.Graph().as_default(), _V1.Session() as sess:
      meta = _V1.saved_model.load(sess, ['serve'], target)
      served = meta.signature_def['serving_default']
      by_pixels = meta.signature_def['predict_images']

      def run(signature, name, value):
        return sess.run(signature.outputs['logits'].name,
                        {signature.inputs[name].name: value})

      from_bytes = run(served, 'image_bytes', [contents])
      self.assertAllClose(from_bytes, run(by_pixels, 'images', [reduced]),
                          atol=1e-4)
      self.assertNotAllClose(from_bytes, run(by_pixels, 'images', [full]),
                             atol=1e-4)


if __name__ == '__main__':
  tf.test.main()
