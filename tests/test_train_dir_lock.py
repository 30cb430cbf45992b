"""One trainer per train_dir: the holder lock, its take-over rules, the programs.

The lock file's contents are written by hand where a test needs another
holder (a dead pid, another host with a fresh or an old heartbeat), so the
rules are checked against what the file says, not against the code that
wrote it.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import tensorflow as tf

from fixtures import make_striped_dataset
from fixtures import subprocess_env
from tf1cnn import filelock
from tf1cnn import runtime
from tf1cnn import training

runtime.use_graph_mode()

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = socket.gethostname()


def write_lock(train_dir, **holder):
  path = os.path.join(train_dir, training.TRAIN_LOCK)
  with open(path, 'w') as f:
    json.dump(holder, f)
  return path


def dead_pid():
  """The pid of a process that has exited and been reaped."""
  child = subprocess.Popen([sys.executable, '-c', 'pass'])
  child.wait()
  return child.pid


class LockRulesTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.path = os.path.join(self.dir, training.TRAIN_LOCK)

  def read(self):
    with open(self.path) as f:
      return json.load(f)

  def test_the_lock_names_this_process_and_goes_at_the_end(self):
    with training.lock_train_dir(self.dir):
      holder = self.read()
      self.assertEqual(holder['host'], HOST)
      self.assertEqual(holder['pid'], os.getpid())
      self.assertRegex(holder['since'], r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$')
      self.assertLess(abs(holder['heartbeat'] - time.time()), 30)
      # A second trainer in this process is refused too.
      with self.assertRaisesRegex(
          runtime.UserInputError,
          rf'^--train_dir={self.dir} is being trained by another process '
          rf'\(host {HOST}, pid {os.getpid()}, since '):
        with training.lock_train_dir(self.dir):
          pass
    self.assertFalse(os.path.exists(self.path))

  def test_released_after_an_error(self):
    with self.assertRaises(ValueError):
      with training.lock_train_dir(self.dir):
        raise ValueError('boom')
    self.assertFalse(os.path.exists(self.path))

  def test_a_dead_pid_of_this_host_is_taken_over(self):
    pid = dead_pid()
    write_lock(self.dir, host=HOST, pid=pid, since='2026-01-01 00:00:00 UTC',
               heartbeat=time.time(), token='old')
    with training.lock_train_dir(self.dir) as lock:
      self.assertEqual(self.read()['pid'], os.getpid())
      self.assertEqual(lock.taken_over['pid'], pid)
    self.assertFalse(os.path.exists(self.path))
    self.assertEqual([n for n in os.listdir(self.dir) if 'stale' in n], [])

  def test_a_zombie_holder_is_dead(self):
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    deadline = time.time() + 30
    while time.time() < deadline:  # exited but not reaped: a zombie
      try:
        with open(f'/proc/{child.pid}/stat') as f:
          if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
            break
      except OSError:
        self.skipTest('no /proc here')
      time.sleep(0.05)
    try:
      write_lock(self.dir, host=HOST, pid=child.pid, since='x',
                 heartbeat=time.time(), token='old')
      with training.lock_train_dir(self.dir):
        self.assertEqual(self.read()['pid'], os.getpid())
    finally:
      child.wait()

  def test_a_live_pid_of_this_host_refuses_whatever_its_heartbeat(self):
    sleeper = subprocess.Popen([sys.executable, '-c',
                                'import time; time.sleep(60)'])
    try:
      write_lock(self.dir, host=HOST, pid=sleeper.pid,
                 since='2026-01-01 00:00:00 UTC',
                 heartbeat=time.time() - 3600, token='live')
      with self.assertRaisesRegex(
          runtime.UserInputError,
          rf'host {HOST}, pid {sleeper.pid}, since 2026-01-01 00:00:00 UTC'):
        with training.lock_train_dir(self.dir):
          pass
      self.assertEqual(self.read()['token'], 'live')  # left as it was
    finally:
      sleeper.kill()
      sleeper.wait()

  def test_another_host_with_a_fresh_heartbeat_refuses(self):
    write_lock(self.dir, host='other-machine', pid=4242,
               since='2026-12-01 10:00:00 UTC', heartbeat=time.time() - 5,
               token='remote')
    with self.assertRaises(runtime.UserInputError) as caught:
      with training.lock_train_dir(self.dir):
        pass
    message = str(caught.exception)
    self.assertEqual(len(message.splitlines()), 1)
    self.assertIn('host other-machine, pid 4242, since 2026-12-01 10:00:00 '
                  'UTC, heartbeat 5 s ago', message)
    self.assertIn(self.path, message)
    self.assertEqual(self.read()['token'], 'remote')

  def test_another_host_with_a_stale_heartbeat_is_taken_over(self):
    old = time.time() - filelock.STALE_SECS - 30
    write_lock(self.dir, host='other-machine', pid=4242, since='x',
               heartbeat=old, token='remote')
    with training.lock_train_dir(self.dir) as lock:
      self.assertEqual(self.read()['host'], HOST)
      self.assertEqual(lock.taken_over['token'], 'remote')
    self.assertFalse(os.path.exists(self.path))

  def test_the_heartbeat_is_refreshed(self):
    lock = filelock.HolderLock(self.path, heartbeat_secs=0.1)
    with lock:
      first = self.read()['heartbeat']
      deadline = time.time() + 20
      while self.read()['heartbeat'] == first and time.time() < deadline:
        time.sleep(0.05)
      self.assertGreater(self.read()['heartbeat'], first)
      self.assertEqual(self.read()['token'], lock._token)  # pylint: disable=protected-access

  def test_workers_take_no_lock(self):
    write_lock(self.dir, host='other-machine', pid=1, since='x',
               heartbeat=time.time(), token='chief')
    with training.lock_train_dir(self.dir, is_chief=False) as lock:
      self.assertIsNone(lock)
    self.assertEqual(self.read()['token'], 'chief')

  def test_sigterm_and_sigint_release_the_lock(self):
    program = (
        'import sys, time\n'
        'from tf1cnn import training\n'
        'with training.lock_train_dir(sys.argv[1]):\n'
        '  print("held", flush=True)\n'
        '  time.sleep(120)\n')
    for sig, status in ((signal.SIGTERM, 143), (signal.SIGINT, None)):
      child = subprocess.Popen(
          [sys.executable, '-c', program, self.dir], cwd=_ROOT,
          env=subprocess_env(PYTHONPATH=_ROOT), stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True)
      try:
        self.assertEqual(child.stdout.readline().strip(), 'held')
        self.assertTrue(os.path.exists(self.path))
        child.send_signal(sig)
        child.wait(timeout=60)
      finally:
        if child.poll() is None:
          child.kill()
          child.wait()
        child.stdout.close()
        child.stderr.close()
      if status is not None:
        self.assertEqual(child.returncode, status)
      else:
        self.assertNotEqual(child.returncode, 0)
      self.assertFalse(os.path.exists(self.path), sig)


class TwoTrainersTest(tf.test.TestCase):

  def test_the_second_trainer_is_refused_and_the_first_finishes(self):
    root = self.get_temp_dir()
    data_dir = os.path.join(root, 'data')
    make_striped_dataset(data_dir, per_class=4, size=32)
    train_dir = os.path.join(root, 'run')
    args = [sys.executable, os.path.join(_ROOT, 'scripts', 'train.py'),
            '--model=lenet5', f'--data_dir={data_dir}', '--image_size=32',
            '--batch_size=4', '--max_steps=6', f'--train_dir={train_dir}',
            '--input_threads=1', '--log_every_n_steps=1', '--precision=fp32']
    env = subprocess_env()
    lock_path = os.path.join(train_dir, training.TRAIN_LOCK)
    first = subprocess.Popen(args, env=env, cwd=_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
      deadline = time.time() + 240
      while not os.path.exists(lock_path) and first.poll() is None:
        self.assertLess(time.time(), deadline, 'the first never took the lock')
        time.sleep(0.05)
      self.assertIsNone(first.poll(), 'the first trainer ended early')
      # Hold the first still (alive, holding the lock) while the second runs.
      first.send_signal(signal.SIGSTOP)
      before = {name: os.stat(os.path.join(train_dir, name)).st_mtime_ns
                for name in os.listdir(train_dir)}
      second = subprocess.run(args, env=env, cwd=_ROOT, capture_output=True,
                              text=True, timeout=240, check=False)
      after = {name: os.stat(os.path.join(train_dir, name)).st_mtime_ns
               for name in os.listdir(train_dir)}
      first.send_signal(signal.SIGCONT)
      out, err = first.communicate(timeout=300)
    finally:
      if first.poll() is None:
        first.send_signal(signal.SIGCONT)
        first.kill()
        first.wait()
    self.assertEqual(second.returncode, 2, second.stderr)
    errors = [line for line in second.stderr.splitlines()
              if line.startswith('error:')]
    self.assertEqual(len(errors), 1, second.stderr)
    self.assertIn(f'--train_dir={train_dir} is being trained by another '
                  f'process (host {HOST}, pid {first.pid}, since ', errors[0])
    self.assertNotIn('Traceback', second.stderr)
    self.assertEqual(before, after)  # the second wrote nothing
    self.assertEqual(first.returncode, 0, err)
    self.assertIn('trained to step 6', out)
    self.assertTrue(os.path.exists(os.path.join(train_dir,
                                                'model.ckpt-6.index')))
    self.assertFalse(os.path.exists(lock_path))


if __name__ == '__main__':
  tf.test.main()
