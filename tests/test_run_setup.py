"""The run set-up: strict options, flag groups, the recorded preprocessing."""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import types
from unittest import mock

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from tf1cnn import config as config_lib
from tf1cnn import distributed
from tf1cnn import export
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import inputs
from tf1cnn import optimizers
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import preprocess
from tf1cnn.models import user_model

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args):
  env = subprocess_env()
  return subprocess.run([sys.executable] + args, cwd=_ROOT, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


class _StripedRunTest(tf.test.TestCase):
  """A small image folder and the training config of LeNet-5 on it."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=4)

  def _config(self, **values):
    return config_lib.training_config(
        model='lenet5', data_dir=self.data_dir, image_size=32, max_steps=1,
        **values)


class StrictOptionsTest(_StripedRunTest):

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
    self.assertIn('--flagfile', done.stdout)
    self.assertNotIn('--saved_model_dir', done.stdout)
    # absl's, TensorFlow's and the test runner's flags only in --helpfull.
    for foreign in ('logtostderr', 'hbm_oom_exit', 'test_tmpdir',
                    'only_check_args'):
      self.assertNotIn(foreign, done.stdout)
    full = _run(['scripts/train.py', '--helpfull'])
    self.assertEqual(full.returncode, 0, full.stderr)
    self.assertIn('logtostderr', full.stdout)
    self.assertIn('--learning_rate', full.stdout)


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
        log_every_n_steps=1, seed=1))
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
      # The pixels the SavedModel decoded from the bytes (its `input`
      # defaults to them) are the reduced decode, not the full one.
      decoded = sess.run(
          by_pixels.inputs['images'].name,
          {served.inputs['image_bytes'].name: [contents]})[0]
      self.assertAllClose(decoded, reduced, atol=1e-3)
      self.assertGreater(np.abs(decoded - full).max(), 1.0)


class TypedRunTest(_StripedRunTest):
  """One RunSpec carries the config, its batch size and the placement."""

  def _worker(self, spec, task_index=1, server=None):
    """`spec` placed as worker `task_index` of a 1-ps, 2-worker cluster."""
    cluster = distributed.cluster_config(
        '127.0.0.1:1', '127.0.0.1:2,127.0.0.1:3', 'worker', task_index)
    return dataclasses.replace(
        spec, placement=distributed.Placement(cluster, server))

  def test_the_batch_size_comes_from_each_config_kind(self):
    self.assertEqual(
        run_spec.for_training(self._config(batch_size=7)).batch_size, 7)
    prefix = os.path.join(self.get_temp_dir(), 'none', 'model.ckpt-1')
    common = dict(model='lenet5', data_dir=self.data_dir, image_size=32)
    evaluated = run_spec.for_checkpoint(
        config_lib.eval_config(eval_batch_size=9, **common), prefix)
    self.assertEqual(evaluated.batch_size, 9)
    exported = run_spec.for_checkpoint(config_lib.export_config(**common),
                                       prefix, need_data=False)
    self.assertEqual(exported.batch_size, 64)
    self.assertEqual(exported.batch_size, user_model.DEFAULT_BATCH_SIZE)

  def test_the_spec_batch_size_is_the_training_graph_batch(self):
    ops = training.build_train_graph(
        run_spec.for_training(self._config(batch_size=3)))
    self.assertEqual(ops.batch.images.shape.as_list(), [3, 32, 32, 3])

  def test_an_unknown_config_type_is_refused(self):
    with self.assertRaisesRegex(
        TypeError, r'^run_spec.for_training takes TrainingConfig, not '
        r'EvalConfig$'):
      run_spec.for_training(config_lib.eval_config(data_dir=self.data_dir))
    with self.assertRaisesRegex(
        TypeError, r'^run_spec.for_checkpoint takes EvalConfig or '
        r'ExportConfig, not TrainingConfig$'):
      run_spec.for_checkpoint(self._config(), 'model.ckpt-1')
    with self.assertRaisesRegex(TypeError, r'not PredictConfig$'):
      run_spec.network_batch_size(config_lib.PredictConfig())
    self.assertEqual(config_lib.RUN_CONFIGS,
                     (config_lib.TrainingConfig, config_lib.EvalConfig,
                      config_lib.ExportConfig))

  def test_a_local_run_is_placed_alone_and_chief(self):
    placement = distributed.start_task(self._config(), environ={})
    self.assertEqual(placement, distributed.Placement())
    self.assertIsNone(placement.cluster)
    self.assertTrue(placement.is_chief)
    self.assertEqual(placement.master, '')
    self.assertEqual(placement.input_device, '/cpu:0')
    self.assertIsNone(placement.device_setter())
    spec = run_spec.for_training(self._config())
    self.assertEqual(spec.placement, distributed.Placement())
    self.assertEmpty(training.session_config(spec).device_filters)

  def test_a_worker_placement_reaches_graph_hooks_and_session(self):
    spec = run_spec.for_training(self._config(profile_every_n_steps=5))
    worker = self._worker(spec)
    self.assertFalse(worker.placement.is_chief)
    self.assertTrue(self._worker(spec, task_index=0).placement.is_chief)
    ops = training.build_train_graph(worker)
    self.assertEqual(ops.global_step.device, '/job:ps/task:0')
    self.assertEqual(ops.batch.images.device, '/job:worker/task:1/device:CPU:0')
    self.assertEqual(list(training.session_config(worker).device_filters),
                     ['/job:ps', '/job:worker/task:1'])
    local_ops = training.build_train_graph(spec)
    self.assertEqual(local_ops.global_step.device, '')

    def profilers(the_spec, the_ops):
      with the_ops.graph.as_default():
        hooks, _ = training.default_hooks(the_spec, the_ops)
      return [h for h in hooks if isinstance(h, _V1.train.ProfilerHook)]

    self.assertLen(profilers(spec, local_ops), 1)
    self.assertEmpty(profilers(worker, ops))

  def test_only_the_chief_warm_starts(self):
    missing = os.path.join(self.get_temp_dir(), 'no_such_run')
    spec = run_spec.for_training(self._config(warm_start_from=missing))
    worker = self._worker(spec)
    ops = training.build_train_graph(worker)
    with ops.graph.as_default():
      self.assertIsNone(training.make_scaffold(worker, ops, None,
                                               None).init_fn)
    chief = self._worker(spec, task_index=0)
    ops = training.build_train_graph(chief)
    with ops.graph.as_default():
      with self.assertRaisesRegex(runtime.UserInputError, 'no_such_run'):
        training.make_scaffold(chief, ops, None, None)

  def test_the_session_is_the_placement_s(self):
    """A worker's session: its server, not chief, checkpoints capped."""
    spec = self._worker(
        run_spec.for_training(self._config(
            save_checkpoint_secs=600,
            train_dir=os.path.join(self.get_temp_dir(), 'worker'))),
        server=types.SimpleNamespace(target='grpc://127.0.0.1:3'))
    ops = training.build_train_graph(spec)
    opened = {}

    class Opened(Exception):
      pass

    def session(**kwargs):
      opened.update(kwargs)
      raise Opened()

    with ops.graph.as_default(), mock.patch.object(
        _V1.train, 'MonitoredTrainingSession', session):
      hooks, _ = training.default_hooks(spec, ops)
      with self.assertRaises(Opened):
        training.run_training(spec, ops, hooks, None)
    self.assertEqual(opened['master'], 'grpc://127.0.0.1:3')
    self.assertFalse(opened['is_chief'])
    self.assertEqual(opened['save_checkpoint_secs'],
                     distributed.CLUSTER_CHECKPOINT_SECS)
    self.assertEqual(list(opened['config'].device_filters),
                     ['/job:ps', '/job:worker/task:1'])
    # A worker writes no events file: only the chief's session does.
    self.assertFalse(os.path.exists(spec.config.train_dir) and
                     os.listdir(spec.config.train_dir))

  def test_optimizer_defaults_are_the_config_s_tf_slim_values(self):
    # train_image_classifier.py's flag defaults; opt_epsilon and
    # rmsprop_momentum unset (TensorFlow's epsilon, `momentum`).
    slim = dict(adam_beta1=0.9, adam_beta2=0.999, opt_epsilon=None,
                rmsprop_decay=0.9, rmsprop_momentum=None, adadelta_rho=0.95,
                adagrad_initial_accumulator_value=0.1,
                ftrl_learning_rate_power=-0.5,
                ftrl_initial_accumulator_value=0.1, ftrl_l1=0.0, ftrl_l2=0.0)
    self.assertEqual(optimizers.DEFAULTS, slim)
    optim = config_lib.training_config(optimizer='ftrl', ftrl_l1=0.25).optim
    with tf.Graph().as_default():
      # pylint: disable=protected-access
      ftrl = optimizers.from_config(optim, 0.1)
      self.assertEqual(ftrl._l1_regularization_strength, 0.25)
      self.assertEqual(ftrl._initial_accumulator_value, 0.1)


if __name__ == '__main__':
  tf.test.main()
