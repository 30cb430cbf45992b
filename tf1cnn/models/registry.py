"""The model registry: `@register_model` in a model's own module.

    @registry.register_model('lenet5', image_size=150, channels=3,
                             num_classes=2)
    def lenet5(images, num_classes=2, is_training=False, weight_decay=0.0,
               scope=None, drop_rate=0.0):
      ...
      return logits, end_points

The decorator records the builder under its name and sets the attributes the
factory and the run set-up read: `default_image_size`, `default_channels`,
`default_num_classes`, `default_preprocessing` (a name from
`tf1cnn.inputs.preprocess`) and `logits_scopes` (the variable scopes of the
classifier, for the default model scope: what a warm start onto other classes
leaves out by default, and what a last-layer fine-tune trains). `tf1cnn.models` imports every module of its
package on the first look-up, so adding a model touches only its own file.
"""

_NETWORKS = {}


def register_model(name, image_size, channels, num_classes,
                   preprocessing='standardize', min_image_size=None,
                   logits_scopes=()):
  """Decorator registering a builder `fn(images, num_classes, ...)`.

  `min_image_size` is the smallest input side the network makes sense at
  (`builder.min_image_size`; None: any size it builds at); the run set-up
  refuses a smaller `--image_size`. `logits_scopes` are the classifier's
  variable scopes (`builder.logits_scopes`).

  Raises:
    ValueError: the name is taken by another builder.
  """
  def _register(builder):
    if name in _NETWORKS and _NETWORKS[name] is not builder:
      raise ValueError(f'model name {name!r} is registered twice')
    builder.default_image_size = image_size
    builder.default_channels = channels
    builder.default_num_classes = num_classes
    builder.default_preprocessing = preprocessing
    builder.min_image_size = min_image_size
    builder.logits_scopes = tuple(logits_scopes)
    _NETWORKS[name] = builder
    return builder
  return _register


def registered():
  """`{name: builder}` of the models registered so far (a copy)."""
  return dict(_NETWORKS)
