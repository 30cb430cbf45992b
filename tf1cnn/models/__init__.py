"""Model factory in the TF-Slim manner.

    network_fn = tf1cnn.models.get_network_fn('lenet5', num_classes=2,
                                              is_training=True,
                                              weight_decay=1e-4)
    logits, end_points = network_fn(images)
    network_fn.default_image_size, network_fn.default_channels

Every model lives in its own module with a builder
`builder(images, num_classes, is_training, weight_decay, **kwargs)` that
returns `(logits, end_points)` and carries the attributes
`default_image_size`, `default_channels` and `default_num_classes`.
Register a new model by adding it to `_NETWORKS` below (see WORKSPACE.md).
"""

import functools
import inspect

from tf1cnn.models import bn_cnn
from tf1cnn.models import cifar_cnn
from tf1cnn.models import inception
from tf1cnn.models import lenet5
from tf1cnn.models import lenet5_bn

_NETWORKS = {
    'lenet5': lenet5.lenet5,
    'inception': inception.inception,
    'bn_cnn': bn_cnn.bn_cnn,
    'cifar_cnn': cifar_cnn.cifar_cnn,
    'lenet5_bn': lenet5_bn.lenet5_bn,
}


def list_models():
  """Returns the registered model names, in registration order."""
  return list(_NETWORKS)


def get_builder(name):
  """Returns the raw builder of model `name` (raises KeyError listing names)."""
  if name not in _NETWORKS:
    raise KeyError(f'unknown model {name!r}; valid models: '
                   f'{", ".join(list_models())}')
  return _NETWORKS[name]


def model_options(name):
  """Names of the keyword options model `name` takes besides the common ones."""
  parameters = inspect.signature(get_builder(name)).parameters
  common = {'images', 'num_classes', 'is_training', 'weight_decay', 'scope'}
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
  network_fn.default_num_classes = getattr(builder, 'default_num_classes',
                                           num_classes)
  network_fn.model_name = name
  return network_fn
