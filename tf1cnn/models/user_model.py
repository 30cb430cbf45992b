"""Your own network function as a model: `--model=FILE.py:FUNCTION`.

    --model=path/to/my_net.py:inference       (a file)
    --model=my_package.nets:inference          (an importable module)

Three signatures are recognised by their parameters:

* the factory's: `fn(images, num_classes, is_training[, weight_decay]
  [, other options with defaults])`;
* the classic tutorial's: `inference(images, batch_size, n_classes
  [, drop_rate | keep_prob])`;
* images only: `inference(images[, options with defaults])`, the TF 1.x
  CIFAR-10 tutorial's form; the number of classes is the module's
  (`NUM_CLASSES`, or a `num_classes` attribute).

Code written for a fixed batch (`tf.reshape(x, [batch_size, -1])`,
`tf.reshape(x, [images.shape[0], -1])`, the tutorial's
`FLAGS.batch_size`) gets one: a smaller batch (the last one of an
evaluation, a few files to classify) is zero-padded to the fixed batch and
the logits of the padding are dropped. The fixed batch is the batch the run
feeds (training, evaluation) or `DEFAULT_BATCH_SIZE` where it varies
(export, prediction). A factory or images-only function is first tried on
a batch of unknown size (in a scratch graph) and padded only if it needs a
static one.

A Slim-style module's arg scope is applied around the function: the
module's `<function>_arg_scope()` (TF-Slim's nets_factory pairing,
`cifarnet` and `cifarnet_arg_scope`), another function of the module named
by the `arg_scope` option (`--model_arg_scope=NAME`), or none
(`--model_arg_scope=none`). It gets `weight_decay=--weight_decay` when it
takes `weight_decay` and the flag is set (its own default otherwise), and
`is_training` when it takes it.

The file and the modules of its folder are loaded as `tf1cnn-run` loads a
script's (`tf1cnn.compat.runner.tf1_imports`): `import tensorflow as tf`,
`tensorflow.contrib.*`, `tf_slim` (and `tf_slim.nets`) give TF 1.x's API from
`tf1cnn.compat`. While the function builds its graph, static shapes index
to `tf.Dimension`s as in TF 1.x (`x.get_shape()[1].value`); the rest of the
run keeps TensorFlow 2's.

A module's own `tf.app.flags` / absl flag definitions go to flag values of
its own, so names tf1cnn also defines (`data_dir`, `batch_size`) do not
clash; the module's `FLAGS` then reads those values. They hold the
module's defaults, the values that `set_module_flag_args` passes (the
programs give it the command-line and flagfile flags that the module
defines and tf1cnn does not), and, for a module flag `batch_size`, the
run's fixed batch.

The function may return the logits or `(logits, end_points)`. What it
returns is checked once, when the graph is built: float logits of shape
`[batch, num_classes]` and at least one trainable variable; anything else,
or an exception inside it (its traceback is logged), is a `UserInputError`
naming the function.

Optional attributes on the function or its module (`default_image_size`,
or the module's `IMAGE_SIZE`; `num_classes` / `default_num_classes`, or the
module's `NUM_CLASSES`; `default_channels`, `default_preprocessing`) play
the role of the registry's; without them the image size comes from
`--image_size` or the dataset, and the channels from the dataset.

`describe(name)` gives what a run records in `run_config.json` (the name,
the absolute file and its SHA-256), so evaluation and export find the same
code again and warn when the file changed since training.
"""

import collections.abc
import contextlib
import copy
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import threading
import traceback

import tensorflow as tf
from absl import flags as absl_flags
from absl import logging

from tf1cnn import runtime
from tf1cnn.compat import runner as compat_runner
from tf1cnn.models import estimator_model

DEFAULT_BATCH_SIZE = 64
NO_ARG_SCOPE = 'none'
_FACTORY = ('images', 'num_classes', 'is_training')
_TUTORIAL = ('images', 'batch_size', 'n_classes')
_LOADED = {}
_MODULES = {}
_FLAGS_LOCK = threading.Lock()
_V1 = tf.compat.v1


def is_user_model(name):
  """True for `FILE.py:FUNCTION` and `package.module:FUNCTION` names."""
  return ':' in (name or '')


def _split(name):
  target, _, function = name.rpartition(':')
  if not target or not function.isidentifier():
    raise runtime.UserInputError(
        f'--model={name}: expected path/to/file.py:function or '
        'package.module:function')
  return target, function


def _is_file(target):
  return target.endswith('.py') or os.sep in target or '/' in target


def _is_global_flags(value):
  """absl's global FLAGS, or a wrapper of it: TensorFlow's (`tf.app.flags`)
  or the TF1 drop-in's (`tf1cnn.compat.v1.app.flags.FLAGS`)."""
  if value is absl_flags.FLAGS:
    return True
  try:
    if type(value).__name__ == '_FlagsParsedOnFirstRead':
      return _is_global_flags(object.__getattribute__(value, '_flag_values'))
    return (type(value).__name__ == '_FlagValuesWrapper'
            and value.__dict__.get('__wrapped') is absl_flags.FLAGS)
  except Exception:  # pylint: disable=broad-except
    return False


@contextlib.contextmanager
def _own_flag_values():
  """Flags defined inside go to a FlagValues of their own (yielded).

  absl's define functions bind the global FLAGS as their default; its
  state is swapped for an empty one meanwhile and put back afterwards.
  """
  main = absl_flags.FLAGS
  own = absl_flags.FlagValues()
  # absl's logging reads its own flags while the module runs: copies of
  # them stand in (a module may redefine one), and leave afterwards.
  carried = {}
  for flag in main.flags_by_module_dict().get('absl.logging', []):
    stand_in = copy.deepcopy(flag)
    stand_in.allow_override = True
    carried[flag.name] = stand_in
    own[flag.name] = stand_in
  own.mark_as_parsed()
  with _FLAGS_LOCK:
    saved = dict(main.__dict__)
    main.__dict__.clear()
    main.__dict__.update(own.__dict__)
    try:
      yield own
    finally:
      defined = dict(main.__dict__)
      main.__dict__.clear()
      main.__dict__.update(saved)
      own.__dict__.clear()
      own.__dict__.update(defined)
      stand_ins = {id(flag) for flag in carried.values()}
      for name in list(own):
        if id(own[name]) in stand_ins:
          delattr(own, name)


def _redirect_flags(module, own):
  """Points the module's `FLAGS` (and the like) at its own flag values."""
  for key, value in list(vars(module).items()):
    if _is_global_flags(value):
      setattr(module, key, own)


@contextlib.contextmanager
def _tf1_shapes():
  """While the user's function builds, static shapes index as in TF 1.x.

  `x.get_shape()[1].value` (the TF 1.x CIFAR-10 tutorial's flatten) needs
  `tf.Dimension`s; TensorFlow 2 gives ints. The switch is TensorFlow's
  (`disable_v2_tensorshape`) and holds only while the function runs, so the
  rest of the run keeps TensorFlow 2's shapes; a process already in TF 1.x
  behaviour is left as it is.
  """
  v2_shapes = isinstance(tf.TensorShape([1])[0], int)
  if v2_shapes:
    tf.compat.v1.disable_v2_tensorshape()
  try:
    yield
  finally:
    if v2_shapes:
      tf.compat.v1.enable_v2_tensorshape()


def _exec_file(name, path):
  """Runs the file as a module with its flags defined apart."""
  module_name = 'tf1cnn_user_model_' + hashlib.sha256(
      path.encode('utf-8')).hexdigest()[:12]
  spec = importlib.util.spec_from_file_location(module_name, path)
  module = importlib.util.module_from_spec(spec)
  folder = os.path.dirname(path)
  before = set(sys.modules)
  sys.modules[module_name] = module
  # The file's own folder first, so its sibling helpers import.
  sys.path.insert(0, folder)
  try:
    with _own_flag_values() as own, compat_runner.tf1_imports(folder):
      spec.loader.exec_module(module)
  except runtime.UserInputError:
    sys.modules.pop(module_name, None)
    raise
  except BaseException as e:  # pylint: disable=broad-except
    sys.modules.pop(module_name, None)
    if isinstance(e, KeyboardInterrupt):
      raise
    raise runtime.UserInputError(
        f'--model={name}: importing {path} failed: {type(e).__name__}: '
        f'{_first_line(e)}') from None
  finally:
    sys.path.remove(folder)
  # The module and its sibling helpers read the flags they defined.
  for added in set(sys.modules) - before:
    other = sys.modules.get(added)
    origin = getattr(other, '__file__', None) or ''
    if other is module or os.path.dirname(os.path.abspath(origin)) == folder:
      _redirect_flags(other, own)
  own.mark_as_parsed()
  return module, own


def _load_module(name, target):
  """`(module, its own FlagValues or None)`."""
  if _is_file(target):
    path = os.path.abspath(target)
    if not os.path.isfile(path):
      raise runtime.UserInputError(f'--model={name}: no file {path}')
    return _exec_file(name, path)
  try:
    return importlib.import_module(target), None
  except ImportError as e:
    raise runtime.UserInputError(
        f'--model={name}: cannot import {target} ({e})') from None


def source_file(name):
  """The absolute file of a user model, or None for a package module."""
  target, _ = _split(name)
  if _is_file(target):
    return os.path.abspath(target)
  spec = importlib.util.find_spec(target)
  return os.path.abspath(spec.origin) if spec and spec.origin else None


def file_sha256(path):
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def describe(name):
  """`{model_file, model_sha256}` for `run_config.json`."""
  path = source_file(name)
  if not path or not os.path.isfile(path):
    return {}
  return dict(model_file=path, model_sha256=file_sha256(path))


def _first_line(error):
  text = str(error).strip()
  return text.splitlines()[0][:300] if text else '(no message)'


def module_flags(name):
  """The FlagValues a user model's module defined its own flags in.

  Loads the module (once). None for an importable package module.
  """
  load(name)
  return _MODULES[name][1]


def set_module_flag_args(name, args):
  """Parses `--flag=value` arguments into the module's own flags.

  Args:
    name: the `--model` value.
    args: arguments naming flags the module defines.

  Raises:
    UserInputError: a value the module's flag refuses, naming it.
  """
  own = module_flags(name)
  if own is None or not args:
    return
  own.unparse_flags()
  try:
    own([name] + list(args))
  except absl_flags.Error as e:
    own.mark_as_parsed()
    raise runtime.UserInputError(
        f'--model={name}: its own flags: {_first_line(e)}') from None


def _pad_to(images, batch_size):
  """Zero-pads a batch to `batch_size` rows (static); returns (padded, n)."""
  count = tf.shape(images)[0]
  check = tf.debugging.assert_less_equal(
      count, batch_size, message=f'a batch larger than the model\'s fixed '
      f'batch_size {batch_size}')
  with tf.control_dependencies([check]):
    padding = [[0, batch_size - count]] + [[0, 0]] * (images.shape.ndims - 1)
    padded = tf.pad(images, padding)
  padded.set_shape([batch_size] + images.shape.as_list()[1:])
  return padded, count


def _declared(fn, module, fn_names, module_names):
  for source, names in ((fn, fn_names), (module, module_names)):
    for attribute in names:
      value = getattr(source, attribute, None) if source is not None else None
      if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
  return None


def _arg_scope_applier(module):
  """The `arg_scope` of the Slim the module uses (tf1cnn's otherwise)."""
  candidates = [getattr(module, 'slim', None)]
  candidates += [v for v in vars(module).values() if inspect.ismodule(v)]
  for candidate in candidates:
    applier = getattr(candidate, 'arg_scope', None)
    if callable(applier):
      return applier
  from tf1cnn.compat import slim  # pylint: disable=g-import-not-at-top
  return slim.arg_scope


def _find_arg_scope(name, module, function, requested):
  """The arg-scope function to apply, or None.

  Raises:
    UserInputError: a named arg scope the module does not have.
  """
  if requested == NO_ARG_SCOPE or module is None:
    return None
  scope_name = requested or f'{function}_arg_scope'
  scope_fn = getattr(module, scope_name, None)
  if callable(scope_fn):
    return scope_fn
  if requested:
    raise runtime.UserInputError(
        f'--model_arg_scope={requested}: --model={name} has no function '
        f'{requested!r} (use a function of its module, or none)')
  return None


def _arg_scope_context(module, scope_fn, weight_decay, is_training):
  """Enters `scope_fn()`'s scope with the module's Slim."""
  if scope_fn is None:
    return contextlib.nullcontext()
  parameters = inspect.signature(scope_fn).parameters
  kwargs = {}
  if 'weight_decay' in parameters and weight_decay:
    kwargs['weight_decay'] = weight_decay
  if 'is_training' in parameters and isinstance(is_training, bool):
    kwargs['is_training'] = is_training
  scope = scope_fn(**kwargs)
  if not isinstance(scope, dict):
    raise runtime.UserInputError(
        f'{scope_fn.__name__}() returned {type(scope).__name__}, not an arg '
        'scope (with slim.arg_scope(...) as sc: return sc)')
  return _arg_scope_applier(module)(scope)


def _user_traceback(fn, error):
  """The traceback of `error` from the user's function on."""
  frames = traceback.extract_tb(error.__traceback__)
  try:
    source = os.path.abspath(inspect.getsourcefile(fn) or '')
  except TypeError:
    source = ''
  start = next((i for i, frame in enumerate(frames)
                if os.path.abspath(frame.filename) == source), 0)
  return ('Traceback (most recent call last):\n'
          + ''.join(traceback.format_list(frames[start:]))
          + ''.join(traceback.format_exception_only(type(error), error)))


def _describe_value(value):
  if isinstance(value, str):
    return f'the string {value[:40]!r}'
  if tf.is_tensor(value):
    return f'a {value.dtype.name} tensor of shape {value.shape}'
  return f'a {type(value).__name__}'


def _check_output(name, fn, result, images, num_classes):
  """`(logits, end_points)` of a user function, checked.

  Raises:
    UserInputError: naming the function, what it returned, what was
      expected.
  """
  what = f'--model={name}: {fn.__name__}()'
  expected = (f'expected float logits of shape [batch, {num_classes}], or '
              '(logits, end_points)')
  end_points = {}
  logits = result
  if isinstance(result, (tuple, list)):
    if not result:
      raise runtime.UserInputError(
          f'{what} returned an empty {type(result).__name__}; {expected}')
    logits = result[0]
    if len(result) > 1 and isinstance(result[1], collections.abc.Mapping):
      end_points = dict(result[1])
  if logits is None:
    raise runtime.UserInputError(f'{what} returned None; {expected}')
  if not tf.is_tensor(logits):
    raise runtime.UserInputError(
        f'{what} returned {_describe_value(logits)}; {expected}')
  logits = tf.convert_to_tensor(logits)
  if not logits.dtype.is_floating:
    raise runtime.UserInputError(
        f'{what} returned {logits.dtype.name} logits of shape '
        f'{logits.shape}; {expected}')
  if logits.shape.rank is not None:
    shape = logits.shape.as_list()
    batch = images.shape.as_list()[0]
    if (len(shape) != 2 or shape[1] not in (None, num_classes)
        or (batch is not None and shape[0] not in (None, batch))):
      got = [d if d is not None else 'None' for d in shape]
      raise runtime.UserInputError(
          f'{what} returned logits of shape {got} for a batch of '
          f'{batch if batch is not None else "N"} images and {num_classes} '
          f'classes; {expected}')
  logits.set_shape([None, num_classes])
  if not _V1.trainable_variables():
    raise runtime.UserInputError(
        f'{what} built no trainable variables (nothing to train); '
        f'{expected}, computed with trainable weights')
  return logits, end_points


def _adapt(name, fn, module=None, own_flags=None):
  """Wraps `fn` as a registry-style builder."""
  if estimator_model.is_model_fn(fn):  # (features, labels, mode[, ...])
    return estimator_model.adapt(name, fn)
  parameters = inspect.signature(fn).parameters
  names = list(parameters)
  required = [p for p, v in parameters.items()
              if v.default is inspect.Parameter.empty
              and v.kind in (inspect.Parameter.POSITIONAL_ONLY,
                             inspect.Parameter.POSITIONAL_OR_KEYWORD)]
  if all(p in parameters for p in _FACTORY):
    kind = 'factory'
    option_names = [p for p, v in parameters.items()
                    if p not in _FACTORY and p != 'scope'
                    and v.default is not inspect.Parameter.empty]
  elif all(p in parameters for p in _TUTORIAL):
    kind = 'tutorial'
    option_names = [p for p in ('drop_rate', 'keep_prob') if p in parameters]
  elif len(required) == 1:
    kind = 'images'
    option_names = [p for p, v in parameters.items()
                    if p not in ('scope', 'is_training', 'num_classes')
                    and v.default is not inspect.Parameter.empty]
  else:
    raise runtime.UserInputError(
        f'--model={name}: {fn.__name__}({", ".join(names)}) is neither '
        'fn(images, num_classes, is_training, ...) nor '
        'inference(images, batch_size, n_classes[, drop_rate]) nor '
        'inference(images)')
  flag_batch = own_flags is not None and 'batch_size' in own_flags
  probes = {}

  def call(images, fixed, num_classes, is_training, weight_decay, options):
    with _tf1_shapes():
      return call_function(images, fixed, num_classes, is_training,
                           weight_decay, options)

  def call_function(images, fixed, num_classes, is_training, weight_decay,
                    options):
    if kind == 'factory':
      if 'weight_decay' in parameters:
        options['weight_decay'] = weight_decay
      return fn(images, num_classes=num_classes, is_training=is_training,
                **options)
    if kind == 'images':
      if 'is_training' in parameters:
        options['is_training'] = is_training
      if 'num_classes' in parameters:
        options['num_classes'] = num_classes
      return fn(images, **options)
    if 'drop_rate' in parameters:
      rate = options.get('drop_rate', 0.0)
      options['drop_rate'] = tf.cond(
          tf.convert_to_tensor(is_training), lambda: tf.constant(rate),
          lambda: tf.constant(0.0)) if rate else 0.0
    if 'keep_prob' in parameters:
      keep = options.get('keep_prob', 1.0)
      options['keep_prob'] = tf.cond(
          tf.convert_to_tensor(is_training), lambda: tf.constant(keep),
          lambda: tf.constant(1.0)) if keep != 1.0 else 1.0
    return fn(images, fixed, num_classes, **options)

  def needs_static_batch(images, num_classes, weight_decay, scope_fn,
                         options):
    """Whether `fn` fails on a batch of unknown size (tried once)."""
    if kind == 'tutorial' or flag_batch:
      return True
    key = tuple(images.shape.as_list()[1:])
    if key not in probes:
      with tf.Graph().as_default():
        probe = _V1.placeholder(images.dtype, [None] + list(key))
        try:
          with _arg_scope_context(module, scope_fn, weight_decay, False):
            call(probe, None, num_classes, False, weight_decay,
                 dict(options))
          probes[key] = False
        except Exception:  # pylint: disable=broad-except
          probes[key] = True
    return probes[key]

  def builder(images, num_classes, is_training=False, weight_decay=0.0,
              scope=None, batch_size=None, arg_scope='', **options):
    del scope
    unknown = set(options) - set(option_names)
    if unknown:
      raise ValueError(f'model {name!r} has no option '
                       f'{sorted(unknown)[0]!r} (its options: '
                       f'{", ".join(option_names) or "none"})')
    scope_fn = _find_arg_scope(name, module, fn.__name__, arg_scope)
    static = images.shape.as_list()[0]
    fixed = static or batch_size or DEFAULT_BATCH_SIZE
    padded, count = images, None
    if not static and needs_static_batch(images, num_classes, weight_decay,
                                         scope_fn, options):
      padded, count = _pad_to(images, fixed)
    if flag_batch:
      own_flags.batch_size = padded.shape.as_list()[0]
    try:
      with _arg_scope_context(module, scope_fn, weight_decay, is_training):
        result = call(padded, fixed, num_classes, is_training, weight_decay,
                      dict(options))
    except runtime.UserInputError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      logging.error('%s', _user_traceback(fn, e))
      size = padded.shape.as_list()
      hint = ''
      message = str(e).lower()
      if 'shape' in message or 'dimension' in message:
        hint = (f' (built on images of shape {size}: if it expects another '
                f'size, set --image_size or {fn.__name__}.default_image_size)')
      raise runtime.UserInputError(
          f'--model={name}: {fn.__name__}() failed: {type(e).__name__}: '
          f'{_first_line(e)}{hint}') from None
    logits, end_points = _check_output(name, fn, result, padded, num_classes)
    if count is not None:
      logits = logits[:count]
    return logits, end_points

  builder.__signature__ = inspect.Signature(
      [inspect.Parameter('images', inspect.Parameter.POSITIONAL_OR_KEYWORD)]
      + [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY,
                           default=parameters[p].default
                           if parameters[p].default is not
                           inspect.Parameter.empty else 0.0)
         for p in option_names]
      + [inspect.Parameter('arg_scope', inspect.Parameter.KEYWORD_ONLY,
                           default='')])
  builder.__name__ = fn.__name__
  builder.__doc__ = fn.__doc__
  builder.default_image_size = _declared(
      fn, module, ('default_image_size',), ('default_image_size',
                                            'IMAGE_SIZE'))
  builder.default_channels = getattr(fn, 'default_channels', None)
  builder.default_num_classes = _declared(
      fn, module, ('num_classes', 'default_num_classes'),
      ('num_classes', 'default_num_classes', 'NUM_CLASSES'))
  builder.default_preprocessing = getattr(fn, 'default_preprocessing',
                                          'standardize')
  builder.user_model_kind = kind
  builder.user_function = fn.__name__
  return builder


def load(name):
  """The builder of user model `name` (loaded once per process).

  Raises:
    UserInputError: a bad name, a missing file or function, an import
      error, a signature that fits none of the forms.
  """
  if name in _LOADED:
    return _LOADED[name]
  target, function = _split(name)
  if name not in _MODULES:
    _MODULES[name] = _load_module(name, target)
  module, own = _MODULES[name]
  fn = getattr(module, function, None)
  if not callable(fn):
    raise runtime.UserInputError(
        f'--model={name}: {target} has no function {function!r}')
  builder = _adapt(name, fn, module, own)
  _LOADED[name] = builder
  return builder
