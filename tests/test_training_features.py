"""Label smoothing, polynomial decay, clipping, optimizer settings, TensorBoard.

References: numpy formulas, TF's own `tf.compat.v1.losses` and
`tf.compat.v1.train.polynomial_decay` (TF-Slim's building blocks), and
TensorBoard's `EventAccumulator` for the event files.
"""

import glob
import os
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import optimizers
from tf1cnn import precision
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import summaries
from tf1cnn import towers as towers_lib
from tf1cnn import training

from fixtures import make_striped_dataset

runtime.use_graph_mode()
_V1 = tf.compat.v1


def _run(fetches, init=True):
  with _V1.Session() as sess:
    if init:
      sess.run(_V1.global_variables_initializer())
    return sess.run(fetches)


def _make_colour_dataset(root, classes=8, per_class=3, size=36, seed=0):
  """`classes` classes of noisy flat colours (more than 5, for top-5)."""
  rng = np.random.RandomState(seed)
  colours = rng.uniform(0, 255, (classes, 3))
  for split in ('train', 'test'):
    for label in range(classes):
      folder = os.path.join(root, split, f'c{label}')
      os.makedirs(folder, exist_ok=True)
      for i in range(per_class):
        pixels = colours[label] + rng.normal(0, 25, (size, size, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f'{i:02d}.png'))


def _log_softmax(logits):
  shifted = logits - logits.max(axis=1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class LabelSmoothingTest(tf.test.TestCase):

  def test_loss_is_slims_smoothed_softmax_cross_entropy(self):
    rng = np.random.RandomState(0)
    logits = rng.randn(6, 5).astype(np.float32)
    labels = rng.randint(0, 5, 6).astype(np.int32)
    smoothing = 0.2
    targets = np.eye(5)[labels] * (1 - smoothing) + smoothing / 5
    expected = -(targets * _log_softmax(logits.astype(np.float64))).sum(1)
    with tf.Graph().as_default():
      total, cross_entropy = training.total_loss(
          tf.constant(logits), tf.constant(labels), label_smoothing=smoothing)
      reference = _V1.losses.softmax_cross_entropy(
          tf.one_hot(labels, 5), tf.constant(logits),
          label_smoothing=smoothing)
      plain, _ = training.total_loss(tf.constant(logits), tf.constant(labels))
      values = _run([total, cross_entropy, reference, plain], init=False)
    self.assertAllClose(values[0], expected.mean(), rtol=1e-5)
    self.assertAllClose(values[1], values[2], rtol=1e-5)
    plain_expected = -_log_softmax(logits.astype(np.float64))[
        np.arange(6), labels].mean()
    self.assertAllClose(values[3], plain_expected, rtol=1e-5)


class ScheduleTest(tf.test.TestCase):

  def _rates(self, steps, steps_per_epoch=10.0, total_steps=100, **values):
    optim = config_lib.make(config_lib.TrainingConfig, **values).optim
    with tf.Graph().as_default():
      step = tf.compat.v1.placeholder(tf.int64, [])
      lr = training.learning_rate_schedule(optim, step, steps_per_epoch,
                                           total_steps)
      with _V1.Session() as sess:
        return [float(sess.run(lr, {step: s})) for s in steps]

  def test_polynomial_decay_to_the_end_learning_rate(self):
    steps = [0, 1, 10, 37, 50, 51, 200]
    rates = self._rates(steps, lr_schedule='polynomial', learning_rate=0.1,
                        end_learning_rate=0.01, lr_decay_epochs=5.0)
    # decay_steps = 5 epochs * 10 steps; power 1 (linear), no cycle.
    expected = [(0.1 - 0.01) * (1 - min(s, 50) / 50.0) + 0.01 for s in steps]
    self.assertAllClose(rates, expected, rtol=1e-6)
    with tf.Graph().as_default():
      step = tf.compat.v1.placeholder(tf.int64, [])
      reference = _V1.train.polynomial_decay(0.1, step, 50, 0.01, power=1.0)
      with _V1.Session() as sess:
        tf_rates = [float(sess.run(reference, {step: s})) for s in steps]
    self.assertAllClose(rates, tf_rates, rtol=1e-6)

  def test_other_schedules_unchanged(self):
    self.assertAllClose(self._rates([0, 99], learning_rate=0.1), [0.1, 0.1])
    self.assertAllClose(
        self._rates([0, 49, 50, 120], lr_schedule='exponential',
                    learning_rate=0.1, lr_decay_rate=0.5, lr_decay_epochs=5.0),
        [0.1, 0.1, 0.05, 0.025])
    self.assertAllClose(
        self._rates([0, 50, 100], lr_schedule='cosine', learning_rate=0.1),
        [0.1, 0.05, 0.0], atol=1e-7)

  def test_learning_rate_tag_is_exact(self):
    # The identity op and the summary both wanted the name learning_rate;
    # the tag used to become learning_rate_1.
    with tf.Graph().as_default():
      lr = training.learning_rate_schedule(
          config_lib.make(config_lib.TrainingConfig).optim,
          _V1.train.get_or_create_global_step(), 10.0, 100)
      self.assertEqual(lr.name, 'learning_rate:0')
      summaries.scalar(summaries.LEARNING_RATE, lr)
      event = _V1.Summary.FromString(_run(_V1.summary.merge_all(), init=True))
    self.assertEqual([v.tag for v in event.value], ['learning_rate'])


_HYPERPARAMETERS = dict(
    adam_beta1=0.8, adam_beta2=0.99, opt_epsilon=0.5, rmsprop_decay=0.7,
    rmsprop_momentum=0.3, adadelta_rho=0.6,
    adagrad_initial_accumulator_value=0.2, ftrl_learning_rate_power=-0.7,
    ftrl_initial_accumulator_value=0.4, ftrl_l1=0.01, ftrl_l2=0.02)


class OptimizerTest(tf.test.TestCase):

  def _optimizer(self, name, **values):
    optim = config_lib.training_config(optimizer=name, learning_rate=0.05,
                                       momentum=0.6, **values).optim
    with tf.Graph().as_default():
      return optimizers.from_config(optim, 0.05)

  def test_hyperparameters_reach_the_tf_optimizers(self):
    # pylint: disable=protected-access
    adam = self._optimizer('adam', **_HYPERPARAMETERS)
    self.assertIsInstance(adam, _V1.train.AdamOptimizer)
    self.assertEqual((adam._beta1, adam._beta2, adam._epsilon),
                     (0.8, 0.99, 0.5))
    rmsprop = self._optimizer('rmsprop', **_HYPERPARAMETERS)
    self.assertIsInstance(rmsprop, _V1.train.RMSPropOptimizer)
    self.assertEqual((rmsprop._decay, rmsprop._momentum, rmsprop._epsilon),
                     (0.7, 0.3, 0.5))
    adadelta = self._optimizer('adadelta', **_HYPERPARAMETERS)
    self.assertIsInstance(adadelta, _V1.train.AdadeltaOptimizer)
    self.assertEqual((adadelta._lr, adadelta._rho, adadelta._epsilon),
                     (0.05, 0.6, 0.5))
    adagrad = self._optimizer('adagrad', **_HYPERPARAMETERS)
    self.assertIsInstance(adagrad, _V1.train.AdagradOptimizer)
    self.assertEqual(adagrad._initial_accumulator_value, 0.2)
    ftrl = self._optimizer('ftrl', **_HYPERPARAMETERS)
    self.assertIsInstance(ftrl, _V1.train.FtrlOptimizer)
    self.assertEqual(
        (ftrl._learning_rate_power, ftrl._initial_accumulator_value,
         ftrl._l1_regularization_strength, ftrl._l2_regularization_strength),
        (-0.7, 0.4, 0.01, 0.02))
    momentum = self._optimizer('momentum', **_HYPERPARAMETERS)
    self.assertEqual(momentum._momentum, 0.6)

  def test_defaults_keep_tensorflows_epsilon_and_momentum(self):
    # pylint: disable=protected-access
    adam = self._optimizer('adam')
    self.assertEqual((adam._beta1, adam._beta2, adam._epsilon),
                     (0.9, 0.999, 1e-8))
    rmsprop = self._optimizer('rmsprop')  # --momentum, TF's epsilon 1e-10
    self.assertEqual((rmsprop._decay, rmsprop._momentum, rmsprop._epsilon),
                     (0.9, 0.6, 1e-10))
    adadelta = self._optimizer('adadelta')
    self.assertEqual((adadelta._rho, adadelta._epsilon), (0.95, 1e-8))
    ftrl = self._optimizer('ftrl')
    self.assertEqual((ftrl._learning_rate_power,
                      ftrl._initial_accumulator_value), (-0.5, 0.1))

  def _one_step(self, name, grad, start, steps=2, **values):
    """Variable values after `steps` updates with constant gradient."""
    optim = config_lib.training_config(optimizer=name, learning_rate=0.1,
                                       **values).optim
    with tf.Graph().as_default():
      var = tf.Variable(start, dtype=tf.float32)
      optimizer = optimizers.from_config(optim, 0.1)
      train_op = optimizer.apply_gradients([(tf.constant(grad), var)])
      with _V1.Session() as sess:
        sess.run(_V1.global_variables_initializer())
        for _ in range(steps):
          sess.run(train_op)
        return sess.run(var)

  def test_steps_match_numpy(self):
    grad = np.array([0.5, -2.0, 0.01], np.float32)
    start = np.array([1.0, 2.0, 3.0], np.float32)
    lr, b1, b2, eps = 0.1, 0.8, 0.99, 0.5
    # Adam (TF's form: epsilon outside the bias-corrected sqrt).
    var, m, v = start.astype(np.float64), 0.0, 0.0
    for t in (1, 2):
      m = b1 * m + (1 - b1) * grad
      v = b2 * v + (1 - b2) * grad**2
      lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
      var = var - lr_t * m / (np.sqrt(v) + eps)
    self.assertAllClose(
        self._one_step('adam', grad, start, adam_beta1=b1, adam_beta2=b2,
                       opt_epsilon=eps), var, rtol=1e-5)
    # RMSProp with momentum.
    decay, momentum = 0.7, 0.3
    var, ms, mom = start.astype(np.float64), np.ones(3), 0.0
    for _ in range(2):
      ms = decay * ms + (1 - decay) * grad**2
      mom = momentum * mom + lr * grad / np.sqrt(ms + eps)
      var = var - mom
    self.assertAllClose(
        self._one_step('rmsprop', grad, start, rmsprop_decay=decay,
                       rmsprop_momentum=momentum, opt_epsilon=eps),
        var, rtol=1e-5)
    # Adagrad.
    var, acc = start.astype(np.float64), 0.2
    for _ in range(2):
      acc = acc + grad**2
      var = var - lr * grad / np.sqrt(acc)
    self.assertAllClose(
        self._one_step('adagrad', grad, start,
                       adagrad_initial_accumulator_value=0.2), var, rtol=1e-5)
    # Adadelta.
    rho = 0.6
    var, acc, acc_update = start.astype(np.float64), 0.0, 0.0
    for _ in range(2):
      acc = rho * acc + (1 - rho) * grad**2
      update = np.sqrt(acc_update + eps) / np.sqrt(acc + eps) * grad
      acc_update = rho * acc_update + (1 - rho) * update**2
      var = var - lr * update
    self.assertAllClose(
        self._one_step('adadelta', grad, start, adadelta_rho=rho,
                       opt_epsilon=eps), var, rtol=1e-5)
    # FTRL (one step; McMahan et al.'s closed form, as TF's kernel).
    power, acc0, l1, l2 = -0.5, 0.4, 0.01, 0.02
    new_acc = acc0 + grad**2
    sigma = (new_acc**-power - acc0**-power) / lr
    linear = grad - sigma * start
    quadratic = new_acc**-power / lr + 2 * l2
    expected = np.where(np.abs(linear) > l1,
                        (np.sign(linear) * l1 - linear) / quadratic, 0.0)
    self.assertAllClose(
        self._one_step('ftrl', grad, start, steps=1,
                       ftrl_learning_rate_power=power,
                       ftrl_initial_accumulator_value=acc0, ftrl_l1=l1,
                       ftrl_l2=l2), expected, rtol=1e-5)

  def test_flags_fill_the_config_with_bounds(self):
    fv = flags.FlagValues()
    tf1cnn_flags.define(('common', 'train'), flag_values=fv)
    fv(['prog', '--optimizer=ftrl', '--lr_schedule=polynomial',
        '--end_learning_rate=0.002', '--label_smoothing=0.1',
        '--clip_gradient_norm=5', '--summarize_histograms',
        '--opt_epsilon=1.0', '--rmsprop_momentum=0.5', '--ftrl_l1=0.1'])
    config = tf1cnn_flags.config_from_flags(config_lib.TrainingConfig, fv)
    self.assertEqual(config.optim.optimizer, 'ftrl')
    self.assertEqual(config.optim.lr_schedule, 'polynomial')
    self.assertEqual(config.optim.end_learning_rate, 0.002)
    self.assertEqual(config.optim.label_smoothing, 0.1)
    self.assertEqual(config.optim.clip_gradient_norm, 5.0)
    self.assertEqual(config.optim.opt_epsilon, 1.0)
    self.assertEqual(config.optim.rmsprop_momentum, 0.5)
    self.assertEqual(config.optim.ftrl_l1, 0.1)
    self.assertTrue(config.summarize_histograms)
    for bad in ('--label_smoothing=1.5', '--ftrl_learning_rate_power=0.5',
                '--adagrad_initial_accumulator_value=0', '--adam_beta1=-1',
                '--optimizer=lamb', '--lr_schedule=step'):
      fresh = flags.FlagValues()
      tf1cnn_flags.define(('common', 'train'), flag_values=fresh)
      with self.assertRaises(flags.Error, msg=bad):
        fresh(['prog', bad])
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r'--clip_gradient_norm=-1.0: must be >= 0'):
      config_lib.training_config(clip_gradient_norm=-1.0)


class ClipTest(tf.test.TestCase):
  """SGD steps on `0.5 * sum((x @ w - y)^2)`: the gradient is known."""

  def setUp(self):
    super().setUp()
    rng = np.random.RandomState(3)
    self.x = rng.randn(4, 3).astype(np.float32)
    self.y = rng.randn(4, 1).astype(np.float32) * 10
    self.w0 = rng.randn(3, 1).astype(np.float32)
    self.b0 = np.float32(0.5)

  def _expected(self, clip_norm, lr=0.1):
    residual = self.x @ self.w0 + self.b0 - self.y
    grad_w = (self.x.T @ residual) / 4.0
    grad_b = residual.sum() / 4.0
    norm = np.sqrt((grad_w**2).sum() + grad_b**2)
    self.assertGreater(norm, clip_norm)  # the clip is active
    scale = clip_norm / norm
    return self.w0 - lr * grad_w * scale, self.b0 - lr * grad_b * scale

  def _network_fn(self, images):
    w = _V1.get_variable('w', initializer=self.w0)
    b = _V1.get_variable('b', initializer=self.b0)
    return tf.matmul(images, w) + b, {}

  def _loss_fn(self, predictions, targets, scope=None):
    del scope
    loss = 0.5 * tf.reduce_mean(tf.reduce_sum((predictions - targets)**2, 1))
    return loss, loss

  def _variables_after_step(self, devices=(), precision_name='fp32'):
    with tf.Graph().as_default():
      global_step = _V1.train.get_or_create_global_step()
      optimizer = precision.wrap_optimizer(
          _V1.train.GradientDescentOptimizer(0.1), precision_name)
      images, targets = tf.constant(self.x), tf.constant(self.y)
      if devices:
        towers = towers_lib.build_towers(self._network_fn, images, targets,
                                         list(devices), optimizer,
                                         self._loss_fn)
        train_op = training.build_train_op(
            towers.loss, optimizer, global_step,
            grads_and_vars=towers.grads_and_vars, clip_gradient_norm=1.0)
      else:
        predictions, _ = self._network_fn(images)
        loss, _ = self._loss_fn(predictions, targets)
        train_op = training.build_train_op(loss, optimizer, global_step,
                                           clip_gradient_norm=1.0)
      config = towers_lib.add_cpu_devices(runtime.session_config(),
                                          list(devices))
      with _V1.Session(config=config) as sess:
        sess.run(_V1.global_variables_initializer())
        sess.run(train_op)
        return sess.run([v for v in _V1.trainable_variables()])

  def test_clip_by_global_norm_single_device(self):
    w, b = self._variables_after_step()
    expected_w, expected_b = self._expected(1.0)
    self.assertAllClose(w, expected_w, rtol=1e-5)
    self.assertAllClose(b, expected_b, rtol=1e-5)

  def test_clip_after_the_tower_average(self):
    w, b = self._variables_after_step(devices=('/cpu:0', '/cpu:1'))
    expected_w, expected_b = self._expected(1.0)
    self.assertAllClose(w, expected_w, rtol=1e-5)
    self.assertAllClose(b, expected_b, rtol=1e-5)

  def test_clip_after_the_fp16_loss_scale(self):
    # The loss-scale optimizer unscales the gradients in compute_gradients
    # and the clip comes after: the same step as fp32 (clipping the scaled
    # gradients, 2^15 times larger, would give a 2^15 times smaller step).
    w, b = self._variables_after_step(precision_name='fp16')
    expected_w, expected_b = self._expected(1.0)
    self.assertAllClose(w, expected_w, rtol=1e-5)
    self.assertAllClose(b, expected_b, rtol=1e-5)

  def test_fp16_overflow_step_is_skipped_with_clip_and_histograms(self):
    with tf.Graph().as_default():
      global_step = _V1.train.get_or_create_global_step()
      w = _V1.get_variable('w', initializer=1.0)
      optimizer = precision.wrap_optimizer(
          _V1.train.GradientDescentOptimizer(0.1), 'fp16')
      # Finite loss; its gradient overflows once scaled by 2^15.
      train_op = training.build_train_op(w * 1e38, optimizer, global_step,
                                         clip_gradient_norm=1.0,
                                         summarize_gradients=True)
      scale = _V1.get_collection(precision.LOSS_SCALE_VARIABLES)[0]
      with _V1.Session() as sess:
        sess.run(_V1.global_variables_initializer())
        _, summary = sess.run([train_op, _V1.summary.merge_all()])
        self.assertEqual(sess.run(w), 1.0)  # skipped
        self.assertEqual(sess.run(scale), 2.0**14)  # lowered
    tags = [v.tag for v in _V1.Summary.FromString(summary).value]
    self.assertEqual(tags, ['gradients/w'])

  def test_no_clip_and_none_gradients(self):
    with tf.Graph().as_default():
      v = tf.Variable(1.0)
      pairs = [(None, v), (tf.constant(3.0), v), (tf.constant(4.0), v)]
      self.assertEqual(optimizers.clip_gradients(pairs, 0.0), pairs)
      clipped = optimizers.clip_gradients(pairs, 1.0)
      self.assertIsNone(clipped[0][0])
      self.assertAllClose(_run([g for g, _ in clipped[1:]], init=False),
                          [0.6, 0.8])


def _accumulator(path):
  accumulator = event_accumulator.EventAccumulator(
      path, size_guidance={event_accumulator.SCALARS: 0,
                           event_accumulator.IMAGES: 0,
                           event_accumulator.HISTOGRAMS: 0})
  accumulator.Reload()
  return accumulator


def _graph_events(folder):
  count = 0
  for path in glob.glob(os.path.join(folder, 'events.*')):
    for event in _V1.train.summary_iterator(path):
      count += event.HasField('graph_def')
  return count


class TensorBoardTest(tf.test.TestCase):
  """A training run and its evaluation, read back with TensorBoard."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    _make_colour_dataset(cls.data_dir)
    cls.train_dir = tempfile.mkdtemp()
    config = config_lib.training_config(
        model='lenet5', data_dir=cls.data_dir, train_dir=cls.train_dir,
        image_size=32, batch_size=8, max_steps=6, learning_rate=3e-3,
        seed=1, log_every_n_steps=2, save_checkpoint_steps=6,
        input_threads=1, precision='fp32', label_smoothing=0.1,
        clip_gradient_norm=5.0, lr_schedule='polynomial',
        summarize_histograms=True)
    training.train(config)
    cls.eval_config = config_lib.eval_config(
        model='lenet5', data_dir=cls.data_dir, train_dir=cls.train_dir,
        precision='fp32', eval_batch_size=5)
    cls.metrics = evaluation.evaluate(cls.eval_config)

  def test_training_and_evaluation_tags_overlay(self):
    train = _accumulator(self.train_dir).Tags()
    evaluation_tags = _accumulator(
        os.path.join(self.train_dir, 'eval_test')).Tags()
    train_scalars = set(train['scalars'])
    self.assertContainsSubset(
        {'loss', 'loss/total', 'accuracy', 'top_5_accuracy',
         'learning_rate'}, train_scalars)
    self.assertEqual({t for t in train_scalars
                      if not t.startswith(('queue/', 'input_train/'))},
                     {'loss', 'loss/total', 'accuracy', 'top_5_accuracy',
                      'learning_rate'})
    self.assertEqual(
        set(evaluation_tags['scalars']),
        {'accuracy', 'loss', 'top_5_accuracy'} |
        {f'{kind}/c{i}' for kind in ('precision', 'recall') for i in range(8)})
    self.assertContainsSubset({'accuracy', 'loss', 'top_5_accuracy'},
                              train_scalars & set(evaluation_tags['scalars']))
    self.assertEqual(evaluation_tags['images'], ['confusion_matrix'])
    self.assertEqual(train['images'], [f'input_images/image/{i}'
                                       for i in range(3)])
    self.assertTrue(train['graph'])
    self.assertTrue(evaluation_tags['graph'])

  def test_graph_written_once_per_events_file(self):
    self.assertEqual(_graph_events(self.train_dir), 1)
    eval_dir = os.path.join(self.train_dir, 'eval_test')
    self.assertEqual(_graph_events(eval_dir), 1)
    # The evaluation graph, not an empty one.
    graph = _accumulator(eval_dir).Graph()
    self.assertTrue(any(node.name.startswith('in_top_5')
                        for node in graph.node))
    # A second evaluation in this process adds values, not another graph.
    evaluation.evaluate(self.eval_config)
    self.assertEqual(_graph_events(eval_dir), 1)

  def test_histograms(self):
    histograms = set(_accumulator(self.train_dir).Tags()['histograms'])
    for tag in ('weights/conv1_scope/weights', 'gradients/conv1_scope/weights',
                'activations/conv1_scope', 'weights/softmax_linear/biases'):
      self.assertIn(tag, histograms)
    # Off by default: no histogram op in a default training graph.
    config = config_lib.training_config(
        model='lenet5', data_dir=self.data_dir, train_dir=self.train_dir,
        image_size=32, batch_size=8, max_steps=1, precision='fp32')
    ops = training.build_train_graph(run_spec.for_training(config))
    kinds = {op.type for op in ops.graph.get_operations()}
    self.assertNotIn('HistogramSummary', kinds)
    self.assertIn('ScalarSummary', kinds)

  def test_eval_loss_and_top_5_match_numpy(self):
    # The same restored network on the same split, reduced in numpy.
    prefix = self.metrics['checkpoint']
    spec = run_spec.for_checkpoint(self.eval_config, prefix)
    with tf.Graph().as_default():
      batch = spec.build_input('test', 5, is_training=False, num_epochs=1)
      logits, _ = spec.network_fn(is_training=False)(batch.images)
      saver = _V1.train.Saver()
      all_logits, all_labels = [], []
      with _V1.Session() as sess:
        sess.run(_V1.local_variables_initializer())
        saver.restore(sess, prefix)
        coord = _V1.train.Coordinator()
        threads = _V1.train.start_queue_runners(sess, coord)
        try:
          while True:
            values = sess.run([logits, batch.labels])
            all_logits.append(values[0])
            all_labels.append(values[1])
        except tf.errors.OutOfRangeError:
          pass
        finally:
          coord.request_stop()
          coord.join(threads)
    logits = np.concatenate(all_logits).astype(np.float64)
    labels = np.concatenate(all_labels)
    self.assertLen(labels, 24)
    loss = -_log_softmax(logits)[np.arange(len(labels)), labels].mean()
    top5 = np.argsort(-logits, axis=1)[:, :5]
    top5_accuracy = np.mean([label in row for label, row in zip(labels, top5)])
    accuracy = np.mean(logits.argmax(1) == labels)
    self.assertAllClose(self.metrics['loss'], loss, rtol=1e-4)
    self.assertAllClose(self.metrics['top_5_accuracy'], top5_accuracy)
    self.assertAllClose(self.metrics['accuracy'], accuracy)
    scalars = _accumulator(os.path.join(self.train_dir, 'eval_test'))
    self.assertAllClose(scalars.Scalars('loss')[0].value, loss, rtol=1e-4)
    self.assertEqual(scalars.Scalars('top_5_accuracy')[0].step, 6)
    report = evaluation.format_report(self.metrics)
    self.assertIn(f'top-5 accuracy {top5_accuracy:.4f}', report)
    self.assertIn(f'loss (cross-entropy) {loss:.4f}', report)

  def test_confusion_matrix_image(self):
    images = _accumulator(os.path.join(self.train_dir, 'eval_test')).Images(
        'confusion_matrix')
    self.assertEqual(images[0].step, 6)
    self.assertEqual((images[0].width, images[0].height), (256, 256))
    pixels = summaries.confusion_matrix_image([[3, 1], [0, 0]], max_side=4)
    self.assertEqual(pixels.shape, (4, 4, 3))
    self.assertAllEqual(pixels[0, 0], np.round(255 + 0.75 * (
        np.array([8, 48, 107]) - 255)))
    self.assertAllEqual(pixels[0, 2], np.round(255 + 0.25 * (
        np.array([8, 48, 107]) - 255)))
    self.assertAllEqual(pixels[3, 3], [191, 191, 191])  # no examples


class TowerTrainingTest(tf.test.TestCase):

  def test_smoothing_clipping_histograms_with_towers(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=4)
    config = config_lib.training_config(
        model='lenet5', data_dir=data_dir,
        train_dir=tempfile.mkdtemp(dir=self.get_temp_dir()), image_size=32,
        batch_size=8, max_steps=1, precision='fp32', devices='cpu:0,cpu:1',
        label_smoothing=0.1, clip_gradient_norm=1.0,
        summarize_histograms=True)
    with mock.patch.object(optimizers, 'clip_gradients',
                           wraps=optimizers.clip_gradients) as clip:
      ops = training.build_train_graph(run_spec.for_training(config))
    clip.assert_called_once()
    self.assertEqual(clip.call_args[0][1], 1.0)
    names = {op.name for op in ops.graph.get_operations()}
    self.assertTrue(any(n.startswith('clip_gradients/') for n in names))
    # Each tower's loss is the smoothed one; histograms of tower 0 only.
    smoothed = {op.name.split('/')[0] for op in ops.graph.get_operations()
                if op.type == 'SoftmaxCrossEntropyWithLogits'}
    self.assertEqual(smoothed, {'tower_0', 'tower_1'})
    self.assertIn('plain_cross_entropy', names)
    tags = [tf.get_static_value(op.inputs[0]).item()
            for op in ops.graph.get_operations()
            if op.type == 'HistogramSummary']
    self.assertIn(b'activations/conv1_scope', tags)
    self.assertEqual(len(tags), len(set(tags)))


if __name__ == '__main__':
  tf.test.main()
