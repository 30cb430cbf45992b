"""`tf1cnn.compat.estimator`: TF 1.15's Estimator core on tf.compat.v1.

A tiny CNN model_fn (8x8 images, explicit initializer seeds) is trained,
evaluated, predicted and exported by the Estimator, and each result is
checked against an independent computation: the same graph trained by a
plain `MonitoredTrainingSession` loop written here (losses, variables),
numpy counts and means over the predictions (accuracy, the per-batch mean
loss), the files and event summaries read back with plain TensorFlow
(checkpoint steps, summary steps), and the SavedModel run through
`tf.compat.v1.saved_model.load`. Plus RunConfig's TF_CONFIG cluster,
EstimatorSpec's checks, numpy_input_fn's queue order and epochs, steps vs
max_steps, resume, warm start, early stopping and the left-out names.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf

from tf1cnn import runtime
from tf1cnn.compat import estimator as est
from tf1cnn.compat import missing

from fixtures import subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1

_BATCH = 4
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_EAGER_PROGRAM = '''
import json, os, sys
import numpy as np
import tensorflow as tf
from tf1cnn.compat import estimator as est
V1 = tf.compat.v1
assert tf.executing_eagerly()

def model_fn(features, labels, mode):
  logits = tf.matmul(tf.reshape(features, [-1, 4]),
                     V1.get_variable('w', [4, 2]))
  if mode == est.ModeKeys.PREDICT:
    return est.EstimatorSpec(mode, predictions=tf.argmax(logits, 1))
  loss = V1.losses.sparse_softmax_cross_entropy(labels, logits)
  step = V1.train.GradientDescentOptimizer(0.1).minimize(
      loss, V1.train.get_global_step())
  return est.EstimatorSpec(mode, loss=loss, train_op=step)

x = np.arange(32, dtype=np.float32).reshape(8, 4) / 32
y = np.arange(8, dtype=np.int32) % 2
e = est.Estimator(model_fn, model_dir=sys.argv[1])
e.train(est.inputs.numpy_input_fn(x, y, batch_size=4, num_epochs=None,
                                  shuffle=False), steps=2)
metrics = e.evaluate(est.inputs.numpy_input_fn(x, y, batch_size=4,
                                               shuffle=False))
classes = list(e.predict(est.inputs.numpy_input_fn(x, batch_size=4,
                                                   shuffle=False)))
path = e.export_saved_model(os.path.join(sys.argv[1], 'export'),
    est.export.build_raw_serving_input_receiver_fn(tf.zeros([1, 2, 2])))
print(json.dumps([int(metrics['global_step']), len(classes),
                  os.path.isdir(path), tf.executing_eagerly()]))
'''


def _data(count=10, seed=0):
  rng = np.random.RandomState(seed)
  x = rng.rand(count, 8, 8, 1).astype(np.float32)
  y = rng.randint(0, 3, count).astype(np.int32)
  return x, y


def _network(images, prefix=''):
  """conv 3x3x4 + ReLU, dense 3; op-level seeds make it graph-independent."""
  with _V1.variable_scope(prefix or _V1.get_variable_scope()):
    with _V1.variable_scope('conv'):
      kernel = _V1.get_variable(
          'kernel', [3, 3, 1, 4],
          initializer=_V1.glorot_uniform_initializer(seed=11))
      bias = _V1.get_variable('bias', [4],
                              initializer=_V1.constant_initializer(0.1))
      net = tf.nn.relu(tf.nn.conv2d(images, kernel, [1, 2, 2, 1], 'SAME') +
                       bias)
    net = tf.reshape(net, [-1, 4 * 4 * 4])
    with _V1.variable_scope('dense'):
      kernel = _V1.get_variable(
          'kernel', [64, 3],
          initializer=_V1.glorot_uniform_initializer(seed=12))
      bias = _V1.get_variable('bias', [3],
                              initializer=_V1.zeros_initializer())
      return tf.matmul(net, kernel) + bias


class _Recorder(_V1.train.SessionRunHook):
  """Records a tensor's value in each step and the global step after it.

  The step is read after the run (a read fetched beside the train op may
  see the variable before or after the increment).
  """

  def __init__(self, tensor=None):
    self.tensor = tensor
    self.values, self.steps = [], []
    self.began = False

  def begin(self):
    self.began = True
    self._step = _V1.train.get_global_step()

  def before_run(self, run_context):
    fetches = {}
    if self.tensor is not None:
      fetches['value'] = self.tensor
    return _V1.train.SessionRunArgs(fetches)

  def after_run(self, run_context, run_values):
    self.steps.append(int(run_context.session.run(self._step)))
    if self.tensor is not None:
      self.values.append(run_values.results['value'])


def _make_model_fn(loss_recorder=None):
  def model_fn(features, labels, mode, params):
    images = features['x'] if isinstance(features, dict) else features
    logits = _network(images, params.get('prefix', ''))
    predictions = {'classes': tf.argmax(logits, 1),
                   'probabilities': tf.nn.softmax(logits)}
    if mode == est.ModeKeys.PREDICT:
      outputs = None
      if params.get('classify'):
        outputs = {
            'serving_default': est.export.ClassificationOutput(
                scores=predictions['probabilities']),
            'predict': est.export.PredictOutput(predictions)}
      return est.EstimatorSpec(mode, predictions=predictions,
                               export_outputs=outputs)
    loss = _V1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = _V1.train.GradientDescentOptimizer(
        params.get('lr', 0.5)).minimize(loss, _V1.train.get_global_step())
    hooks = []
    if loss_recorder is not None and mode == est.ModeKeys.TRAIN:
      loss_recorder.tensor = loss
      hooks.append(loss_recorder)
    scaffold = None
    if params.get('own_local_init'):
      scaffold = _V1.train.Scaffold(local_init_op=tf.no_op())
    return est.EstimatorSpec(
        mode, loss=loss, train_op=train_op, training_hooks=hooks,
        scaffold=scaffold,
        eval_metric_ops={'accuracy': _V1.metrics.accuracy(
            labels, predictions['classes'])})
  return model_fn


def _train_input(x, y, num_epochs=None):
  return est.inputs.numpy_input_fn({'x': x}, y, batch_size=_BATCH,
                                   num_epochs=num_epochs, shuffle=False)


def _events(folder):
  """{tag: {step: value}} of the simple values in a folder's event files."""
  found = {}
  for path in glob.glob(os.path.join(folder, 'events.out.tfevents.*')):
    for event in _V1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField('simple_value'):
          found.setdefault(value.tag, {})[event.step] = value.simple_value
  return found


class _StepListener(_V1.train.CheckpointSaverListener):

  def __init__(self):
    self.saved = []

  def after_save(self, session, global_step_value):
    self.saved.append(int(global_step_value))


class EagerProcessTest(tf.test.TestCase):

  def test_estimator_runs_in_an_eager_process(self):
    with tempfile.TemporaryDirectory() as model_dir:
      result = subprocess.run(
          [sys.executable, '-c', _EAGER_PROGRAM, model_dir], cwd=_ROOT,
          env=subprocess_env(PYTHONPATH=_ROOT), capture_output=True,
          text=True, timeout=300, check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertEqual(json.loads(result.stdout.strip().splitlines()[-1]),
                     [2, 8, True, True])


class RunConfigTest(tf.test.TestCase):

  def _config(self, tf_config, **kwargs):
    with mock.patch.dict(os.environ, {'TF_CONFIG': json.dumps(tf_config)}):
      return est.RunConfig(**kwargs)

  def test_defaults_are_tf_1_15s(self):
    with mock.patch.dict(os.environ, {}, clear=False):
      os.environ.pop('TF_CONFIG', None)
      config = est.RunConfig()
    self.assertEqual(config.save_summary_steps, 100)
    self.assertEqual(config.save_checkpoints_secs, 600)
    self.assertIsNone(config.save_checkpoints_steps)
    self.assertEqual(config.keep_checkpoint_max, 5)
    self.assertEqual(config.keep_checkpoint_every_n_hours, 10000)
    self.assertEqual(config.log_step_count_steps, 100)
    self.assertEqual((config.task_type, config.task_id, config.is_chief,
                      config.master, config.num_ps_replicas,
                      config.num_worker_replicas,
                      config.global_id_in_cluster),
                     ('worker', 0, True, '', 0, 1, 0))

  def test_checkpoint_intervals(self):
    with self.assertRaisesRegex(ValueError, 'both save_checkpoints_steps'):
      est.RunConfig(save_checkpoints_steps=3, save_checkpoints_secs=5)
    config = est.RunConfig(save_checkpoints_steps=3)
    self.assertEqual((config.save_checkpoints_steps,
                      config.save_checkpoints_secs), (3, None))
    config = est.RunConfig(save_checkpoints_steps=None,
                           save_checkpoints_secs=None)
    self.assertEqual((config.save_checkpoints_steps,
                      config.save_checkpoints_secs), (None, None))
    replaced = est.RunConfig().replace(save_checkpoints_steps=7)
    self.assertEqual((replaced.save_checkpoints_steps,
                      replaced.save_checkpoints_secs), (7, None))
    with self.assertRaisesRegex(ValueError, 'not allowed in replace'):
      est.RunConfig().replace(task_id=2)

  def test_tf_config_cluster(self):
    cluster = {'chief': ['h0:1'], 'worker': ['h1:1', 'h2:1'],
               'ps': ['h3:1', 'h4:1']}
    worker = self._config({'cluster': cluster,
                           'task': {'type': 'worker', 'index': 1}})
    self.assertEqual(
        (worker.task_type, worker.task_id, worker.is_chief, worker.master,
         worker.num_ps_replicas, worker.num_worker_replicas,
         worker.global_id_in_cluster),
        ('worker', 1, False, 'grpc://h2:1', 2, 3, 2))
    self.assertEqual(worker.cluster_spec.as_dict(), cluster)
    chief = self._config({'cluster': cluster,
                          'task': {'type': 'chief', 'index': 0}})
    self.assertEqual((chief.is_chief, chief.master,
                      chief.global_id_in_cluster), (True, 'grpc://h0:1', 0))
    ps = self._config({'cluster': cluster, 'task': {'type': 'ps', 'index': 1}})
    self.assertEqual((ps.is_chief, ps.global_id_in_cluster), (False, 4))
    evaluator = self._config({'cluster': cluster,
                              'task': {'type': 'evaluator', 'index': 0}})
    self.assertEqual(
        (evaluator.is_chief, evaluator.master, evaluator.num_ps_replicas,
         evaluator.num_worker_replicas, evaluator.global_id_in_cluster,
         evaluator.cluster_spec.as_dict()),
        (False, '', 0, 0, None, {}))
    # replace keeps the cluster read when the config was made.
    self.assertEqual(worker.replace(save_summary_steps=5).master,
                     'grpc://h2:1')
    with self.assertRaisesRegex(ValueError, 'must have one "chief"'):
      self._config({'cluster': {'worker': ['h1:1']},
                    'task': {'type': 'worker', 'index': 0}})
    with self.assertRaisesRegex(ValueError, 'not a valid task_id'):
      self._config({'cluster': cluster, 'task': {'type': 'worker',
                                                 'index': 2}})

  def test_tf_config_details(self):
    lone = self._config({'cluster': {'chief': ['h0:1']},
                         'task': {'type': 'chief', 'index': 0}})
    self.assertEqual((lone.master, lone.is_chief), ('', True))
    evaluator = self._config({'cluster': {'chief': ['h0:1']},
                              'task': {'type': 'evaluator', 'index': 3},
                              'eval_session_master': 'grpc://e:1'})
    self.assertEqual((evaluator.task_id, evaluator.evaluation_master),
                     (3, 'grpc://e:1'))
    with self.assertRaisesRegex(ValueError, 'train_and_evaluate'):
      est.Estimator(_make_model_fn(), model_dir=self.get_temp_dir(),
                    config=evaluator).train(lambda: None, steps=1)
    with self.assertRaisesRegex(ValueError, 'eval_session_master'):
      self._config({'cluster': {'chief': ['h0:1'], 'worker': ['h1:1']},
                    'task': {'type': 'worker', 'index': 0},
                    'eval_session_master': 'grpc://e:1'})
    legacy = self._config({'cluster': {'master': ['h0:1'],
                                       'worker': ['h1:1']},
                           'task': {'type': 'master', 'index': 0}})
    self.assertEqual((legacy.is_chief, legacy.num_worker_replicas),
                     (True, 2))
    self.assertEqual(self._config({'model_dir': '/runs/a'}).model_dir,
                     '/runs/a')
    with self.assertRaisesRegex(ValueError, 'model_dir in TF_CONFIG'):
      self._config({'model_dir': '/runs/a'}, model_dir='/runs/b')
    with self.assertRaisesRegex(ValueError, 'log_step_count_steps'):
      est.RunConfig(log_step_count_steps=0)
    with self.assertRaisesRegex(ValueError, 'tf_random_seed must be integer'):
      est.RunConfig(tf_random_seed=1.5)
    with self.assertRaisesRegex(ValueError, 'one argument "op"'):
      est.RunConfig(device_fn=lambda a, b: None)

  def test_distribution_strategies_are_refused(self):
    with self.assertRaisesRegex(ValueError, 'train_distribute'):
      est.RunConfig(train_distribute=object())


class ClusterPlacementTest(tf.test.TestCase):

  def test_ps_cluster_places_variables_on_ps(self):
    cluster = {'chief': ['h0:1'], 'worker': ['h1:1'], 'ps': ['h2:1']}
    tf_config = {'cluster': cluster, 'task': {'type': 'worker', 'index': 0}}
    with mock.patch.dict(os.environ, {'TF_CONFIG': json.dumps(tf_config)}):
      estimator = est.Estimator(_make_model_fn(),
                                model_dir=self.get_temp_dir() + '/ps')
    # pylint: disable=protected-access
    with tf.Graph().as_default() as graph, graph.device(
        estimator._device_fn):
      variable = _V1.get_variable('v', [2])
      product = variable * 2.0
    self.assertEqual(variable.device, '/job:ps/task:0')
    self.assertEqual(product.device, '/job:worker/task:0')
    self.assertEqual(list(estimator._session_config.device_filters),
                     ['/job:ps', '/job:worker/task:0'])
    # pylint: enable=protected-access
    self.assertEqual(estimator.config.master, 'grpc://h1:1')
    self.assertFalse(estimator.config.is_chief)

  def test_train_and_evaluate_with_a_session_creator(self):
    x, y = _data(8)
    model_dir = self.get_temp_dir() + '/creator'
    estimator = est.Estimator(_make_model_fn(), model_dir=model_dir)
    made = []

    def creator(scaffold):
      made.append(scaffold)
      return _V1.train.ChiefSessionCreator(scaffold=scaffold,
                                           checkpoint_dir=model_dir)

    # pylint: disable=protected-access
    estimator._train_model(_train_input(x, y), [], session_creator=creator,
                           steps=3)
    self.assertEqual(estimator.get_variable_value('global_step'), 3)
    self.assertIn('loss', _events(model_dir))
    metrics = estimator._evaluate(
        _train_input(x, y, num_epochs=1), [], None,
        session_creator=_V1.train.ChiefSessionCreator(
            checkpoint_filename_with_path=estimator.latest_checkpoint()))
    # pylint: enable=protected-access
    self.assertLen(made, 1)
    self.assertEqual(metrics, estimator.evaluate(_train_input(x, y, 1)))


class EstimatorSpecTest(tf.test.TestCase):

  def test_required_parts_per_mode(self):
    with tf.Graph().as_default():
      loss = tf.constant(1.0)
      train_op = tf.no_op()
      with self.assertRaisesRegex(ValueError, 'Missing loss'):
        est.EstimatorSpec(est.ModeKeys.TRAIN, train_op=train_op)
      with self.assertRaisesRegex(ValueError, 'Missing train_op'):
        est.EstimatorSpec(est.ModeKeys.TRAIN, loss=loss)
      with self.assertRaisesRegex(ValueError, 'Missing loss'):
        est.EstimatorSpec(est.ModeKeys.EVAL)
      with self.assertRaisesRegex(ValueError, 'Missing predictions'):
        est.EstimatorSpec(est.ModeKeys.PREDICT)
      with self.assertRaisesRegex(ValueError, 'Loss must be scalar'):
        est.EstimatorSpec(est.ModeKeys.EVAL, loss=tf.constant([1.0, 2.0]))
      with self.assertRaisesRegex(TypeError, 'tuples'):
        est.EstimatorSpec(est.ModeKeys.EVAL, loss=loss,
                          eval_metric_ops={'m': loss})
      with self.assertRaisesRegex(TypeError, 'SessionRunHook'):
        est.EstimatorSpec(est.ModeKeys.TRAIN, loss=loss, train_op=train_op,
                          training_hooks=[object()])
      spec = est.EstimatorSpec(est.ModeKeys.EVAL, loss=tf.constant([2.0]))
      self.assertEqual(spec.loss.shape.rank, 0)
      self.assertEqual(est.ModeKeys.PREDICT, 'infer')
    other = tf.Graph()
    with other.as_default():
      foreign = tf.constant(1.0)
    with tf.Graph().as_default():
      with self.assertRaisesRegex(ValueError, 'default graph'):
        est.EstimatorSpec(est.ModeKeys.EVAL, loss=foreign)

  def test_predict_export_outputs_default(self):
    with tf.Graph().as_default():
      probabilities = tf.constant([[0.5, 0.5]])
      spec = est.EstimatorSpec(est.ModeKeys.PREDICT,
                               predictions={'p': probabilities})
      default = spec.export_outputs['serving_default']
      self.assertIsInstance(default, est.export.PredictOutput)
      self.assertIs(default.outputs['p'], probabilities)
      named = est.export.PredictOutput({'p': probabilities})
      spec = est.EstimatorSpec(est.ModeKeys.PREDICT, predictions=probabilities,
                               export_outputs={'mine': named})
      self.assertIs(spec.export_outputs['serving_default'], named)
      with self.assertRaisesRegex(ValueError, 'none of them is specified'):
        est.EstimatorSpec(
            est.ModeKeys.PREDICT, predictions=probabilities,
            export_outputs={'a': named, 'b': named})
      with self.assertRaisesRegex(ValueError, 'float32'):
        est.export.ClassificationOutput(scores=tf.constant([1]))


class NumpyInputFnTest(tf.test.TestCase):

  def _read_all(self, features_fn):
    rows = []
    with tf.Graph().as_default():
      batch = features_fn()
      with _V1.train.MonitoredSession() as session:
        while not session.should_stop():
          rows.append(session.run(batch))
    return rows

  def test_shuffle_must_be_given(self):
    with self.assertRaisesRegex(ValueError, 'shuffle must be provided'):
      est.inputs.numpy_input_fn(np.zeros([3, 1]), batch_size=2)

  def test_fifo_order_and_epochs(self):
    x = np.arange(10, dtype=np.float32)[:, None]
    batches = self._read_all(est.inputs.numpy_input_fn(
        x, batch_size=4, num_epochs=2, shuffle=False))
    self.assertEqual([len(b) for b in batches], [4, 4, 4, 4, 4])
    self.assertAllEqual(np.concatenate(batches)[:, 0],
                        np.tile(np.arange(10), 2))
    batches = self._read_all(est.inputs.numpy_input_fn(
        x, batch_size=4, num_epochs=1, shuffle=False))
    self.assertEqual([len(b) for b in batches], [4, 4, 2])

  def test_shuffled_epoch_has_every_row_once(self):
    x = np.arange(23, dtype=np.int64)
    batches = self._read_all(est.inputs.numpy_input_fn(
        {'a': x}, batch_size=5, num_epochs=1, shuffle=True))
    rows = np.concatenate([b['a'] for b in batches])
    self.assertAllEqual(np.sort(rows), x)

  def test_dict_features_and_labels(self):
    x = {'b': np.arange(6), 'a': np.arange(6) * 10}
    y = np.arange(6) * 100
    batches = self._read_all(lambda: est.inputs.numpy_input_fn(
        x, y, batch_size=6, shuffle=False)())
    features, labels = batches[0]
    self.assertAllEqual(features['a'], x['a'])
    self.assertAllEqual(features['b'], x['b'])
    self.assertAllEqual(labels, y)
    with tf.Graph().as_default():
      with self.assertRaisesRegex(ValueError, 'duplicate keys'):
        est.inputs.numpy_input_fn(x, {'a': y}, shuffle=False)()
      with self.assertRaisesRegex(ValueError, 'mismatched'):
        est.inputs.numpy_input_fn(x, y[:3], shuffle=False)()

  def test_left_out_names(self):
    with self.assertRaisesRegex(missing.NotProvidedError,
                                'tf.estimator.inputs.pandas_input_fn'):
      est.inputs.pandas_input_fn(None)
    with self.assertRaisesRegex(missing.NotProvidedError,
                                'tf.estimator.DNNClassifier'):
      est.DNNClassifier  # pylint: disable=pointless-statement
    self.assertFalse(hasattr(est, 'LinearClassifier'))

  def test_training_names_guarded(self):
    name = 'tf1cnn.compat.estimator.training'
    saved = sys.modules.get(name)
    sys.modules[name] = None  # As if training.py were missing.
    try:
      with self.assertRaisesRegex(missing.NotProvidedError,
                                  'tf.estimator.train_and_evaluate'):
        est.train_and_evaluate  # pylint: disable=pointless-statement
    finally:
      if saved is None:
        del sys.modules[name]
      else:
        sys.modules[name] = saved


class TrainTest(tf.test.TestCase):

  def test_train_equals_plain_monitored_session_loop(self):
    x, y = _data(12)
    steps, lr, seed = 6, 0.5, 7
    recorder = _Recorder()
    estimator = est.Estimator(
        _make_model_fn(recorder), model_dir=self.get_temp_dir() + '/parity',
        params={'lr': lr}, config=est.RunConfig(tf_random_seed=seed))
    estimator.train(_train_input(x, y), steps=steps)

    # The same graph and batches in a plain MonitoredTrainingSession loop.
    with tf.Graph().as_default():
      _V1.set_random_seed(seed)
      global_step = _V1.train.get_or_create_global_step()
      images, labels = _V1.data.make_one_shot_iterator(
          tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(
              _BATCH)).get_next()
      logits = _network(images)
      loss = _V1.losses.sparse_softmax_cross_entropy(labels, logits)
      train_op = _V1.train.GradientDescentOptimizer(lr).minimize(
          loss, global_step)
      losses = []
      with _V1.train.MonitoredTrainingSession() as session:
        for _ in range(steps):
          losses.append(session.run([train_op, loss])[1])
        final = session.run({v.op.name: v
                             for v in _V1.trainable_variables()})
    self.assertAllClose(recorder.values, losses, rtol=1e-6, atol=1e-7)
    self.assertEqual(recorder.steps, list(range(1, steps + 1)))
    for name, value in final.items():
      self.assertAllClose(estimator.get_variable_value(name), value,
                          rtol=1e-6, atol=1e-7)
    self.assertEqual(estimator.get_variable_value('global_step'), steps)
    self.assertIn('conv/kernel', estimator.get_variable_names())

  def test_checkpoints_and_summaries_follow_run_config(self):
    x, y = _data(12)
    model_dir = self.get_temp_dir() + '/files'
    recorder, listener = _Recorder(), _StepListener()
    estimator = est.Estimator(_make_model_fn(recorder), model_dir=model_dir,
                              config=est.RunConfig(
                                  save_checkpoints_steps=3,
                                  save_summary_steps=2,
                                  log_step_count_steps=2,
                                  keep_checkpoint_max=2))
    estimator.train(_train_input(x, y), steps=7, saving_listeners=[listener])
    # A checkpoint when the session starts, every 3 steps, and at the end.
    self.assertEqual(listener.saved, [0, 3, 6, 7])
    kept = sorted(int(p.split('-')[-1].split('.')[0]) for p in
                  glob.glob(os.path.join(model_dir, 'model.ckpt-*.index')))
    self.assertEqual(kept, [6, 7])
    self.assertEqual(estimator.latest_checkpoint(),
                     os.path.join(model_dir, 'model.ckpt-7'))
    reader = _V1.train.NewCheckpointReader(estimator.latest_checkpoint())
    self.assertEqual(reader.get_variable_to_dtype_map()['global_step'],
                     tf.int64)
    self.assertEqual(reader.get_tensor('global_step'), 7)
    self.assertTrue(os.path.exists(os.path.join(model_dir, 'graph.pbtxt')))
    events = _events(model_dir)
    # The summary hook writes at the first step and every 2 steps after it,
    # the step counter every 2 steps once it has a first time.
    self.assertEqual(sorted(events['loss']), [1, 3, 5, 7])
    for step in (1, 3, 5, 7):
      self.assertAllClose(events['loss'][step], recorder.values[step - 1])
    self.assertEqual(sorted(events['global_step/sec']), [3, 5, 7])

  def test_default_config_saves_at_start_and_end(self):
    x, y = _data(8)
    listener = _StepListener()
    estimator = est.Estimator(_make_model_fn(),
                              model_dir=self.get_temp_dir() + '/default')
    estimator.train(_train_input(x, y), steps=4, saving_listeners=[listener])
    self.assertEqual(listener.saved, [0, 4])
    none = est.Estimator(_make_model_fn(), config=est.RunConfig(
        model_dir=self.get_temp_dir() + '/none', save_checkpoints_steps=None,
        save_checkpoints_secs=None))
    with self.assertRaisesRegex(ValueError, 'CheckpointSaverHook'):
      none.train(_train_input(x, y), steps=1, saving_listeners=[listener])

  def test_steps_and_max_steps(self):
    x, y = _data(8)
    estimator = est.Estimator(_make_model_fn(),
                              model_dir=self.get_temp_dir() + '/steps')
    with self.assertRaisesRegex(ValueError, 'both steps and max_steps') as e:
      estimator.train(_train_input(x, y), steps=1, max_steps=2)
    self.assertIsInstance(e.exception, runtime.UserInputError)
    with self.assertRaisesRegex(ValueError, 'steps > 0'):
      estimator.train(_train_input(x, y), steps=0)
    estimator.train(_train_input(x, y), steps=3)
    estimator.train(_train_input(x, y), steps=3)
    self.assertEqual(estimator.get_variable_value('global_step'), 6)
    estimator.train(_train_input(x, y), max_steps=8)
    self.assertEqual(estimator.get_variable_value('global_step'), 8)
    untouched = _Recorder()
    self.assertIs(estimator.train(_train_input(x, y), max_steps=5,
                                  hooks=[untouched]), estimator)
    self.assertFalse(untouched.began)
    self.assertEqual(estimator.latest_checkpoint().split('-')[-1], '8')

  def test_end_of_input_ends_training(self):
    x, y = _data(10)
    estimator = est.Estimator(_make_model_fn(),
                              model_dir=self.get_temp_dir() + '/epoch')
    estimator.train(_train_input(x, y, num_epochs=1))  # 4 + 4 + 2 rows.
    self.assertEqual(estimator.get_variable_value('global_step'), 3)

  def test_resume_after_interrupted_train(self):
    x, y = _data(12)
    model_dir = self.get_temp_dir() + '/resume'

    class Interrupt(_V1.train.SessionRunHook):

      def after_run(self, run_context, run_values):
        if run_context.session.run(_V1.train.get_global_step()) == 5:
          raise KeyboardInterrupt()

    config = est.RunConfig(save_checkpoints_steps=2)
    estimator = est.Estimator(_make_model_fn(), model_dir=model_dir,
                              config=config)
    with self.assertRaises(KeyboardInterrupt):
      estimator.train(_train_input(x, y), steps=10, hooks=[Interrupt()])
    self.assertEqual(estimator.latest_checkpoint(),
                     os.path.join(model_dir, 'model.ckpt-4'))
    saved_kernel = _V1.train.load_variable(estimator.latest_checkpoint(),
                                           'dense/kernel')

    class FirstValues(_V1.train.SessionRunHook):

      def after_create_session(self, session, coord):
        graph = session.graph
        self.step = session.run(_V1.train.get_global_step(graph))
        (kernel,) = [v for v in graph.get_collection('variables')
                     if v.op.name == 'dense/kernel']
        self.kernel = session.run(kernel)

    first = FirstValues()
    again = est.Estimator(_make_model_fn(), model_dir=model_dir, config=config)
    again.train(_train_input(x, y), max_steps=8, hooks=[first])
    self.assertEqual(first.step, 4)
    self.assertAllEqual(first.kernel, saved_kernel)
    self.assertEqual(again.get_variable_value('global_step'), 8)


class EvaluatePredictExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.temp = tempfile.TemporaryDirectory()
    cls.x, cls.y = _data(10)
    cls.model_dir = os.path.join(cls.temp.name, 'evaluated')
    cls.estimator = est.Estimator(_make_model_fn(), model_dir=cls.model_dir,
                                  config=est.RunConfig(tf_random_seed=3))
    cls.estimator.train(_train_input(cls.x, cls.y), steps=5)

  @classmethod
  def tearDownClass(cls):
    cls.temp.cleanup()
    super().tearDownClass()

  def _eval_input(self):
    return est.inputs.numpy_input_fn({'x': self.x}, self.y, batch_size=_BATCH,
                                     num_epochs=1, shuffle=False)

  def _predictions(self):
    return list(self.estimator.predict(est.inputs.numpy_input_fn(
        {'x': self.x}, batch_size=_BATCH, num_epochs=1, shuffle=False)))

  def test_evaluate_matches_numpy_over_predictions(self):
    predictions = self._predictions()
    self.assertLen(predictions, 10)
    classes = np.array([p['classes'] for p in predictions])
    probabilities = np.array([p['probabilities'] for p in predictions])
    metrics = self.estimator.evaluate(self._eval_input())
    self.assertAllClose(metrics['accuracy'], np.mean(classes == self.y))
    # A model_fn Scaffold with its own local_init_op: the metrics' local
    # variables are initialised all the same.
    own = est.Estimator(_make_model_fn(), model_dir=self.model_dir,
                        params={'own_local_init': True})
    self.assertEqual(own.evaluate(self._eval_input(), name='own'), metrics)
    # TF 1.15's eval loss: the mean of the per-batch (mean) losses.
    example_loss = -np.log(probabilities[np.arange(10), self.y])
    batch_means = [example_loss[i:i + _BATCH].mean()
                   for i in range(0, 10, _BATCH)]
    self.assertAllClose(metrics['loss'], np.mean(batch_means), rtol=1e-5)
    self.assertNotAllClose(np.mean(batch_means), example_loss.mean())
    self.assertEqual(metrics['global_step'], 5)
    events = _events(os.path.join(self.model_dir, 'eval'))
    self.assertEqual(events['accuracy'], {5: metrics['accuracy']})
    self.assertAllClose(events['loss'][5], metrics['loss'])
    # steps=1: only the first batch; a name: its own folder.
    first = self.estimator.evaluate(self._eval_input(), steps=1, name='one')
    self.assertAllClose(first['loss'], batch_means[0], rtol=1e-5)
    self.assertIn('loss', _events(os.path.join(self.model_dir, 'eval_one')))

  def test_dataset_input_fn_with_params_mode_config(self):
    seen = {}

    def input_fn(params, mode, config):
      seen[mode] = (params, config.model_dir)
      return tf.data.Dataset.from_tensor_slices(
          ({'x': self.x}, self.y)).batch(_BATCH)

    metrics = self.estimator.evaluate(input_fn)
    self.assertEqual(metrics, self.estimator.evaluate(self._eval_input()))
    batches = list(self.estimator.predict(input_fn,
                                          yield_single_examples=False,
                                          predict_keys=['classes']))
    self.assertEqual([sorted(b) for b in batches], [['classes']] * 3)
    self.assertAllEqual(np.concatenate([b['classes'] for b in batches]),
                        [p['classes'] for p in self._predictions()])
    self.assertEqual(seen[est.ModeKeys.EVAL], ({}, self.model_dir))
    self.assertIn(est.ModeKeys.PREDICT, seen)

  def test_predict_equals_the_export(self):
    predictions = self._predictions()
    base = os.path.join(self.get_temp_dir(), 'export')
    receiver_fn = est.export.build_raw_serving_input_receiver_fn(
        {'x': tf.zeros([1, 8, 8, 1])})
    export_dir = self.estimator.export_saved_model(base, receiver_fn).decode()
    self.assertEqual(os.path.dirname(export_dir), base)
    self.assertTrue(os.path.basename(export_dir).isdigit())
    self.assertEqual(os.listdir(base), [os.path.basename(export_dir)])
    self.assertTrue(os.path.isdir(os.path.join(export_dir, 'variables')))
    self.assertTrue(os.path.exists(os.path.join(export_dir,
                                                'saved_model.pb')))
    with tf.Graph().as_default(), _V1.Session() as session:
      meta = _V1.saved_model.load(session, ['serve'], export_dir)
      signature = meta.signature_def['serving_default']
      outputs = session.run(
          {k: v.name for k, v in signature.outputs.items()},
          {signature.inputs['x'].name: self.x})
    self.assertAllClose(outputs['probabilities'],
                        [p['probabilities'] for p in predictions], rtol=1e-6)
    self.assertAllEqual(outputs['classes'],
                        [p['classes'] for p in predictions])
    # Serialized tf.Examples, a classify signature as the default.
    classify = est.Estimator(_make_model_fn(), model_dir=self.model_dir,
                             params={'classify': True})
    notes = os.path.join(self.get_temp_dir(), 'notes.txt')
    with open(notes, 'w') as f:
      f.write('labels: a b c')
    export_dir = classify.export_saved_model(
        base, est.export.build_parsing_serving_input_receiver_fn(
            {'x': tf.io.FixedLenFeature([8, 8, 1], tf.float32)}),
        assets_extra={'docs/notes.txt': notes}).decode()
    with open(os.path.join(export_dir, 'assets.extra', 'docs',
                           'notes.txt')) as f:
      self.assertEqual(f.read(), 'labels: a b c')
    examples = [tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(float_list=tf.train.FloatList(
            value=image.ravel()))})).SerializeToString() for image in self.x]
    with tf.Graph().as_default(), _V1.Session() as session:
      meta = _V1.saved_model.load(session, ['serve'], export_dir)
      default = meta.signature_def['serving_default']
      self.assertEqual(default.method_name, 'tensorflow/serving/classify')
      scores = session.run(default.outputs['scores'].name,
                           {default.inputs['inputs'].name: examples})
      self.assertIn('predict', meta.signature_def)
    self.assertAllClose(scores, [p['probabilities'] for p in predictions],
                        rtol=1e-6)
    with self.assertRaisesRegex(ValueError, "Couldn't find trained model"):
      est.Estimator(_make_model_fn(), self.get_temp_dir() + '/empty') \
          .export_saved_model(base, receiver_fn)


class WarmStartAndEarlyStoppingTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.temp = tempfile.TemporaryDirectory()
    cls.x, cls.y = _data(8)
    cls.source = est.Estimator(
        _make_model_fn(), params={'lr': 0.5},
        model_dir=os.path.join(cls.temp.name, 'source'))
    cls.source.train(_train_input(cls.x, cls.y), steps=3)

  @classmethod
  def tearDownClass(cls):
    cls.temp.cleanup()
    super().tearDownClass()

  def test_warm_start_from_a_folder(self):
    target = est.Estimator(_make_model_fn(), params={'lr': 0.0},
                           model_dir=self.get_temp_dir() + '/warm_all',
                           warm_start_from=self.source.model_dir)
    target.train(_train_input(self.x, self.y), steps=1)
    for name in ('conv/kernel', 'dense/kernel', 'dense/bias'):
      self.assertAllEqual(target.get_variable_value(name),
                          self.source.get_variable_value(name))
    self.assertEqual(target.get_variable_value('global_step'), 1)

  def test_warm_start_from_a_saved_model(self):
    export_dir = self.source.export_saved_model(
        self.get_temp_dir() + '/export',
        est.export.build_raw_serving_input_receiver_fn(
            {'x': tf.zeros([1, 8, 8, 1])})).decode()
    target = est.Estimator(_make_model_fn(), params={'lr': 0.0},
                           model_dir=self.get_temp_dir() + '/warm_saved',
                           warm_start_from=export_dir)
    target.train(_train_input(self.x, self.y), steps=1)
    self.assertAllEqual(target.get_variable_value('dense/kernel'),
                        self.source.get_variable_value('dense/kernel'))

  def test_warm_start_some_variables_under_new_names(self):
    settings = est.WarmStartSettings(
        self.source.model_dir, vars_to_warm_start='new/conv/.*',
        var_name_to_prev_var_name={'new/conv/kernel': 'conv/kernel',
                                   'new/conv/bias': 'conv/bias'})
    target = est.Estimator(_make_model_fn(), params={'lr': 0.0,
                                                     'prefix': 'new'},
                           model_dir=self.get_temp_dir() + '/warm_some',
                           warm_start_from=settings)
    target.train(_train_input(self.x, self.y), steps=1)
    self.assertAllEqual(target.get_variable_value('new/conv/kernel'),
                        self.source.get_variable_value('conv/kernel'))
    fresh = est.Estimator(_make_model_fn(), params={'lr': 0.0},
                          model_dir=self.get_temp_dir() + '/fresh')
    fresh.train(_train_input(self.x, self.y), steps=1)
    self.assertAllEqual(target.get_variable_value('new/dense/kernel'),
                        fresh.get_variable_value('dense/kernel'))
    self.assertNotAllClose(target.get_variable_value('new/dense/kernel'),
                           self.source.get_variable_value('dense/kernel'))

  def test_early_stopping_reads_the_eval_events(self):
    model_dir = self.get_temp_dir() + '/early'
    estimator = est.Estimator(_make_model_fn(), model_dir=model_dir)
    writer = _V1.summary.FileWriter(estimator.eval_dir())
    for step, loss in ((10, 1.0), (20, 0.8), (30, 0.9), (40, 0.85)):
      writer.add_summary(_V1.Summary(value=[
          _V1.Summary.Value(tag='loss', simple_value=loss)]), step)
    writer.close()
    read = est.experimental.read_eval_metrics(estimator.eval_dir())
    self.assertEqual(list(read), [10, 20, 30, 40])
    self.assertAllClose(read[30]['loss'], 0.9)
    patient = est.experimental.stop_if_no_decrease_hook(
        estimator, 'loss', 25, run_every_secs=None, run_every_steps=1)
    estimator.train(_train_input(self.x, self.y), steps=3, hooks=[patient])
    self.assertEqual(estimator.get_variable_value('global_step'), 3)
    stalled = est.experimental.stop_if_no_decrease_hook(
        estimator, 'loss', 20, run_every_secs=None, run_every_steps=1)
    estimator.train(_train_input(self.x, self.y), steps=5, hooks=[stalled])
    self.assertEqual(estimator.get_variable_value('global_step'), 4)
    self.assertTrue(estimator.get_variable_value('signal_early_stopping/STOP'))
    lower = est.experimental.stop_if_lower_hook(
        estimator, 'loss', 0.7, run_every_secs=None, run_every_steps=1)
    higher = est.experimental.stop_if_higher_hook(
        estimator, 'loss', 0.95, min_steps=20, run_every_secs=None,
        run_every_steps=1)
    # pylint: disable=protected-access
    self.assertFalse(lower._should_stop_fn())
    self.assertFalse(higher._should_stop_fn())
    self.assertTrue(est.experimental.stop_if_higher_hook(
        estimator, 'loss', 0.95, run_every_secs=None,
        run_every_steps=1)._should_stop_fn())
    # pylint: enable=protected-access


if __name__ == '__main__':
  tf.test.main()
