"""Runs an unmodified TF 1.x script on TensorFlow 2.21 (`tf1cnn-run`).

    tf1cnn-run train.py --batch_size=32      # or: python -m tf1cnn.run ...

`run_script(path, args)` runs the file as Python runs a script
(`__name__ == '__main__'`, `__file__` its absolute path, `sys.argv` =
`[path, *args]`, `sys.path[0]` its folder, the working directory unchanged)
after switching the process to TF 1.x behaviour
(`tf1cnn.compat.v1.use_tf1_behaviour`, as `import tensorflow` did in TF 1.x) and
dropping TensorFlow's deprecation notices of the TF 1.x APIs, with an import
hook for the imports the script and the modules of its folder
make:

| the script imports | it gets |
|---|---|
| `tensorflow`, `tensorflow.compat.v1` | `tf1cnn.compat.v1` |
| `tensorflow.contrib.slim`, `tf_slim` | `tf1cnn.compat.slim` |
| `tf_slim.nets`, `tensorflow.contrib.slim.nets` | TF-Slim's ImageNet net modules (`resnet_v1`, `vgg`, `inception_v3`, ...) of `tf1cnn.models` |
| `tensorflow.contrib.layers`, `.framework` | `tf1cnn.compat.contrib`'s |
| `tensorflow.contrib.layers.python.layers` | `tf1cnn.compat.slim.layers` |
| `tensorflow.contrib.framework.python.ops` | `tf1cnn.compat.slim.ops` |
| `tensorflow.estimator`, `tensorflow_estimator` | `tf1cnn.compat.estimator` |
| `tensorflow.python...`, `tensorflow.core...` | TensorFlow's own modules |

The hook replaces `builtins.__import__` while the script runs and looks at
the importing module's `__file__`: only files under the script's folder
(outside any `site-packages` / `dist-packages`, the standard library and the
tf1cnn package) are redirected, so TensorFlow, tf1cnn and every installed library still import
the real `tensorflow`. `sys.modules['tensorflow']` stays TensorFlow's.
Imports through `importlib.import_module` are not redirected.

A TF 1.x symbol tf1cnn does not provide (`missing.NotProvidedError`, or an
argument value it does not implement) stops the script with one line,
`path/script.py:LINE: tf.contrib.learn is not provided: ...`, and status 2;
any other exception of the script prints its traceback (from the script's
first frame on) and gives status 1; `SystemExit` (`tf.app.run`, `sys.exit`)
passes through.
"""

import builtins
import contextlib
import importlib
import importlib.machinery
import os
import sys
import sysconfig
import traceback
import types

from tf1cnn import runtime
from tf1cnn.compat import missing

_V1 = 'tf1cnn.compat.v1'
_SLIM = 'tf1cnn.compat.slim'
_ESTIMATOR = 'tf1cnn.compat.estimator'

# Import names served by tf1cnn.compat: a module name, or a namespace of
# submodule names. Deeper names resolve by attribute from the longest match.
_ALIASES = {
    'tensorflow': _V1,
    'tensorflow.contrib.layers.python': {'layers': 'tf1cnn.compat.slim.layers'},
    'tensorflow.contrib.layers.python.layers': 'tf1cnn.compat.slim.layers',
    'tensorflow.contrib.framework.python': {'ops': 'tf1cnn.compat.slim.ops'},
    'tensorflow.contrib.framework.python.ops': 'tf1cnn.compat.slim.ops',
    'tf_slim': _SLIM,
    'tensorflow_estimator': {'estimator': _ESTIMATOR},
}
# TF-Slim's `nets` package: tf1cnn builds the model-zoo nets with these
# modules, which have Slim's functions, arguments and variable names
# (tests/test_models_zoo.py compares them with the wheel's nets); the
# wheel's ResNet API (no spatial_squeeze) is tf1cnn.models.slim_nets'. They sit
# in tf1cnn.models, above compat, so they are named here and imported only
# when a script imports them.
_SLIM_NETS = {name: f'tf1cnn.models.{name}' for name in (
    'alexnet', 'vgg', 'inception_utils', 'inception_v1', 'inception_v2',
    'inception_v3', 'resnet_utils', 'mobilenet_v1')}
_SLIM_NETS.update(resnet_v1='tf1cnn.models.slim_nets.resnet_v1',
                  resnet_v2='tf1cnn.models.slim_nets.resnet_v2')
_ALIASES['tf_slim.nets'] = _SLIM_NETS
_ALIASES['tensorflow.contrib.slim.nets'] = _SLIM_NETS
_ALIASES['tensorflow.contrib.slim.python.slim.nets'] = _SLIM_NETS
_TOP_LEVEL = frozenset(name.partition('.')[0] for name in _ALIASES)

# TensorFlow's own packages: imported for real, from the script too.
_REAL_TENSORFLOW = frozenset(
    ('python', 'core', 'tsl', 'compiler', 'tools', 'dtensor', 'include',
     'security', '_api'))

_MISSING_ERRORS = (missing.NotProvidedError, missing.UnsupportedArgumentError)

_NAMESPACES = {}


def _import_alias(target, name):
  """The module `target` (a module name or a namespace) stands for."""
  if isinstance(target, dict):
    if name not in _NAMESPACES:
      namespace = types.ModuleType(name, f'{name}: served by tf1cnn.compat.')
      for attribute, module in target.items():
        setattr(namespace, attribute,
                _import_alias(module, f'{name}.{attribute}'))
      _NAMESPACES[name] = namespace
    return _NAMESPACES[name]
  try:
    return importlib.import_module(target)
  except ModuleNotFoundError as e:
    if e.name != target or target != _ESTIMATOR:
      raise
    # The v1 drop-in words the error for a missing tf.estimator.
    return getattr(importlib.import_module(_V1), 'estimator')


@contextlib.contextmanager
def tf1_imports(folder):
  """While inside, the modules of `folder` import TF 1.x from tf1cnn.compat.

  `import tensorflow`, `tensorflow.contrib...`, `tf_slim` and
  `tensorflow_estimator` made by a module whose file is under `folder` get
  what `tf1cnn-run` serves a script (`ImportHook`); every other import is
  unchanged. `--model=FILE.py:function` loads the file inside it.

  Args:
    folder: the folder whose modules are redirected.

  Yields:
    The ImportHook.
  """
  hook = ImportHook(folder, builtins.__import__)
  builtins.__import__ = hook
  try:
    yield hook
  finally:
    builtins.__import__ = hook.original


def resolve(name):
  """The module tf1cnn.compat serves for the import of `name` by a script.

  Args:
    name: a dotted import name, e.g. 'tensorflow.contrib.slim'.

  Returns:
    The module, or None when `name` is TensorFlow's own (`tensorflow.python`)
    or not one of the redirected packages.

  Raises:
    missing.NotProvidedError: a TF 1.x module tf1cnn does not provide.
  """
  parts = name.split('.')
  if parts[0] not in _TOP_LEVEL:
    return None
  if parts[0] == 'tensorflow' and len(parts) > 1 and (
      parts[1] in _REAL_TENSORFLOW):
    return None
  for end in range(len(parts), 0, -1):
    prefix = '.'.join(parts[:end])
    if prefix in _ALIASES:
      break
  module = _import_alias(_ALIASES[prefix], prefix)
  for part in parts[end:]:
    module = getattr(module, part)
  return module


def _excluded_folders():
  """Folders whose modules always get the real TensorFlow."""
  import tf1cnn  # pylint: disable=g-import-not-at-top
  folders = {os.path.dirname(os.path.abspath(tf1cnn.__file__))}
  paths = sysconfig.get_paths()
  for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
    if paths.get(key):
      folders.add(paths[key])
  return tuple(os.path.realpath(f) + os.sep for f in folders)


class ImportHook:
  """`builtins.__import__` that redirects the imports of one folder's modules.

  Args:
    folder: the script's folder; modules whose `__file__` is under it get
      tf1cnn.compat for `tensorflow`, `tf_slim` and `tensorflow_estimator`.
    original: the `__import__` to call for every other import.
  """

  def __init__(self, folder, original):
    self.folder = os.path.realpath(folder) + os.sep
    self.original = original
    self._excluded = _excluded_folders()
    self._decided = {}

  def owns(self, filename):
    """True if `filename` is one of the script folder's own modules."""
    if not filename:
      return False
    decision = self._decided.get(filename)
    if decision is None:
      path = os.path.realpath(filename)
      parts = path.split(os.sep)
      decision = (path.startswith(self.folder) and
                  not path.startswith(self._excluded) and
                  'site-packages' not in parts and
                  'dist-packages' not in parts)
      self._decided[filename] = decision
    return decision

  def __call__(self, name, globals=None, locals=None, fromlist=(), level=0):  # pylint: disable=redefined-builtin
    if (level == 0 and name.partition('.')[0] in _TOP_LEVEL and globals and
        self.owns(globals.get('__file__'))):
      module = resolve(name)
      if module is not None:
        if not fromlist:
          return resolve(name.partition('.')[0])
        for item in fromlist:
          if item != '*':
            try:
              getattr(module, item)
            except _MISSING_ERRORS:
              raise
            except AttributeError:
              pass  # Python's own ImportError follows
        return module
    return self.original(name, globals, locals, fromlist, level)


def _display(filename):
  relative = os.path.relpath(filename)
  return filename if relative.startswith(os.pardir) else relative


def _script_frames(tb, hook):
  """The traceback entries (frame, line) inside the script folder's files."""
  return [(frame, line) for frame, line in traceback.walk_tb(tb)
          if hook.owns(frame.f_code.co_filename)]


def _from_script_on(tb, script):
  """`tb` without the runner's own frames in front of the script's first."""
  start = tb
  while start is not None:
    if os.path.abspath(start.tb_frame.f_code.co_filename) == script:
      return start
    start = start.tb_next
  return tb


def _exec_as_main(script):
  """Runs the file `script` as the `__main__` module, as `python script` does.

  Unlike `runpy.run_path`, `sys.argv[0]` stays as the user typed it.
  """
  with open(script, 'rb') as f:
    code = compile(f.read(), script, 'exec', dont_inherit=True)
  main = types.ModuleType('__main__')
  main.__dict__.update(
      __file__=script, __cached__=None, __package__=None, __spec__=None,
      __loader__=importlib.machinery.SourceFileLoader('__main__', script),
      __builtins__=builtins)
  sys.modules['__main__'] = main
  exec(code, main.__dict__)  # pylint: disable=exec-used


def run_script(path, args=()):
  """Runs the TF 1.x script `path` with `args`, as described in the docstring.

  Args:
    path: the script's file.
    args: its command-line arguments (its own flags).

  Returns:
    The exit status when the script ends without `SystemExit`: 0, 2 after
    the one-line report of a TF 1.x symbol not provided, 1 after another
    exception's traceback.

  Raises:
    runtime.UserInputError: `path` is not a file.
    SystemExit: raised by the script.
  """
  if not os.path.isfile(path):
    raise runtime.UserInputError(f'{path}: no such script file')
  importlib.import_module(_V1).use_tf1_behaviour()  # as TF 1.x's import
  runtime.configure_logging()  # one log format, no deprecation notices
  script = os.path.abspath(path)
  folder = os.path.dirname(script)
  package_root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  saved_argv, saved_path = sys.argv, list(sys.path)
  hook = ImportHook(folder, builtins.__import__)
  sys.argv = [path] + list(args)
  if sys.path:
    sys.path[0] = folder
  else:
    sys.path.append(folder)
  if package_root not in sys.path:
    sys.path.append(package_root)  # tf1cnn's lazy imports, from a checkout
  builtins.__import__ = hook
  saved_main = sys.modules.get('__main__')
  try:
    _exec_as_main(script)
  except _MISSING_ERRORS as e:
    frames = _script_frames(e.__traceback__, hook)
    if frames:
      frame, line = frames[-1]
      where = f'{_display(frame.f_code.co_filename)}:{line}'
    else:
      where = _display(script)
    sys.stdout.flush()
    sys.stderr.write(f'{where}: {e}\n')
    sys.stderr.flush()
    return 2
  except Exception as e:  # pylint: disable=broad-except
    sys.stdout.flush()
    traceback.print_exception(type(e), e,
                              _from_script_on(e.__traceback__, script))
    sys.stderr.flush()
    return 1
  finally:
    if saved_main is not None:
      sys.modules['__main__'] = saved_main
    builtins.__import__ = hook.original
    sys.argv = saved_argv
    sys.path[:] = saved_path
  return 0
