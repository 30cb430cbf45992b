"""Towers on two logical CPU devices, and the cluster flag checks."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from unittest import mock

import numpy as np
import tensorflow as tf

from tf1cnn import distributed
from tf1cnn import evaluation
from tf1cnn import config as config_lib
from tf1cnn import models
from tf1cnn import precision
from tf1cnn import runtime
from tf1cnn import towers as towers_lib
from tf1cnn import training

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
_V1 = tf.compat.v1


def _two_cpus():
  return _V1.ConfigProto(device_count={'CPU': 2}, allow_soft_placement=False)


class TowerTest(tf.test.TestCase):

  def test_tower_names_are_still_importable_from_distributed(self):
    for name in ('add_cpu_devices', 'average_gradients', 'build_towers',
                 'check_gpus_visible', 'parse_devices', 'split_evenly',
                 'TowerOutputs'):
      self.assertIs(getattr(distributed, name), getattr(towers_lib, name),
                    name)

  def test_parse_devices(self):
    self.assertEqual(towers_lib.parse_devices('cpu:0, /gpu:1'),
                     ['/cpu:0', '/gpu:1'])
    self.assertEqual(towers_lib.parse_devices(''), [])
    with self.assertRaisesRegex(runtime.UserInputError, "'tpu:0'"):
      towers_lib.parse_devices('tpu:0')

  def test_batch_norm_towers_share_variables_and_update_from_tower_0(self):
    rng = np.random.RandomState(0)
    images = rng.randn(8, 28, 28, 1).astype(np.float32)
    labels = rng.randint(0, 10, 8).astype(np.int32)
    with tf.Graph().as_default() as graph:
      network_fn = models.get_network_fn('lenet5_bn', 10, is_training=True)
      towers = towers_lib.build_towers(
          network_fn, tf.constant(images), tf.constant(labels),
          ['/cpu:0', '/cpu:1'], _V1.train.GradientDescentOptimizer(0.1),
          training.total_loss)
      variables = {v.op.name: v for v in _V1.global_variables()}
      self.assertLen(variables, 18)  # one set, shared by both towers
      self.assertLen(towers.update_ops, 4)  # two batch norms, tower 0 only
      for op in towers.update_ops:
        self.assertTrue(op.name.startswith('tower_0/'), op.name)
      self.assertEqual(towers.logits.shape.as_list(), [8, 10])
      bn_input = graph.get_tensor_by_name('tower_0/lenet5_bn/conv1/BiasAdd:0')
      with _V1.Session(graph=graph, config=_two_cpus()) as sess:
        sess.run(_V1.global_variables_initializer())
        tower0_features = sess.run(bn_input)
        sess.run(towers.update_ops)
        moving_mean = sess.run(
            variables['lenet5_bn/conv1/batch_norm/moving_mean'])
    # Tower 0 saw the first half of the batch; one update with decay 0.99
    # from zero leaves 1% of its batch mean.
    self.assertEqual(tower0_features.shape[0], 4)
    self.assertAllClose(moving_mean,
                        0.01 * tower0_features.mean(axis=(0, 1, 2)),
                        rtol=1e-4, atol=1e-7)


  def test_towers_without_batch_norm_match_exactly(self):
    rng = np.random.RandomState(1)
    images = rng.randn(6, 32, 32, 3).astype(np.float32)
    labels = rng.randint(0, 10, 6).astype(np.int32)

    def run(devices):
      with tf.Graph().as_default() as graph:
        _V1.set_random_seed(5)
        network_fn = models.get_network_fn('cifar_cnn', 10, is_training=True,
                                           weight_decay=1e-3)
        optimizer = _V1.train.GradientDescentOptimizer(0.1)
        if devices:
          towers = towers_lib.build_towers(
              network_fn, tf.constant(images), tf.constant(labels), devices,
              optimizer, training.total_loss)
          grads_and_vars, loss = towers.grads_and_vars, towers.loss
        else:
          logits, _ = network_fn(tf.constant(images))
          loss, _ = training.total_loss(logits, tf.constant(labels))
          grads_and_vars = optimizer.compute_gradients(loss)
        placement = {op.name: op.device for op in graph.get_operations()}
        with _V1.Session(graph=graph, config=_two_cpus()) as sess:
          sess.run(_V1.global_variables_initializer())
          grads = sess.run({v.op.name: g for g, v in grads_and_vars})
          return grads, sess.run(loss), placement

    one, one_loss, _ = run([])
    two, two_loss, placement = run(['/cpu:0', '/cpu:1'])
    self.assertAllClose(one_loss, two_loss, rtol=1e-5)
    for name in one:
      self.assertAllClose(one[name], two[name], rtol=1e-4, atol=1e-6, msg=name)
    tower1_convs = [op for op, dev in placement.items()
                    if op.startswith('tower_1/') and op.endswith('Conv2D')]
    self.assertTrue(tower1_convs)
    for op in tower1_convs:
      self.assertIn('CPU:1', placement[op].upper())
    variable_devices = {dev for op, dev in placement.items()
                        if op.endswith('/weights') and not op.startswith('tower')}
    self.assertEqual({d.upper() for d in variable_devices}, {'/CPU:0'})

  def test_gpus_that_are_not_here_are_refused(self):
    towers_lib.check_gpus_visible(['/cpu:0', '/cpu:3'])  # always possible
    with mock.patch.object(tf.config, 'list_physical_devices',
                           return_value=[]):
      with self.assertRaisesRegex(runtime.UserInputError,
                                  '--devices: gpu:0 is not here: no GPU'):
        towers_lib.check_gpus_visible(['/gpu:0'])
    with mock.patch.object(tf.config, 'list_physical_devices',
                           return_value=['GPU:0', 'GPU:1']):
      towers_lib.check_gpus_visible(['/gpu:0', '/GPU:1'])
      with self.assertRaisesRegex(
          runtime.UserInputError,
          r'gpu:2 is not here: 2 GPU\(s\) are visible \(gpu:0 to gpu:1\)'):
        towers_lib.check_gpus_visible(['/gpu:0', '/gpu:2'])

  def test_uneven_split_is_refused(self):
    with tf.Graph().as_default():
      with self.assertRaisesRegex(runtime.UserInputError, 'multiple of'):
        towers_lib.split_evenly([tf.zeros([5, 2])], 2)


class ClusterConfigTest(tf.test.TestCase):

  def test_flags(self):
    self.assertIsNone(distributed.cluster_config('', '', '', 0))
    cluster = distributed.cluster_config('h:1', 'h:2,h:3', 'worker', 1)
    self.assertFalse(cluster.is_chief)
    self.assertTrue(distributed.cluster_config('h:1', 'h:2', 'worker', 0).is_chief)
    with self.assertRaisesRegex(runtime.UserInputError, '--task_index=2'):
      distributed.cluster_config('h:1', 'h:2,h:3', 'worker', 2)
    with self.assertRaisesRegex(runtime.UserInputError, '--job_name'):
      distributed.cluster_config('h:1', 'h:2', 'chief', 0)
    with self.assertRaisesRegex(runtime.UserInputError, 'no :port'):
      distributed.cluster_config('h', 'h:2', 'ps', 0)

  def test_replica_device_setter_puts_variables_on_ps(self):
    cluster = distributed.cluster_config('localhost:1,localhost:2',
                                         'localhost:3', 'worker', 0)
    with tf.Graph().as_default():
      with _V1.device(distributed.worker_device_setter(cluster)):
        models.get_network_fn('lenet5_bn', 10)(tf.zeros([1, 28, 28, 1]))
        devices = {v.device for v in _V1.global_variables()}
    self.assertEqual(devices, {'/job:ps/task:0', '/job:ps/task:1'})



class TfConfigTest(tf.test.TestCase):
  """TF_CONFIG as the cluster, beside or instead of the flags."""

  def _config(self, **values):
    return config_lib.training_config(**values)

  def test_tf_config_names_the_cluster(self):
    text = json.dumps({'cluster': {'ps': ['p:1'], 'worker': ['w:1', 'w:2']},
                       'task': {'type': 'worker', 'index': 1}})
    cluster = distributed.resolve_cluster(self._config(),
                                          {'TF_CONFIG': text})
    self.assertEqual(cluster.ps_hosts, ['p:1'])
    self.assertEqual(cluster.worker_hosts, ['w:1', 'w:2'])
    self.assertEqual((cluster.job_name, cluster.task_index), ('worker', 1))
    self.assertFalse(cluster.is_chief)
    # The same values as flags are fine; the flags alone work as before.
    same = self._config(ps_hosts='p:1', worker_hosts='w:1,w:2',
                        job_name='worker', task_index=1)
    self.assertEqual(distributed.resolve_cluster(same, {'TF_CONFIG': text}),
                     cluster)
    self.assertEqual(distributed.resolve_cluster(same, {}), cluster)
    self.assertIsNone(distributed.resolve_cluster(self._config(), {}))

  def test_chief_job_is_worker_0(self):
    cluster = {'chief': ['c:1'], 'worker': ['w:1', 'w:2'], 'ps': ['p:1']}
    for task, expected in ((('chief', 0), ('worker', 0)),
                           (('worker', 0), ('worker', 1)),
                           (('worker', 1), ('worker', 2)),
                           (('ps', 0), ('ps', 0))):
      parsed = distributed.parse_tf_config(json.dumps(
          {'cluster': cluster, 'task': {'type': task[0], 'index': task[1]}}))
      self.assertEqual((parsed['job_name'], parsed['task_index']), expected)
      self.assertEqual(parsed['worker_hosts'], 'c:1,w:1,w:2')

  def test_conflicts_and_malformed_tf_config_are_one_line_errors(self):
    text = json.dumps({'cluster': {'ps': ['p:1'], 'worker': ['w:1', 'w:2']},
                       'task': {'type': 'worker', 'index': 0}})
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--ps_hosts=p:9 but TF_CONFIG says p:1'):
      distributed.resolve_cluster(self._config(ps_hosts='p:9'),
                                  {'TF_CONFIG': text})
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--task_index=1 but TF_CONFIG says 0'):
      distributed.resolve_cluster(
          self._config(job_name='worker', task_index=1), {'TF_CONFIG': text})
    for bad, pattern in (
        ('{"cluster": ', 'TF_CONFIG is not JSON'),
        ('[1]', 'TF_CONFIG is not a JSON object'),
        ('{"task": {"type": "worker"}}', 'TF_CONFIG has no "cluster"'),
        ('{"cluster": {"ps": ["p:1"], "worker": ["w"]}, "task": {}}',
         'cluster.worker must be a list of "host:port"'),
        ('{"cluster": {"ps": ["p:1"], "worker": ["w:1"]}}',
         'TF_CONFIG has no "task"'),
        ('{"cluster": {"ps": ["p:1"], "worker": ["w:1"]}, '
         '"task": {"type": "evaluator", "index": 0}}', "task.type 'evaluator'"),
        ('{"cluster": {"ps": ["p:1"], "worker": ["w:1"]}, '
         '"task": {"type": "worker", "index": 3}}', 'task.index 3'),
        ('{"cluster": {"worker": ["w:1"]}, "task": {"type": "worker"}}',
         'needs cluster.ps')):
      with self.assertRaisesRegex(runtime.UserInputError, pattern, msg=bad):
        distributed.resolve_cluster(self._config(), {'TF_CONFIG': bad})
      try:
        distributed.resolve_cluster(self._config(), {'TF_CONFIG': bad})
      except runtime.UserInputError as e:
        self.assertNotIn('\n', str(e))

  def test_sync_flags_are_checked(self):
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--sync_replicas needs a cluster'):
      distributed.resolve_cluster(self._config(sync_replicas=True), {})
    cluster_flags = dict(ps_hosts='p:1', worker_hosts='w:1,w:2,w:3',
                         job_name='worker')
    with self.assertRaisesRegex(runtime.UserInputError,
                                '--replicas_to_aggregate=2 needs '
                                '--sync_replicas'):
      distributed.resolve_cluster(
          self._config(replicas_to_aggregate=2, **cluster_flags), {})
    cluster = distributed.resolve_cluster(
        self._config(sync_replicas=True, **cluster_flags), {})
    self.assertEqual(cluster.aggregate, 3)  # default: every worker
    cluster = distributed.resolve_cluster(
        self._config(sync_replicas=True, replicas_to_aggregate=2,
                     **cluster_flags), {})
    self.assertEqual(cluster.aggregate, 2)


class WatchdogTest(tf.test.TestCase):

  def test_a_silent_ps_fails_after_the_timeout_naming_it(self):
    cluster = distributed.cluster_config('127.0.0.1:1,127.0.0.1:2',
                                         '127.0.0.1:3', 'worker', 0)
    answering = {'127.0.0.1:1': True, '127.0.0.1:2': False}
    watchdog = distributed.ClusterWatchdog(
        cluster, 10, probe=lambda address: answering[address])
    down = {}
    self.assertIsNone(watchdog.check_once(down, 100.0))
    self.assertIsNone(watchdog.check_once(down, 109.0))
    answering['127.0.0.1:2'] = True  # back in time: the count restarts
    self.assertIsNone(watchdog.check_once(down, 109.5))
    answering['127.0.0.1:2'] = False
    self.assertIsNone(watchdog.check_once(down, 110.0))
    message = watchdog.check_once(down, 120.0)
    self.assertRegex(message, r'^parameter server ps1 at 127.0.0.1:2 has not '
                     r'answered for 10 s \(--cluster_timeout_secs\)')
    self.assertNotIn('\n', message)

  def test_no_step_for_the_step_timeout_fails_once_armed(self):
    cluster = distributed.cluster_config('127.0.0.1:1', '127.0.0.1:3',
                                         'worker', 0)
    cluster.timeout_secs = 10  # --cluster_timeout_secs
    watchdog = distributed.ClusterWatchdog(cluster, cluster.timeout_secs,
                                           probe=lambda _: True)
    self.assertEqual(distributed.step_timeout_secs(cluster), 50)
    down = {}
    # Not armed before the first step (session creation waits as it must).
    self.assertIsNone(watchdog.check_once(down, 1000.0))
    watchdog.step_done(now=1000.0)
    self.assertIsNone(watchdog.check_once(down, 1049.0))
    watchdog.step_done(now=1049.0)
    self.assertIsNone(watchdog.check_once(down, 1098.0))
    message = watchdog.check_once(down, 1099.0)
    self.assertRegex(message, r'^worker 0: no training step completed for '
                     r'50 s \(5 x --cluster_timeout_secs\): a parameter '
                     r'server \(127.0.0.1:1\)')
    self.assertNotIn('\n', message)

  def test_the_thread_reports_a_port_nobody_listens_on(self):
    port = _free_port()
    cluster = distributed.cluster_config(f'127.0.0.1:{port}',
                                         '127.0.0.1:3', 'worker', 0)
    failures = []
    watchdog = distributed.ClusterWatchdog(cluster, 0.5, interval=0.1,
                                           fail=failures.append).start()
    deadline = time.time() + 10
    while not failures and time.time() < deadline:
      time.sleep(0.1)
    watchdog.stop()
    self.assertLen(failures, 1)
    self.assertIn(f'127.0.0.1:{port}', failures[0])
    with socket.socket() as listener:  # a listening ps is left alone
      listener.bind(('127.0.0.1', 0))
      listener.listen()
      address = '127.0.0.1:%d' % listener.getsockname()[1]
      self.assertTrue(distributed.reachable(address))
      failures = []
      with distributed.watch_cluster(distributed.cluster_config(
          address, '127.0.0.1:3', 'worker', 0), 0.5):
        time.sleep(1.0)
      self.assertEqual(failures, [])

  def test_ps_port_in_use_is_one_line_naming_the_address(self):
    with socket.socket() as listener:
      listener.bind(('127.0.0.1', 0))
      listener.listen()
      address = '127.0.0.1:%d' % listener.getsockname()[1]
      cluster = distributed.cluster_config(address, '127.0.0.1:1', 'ps', 0)
      with self.assertRaisesRegex(
          runtime.UserInputError,
          f'^cannot start ps0 at {address}: its port is in use'):
        distributed.start_server(cluster)


class SyncReplicasGraphTest(tf.test.TestCase):
  """--sync_replicas in one process: batch norm and moving averages."""

  def test_update_ops_and_moving_averages_run_each_step(self):
    cluster = distributed.cluster_config('127.0.0.1:1', '127.0.0.1:2',
                                         'worker', 0)
    cluster.sync_replicas = True
    rng = np.random.RandomState(0)
    images = rng.randn(4, 28, 28, 1).astype(np.float32)
    labels = rng.randint(0, 10, 4).astype(np.int32)
    with tf.Graph().as_default() as graph:
      global_step = _V1.train.get_or_create_global_step()
      network_fn = models.get_network_fn('lenet5_bn', 10, is_training=True)
      logits, _ = network_fn(tf.constant(images))
      loss, _ = training.total_loss(logits, tf.constant(labels))
      train_op = training.build_train_op(
          loss, _V1.train.GradientDescentOptimizer(0.1), global_step,
          moving_average_decay=0.9, sync_cluster=cluster)
      sync = distributed.sync_optimizer(graph)
      self.assertIsInstance(sync, _V1.train.SyncReplicasOptimizer)
      self.assertEqual(sync._replicas_to_aggregate, 1)  # pylint: disable=protected-access
      variables = {v.op.name: v for v in _V1.global_variables()}
      shadow = 'lenet5_bn/conv1/weights/ExponentialMovingAverage'
      self.assertIn(shadow, variables)  # Slim's names, restored by eval
      hooks = distributed.sync_hooks(graph, is_chief=True)
      self.assertLen(hooks, 1)
      with _V1.train.MonitoredTrainingSession(hooks=hooks) as sess:
        before = sess.run(variables[shadow])
        # The chief's queue runner applies the aggregated gradients and the
        # averages beside the steps (a stale gradient is dropped): run until
        # three were applied, each run bounded.
        for _ in range(8):
          if sess.run(global_step) >= 3:
            break
          sess.run(train_op, options=_V1.RunOptions(timeout_in_ms=20000))
          time.sleep(0.2)
        moving_mean = sess.run(
            variables['lenet5_bn/conv1/batch_norm/moving_mean'])
        after = sess.run(variables[shadow])
        self.assertGreaterEqual(sess.run(global_step), 3)
    self.assertGreater(np.abs(moving_mean).max(), 0)  # UPDATE_OPS ran
    self.assertGreater(np.abs(after - before).max(), 0)  # the EMA moved




class TrainWithTowersAndClusterTest(tf.test.TestCase):
  """train() with two CPU towers, and with a local ps + 2 workers cluster."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=8)

  def _config(self, train_dir, **overrides):
    config = config_lib.training_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir,
        image_size=32, batch_size=8, max_steps=40, learning_rate=3e-3,
        seed=1, input_threads=2, log_every_n_steps=10)
    return config_lib.replace(config, **overrides)

  def test_two_cpu_towers_train(self):
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    result = training.train(self._config(train_dir, devices='cpu:0,cpu:1'))
    self.assertEqual(result.global_step, 40)
    metrics = evaluation.evaluate(config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir))
    self.assertGreaterEqual(metrics['accuracy'], 0.9)
    with self.assertRaisesRegex(runtime.UserInputError, 'multiple of'):
      training.train(self._config(tempfile.mkdtemp(dir=self.get_temp_dir()),
                                  batch_size=9, devices='cpu:0,cpu:1'))

  def test_one_device_pins_the_model_and_keeps_input_on_the_cpu(self):
    # As `--devices=gpu:1` would on a GPU machine, with a second logical CPU.
    class PlacementHook(_V1.train.SessionRunHook):

      def begin(self):
        self.placement = {op.name: (op.type, op.device) for op in
                          _V1.get_default_graph().get_operations()}

    hook = PlacementHook()
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    result = training.train(self._config(train_dir, devices='cpu:1',
                                         max_steps=2), extra_hooks=[hook])
    self.assertEqual(result.global_step, 2)
    by_type = {}
    for op_type, device in hook.placement.values():
      by_type.setdefault(op_type, set()).add(
          tf.DeviceSpec.from_string(device).to_string())
    for input_op in ('ReadFile', 'DecodeImage', 'QueueDequeueManyV2',
                     'RandomShuffleQueueV2'):
      self.assertIn(input_op, by_type)
      self.assertEqual(by_type[input_op], {'/device:CPU:0'}, input_op)
    self.assertEqual(by_type['Conv2D'], {'/device:CPU:1'})
    self.assertEqual(by_type['Conv2DBackpropFilter'], {'/device:CPU:1'})

  def test_fp16_loss_scaling_with_towers(self):
    # fp16 needs a GPU; told there is one, the loss-scale optimizer wraps the
    # towers' averaged gradients the same way (the rewrite itself is skipped).
    train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    with mock.patch.object(precision, 'gpu_available', return_value=True):
      result = training.train(self._config(
          train_dir, devices='cpu:0,cpu:1', precision='fp16', max_steps=6))
    self.assertEqual(result.global_step, 6)
    self.assertEqual(tf.train.load_variable(result.checkpoint, 'good_steps'),
                     6)

  def test_parameter_server_and_two_workers(self):
    ports = [_free_port() for _ in range(3)]
    ps_hosts = f'localhost:{ports[0]}'
    worker_hosts = f'localhost:{ports[1]},localhost:{ports[2]}'
    train_dir = os.path.join(self.get_temp_dir(), 'cluster')
    common = [sys.executable, 'scripts/train.py', '--model=lenet5',
              f'--data_dir={self.data_dir}', f'--train_dir={train_dir}',
              '--image_size=32', '--batch_size=8', '--max_steps=300',
              '--input_threads=2', f'--ps_hosts={ps_hosts}',
              f'--worker_hosts={worker_hosts}', '--log_every_n_steps=5']
    env = subprocess_env()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ps = subprocess.Popen(common + ['--job_name=ps', '--task_index=0'],
                          cwd=root, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    workers = []
    try:
      for index in range(2):  # the chief first, so it initialises the ps
        workers.append(subprocess.Popen(
            common + ['--job_name=worker', f'--task_index={index}'], cwd=root,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
        time.sleep(2)
      outputs = [w.communicate(timeout=240) for w in workers]
      for worker, (out, err) in zip(workers, outputs):
        self.assertEqual(worker.returncode, 0, err[-3000:])
        self.assertIn('trained to step', out)
        self.assertIn('asynchronous training', err)
    finally:
      for process in workers + [ps]:  # never leave a task behind
        process.kill()
        process.wait()
    prefix = tf.train.latest_checkpoint(train_dir)
    self.assertIsNotNone(prefix)  # the chief wrote it
    self.assertGreaterEqual(int(tf.train.load_variable(prefix, 'global_step')),
                            300)


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


if __name__ == '__main__':
  tf.test.main()
