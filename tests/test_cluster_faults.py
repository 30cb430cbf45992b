"""Faults of a parameter-server cluster on 127.0.0.1, and the local launcher.

Every task is a child process in its own process group, with its output in a
file; each test bounds its waits and kills whatever it started.

No test assumes how fast a machine trains: each step of a scenario waits for
what the tasks show (a parameter server's "serving at" line, a step or a
checkpoint in a worker's log), and a task that must not run ahead while
another starts is paused (SIGSTOP) and resumed (SIGCONT) around it. The
waits' bounds are generous; a wait that runs out fails naming what it
awaited, with the task's output.
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
from tf1cnn import distributed
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

  def _wait(self, name, probe, what, timeout):
    """Polls `probe()` until it returns a value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      found = probe()
      if found is not None:
        return found
      if self.processes[name].poll() is not None:
        found = probe()  # its last lines, written as it ended
        if found is not None:
          return found
        break
      time.sleep(0.2)
    self._test.fail(f'{name} did not log {what} within {timeout} s '
                    f'(status {self.processes[name].poll()}):\n'
                    f'{self.output(name)[-3000:]}')

  def wait_for(self, name, pattern, timeout):
    """Waits until the task's output matches `pattern`; returns the match."""
    return self._wait(name, lambda: re.search(pattern, self.output(name)),
                      repr(pattern), timeout)

  def steps(self, name):
    """The global steps of the task's progress lines (`step N/M ...`)."""
    return [int(step) for step in _STEP_LINE.findall(self.output(name))]

  def wait_for_step(self, name, at_least, timeout):
    """Waits until the task logs a global step >= `at_least`; returns it."""
    return self._wait(
        name, lambda: max((s for s in self.steps(name) if s >= at_least),
                          default=None),
        f'a step >= {at_least}', timeout)

  def wait_until_serving(self, name, timeout=120):
    """Waits for a parameter server's "serving at" line."""
    self.wait_for(name, r'parameter server \d+ serving at', timeout)

  def pause(self, name):
    """SIGSTOP to the task's process group: it stops where it is."""
    os.killpg(self.processes[name].pid, signal.SIGSTOP)

  def resume(self, name):
    os.killpg(self.processes[name].pid, signal.SIGCONT)

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


_STEP_LINE = re.compile(r'\bstep (\d+)/\d+ ')


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

  def _start_cluster(self, tasks):
    """The ps, the chief, then worker 1; returns worker 1's first step.

    The chief starts once the ps serves, and worker 1 once the chief has
    logged a step: the model is initialised on the ps, so worker 1's first
    readiness check passes (not TensorFlow's next one, 30 s later). The
    chief is paused from then until worker 1 has logged a step, so that
    however fast it trains it cannot finish alone while worker 1 starts.
    """
    tasks.start('ps', '--job_name=ps', '--task_index=0')
    tasks.wait_until_serving('ps')
    tasks.start('chief', '--job_name=worker', '--task_index=0')
    tasks.wait_for_step('chief', 1, timeout=180)
    tasks.pause('chief')
    try:
      tasks.start('worker1', '--job_name=worker', '--task_index=1')
      return tasks.wait_for_step('worker1', 1, timeout=180)
    finally:
      tasks.resume('chief')

  def test_worker_killed_during_async_training(self):
    tasks, train_dir, _ = self._cluster(max_steps=1500)
    try:
      first = self._start_cluster(tasks)
      # Both train: the chief logs a step past worker 1's first one, and
      # worker 1 a step past that; then worker 1 dies in the middle.
      beside = tasks.wait_for_step('chief', first + 1, timeout=120)
      tasks.wait_for_step('worker1', beside + 1, timeout=120)
      tasks.kill('worker1')  # SIGKILL in the middle of training
      self.assertIsNone(tasks.processes['chief'].poll(),
                        'the chief ended before worker 1 was killed:\n'
                        + tasks.output('chief')[-3000:])
      self.assertLess(max(tasks.steps('chief')), 1500)
      self.assertEqual(tasks.wait_exit('chief', timeout=600), 0,
                       tasks.output('chief')[-3000:])
      self.assertIn('trained to step 1500', tasks.output('chief'))
    finally:
      tasks.kill_all()
    self.assertEqual(_global_step(train_dir), 1500)
    metrics = evaluation.evaluate(config_lib.eval_config(
        model='lenet5', data_dir=self.data_dir, train_dir=train_dir,
        image_size=32))
    # Stripes are easy: 1500 steps learn them whatever worker 1 did.
    self.assertGreaterEqual(metrics['accuracy'], 0.9)

  def test_chief_killed_and_restarted_resumes_at_the_live_step(self):
    tasks, train_dir, _ = self._cluster(max_steps=1000)
    try:
      self._start_cluster(tasks)
      tasks.wait_for('chief', r'after saving checkpoint [1-9]\d*', timeout=120)
      tasks.kill('chief')
      saved = _global_step(train_dir)
      self.assertGreater(saved, 0)
      # Worker 1 trains on alone, past the checkpoint and every step logged
      # so far; it is paused then, so the parameter servers hold a step the
      # checkpoint lacks, and it cannot finish before the chief is back.
      logged = max(tasks.steps('chief') + tasks.steps('worker1') + [saved])
      alone = tasks.wait_for_step('worker1', logged + 1, timeout=120)
      tasks.pause('worker1')
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      tasks.wait_for('chief', r'still hold the model at step', timeout=180)
      tasks.resume('worker1')
      self.assertEqual(tasks.wait_exit('chief', timeout=600), 0,
                       tasks.output('chief')[-3000:])
      self.assertEqual(tasks.wait_exit('worker1', timeout=120), 0,
                       tasks.output('worker1')[-3000:])
      chief, worker1 = tasks.output('chief'), tasks.output('worker1')
    finally:
      tasks.kill_all()
    # The restarted chief kept worker 1's steps: it saved the parameter
    # servers' live state (past the checkpoint it had) and resumed there.
    live = re.search(r'still hold the model at step (\d+) \(the latest '
                     r'checkpoint was at step (\d+)\)', chief)
    self.assertIsNotNone(live, chief[-3000:])
    self.assertGreaterEqual(int(live.group(1)), alone)
    self.assertGreater(int(live.group(1)), saved)
    self.assertGreaterEqual(int(live.group(2)), saved)
    self.assertIn('resuming from', chief)
    # Worker 1 reports the step it reached (its last fetch, a step or two
    # behind the other worker's increments), not the chief's checkpoint.
    reported = int(re.search(r'trained to step (\d+)', worker1).group(1))
    self.assertGreaterEqual(reported, 990)
    self.assertGreaterEqual(_global_step(train_dir), 1000)

  def test_ps_killed_workers_fail_naming_it_and_a_restart_resumes(self):
    tasks, train_dir, ports = self._cluster(max_steps=100000, timeout=5)
    address = f'127.0.0.1:{ports[0]}'
    try:
      self._start_cluster(tasks)
      tasks.wait_for('chief', r'after saving checkpoint [1-9]\d*', timeout=120)
      tasks.kill('ps')
      killed = time.monotonic()
      for name in ('chief', 'worker1'):
        self.assertEqual(tasks.wait_exit(name, timeout=60), 2,
                         tasks.output(name)[-3000:])
        errors = _error_lines(tasks.output(name))
        self.assertLen(errors, 1, tasks.output(name)[-3000:])
        self.assertIn(f'parameter server ps0 at {address} has not answered '
                      'for 5 s', errors[0])
      # --cluster_timeout_secs=5, probes every second: well within 30 s.
      self.assertLess(time.monotonic() - killed, 30)
      # The step stored in the checkpoint, which worker 1 may have moved a
      # step or two past the one its file is named after while it was saved.
      prefix = tf.train.latest_checkpoint(train_dir)
      saved = _global_step(train_dir)
      self.assertGreater(saved, 0)
      # The whole cluster again: the chief resumes from its checkpoint.
      tasks.start('ps', '--job_name=ps', '--task_index=0')
      tasks.wait_until_serving('ps')
      tasks.start('chief', '--job_name=worker', '--task_index=0',
                  f'--max_steps={saved + 20}')
      self.assertEqual(tasks.wait_exit('chief', timeout=300), 0,
                       tasks.output('chief')[-3000:])
      self.assertIn(f'resuming from {prefix}\n', tasks.output('chief'))
    finally:
      tasks.kill_all()
    self.assertEqual(_global_step(train_dir), saved + 20)

  def test_unresponsive_ps_ends_the_step_in_bounded_time(self):
    # A stopped ps still accepts connections (the kernel's listen backlog),
    # so the watchdog's probe passes; the step's own limit must end it.
    tasks, _, ports = self._cluster(max_steps=100000, timeout=4)
    try:
      tasks.start('ps', '--job_name=ps', '--task_index=0')
      tasks.wait_until_serving('ps')
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      tasks.wait_for_step('chief', 1, timeout=180)
      tasks.pause('ps')
      stopped = time.monotonic()
      self.assertEqual(tasks.wait_exit('chief', timeout=180), 2,
                       tasks.output('chief')[-3000:])
      waited = time.monotonic() - stopped
    finally:
      tasks.resume('ps')
      tasks.kill_all()
    limit = distributed.STEP_TIMEOUT_FACTOR * 4
    self.assertLess(waited, limit + 60)
    errors = _error_lines(tasks.output('chief'))
    self.assertLen(errors, 1, tasks.output('chief')[-3000:])
    self.assertIn(f'no training step completed for {limit} s', errors[0])
    self.assertIn(f'127.0.0.1:{ports[0]}', errors[0])

  def test_worker_without_its_ps_fails_in_bounded_time(self):
    tasks, _, ports = self._cluster(max_steps=10, timeout=3)
    try:
      tasks.start('chief', '--job_name=worker', '--task_index=0')
      # Measured from the chief's start-up line, not the process start (a
      # loaded machine takes a while to import TensorFlow).
      tasks.wait_for('chief', r'worker 0 \(chief\) at', timeout=180)
      started = time.monotonic()
      self.assertEqual(tasks.wait_exit('chief', timeout=180), 2,
                       tasks.output('chief')[-3000:])
      self.assertLess(time.monotonic() - started, 30)
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
        self.assertEqual(tasks.wait_exit('ps', timeout=180), 2)
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
      out, _ = launcher.communicate(timeout=300)
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
