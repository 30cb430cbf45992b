"""Model factory in the TF-Slim manner.

    network_fn = tf1cnn.models.get_network_fn('lenet5', num_classes=2,
                                              is_training=True,
                                              weight_decay=1e-4)
    logits, end_points = network_fn(images)
    network_fn.default_image_size, network_fn.default_channels

Every model lives in its own module of this package and registers its
builder with `@registry.register_model(name, ...)` (see
`tf1cnn.models.registry`); the builder has the signature
`builder(images, num_classes, is_training, weight_decay, scope=None,
**options)` and returns `(logits, end_points)`. The modules are imported on
the first look-up, so adding a model touches only its own file.
"""

import functools
import importlib
import inspect
import pkgutil

from tf1cnn.models import registry
from tf1cnn.models import user_model

_DISCOVERED = False


def _discover():
  """Imports every module of this package once (they register themselves)."""
  global _DISCOVERED
  if _DISCOVERED:
    return
  for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if (module.name not in ('registry', 'user_model')
        and not module.name.startswith('_')):
      importlib.import_module(f'{__name__}.{module.name}')
  _DISCOVERED = True


def list_models():
  """Returns the registered model names, sorted."""
  _discover()
  return sorted(registry.registered())


def get_builder(name):
  """Returns the raw builder of model `name` (raises KeyError listing names).

  `FILE.py:FUNCTION` and `package.module:FUNCTION` load a user's network
  function (`tf1cnn.models.user_model`).
  """
  if user_model.is_user_model(name):
    return user_model.load(name)
  _discover()
  networks = registry.registered()
  if name not in networks:
    raise KeyError(f'unknown model {name!r}; valid models: '
                   f'{", ".join(list_models())}')
  return networks[name]


def model_options(name):
  """Names of the keyword options model `name` takes besides the common ones."""
  parameters = inspect.signature(get_builder(name)).parameters
  common = {'images', 'num_classes', 'is_training', 'weight_decay', 'scope',
            'batch_size'}
  return [name for name, parameter in parameters.items()
          if name not in common
          and parameter.default is not inspect.Parameter.empty]


def supported_options(name, options):
  """Drops unset options a model does not take; rejects set ones.

  Generic flags such as `drop_rate` are passed to every model; a model
  without dropout ignores `drop_rate=0` but `drop_rate=0.5` is an error.

  Raises:
    ValueError: a non-default option the model does not take.
  """
  accepted = set(model_options(name))
  kept = {}
  for key, value in options.items():
    if key in accepted:
      kept[key] = value
    elif value:
      raise ValueError(f'model {name!r} has no option {key!r} (its options: '
                       f'{", ".join(sorted(accepted)) or "none"})')
  return kept


def get_network_fn(name, num_classes, is_training=False, weight_decay=0.0,
                   **kwargs):
  """Returns `fn(images) -> (logits, end_points)` for model `name`.

  Args:
    name: a name from `list_models()`.
    num_classes: number of output classes.
    is_training: Python bool or boolean tensor (batch norm, dropout).
    weight_decay: L2 coefficient for the weights.
    **kwargs: model-specific options (for example `drop_rate`).

  Raises:
    KeyError: unknown name; the message lists the valid ones.
    ValueError: an option the model does not take (see `supported_options`).
  """
  builder = get_builder(name)
  kwargs = supported_options(name, kwargs)

  @functools.wraps(builder)
  def network_fn(images, **call_kwargs):
    options = dict(kwargs)
    options.update(call_kwargs)
    return builder(images, num_classes=num_classes, is_training=is_training,
                   weight_decay=weight_decay, **options)

  network_fn.default_image_size = builder.default_image_size
  network_fn.default_channels = builder.default_channels
  network_fn.default_num_classes = builder.default_num_classes
  network_fn.default_preprocessing = builder.default_preprocessing
  network_fn.model_name = name
  return network_fn
