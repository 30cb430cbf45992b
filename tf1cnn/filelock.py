"""An exclusive lock on a file, on POSIX and on Windows.

    with filelock.exclusive(path, on_wait=lambda: logging.info('waiting')):
      ...   # one process at a time

POSIX uses `fcntl.flock`; Windows, where `fcntl` does not exist, locks the
file's first byte with `msvcrt.locking` (retried until it is free). The lock
is released when the block ends or the process dies.
"""

import contextlib
import os
import time

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
