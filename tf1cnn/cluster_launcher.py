"""Runs a whole training cluster on this machine, one process per task.

`launch(num_ps, num_workers, train_args)` picks free 127.0.0.1 ports, starts
`num_ps` parameter servers and `num_workers` workers as separate processes
running the training program with the same `train_args` plus each task's
`--ps_hosts`, `--worker_hosts`, `--job_name` and `--task_index`, and streams
their output line by line with a prefix (`[ps0] `, `[worker1] `).

It stops every task (SIGTERM, then SIGKILL after `grace_secs`; each task
runs in its own process group) when

* a task exits with a non-zero status: the launcher returns that status
  (the first failure's);
* all workers finished with status 0: the parameter servers, which serve
  until stopped, are stopped and the launcher returns 0;
* the launcher gets SIGINT or SIGTERM: returns 130 (SIGINT) or 143.

Only the standard library is used here: no TensorFlow in the launcher.
"""

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List, Optional


def free_ports(count, host='127.0.0.1'):
  """`count` distinct ports nothing listens on now (bound, then released)."""
  sockets, ports = [], []
  try:
    for _ in range(count):
      s = socket.socket()
      s.bind((host, 0))
      sockets.append(s)
      ports.append(s.getsockname()[1])
  finally:
    for s in sockets:
      s.close()
  return ports


@dataclasses.dataclass
class Task:
  """One process of the cluster."""
  job: str
  index: int
  command: List[str]
  process: Optional[subprocess.Popen] = None
  reader: Optional[threading.Thread] = None

  @property
  def name(self):
    return f'{self.job}{self.index}'


def cluster_commands(command, num_ps, num_workers, train_args,
                     host='127.0.0.1', ports=None):
  """The tasks' command lines: `command + train_args + cluster flags`.

  Returns:
    A list of Task, parameter servers first, then workers (the chief,
    worker 0, first among them).
  """
  ports = ports or free_ports(num_ps + num_workers, host)
  ps_hosts = ','.join(f'{host}:{p}' for p in ports[:num_ps])
  worker_hosts = ','.join(f'{host}:{p}' for p in ports[num_ps:])
  tasks = []
  for job, count in (('ps', num_ps), ('worker', num_workers)):
    for index in range(count):
      tasks.append(Task(job, index, list(command) + list(train_args) + [
          f'--ps_hosts={ps_hosts}', f'--worker_hosts={worker_hosts}',
          f'--job_name={job}', f'--task_index={index}']))
  return tasks


def _stream(task, out, lock):
  """Copies the task's output to `out`, each line prefixed `[name] `."""
  for line in task.process.stdout:
    with lock:
      out.write(f'[{task.name}] {line}' if line.endswith('\n') else
                f'[{task.name}] {line}\n')
      out.flush()


def _stop(tasks, grace_secs):
  """SIGTERM to every running task's process group; SIGKILL after grace."""
  running = [t for t in tasks if t.process and t.process.poll() is None]
  for task in running:
    try:
      os.killpg(task.process.pid, signal.SIGTERM)
    except ProcessLookupError:
      pass
  deadline = time.monotonic() + grace_secs
  for task in running:
    try:
      task.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      pass
  for task in tasks:
    if task.process is None:
      continue
    try:  # also any child the task left in its group
      os.killpg(task.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
      pass
    task.process.wait()
  for task in tasks:
    if task.reader is not None:
      task.reader.join(timeout=5)


class _Signals:
  """Records SIGINT/SIGTERM instead of dying, while the cluster runs."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    self.received = self.received or signum

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


def launch(num_ps, num_workers, train_args, command=None, out=None,
           env=None, grace_secs=30.0, chief_head_start_secs=2.0,
           poll_secs=0.2):
  """Runs the cluster to its end; returns the exit status (see module doc).

  Args:
    num_ps: parameter servers (>= 1).
    num_workers: workers (>= 1); worker 0 is the chief.
    train_args: the training flags every task gets.
    command: the training program (default: this Python running
      `scripts/train.py` of the checkout, else `-m tf1cnn.cli.train`).
    out: where the prefixed lines go (default sys.stdout).
    env: the tasks' environment (default this one, without TF_CONFIG).
    grace_secs: how long stopped tasks get before SIGKILL (a worker saves a
      checkpoint on SIGTERM).
    chief_head_start_secs: the chief starts this long before the other
      workers, so it initialises the model first.
    poll_secs: how often the tasks are polled.
  """
  if num_ps < 1 or num_workers < 1:
    raise ValueError('at least one parameter server and one worker')
  out = out or sys.stdout
  command = command or default_command()
  if env is None:
    env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
  env = dict(env, PYTHONUNBUFFERED='1')
  tasks = cluster_commands(command, num_ps, num_workers, train_args)
  lock = threading.Lock()
  status = None

  def say(message):
    with lock:
      out.write(f'[launcher] {message}\n')
      out.flush()
  with _Signals() as signals:
    try:
      for task in tasks:
        if task.job == 'worker' and task.index == 1:
          time.sleep(chief_head_start_secs)
        say(f'starting {task.name}: {" ".join(task.command)}')
        task.process = subprocess.Popen(
            task.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, text=True, bufsize=1,
            errors='replace', start_new_session=True)
        task.reader = threading.Thread(target=_stream, args=(task, out, lock),
                                       daemon=True)
        task.reader.start()
      workers = [t for t in tasks if t.job == 'worker']
      while status is None:
        if signals.received:
          say(f'signal {signals.received}: stopping the cluster')
          status = 128 + signals.received
          break
        for task in tasks:
          code = task.process.poll()
          if code not in (None, 0):
            say(f'{task.name} failed (exit status {code}): stopping the '
                'other tasks')
            status = code if code > 0 else 128 - code
            break
          if code == 0 and task.job == 'ps':
            say(f'{task.name} ended while the workers run: stopping the '
                'other tasks')
            status = 1
            break
        else:
          if all(t.process.poll() == 0 for t in workers):
            say(f'all {len(workers)} worker(s) finished: stopping the '
                'parameter server(s)')
            status = 0
            break
          time.sleep(poll_secs)
    finally:
      _stop(tasks, grace_secs)
  say(f'exit status {status if status is not None else 1}')
  return status if status is not None else 1


def default_command():
  """`[python, <checkout>/scripts/train.py]`, or `-m tf1cnn.cli.train`."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  script = os.path.join(root, 'scripts', 'train.py')
  if os.path.exists(script):
    return [sys.executable, script]
  return [sys.executable, '-m', 'tf1cnn.cli.train']
