"""Checks that an output folder or file can be written, before any work.

A run that would fail at its first write (a read-only `--train_dir`, a
`--train_dir` that is a file or lies under a file, a `--metrics_json` that is
a folder) is refused at start with one line naming the flag and the path,
instead of a traceback after minutes of work. Nothing is created: the check
walks up to the nearest existing folder and writes (and removes) a probe file
there, which also catches read-only file systems and, for root, what the
permission bits do not tell.

`is_write_failure(error)` tells a failed write while running (a full disk,
a file system gone read-only) from other errors, so training and evaluation
can stop with one line that names the path.
"""

import errno
import os
import tempfile

from tf1cnn import runtime

_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                 errno.EPERM, errno.EFBIG)
_WRITE_MESSAGES = ('no space left on device', 'disk quota exceeded',
                   'read-only file system', 'file too large')


def _probe(directory):
  """Creates and removes a file in `directory`; raises OSError on failure."""
  fd, path = tempfile.mkstemp(prefix='.tf1cnn-write-check-', dir=directory)
  os.close(fd)
  os.remove(path)


def _nearest_existing(path):
  """The absolute path of `path` or of its nearest existing ancestor."""
  current = os.path.abspath(path)
  while not os.path.exists(current):
    parent = os.path.dirname(current)
    if parent == current:
      break
    current = parent
  return current


def check_dir(path, flag):
  """Raises UserInputError unless `path` is (or can become) a writable folder.

  Args:
    path: the folder (it need not exist yet).
    flag: the flag named in the message, e.g. '--train_dir'.
  """
  if not path:
    raise runtime.UserInputError(f'{flag} is empty')
  if os.path.exists(path) and not os.path.isdir(path):
    raise runtime.UserInputError(f'{flag}={path}: is a file, not a folder')
  existing = _nearest_existing(path)
  if not os.path.isdir(existing):
    raise runtime.UserInputError(
        f'{flag}={path}: {existing} is a file, so no folder can be made '
        'under it')
  try:
    _probe(existing)
  except OSError as e:
    where = ('' if existing == os.path.abspath(path) else
             f' (in {existing}, where it would be created)')
    raise runtime.UserInputError(
        f'{flag}={path}: cannot write there{where}: '
        f'{e.strerror or e}') from None


def check_file(path, flag):
  """Raises UserInputError unless file `path` can be written (or replaced).

  Args:
    path: the file (it need not exist yet; its folder is created later).
    flag: the flag named in the message, e.g. '--metrics_json'.
  """
  if not path:
    return
  if os.path.isdir(path):
    raise runtime.UserInputError(f'{flag}={path}: is a folder; give a file '
                                 'name')
  if path.endswith(os.sep):
    raise runtime.UserInputError(f'{flag}={path}: give a file name, not a '
                                 'folder')
  check_dir(os.path.dirname(os.path.abspath(path)), flag + ' (its folder)')


def is_write_failure(error):
  """True for an error of a failed write: a full disk, a read-only system.

  Args:
    error: an OSError or a TensorFlow OpError (whose message carries the
      system's reason).
  """
  if isinstance(error, OSError) and error.errno in _WRITE_ERRNOS:
    return True
  message = str(getattr(error, 'message', None) or error).lower()
  return any(text in message for text in _WRITE_MESSAGES)
