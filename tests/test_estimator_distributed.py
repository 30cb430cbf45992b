"""`train_and_evaluate`, its specs and exporters: local, and on a TF_CONFIG cluster.

The local tests run a tiny Estimator CNN on 8x8 arrays in this process and
read what it wrote (checkpoints, the eval folder's events, the exports) with
plain TensorFlow. The cluster test starts the example program
`scripts/tf1_examples/estimator_train_and_evaluate.py` once per task (ps,
chief, worker, evaluator) on free 127.0.0.1 ports, each in its own process
group, bounded by timeouts and killed in tearDown.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from tf1cnn import runtime
from tf1cnn.compat import estimator as estimator_lib
from tf1cnn.compat.estimator import training

from fixtures import subprocess_env

runtime.use_graph_mode()

_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EXAMPLE = os.path.join(_ROOT, 'scripts', 'tf1_examples',
                        'estimator_train_and_evaluate.py')


def _data(count, seed):
  rng = np.random.RandomState(seed)
  images = rng.uniform(0, 1, (count, 8, 8, 1)).astype(np.float32)
  labels = rng.randint(0, 2, count).astype(np.int32)
  images[labels == 1, :, 4:] += 0.5
  images[labels == 0, :, :4] += 0.5
  return images, labels


def _model_fn(features, labels, mode):
  """A two-variable-layer CNN written with plain tf.compat.v1 ops."""
  images = features['x']
  weights = _V1.get_variable('conv/weights', [3, 3, 1, 2])
  net = tf.nn.relu(tf.nn.conv2d(images, weights, 1, 'SAME'))
  net = tf.reshape(tf.nn.max_pool2d(net, 2, 2, 'VALID'), [-1, 32])
  dense = _V1.get_variable('logits/weights', [32, 2])
  logits = tf.matmul(net, dense)
  predictions = {'logits': logits, 'classes': tf.argmax(logits, 1)}
  if mode == estimator_lib.ModeKeys.PREDICT:
    return estimator_lib.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={'serving_default':
                        estimator_lib.export.PredictOutput(predictions)})
  loss = _V1.losses.sparse_softmax_cross_entropy(labels, logits)
  train_op = _V1.train.GradientDescentOptimizer(0.1).minimize(
      loss, global_step=_V1.train.get_global_step())
  return estimator_lib.EstimatorSpec(
      mode, loss=loss, train_op=train_op, predictions=predictions,
      eval_metric_ops={'accuracy': _V1.metrics.accuracy(
          labels, predictions['classes'])})


def _serving_input_receiver_fn():
  images = _V1.placeholder(tf.float32, [None, 8, 8, 1], name='images')
  return estimator_lib.export.ServingInputReceiver({'x': images},
                                                   {'x': images})


def _event_steps(folder, tag):
  """`{step: value}` of scalar `tag` in the event files of `folder`."""
  values = {}
  for path in glob.glob(os.path.join(folder, 'events.out.tfevents.*')):
    for event in _V1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = value.simple_value
  return values


def _versions(folder):
  if not os.path.isdir(folder):
    return []
  return sorted(d for d in os.listdir(folder) if d.isdigit())


class SpecsTest(tf.test.TestCase):

  def test_train_spec_validation(self):
    spec = training.TrainSpec(lambda: None, max_steps=3)
    self.assertEqual((3, (), ()), (spec.max_steps, spec.hooks,
                                   spec.saving_listeners))
    with self.assertRaisesRegex(TypeError, 'input_fn'):
      training.TrainSpec('not callable')
    with self.assertRaisesRegex(ValueError, 'max_steps > 0'):
      training.TrainSpec(lambda: None, max_steps=0)
    with self.assertRaisesRegex(TypeError, 'SessionRunHook'):
      training.TrainSpec(lambda: None, hooks=[object()])
    with self.assertRaisesRegex(TypeError, 'CheckpointSaverListener'):
      training.TrainSpec(lambda: None, saving_listeners=[object()])

  def test_eval_spec_defaults_and_validation(self):
    spec = training.EvalSpec(lambda: None)
    self.assertEqual((100, None, (), (), 120, 600),
                     (spec.steps, spec.name, spec.hooks, spec.exporters,
                      spec.start_delay_secs, spec.throttle_secs))
    latest = training.LatestExporter('a', _serving_input_receiver_fn)
    self.assertEqual((latest,), training.EvalSpec(
        lambda: None, exporters=latest).exporters)
    for kwargs, error in [
        (dict(steps=0), ValueError), (dict(name=3), TypeError),
        (dict(start_delay_secs=-1), ValueError),
        (dict(throttle_secs=-1), ValueError),
        (dict(exporters=[latest, latest]), ValueError),
        (dict(exporters=[object()]), TypeError)]:
      with self.assertRaises(error, msg=str(kwargs)):
        training.EvalSpec(lambda: None, **kwargs)
    with self.assertRaisesRegex(ValueError, 'exports_to_keep'):
      training.LatestExporter('a', _serving_input_receiver_fn,
                              exports_to_keep=0)
    with self.assertRaisesRegex(TypeError, 'eval_spec'):
      training.train_and_evaluate(object(), training.TrainSpec(
          lambda: None), None)


class _StubEstimator:
  """Just what BestExporter uses: model_dir and export_saved_model."""

  def __init__(self, model_dir):
    self.model_dir = model_dir
    self.exported = []

  def export_saved_model(self, export_dir_base, serving_input_receiver_fn,
                         assets_extra=None, as_text=False,
                         checkpoint_path=None):
    del serving_input_receiver_fn, assets_extra, as_text
    path = os.path.join(export_dir_base,
                        str(1_600_000_000 + len(self.exported)))
    os.makedirs(path)
    self.exported.append(checkpoint_path)
    return path


class BestExporterTest(tf.test.TestCase):

  def test_exports_only_improvements_and_keeps_newest(self):
    stub = _StubEstimator(self.get_temp_dir())
    exporter = training.BestExporter('best', _serving_input_receiver_fn,
                                     event_file_pattern=None,
                                     exports_to_keep=2)
    base = os.path.join(stub.model_dir, 'export', 'best')
    losses = [0.9, 1.2, 0.5, 0.5, 0.1]
    results = [exporter.export(stub, base, f'ckpt-{i}', {'loss': loss},
                               False) for i, loss in enumerate(losses)]
    # Exported: the first, then each strictly smaller loss.
    self.assertEqual(['ckpt-0', 'ckpt-2', 'ckpt-4'], stub.exported)
    self.assertEqual([None, None], [results[1], results[3]])
    self.assertEqual(['1600000001', '1600000002'], _versions(base))

  def test_best_so_far_is_read_from_eval_events(self):
    model_dir = self.get_temp_dir()
    writer = _V1.summary.FileWriter(os.path.join(model_dir, 'eval'))
    for step, loss in ((10, 0.4), (20, 0.3)):
      writer.add_summary(_V1.Summary(value=[
          _V1.Summary.Value(tag='loss', simple_value=loss)]), step)
    writer.close()
    stub = _StubEstimator(model_dir)
    exporter = training.BestExporter('best', _serving_input_receiver_fn)
    base = os.path.join(model_dir, 'export', 'best')
    self.assertIsNone(exporter.export(stub, base, 'c1', {'loss': 0.35},
                                      False))
    self.assertIsNotNone(exporter.export(stub, base, 'c2', {'loss': 0.25},
                                         False))
    self.assertEqual(['c2'], stub.exported)


class PsStopTest(tf.test.TestCase):
  """When a parameter server stops (marker files; no server needed)."""

  _CLUSTER = {'ps': ['h:1'], 'chief': ['h:2'], 'worker': ['h:3', 'h:4']}

  def _touch(self, model_dir, name, mtime=None):
    path = os.path.join(model_dir, 'cluster', name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      f.write('{}')
    if mtime is not None:
      os.utime(path, (mtime, mtime))

  def _wait(self, model_dir, started, idle_secs=60, grace_secs=30):
    begin = time.time()
    reason = training.wait_for_trainers(model_dir, self._CLUSTER, started,
                                        idle_secs, grace_secs=grace_secs,
                                        poll_secs=0.05)
    return reason, time.time() - begin

  def test_every_trainer_done(self):
    model_dir = self.get_temp_dir()
    started = time.time() - 5
    for name in ('chief_0.done', 'worker_0.done', 'worker_1.done'):
      self._touch(model_dir, name)
    reason, _ = self._wait(model_dir, started)
    self.assertEqual('every trainer finished', reason)

  def test_chief_done_then_grace_without_a_dead_worker(self):
    model_dir = self.get_temp_dir()
    started = time.time() - 5
    self._touch(model_dir, 'chief_0.done', mtime=time.time() - 1)
    self._touch(model_dir, 'worker_0.done')
    reason, seconds = self._wait(model_dir, started, grace_secs=2)
    self.assertIn('chief 0 finished 2 s ago (2 of 3 trainers finished)',
                  reason)
    self.assertBetween(seconds, 0.5, 10)

  def test_markers_of_an_earlier_run_do_not_count(self):
    model_dir = self.get_temp_dir()
    started = time.time()
    for name in ('chief_0.done', 'worker_0.done', 'worker_1.done', 'stop'):
      self._touch(model_dir, name, mtime=started - 100)
    reason, seconds = self._wait(model_dir, started, idle_secs=1)
    self.assertIn('nothing changed in', reason)
    self.assertBetween(seconds, 0.9, 10)

  def test_stop_file(self):
    model_dir = self.get_temp_dir()
    started = time.time() - 5
    training.request_stop(model_dir)
    reason, _ = self._wait(model_dir, started)
    self.assertEqual(os.path.join(model_dir, 'cluster', 'stop') + ' appeared',
                     reason)


class LocalTrainAndEvaluateTest(tf.test.TestCase):

  def _run(self, model_dir, throttle_secs, exporters=()):
    train_x, train_y = _data(128, 0)
    test_x, test_y = _data(64, 1)
    config = estimator_lib.RunConfig(model_dir=model_dir, tf_random_seed=3,
                                     save_checkpoints_steps=10,
                                     save_summary_steps=10)
    estimator = estimator_lib.Estimator(_model_fn, config=config)
    train_spec = training.TrainSpec(
        estimator_lib.inputs.numpy_input_fn(
            {'x': train_x}, train_y, batch_size=16, num_epochs=None,
            shuffle=True),
        max_steps=30)
    eval_spec = training.EvalSpec(
        estimator_lib.inputs.numpy_input_fn(
            {'x': test_x}, test_y, batch_size=32, num_epochs=1,
            shuffle=False),
        steps=None, exporters=list(exporters), throttle_secs=throttle_secs)
    return estimator, training.train_and_evaluate(estimator, train_spec,
                                                  eval_spec), (test_x, test_y)

  def test_evaluates_every_checkpoint_and_exports(self):
    model_dir = os.path.join(self.get_temp_dir(), 'run')
    estimator, (metrics, exports), (test_x, test_y) = self._run(
        model_dir, throttle_secs=0, exporters=[
            training.LatestExporter('latest', _serving_input_receiver_fn,
                                    exports_to_keep=2),
            training.FinalExporter('final', _serving_input_receiver_fn)])
    # One evaluation per checkpoint after the first (step 0), at 10, 20, 30.
    steps = _event_steps(os.path.join(model_dir, 'eval'), 'accuracy')
    self.assertEqual([10, 20, 30], sorted(steps))
    self.assertEqual(30, metrics['global_step'])
    self.assertEqual(30, _V1.train.load_variable(
        estimator.latest_checkpoint(), 'global_step'))
    self.assertAllClose(steps[30], metrics['accuracy'])
    # Latest: 3 exports, the 2 newest kept; Final: one, the last evaluation.
    self.assertLen(_versions(os.path.join(model_dir, 'export', 'latest')), 2)
    final = _versions(os.path.join(model_dir, 'export', 'final'))
    self.assertLen(final, 1)
    self.assertLen(exports, 2)
    final_dir = os.path.join(model_dir, 'export', 'final', final[0])
    self.assertEqual(os.path.abspath(final_dir),
                     os.path.abspath(tf.compat.as_str_any(exports[1])))
    # The final export's classes, counted in numpy, give the accuracy that
    # the last evaluation reported.
    with tf.Graph().as_default(), _V1.Session() as sess:
      meta = _V1.saved_model.loader.load(sess, ['serve'], final_dir)
      signature = meta.signature_def['serving_default']
      classes = sess.run(signature.outputs['classes'].name,
                         {signature.inputs['x'].name: test_x})
    self.assertAllClose(np.mean(classes == test_y), metrics['accuracy'])

  def test_throttle_secs_skips_intermediate_checkpoints(self):
    model_dir = os.path.join(self.get_temp_dir(), 'throttled')
    _, (metrics, exports), _ = self._run(model_dir, throttle_secs=600)
    # The first checkpoint after step 0 is evaluated, then the throttle holds
    # until the end of training, which always gets its evaluation.
    self.assertEqual(
        [10, 30], sorted(_event_steps(os.path.join(model_dir, 'eval'),
                                      'accuracy')))
    self.assertEqual(30, metrics['global_step'])
    self.assertEqual([], exports)

  def test_already_trained_model_returns_nothing(self):
    model_dir = os.path.join(self.get_temp_dir(), 'again')
    self._run(model_dir, throttle_secs=0)
    _, result, _ = self._run(model_dir, throttle_secs=0)
    self.assertEqual((None, None), result)


def _free_ports(count):
  sockets = []
  try:
    for _ in range(count):
      s = socket.socket()
      s.bind(('127.0.0.1', 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


class ClusterTest(tf.test.TestCase):
  """ps, chief, worker and evaluator as child processes (TF_CONFIG)."""

  def setUp(self):
    super().setUp()
    self._processes = {}
    self._logs = {}

  def tearDown(self):
    for process in self._processes.values():
      if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    super().tearDown()

  def _start(self, task_type, cluster, model_dir, max_steps):
    tf_config = json.dumps({'cluster': cluster,
                            'task': {'type': task_type, 'index': 0}})
    log = os.path.join(self.get_temp_dir(), f'{task_type}.log')
    with open(log, 'w') as handle:
      self._processes[task_type] = subprocess.Popen(
          [sys.executable, _EXAMPLE, f'--model_dir={model_dir}',
           f'--max_steps={max_steps}', '--save_checkpoints_steps=20',
           '--throttle_secs=1', '--start_delay_secs=0'],
          cwd=_ROOT, env=subprocess_env(TF_CONFIG=tf_config,
                                        TF1CNN_PS_IDLE_SECS='120'),
          stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
          start_new_session=True)
    self._logs[task_type] = log

  def _output(self, task_type):
    with open(self._logs[task_type]) as f:
      return f.read()

  def test_cluster_trains_to_max_steps_and_every_task_exits(self):
    model_dir = os.path.join(self.get_temp_dir(), 'cluster_run')
    ps, chief, worker = (f'127.0.0.1:{p}' for p in _free_ports(3))
    cluster = {'ps': [ps], 'chief': [chief], 'worker': [worker]}
    max_steps = 60
    for task_type in ('ps', 'chief', 'worker', 'evaluator'):
      self._start(task_type, cluster, model_dir, max_steps)
    deadline = time.time() + 300
    codes = {}
    while len(codes) < len(self._processes) and time.time() < deadline:
      for name, process in self._processes.items():
        if name not in codes and process.poll() is not None:
          codes[name] = process.returncode
      time.sleep(0.5)
    logs = {name: self._output(name)[-3000:] for name in self._processes}
    self.assertEqual({'ps': 0, 'chief': 0, 'worker': 0, 'evaluator': 0},
                     codes, msg=logs)
    # The chief wrote the checkpoints; the last one is at max_steps or past
    # it (asynchronous workers may add a step or two).
    latest = _V1.train.latest_checkpoint(model_dir)
    self.assertIsNotNone(latest, msg=logs)
    self.assertGreaterEqual(_V1.train.load_variable(latest, 'global_step'),
                            max_steps)
    self.assertIn('chief 0 finished training', logs['chief'])
    self.assertIn('worker 0 finished training', logs['worker'])
    # The evaluator evaluated checkpoints, the last one at max_steps or past.
    steps = _event_steps(os.path.join(model_dir, 'eval'), 'accuracy')
    self.assertTrue(steps, msg=logs['evaluator'])
    self.assertGreaterEqual(max(steps), max_steps)
    self.assertIn('evaluator stops: global_step', logs['evaluator'])
    self.assertIn('parameter server 0 stops', logs['ps'])
    # Exporters ran on the evaluator: the final export exists.
    self.assertLen(_versions(os.path.join(model_dir, 'export', 'final')), 1)

  def _wait_for(self, names, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
      if all(self._processes[n].poll() is not None for n in names):
        return {n: self._processes[n].returncode for n in names}
      time.sleep(0.5)
    return {n: self._processes[n].poll() for n in names}

  def test_a_lone_ps_is_bounded_by_the_stop_file_and_the_idle_limit(self):
    stopped_dir = os.path.join(self.get_temp_dir(), 'stopped')
    idle_dir = os.path.join(self.get_temp_dir(), 'idle')
    for name, model_dir, idle in (('stopped', stopped_dir, '600'),
                                  ('idle', idle_dir, '3')):
      ps, chief = (f'127.0.0.1:{p}' for p in _free_ports(2))
      tf_config = json.dumps({'cluster': {'ps': [ps], 'chief': [chief]},
                              'task': {'type': 'ps', 'index': 0}})
      log = os.path.join(self.get_temp_dir(), f'{name}.log')
      with open(log, 'w') as handle:
        self._processes[name] = subprocess.Popen(
            [sys.executable, _EXAMPLE, f'--model_dir={model_dir}'], cwd=_ROOT,
            env=subprocess_env(TF_CONFIG=tf_config, TF1CNN_PS_IDLE_SECS=idle),
            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
      self._logs[name] = log
    deadline = time.time() + 180
    while ('serving at' not in self._output('stopped')
           and time.time() < deadline):
      time.sleep(0.5)
    self.assertIsNone(self._processes['stopped'].poll())
    training.request_stop(stopped_dir)
    codes = self._wait_for(['stopped', 'idle'], 180)
    self.assertEqual({'stopped': 0, 'idle': 0}, codes)
    self.assertIn('stops: ' + os.path.join(stopped_dir, 'cluster', 'stop')
                  + ' appeared', self._output('stopped'))
    self.assertIn('nothing changed in', self._output('idle'))


if __name__ == '__main__':
  tf.test.main()
