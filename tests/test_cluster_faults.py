"""Faults of a parameter-server cluster on 127.0.0.1, and the local launcher.

Every task is a child process in its own process group, with its output in a
file; each test bounds its waits and kills whatever it started.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import tensorflow as tf

from tf1cnn import cluster_launcher
from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import runtime

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
pytestmark = pytest.mark.slow  # make test-fast leaves these out

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_ports(count):
  return cluster_launcher.free_ports(count)


class _Tasks:
  """Starts training tasks; `kill_all` ends every one (process groups)."""

  def __init__(self, test, common):
    self._test = test
    self._common = common
    self.processes = {}
    self._logs = {}
    self._folder = tempfile.mkdtemp(dir=test.get_temp_dir())
    self._starts = {}

  def start(self, name, *args):
    self._starts[name] = self._starts.get(name, 0) + 1
    log = os.path.join(self._folder, f'{name}-{self._starts[name]}.log')
    handle = open(log, 'w')  # pylint: disable=consider-using-with
    self.processes[name] = subprocess.Popen(
        [sys.executable, 'scripts/train.py'] + self._common + list(args),
        cwd=_ROOT, env=subprocess_env(), stdout=handle,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    handle.close()
    self._logs[name] = log
    return self.processes[name]

  def output(self, name):
    with open(self._logs[name]) as f:
      return f.read()

  def wait_for(self, name, pattern, timeout):
    """Waits until the task's output matches `pattern`; returns the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      match = re.search(pattern, self.output(name))
      if match:
        return match
      if self.processes[name].poll() is not None:
        break
      time.sleep(0.2)
    self._test.fail(f'{name} did not log {pattern!r} within {timeout} s '
                    f'(status {self.processes[name].poll()}):\n'
                    f'{self.output(name)[-3000:]}')

  def wait_exit(self, name, timeout):
    """The task's exit status; fails the test when it runs past `timeout`."""
    try:
      return self.processes[name].wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      self._test.fail(f'{name} still runs after {timeout} s:\n'
                      f'{self.output(name)[-3000:]}')

  def kill(self, name):
    process = self.processes[name]
    try:
      os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
    process.wait()

  def kill_all(self):
    for name in list(self.processes):
      self.kill(name)


def _error_lines(text):
  return [line for line in text.splitlines() if line.startswith('error: ')]


def _global_step(train_dir):
  prefix = tf.train.latest_checkpoint(train_dir)
  return int(tf.train.load_variable(prefix, 'global_step')) if prefix else -1


class ClusterFaultTest(tf.test.TestCase):
  """1 ps + 2 workers of LeNet-5 (32x32, striped images) and their faults."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = tempfile.mkdtemp()
    make_striped_dataset(cls.data_dir, per_class=8)

  def _cluster(self, max_steps, timeout=60, ports=None, extra=()):
    ports = ports or _free_ports(3)
    train_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'run')
    common = ['--model=lenet5', f'--data_dir={self.data_dir}',
              f'--train_dir={train_dir}', '--image_size=32',
              '--batch_size=8', f'--max_steps={max_steps}',
              '--input_threads=1', '--log_every_n_steps=10',
              '--save_checkpoint_steps=50',
              f'--cluster_timeout_secs={timeout}',
              f'--ps_hosts=127.0.0.1:{ports[0]}',
              f'--worker_hosts=127.0.0.1:{ports[1]},127.0.0.1:{ports[2]}']
    common.extend(extra)
    return _Tasks(self, common), train_dir, ports

  def test_worker_killed_during_async_training(self):
    # More steps than the chief (about 50 steps/s alone) takes before
    # worker 1's first readiness poll, 30 s after it starts.
    tasks, train_dir, _ = self._cluster(max_steps=3000)
    try:
      tasks.start('ps', '--job_name=ps', '--task_index=0')
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      tasks.start('worker1', '--job_name=worker', '--task_index=1')
      tasks.wait_for('worker1', r'step \d+/3000', timeout=60)
      tasks.kill('worker1')  # SIGKILL in the middle of training
      self.assertEqual(tasks.wait_exit('chief', timeout=240), 0,
                       tasks.output('chief')[-3000:])
      self.assertIn('trained to step 3000', tasks.output('chief'))
    finally:
      tasks.kill_all()
    self.assertEqual(_global_step(train_dir), 3000)
    metrics = evaluation.evaluate(config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir,
        image_size=32))
    # Stripes are easy: 3000 steps learn them whatever worker 1 did.
    self.assertGreaterEqual(metrics['accuracy'], 0.9)

  def test_chief_killed_and_restarted_resumes_at_the_live_step(self):
    # Enough steps that the chief (about 50 steps/s alone on this model)
    # cannot finish before worker 1's first readiness poll, 30 s after it
    # starts (TensorFlow's SessionManager interval).
    tasks, train_dir, _ = self._cluster(max_steps=6000)
    try:
      tasks.start('ps', '--job_name=ps', '--task_index=0')
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      tasks.start('worker1', '--job_name=worker', '--task_index=1')
      tasks.wait_for('worker1', r'step \d+/6000', timeout=60)
      tasks.wait_for('chief', r'after saving checkpoint [1-9]\d*', timeout=30)
      tasks.kill('chief')
      saved = _global_step(train_dir)
      self.assertGreater(saved, 0)
      time.sleep(2)  # worker 1 trains on alone
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      self.assertEqual(tasks.wait_exit('chief', timeout=300), 0,
                       tasks.output('chief')[-3000:])
      self.assertEqual(tasks.wait_exit('worker1', timeout=60), 0,
                       tasks.output('worker1')[-3000:])
      chief, worker1 = tasks.output('chief'), tasks.output('worker1')
    finally:
      tasks.kill_all()
    # The restarted chief kept worker 1's steps: it saved the parameter
    # servers' live state (past the checkpoint it had) and resumed there.
    live = re.search(r'still hold the model at step (\d+) \(the latest '
                     r'checkpoint was at step (\d+)\)', chief)
    self.assertIsNotNone(live, chief[-3000:])
    self.assertGreater(int(live.group(1)), saved)
    self.assertGreaterEqual(int(live.group(2)), saved)
    self.assertIn('resuming from', chief)
    # Worker 1 reports the step it reached (its last fetch, a step or two
    # behind the other worker's increments), not the chief's checkpoint.
    reported = int(re.search(r'trained to step (\d+)', worker1).group(1))
    self.assertGreaterEqual(reported, 5990)
    self.assertGreaterEqual(_global_step(train_dir), 6000)

  def test_ps_killed_workers_fail_naming_it_and_a_restart_resumes(self):
    tasks, train_dir, ports = self._cluster(max_steps=100000, timeout=5)
    address = f'127.0.0.1:{ports[0]}'
    try:
      tasks.start('ps', '--job_name=ps', '--task_index=0')
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      tasks.start('worker1', '--job_name=worker', '--task_index=1')
      tasks.wait_for('worker1', r'step \d+/100000', timeout=60)
      tasks.wait_for('chief', r'after saving checkpoint [1-9]\d*', timeout=30)
      tasks.kill('ps')
      killed = time.monotonic()
      for name in ('chief', 'worker1'):
        self.assertEqual(tasks.wait_exit(name, timeout=30), 2,
                         tasks.output(name)[-3000:])
        errors = _error_lines(tasks.output(name))
        self.assertLen(errors, 1, tasks.output(name)[-3000:])
        self.assertIn(f'parameter server ps0 at {address} has not answered '
                      'for 5 s', errors[0])
      self.assertLess(time.monotonic() - killed, 30)
      saved = _global_step(train_dir)
      self.assertGreater(saved, 0)
      # The whole cluster again: the chief resumes from its checkpoint.
      tasks.start('ps', '--job_name=ps', '--task_index=0')
      tasks.start('chief', '--job_name=worker', '--task_index=0',
                  f'--max_steps={saved + 20}')
      self.assertEqual(tasks.wait_exit('chief', timeout=60), 0,
                       tasks.output('chief')[-3000:])
      self.assertIn(f'resuming from {train_dir}/model.ckpt-{saved}',
                    tasks.output('chief'))
    finally:
      tasks.kill_all()
    self.assertEqual(_global_step(train_dir), saved + 20)

  def test_worker_without_its_ps_fails_in_bounded_time(self):
    tasks, _, ports = self._cluster(max_steps=10, timeout=3)
    try:
      started = time.monotonic()
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      self.assertEqual(tasks.wait_exit('chief', timeout=60), 2,
                       tasks.output('chief')[-3000:])
      self.assertLess(time.monotonic() - started, 60)
    finally:
      tasks.kill_all()
    errors = _error_lines(tasks.output('chief'))
    self.assertLen(errors, 1, tasks.output('chief')[-3000:])
    self.assertIn(f'parameter server ps0 at 127.0.0.1:{ports[0]} has not '
                  'answered for 3 s (--cluster_timeout_secs)', errors[0])

  def test_ps_port_in_use_is_a_one_line_error(self):
    with socket.socket() as squatter:
      squatter.bind(('127.0.0.1', 0))
      squatter.listen()
      port = squatter.getsockname()[1]
      tasks, _, _ = self._cluster(max_steps=10, ports=[port] + _free_ports(2))
      try:
        tasks.start('ps', '--job_name=ps', '--task_index=0')
        self.assertEqual(tasks.wait_exit('ps', timeout=60), 2)
      finally:
        tasks.kill_all()
    output = tasks.output('ps')
    self.assertNotIn('Traceback', output)
    self.assertEqual(_error_lines(output), [
        f'error: cannot start ps0 at 127.0.0.1:{port}: its port is in use '
        '(another task or program listens there; stop it or choose another '
        'port)'])


_FAKE_TASK = r'''
import sys, time
args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a)
name = args['job_name'] + args['task_index']
print('hello from', name, flush=True)
behaviour = dict(b.split(':') for b in args['behave'].split(','))
action = behaviour.get(name, 'sleep')
if action == 'sleep':
  time.sleep(120)
else:
  time.sleep(0.5)
  sys.exit(int(action))
'''


class LauncherTest(tf.test.TestCase):
  """`cluster_launcher.launch` with stand-in tasks, then the real program."""

  def _launch(self, behave, num_workers=2):
    out = open(os.path.join(self.get_temp_dir(), 'launch.log'), 'w+')  # pylint: disable=consider-using-with
    started = time.monotonic()
    status = cluster_launcher.launch(
        1, num_workers, [f'--behave={behave}'],
        command=[sys.executable, '-c', _FAKE_TASK], out=out, grace_secs=5,
        chief_head_start_secs=0.1)
    elapsed = time.monotonic() - started
    out.seek(0)
    text = out.read()
    out.close()
    return status, elapsed, text

  def test_all_workers_done_stops_the_ps(self):
    status, elapsed, text = self._launch('worker0:0,worker1:0')
    self.assertEqual(status, 0, text)
    self.assertLess(elapsed, 30)
    for name in ('ps0', 'worker0', 'worker1'):
      self.assertIn(f'[{name}] hello from {name}', text)
    self.assertIn('[launcher] all 2 worker(s) finished: stopping the '
                  'parameter server(s)', text)

  def test_one_failure_stops_everything_with_its_status(self):
    status, elapsed, text = self._launch('worker1:3')
    self.assertEqual(status, 3, text)
    self.assertLess(elapsed, 30)
    self.assertIn('[launcher] worker1 failed (exit status 3)', text)

  def test_sigterm_stops_the_cluster(self):
    script = ('import sys; sys.path.insert(0, %r)\n'
              'from tf1cnn import cluster_launcher\n'
              'sys.exit(cluster_launcher.launch(1, 2, ["--behave=x:0"], '
              'command=[sys.executable, "-c", %r], grace_secs=5, '
              'chief_head_start_secs=0.1))' % (_ROOT, _FAKE_TASK))
    launcher = subprocess.Popen(
        [sys.executable, '-c', script], env=subprocess_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
      deadline = time.monotonic() + 60
      seen = ''
      while seen.count('hello from') < 3 and time.monotonic() < deadline:
        seen += launcher.stdout.readline()
      self.assertEqual(seen.count('hello from'), 3, seen)
      launcher.send_signal(signal.SIGTERM)
      out, _ = launcher.communicate(timeout=30)
      self.assertEqual(launcher.returncode, 143, seen + out)
      self.assertIn('signal 15: stopping the cluster', out)
    finally:
      try:
        os.killpg(launcher.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
      launcher.wait()

  def test_launcher_trains_synchronously_with_moving_averages(self):
    data_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    make_striped_dataset(data_dir, per_class=8)
    train_dir = os.path.join(data_dir, 'run')
    launcher = subprocess.Popen(
        [sys.executable, 'scripts/launch_local_cluster.py', '--num_ps=1',
         '--num_workers=2', '--grace_secs=10', '--', '--model=lenet5',
         f'--data_dir={data_dir}', f'--train_dir={train_dir}',
         '--image_size=32', '--batch_size=8', '--max_steps=60',
         '--input_threads=1', '--log_every_n_steps=10', '--sync_replicas',
         '--moving_average_decay=0.99'],
        cwd=_ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = ''
    try:
      out, _ = launcher.communicate(timeout=90)
    finally:
      if launcher.poll() is None:
        # SIGTERM first: the launcher stops its tasks (own process groups,
        # which a SIGKILL of the launcher would leave running).
        launcher.send_signal(signal.SIGTERM)
        try:
          out, _ = launcher.communicate(timeout=30)
        except subprocess.TimeoutExpired:
          pass
      try:
        os.killpg(launcher.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
      launcher.wait()
    self.assertEqual(launcher.returncode, 0, out[-4000:])
    self.assertIn('[worker0] trained to step 60', out)
    self.assertIn('[worker1] trained to step', out)
    self.assertIn('synchronous (2 gradients a step)', out)
    self.assertNotIn('Traceback', out)
    prefix = tf.train.latest_checkpoint(train_dir)
    self.assertEqual(int(tf.train.load_variable(prefix, 'global_step')), 60)
    names = {name for name, _ in tf.train.list_variables(prefix)}
    self.assertIn('conv1_scope/weights/ExponentialMovingAverage', names)


if __name__ == '__main__':
  tf.test.main()
