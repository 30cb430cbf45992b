"""Exclusive locks: on a file (one machine), and a holder lock (any machine).

    with filelock.exclusive(path, on_wait=lambda: logging.info('waiting')):
      ...   # one process at a time

POSIX uses `fcntl.flock`; Windows, where `fcntl` does not exist, locks the
file's first byte with `msvcrt.locking` (retried until it is free). The lock
is released when the block ends or the process dies.

`fcntl` locks do not reach across machines on many network file systems, so
`HolderLock` (one trainer per `--train_dir`) combines two things:

* a lock file created with `O_CREAT | O_EXCL` (atomic on local and network
  file systems alike) holding JSON that names its holder: `host`, `pid`,
  the process start time (Linux), `since` (UTC), a random `token`, and
  `heartbeat`, the time the holder last wrote it; a thread of the holder
  rewrites it in place every `HEARTBEAT_SECS` (10) seconds;
* `exclusive` on a guard file beside it around every check-and-take and
  release, so processes of one machine never race each other.

A lock file left behind is stale, and is taken over (renamed aside, checked
to be the one judged stale, deleted, then created afresh), when its holder
is on this host and that process is gone (no such pid, a zombie, or another
process under a reused pid), or, for a holder on another host, when its
heartbeat is older than `STALE_SECS` (60) seconds: machines sharing a folder
need clocks that agree to well within that. Anything else refuses with
`LockHeld`, naming the holder.
"""

import contextlib
import datetime
import json
import os
import socket
import threading
import time
import uuid

from absl import logging

try:  # POSIX
  import fcntl  # pylint: disable=g-import-not-at-top
except ImportError:  # Windows
  fcntl = None
  import msvcrt  # pylint: disable=g-import-not-at-top,import-error


def _try_lock(handle):
  if fcntl is not None:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
      return True
    except BlockingIOError:
      return False
  try:
    handle.seek(0)
    msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    return True
  except OSError:
    return False


def _unlock(handle):
  if fcntl is not None:
    fcntl.flock(handle, fcntl.LOCK_UN)
  else:
    handle.seek(0)
    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


@contextlib.contextmanager
def exclusive(path, on_wait=None, poll_secs=0.2):
  """Holds an exclusive lock on `path` (created if needed) in the block.

  Args:
    path: the lock file.
    on_wait: called once if another process holds the lock.
    poll_secs: retry period while waiting.

  Raises:
    OSError: the lock file cannot be opened.
  """
  with open(path, 'a+', encoding='utf-8') as handle:
    if not _try_lock(handle):
      if on_wait is not None:
        on_wait()
      if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX)
      else:
        while not _try_lock(handle):
          time.sleep(poll_secs)
    try:
      yield
    finally:
      _unlock(handle)


def is_posix_locking():
  """True when the POSIX `fcntl` lock is used (False on Windows)."""
  return fcntl is not None and os.name == 'posix'


# The holder rewrites its lock file this often; a lock of another host whose
# heartbeat is older than STALE_SECS is stale.
HEARTBEAT_SECS = 10.0
STALE_SECS = 60.0


class LockHeld(Exception):
  """A live holder has the lock; `str()` is one line naming it.

  Attributes:
    path: the lock file.
    holder: its JSON dict (may be empty when it could not be read).
  """

  def __init__(self, path, holder, detail=''):
    self.path = path
    self.holder = dict(holder or {})
    super().__init__(describe_holder(self.holder) + (detail and f'; {detail}')
                     + f' (lock file {path})')


def describe_holder(holder, now=None):
  """`host H, pid P, since S, heartbeat N s ago` of a lock file's JSON."""
  if not holder:
    return 'an unreadable lock file'
  now = time.time() if now is None else now
  parts = [f'host {holder.get("host", "?")}', f'pid {holder.get("pid", "?")}',
           f'since {holder.get("since", "?")}']
  beat = holder.get('heartbeat')
  if isinstance(beat, (int, float)):
    parts.append(f'heartbeat {max(0, now - beat):.0f} s ago')
  return ', '.join(parts)


def _process_start(pid):
  """A process's start time in clock ticks (Linux), or None."""
  try:
    with open(f'/proc/{int(pid)}/stat', encoding='ascii',
              errors='replace') as f:
      fields = f.read().rsplit(')', 1)[1].split()
  except (OSError, ValueError, IndexError):
    return None
  if fields and fields[0] == 'Z':
    return 'zombie'
  try:
    return int(fields[19])
  except (IndexError, ValueError):
    return None


def _pid_alive(pid, start=None):
  """Whether process `pid` of this host runs (and started at `start`)."""
  try:
    pid = int(pid)
  except (TypeError, ValueError):
    return False
  if pid <= 0:
    return False
  if os.name == 'posix':
    try:
      os.kill(pid, 0)
    except ProcessLookupError:
      return False
    except PermissionError:
      pass  # Another user's live process.
    except OSError:
      return False
  now_start = _process_start(pid)
  if now_start == 'zombie':
    return False
  if start is not None and now_start is not None and now_start != start:
    return False  # The pid was reused.
  if os.name != 'posix' and now_start is None:
    return _windows_pid_alive(pid)
  return True


def _windows_pid_alive(pid):
  """Whether `pid` runs, on Windows (OpenProcess + exit code)."""
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFO
    if not handle:
      return False
    code = ctypes.c_ulong()
    kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel32.CloseHandle(handle)
    return code.value == 259  # STILL_ACTIVE
  except (AttributeError, OSError):
    return True  # Unknown: never take over a lock that may be live.


class HolderLock:
  """A lock file naming its holder, for folders shared between machines.

      with filelock.HolderLock(os.path.join(train_dir, 'train.lock')):
        ...   # the only process writing train_dir

  See the module docstring for the protocol.

  Args:
    path: the lock file (its folder must exist).
    heartbeat_secs: how often the holder rewrites it.
    stale_secs: age of another host's heartbeat that makes it stale.
  """

  def __init__(self, path, heartbeat_secs=HEARTBEAT_SECS,
               stale_secs=STALE_SECS):
    self.path = path
    self.guard_path = os.path.join(os.path.dirname(path) or '.',
                                   f'.{os.path.basename(path)}.guard')
    self.heartbeat_secs = heartbeat_secs
    self.stale_secs = stale_secs
    self.host = socket.gethostname()
    self._token = None
    self._stop = threading.Event()
    self._thread = None
    self.taken_over = None  # The stale holder this lock replaced, if any.

  # --- reading -------------------------------------------------------------

  def read(self):
    """`(holder dict or None, mtime or None)`; (None, None): no lock file."""
    for _ in range(5):
      try:
        mtime = os.stat(self.path).st_mtime
        with open(self.path, encoding='utf-8') as f:
          text = f.read()
      except FileNotFoundError:
        return None, None
      except OSError:
        return None, time.time()
      try:
        holder = json.loads(text)
        if isinstance(holder, dict):
          return holder, mtime
      except ValueError:
        pass
      time.sleep(0.05)  # Being rewritten: read again.
    return None, mtime

  def stale_reason(self, holder, mtime, now=None):
    """Why a lock file is stale (a phrase), or None when it is live."""
    now = time.time() if now is None else now
    if holder is None:
      age = now - (mtime or now)
      return (f'unreadable and {age:.0f} s old' if age > self.stale_secs
              else None)
    if holder.get('host') == self.host:
      if _pid_alive(holder.get('pid'), holder.get('pid_start')):
        return None
      return f'process {holder.get("pid")} of this host is gone'
    beat = holder.get('heartbeat')
    if not isinstance(beat, (int, float)):
      beat = mtime or now
    age = now - beat
    if age > self.stale_secs:
      return f'heartbeat {age:.0f} s old (> {self.stale_secs:.0f} s)'
    return None

  # --- taking and releasing --------------------------------------------------

  def _holder(self):
    now = time.time()
    return dict(
        host=self.host, pid=os.getpid(), pid_start=_process_start(
            os.getpid()) if os.name == 'posix' else None,
        since=datetime.datetime.fromtimestamp(
            self._since, datetime.timezone.utc).strftime(
                '%Y-%m-%d %H:%M:%S UTC'),
        heartbeat=now, heartbeat_secs=self.heartbeat_secs,
        token=self._token)

  def _create(self):
    """Creates the lock file with O_EXCL; False when it exists."""
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      json.dump(self._holder(), f)
      f.flush()
      os.fsync(f.fileno())
    return True

  def _take_over(self, holder):
    """Moves a stale lock file aside; False when it was not the one judged."""
    aside = f'{self.path}.stale-{uuid.uuid4().hex[:12]}'
    try:
      os.rename(self.path, aside)
    except FileNotFoundError:
      return True  # Gone meanwhile: try to create it.
    try:
      with open(aside, encoding='utf-8') as f:
        moved = json.loads(f.read())
    except (OSError, ValueError):
      moved = None
    judged = (holder or {}).get('token')
    if (moved or {}).get('token') != judged:
      # Another process replaced the stale file in between: put it back.
      try:
        os.link(aside, self.path)
      except OSError:
        pass
      os.unlink(aside)
      return False
    os.unlink(aside)
    return True

  def acquire(self):
    """Takes the lock, or raises LockHeld naming the live holder.

    Raises:
      LockHeld: another live process holds it.
      OSError: the lock file cannot be written.
    """
    self._token = uuid.uuid4().hex
    self._since = time.time()
    with exclusive(self.guard_path):
      for _ in range(5):
        if self._create():
          break
        holder, mtime = self.read()
        if holder is None and mtime is None:
          continue  # Released meanwhile.
        reason = self.stale_reason(holder, mtime)
        if reason is None:
          raise LockHeld(self.path, holder)
        if self._take_over(holder):
          logging.warning('%s: taking over a stale lock (%s): %s', self.path,
                          describe_holder(holder), reason)
          self.taken_over = holder
      else:
        holder, _ = self.read()
        raise LockHeld(self.path, holder, 'it changed hands while checked')
    self._stop.clear()
    self._thread = threading.Thread(target=self._beat, daemon=True,
                                    name='holder-lock-heartbeat')
    self._thread.start()
    return self

  def _beat(self):
    while not self._stop.wait(self.heartbeat_secs):
      if not self.refresh():
        return

  def refresh(self):
    """Rewrites the heartbeat in place; False when the lock is no longer ours."""
    try:
      with open(self.path, 'r+', encoding='utf-8') as f:
        try:
          current = json.loads(f.read())
        except ValueError:
          current = None
        if (current or {}).get('token') != self._token:
          logging.error('%s: this process no longer holds the lock (%s)',
                        self.path, describe_holder(current))
          return False
        f.seek(0)
        f.write(json.dumps(self._holder()))
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
      return True
    except FileNotFoundError:
      logging.error('%s: the lock file was removed', self.path)
      return False
    except OSError as e:
      logging.warning('%s: cannot refresh the heartbeat (%s)', self.path, e)
      return True

  def release(self):
    """Stops the heartbeat and deletes the lock file if it is still ours."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
      self._thread = None
    if self._token is None:
      return
    try:
      with exclusive(self.guard_path):
        holder, _ = self.read()
        if (holder or {}).get('token') == self._token:
          os.unlink(self.path)
    except OSError as e:
      logging.warning('%s: cannot remove the lock file (%s)', self.path, e)
    self._token = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
    return False
