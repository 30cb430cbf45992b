"""Graph-mode switching, session configuration and user-facing errors.

Graph mode is a process-wide choice, so it is made by entry points, never at
import time:

    from tf1cnn import runtime
    runtime.use_graph_mode()

Library code that builds graph ops calls `require_graph_mode(what)`, which
raises a `GraphModeError` naming the caller when TensorFlow is still eager.

`UserInputError` is the one exception type for bad input that a user can fix
(a missing folder, a corrupt image, a checkpoint of another model). Scripts run
their main function through `run_main`, which prints such an error as a single
line on stderr and exits with status 2 instead of a traceback.
"""

import logging as pylogging
import os
import sys

import tensorflow as tf
from absl import app
from absl import logging

from tf1cnn import startup


class UserInputError(Exception):
  """Bad input a user can fix; the message names the file, flag or checkpoint."""


class GraphModeError(RuntimeError):
  """A graph-building function was called while TensorFlow was in eager mode."""


def use_graph_mode():
  """Switches this process to TF1 graph mode (idempotent)."""
  if tf.executing_eagerly():
    tf.compat.v1.disable_eager_execution()


def require_graph_mode(what):
  """Raises GraphModeError if TensorFlow is executing eagerly.

  Args:
    what: name of the calling function, used in the message.
  """
  if tf.executing_eagerly():
    raise GraphModeError(
        f'{what} builds TF1 graph ops and needs graph mode: call '
        'tf1cnn.runtime.use_graph_mode() at program start, or build inside '
        '`with tf.Graph().as_default():`.')


def session_config(allow_soft_placement=True, allow_growth=True,
                   intra_op_threads=0, inter_op_threads=0,
                   log_device_placement=False):
  """Returns a tf.compat.v1.ConfigProto suitable for CPU and GPU machines.

  Soft placement lets ops without a GPU kernel fall back to the CPU;
  allow_growth stops TensorFlow from grabbing all GPU memory at start.
  """
  config = tf.compat.v1.ConfigProto(
      allow_soft_placement=allow_soft_placement,
      log_device_placement=log_device_placement,
      intra_op_parallelism_threads=intra_op_threads,
      inter_op_parallelism_threads=inter_op_threads)
  config.gpu_options.allow_growth = allow_growth
  return config


class _DropDeprecationNotices(pylogging.Filter):
  """Drops TensorFlow's 'is deprecated' notices for the TF1 APIs we use on purpose."""

  def filter(self, record):
    return 'is deprecated and will be removed' not in record.getMessage()


def configure_logging():
  """One log format (absl's), without TF1 deprecation notices."""
  tf_logger = tf.get_logger()
  tf_logger.handlers.clear()
  tf_logger.propagate = True
  if not any(isinstance(f, _DropDeprecationNotices) for f in tf_logger.filters):
    tf_logger.addFilter(_DropDeprecationNotices())


def run_main(main_fn, flags_parser=None):
  """Runs an absl main; UserInputError becomes a one-line error and exit 2.

  KeyboardInterrupt that escapes main exits with status 130 and one line.

  Args:
    main_fn: `fn(argv)`.
    flags_parser: absl's `flags_parser` (`tf1cnn.flags.parse` expands
      flagfiles shared between programs); default absl's own.
  """
  from tf1cnn import config as config_lib  # pylint: disable=g-import-not-at-top

  def _wrapped(argv):
    configure_logging()
    startup.log_choice()
    try:
      return main_fn(argv)
    except (UserInputError, config_lib.ConfigError) as e:
      logging.flush()
      sys.stdout.flush()
      sys.stderr.write(f'error: {e}\n')
      sys.stderr.flush()
      os._exit(2)  # pylint: disable=protected-access
    except KeyboardInterrupt:
      sys.stderr.write('interrupted\n')
      sys.stderr.flush()
      os._exit(130)  # pylint: disable=protected-access
  try:
    if flags_parser is None:
      app.run(_wrapped)
    else:
      app.run(_wrapped, flags_parser=flags_parser)
  except app.UsageError as e:  # pragma: no cover - absl prints usage itself
    sys.stderr.write(f'error: {e}\n')
    sys.exit(2)
