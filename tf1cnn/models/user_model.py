"""Your own network function as a model: `--model=FILE.py:FUNCTION`.

    --model=path/to/my_net.py:inference       (a file)
    --model=my_package.nets:inference          (an importable module)

Two signatures are recognised by their parameter names:

* the factory's: `fn(images, num_classes, is_training[, weight_decay]
  [, other options with defaults])`;
* the classic tutorial's: `inference(images, batch_size, n_classes
  [, drop_rate | keep_prob])`. Such code often reshapes with the Python
  `batch_size` (`tf.reshape(x, [batch_size, -1])`), so the adapter gives it
  a fixed batch: a smaller batch (the last one of an evaluation, a few files
  to classify) is zero-padded to `batch_size` and the logits of the padding
  are dropped. `batch_size` is the batch the run feeds (training, evaluation)
  or `DEFAULT_BATCH_SIZE` where it varies (export, prediction).

The function may return the logits or `(logits, end_points)`. Optional
attributes on it (`fn.default_image_size`, `default_channels`,
`default_num_classes`, `default_preprocessing`) play the role of the
registry's; without them the image size comes from `--image_size` or the
dataset, and the channels from the dataset.

`describe(name)` gives what a run records in `run_config.json` (the name,
the absolute file and its SHA-256), so evaluation and export find the same
code again and warn when the file changed since training.
"""

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys

import tensorflow as tf

from tf1cnn import runtime

DEFAULT_BATCH_SIZE = 64
_FACTORY = ('images', 'num_classes', 'is_training')
_TUTORIAL = ('images', 'batch_size', 'n_classes')
_LOADED = {}


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


def _load_module(name, target):
  if _is_file(target):
    path = os.path.abspath(target)
    if not os.path.isfile(path):
      raise runtime.UserInputError(f'--model={name}: no file {path}')
    module_name = 'tf1cnn_user_model_' + hashlib.sha256(
        path.encode('utf-8')).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # The file's own folder first, so its sibling helpers import.
    sys.path.insert(0, os.path.dirname(path))
    try:
      spec.loader.exec_module(module)
    except runtime.UserInputError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      del sys.modules[module_name]
      raise runtime.UserInputError(
          f'--model={name}: importing {path} failed: {type(e).__name__}: '
          f'{e}') from None
    finally:
      sys.path.remove(os.path.dirname(path))
    return module
  try:
    return importlib.import_module(target)
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


def _unpack(result):
  if isinstance(result, (tuple, list)):
    logits = result[0]
    end_points = dict(result[1]) if len(result) > 1 and result[1] else {}
  else:
    logits, end_points = result, {}
  return logits, end_points


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


def _adapt(name, fn):
  """Wraps `fn` as a registry-style builder."""
  parameters = inspect.signature(fn).parameters
  names = list(parameters)
  if all(p in parameters for p in _FACTORY):
    kind = 'factory'
    option_names = [p for p, v in parameters.items()
                    if p not in _FACTORY and p != 'scope'
                    and v.default is not inspect.Parameter.empty]
  elif all(p in parameters for p in _TUTORIAL):
    kind = 'tutorial'
    option_names = [p for p in ('drop_rate', 'keep_prob') if p in parameters]
  else:
    raise runtime.UserInputError(
        f'--model={name}: {fn.__name__}({", ".join(names)}) is neither '
        'fn(images, num_classes, is_training, ...) nor '
        'inference(images, batch_size, n_classes[, drop_rate])')

  def builder(images, num_classes, is_training=False, weight_decay=0.0,
              scope=None, batch_size=None, **options):
    del scope
    unknown = set(options) - set(option_names)
    if unknown:
      raise ValueError(f'model {name!r} has no option '
                       f'{sorted(unknown)[0]!r} (its options: '
                       f'{", ".join(option_names) or "none"})')
    if kind == 'factory':
      if 'weight_decay' in parameters:
        options['weight_decay'] = weight_decay
      return _unpack(fn(images, num_classes=num_classes,
                        is_training=is_training, **options))
    # The tutorial signature: a fixed Python batch size.
    static = images.shape.as_list()[0]
    fixed = static or batch_size or DEFAULT_BATCH_SIZE
    padded, count = (images, None) if static else _pad_to(images, fixed)
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
    logits, end_points = _unpack(fn(padded, fixed, num_classes, **options))
    if count is not None:
      logits = logits[:count]
    return logits, end_points

  builder.__signature__ = inspect.Signature(
      [inspect.Parameter('images', inspect.Parameter.POSITIONAL_OR_KEYWORD)]
      + [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY,
                           default=parameters[p].default
                           if parameters[p].default is not
                           inspect.Parameter.empty else 0.0)
         for p in option_names])
  builder.__name__ = fn.__name__
  builder.__doc__ = fn.__doc__
  builder.default_image_size = getattr(fn, 'default_image_size', None)
  builder.default_channels = getattr(fn, 'default_channels', None)
  builder.default_num_classes = getattr(fn, 'default_num_classes', None)
  builder.default_preprocessing = getattr(fn, 'default_preprocessing',
                                          'standardize')
  builder.user_model_kind = kind
  return builder


def load(name):
  """The builder of user model `name` (loaded once per process).

  Raises:
    UserInputError: a bad name, a missing file or function, an import
      error, a signature that fits neither form.
  """
  if name in _LOADED:
    return _LOADED[name]
  target, function = _split(name)
  module = _load_module(name, target)
  fn = getattr(module, function, None)
  if not callable(fn):
    raise runtime.UserInputError(
        f'--model={name}: {target} has no function {function!r}')
  builder = _adapt(name, fn)
  _LOADED[name] = builder
  return builder
