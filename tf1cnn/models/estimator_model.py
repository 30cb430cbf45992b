"""An Estimator `model_fn` as a tf1cnn network: `--model=FILE.py:model_fn`.

A function whose parameters are `(features, labels, mode[, params]
[, config])` (by name, as `tf.estimator.Estimator` reads them) is taken for
a `model_fn`. tf1cnn's training, evaluation and export call networks as
`fn(images, num_classes, is_training) -> logits`; this adapter calls the
model_fn with `features=images` and

* `is_training=True`: mode `'train'` and placeholder labels (zeros, int32),
  so that a model_fn that builds its loss and train op in TRAIN mode still
  builds; tf1cnn trains with its own loss and optimizer and never runs the
  model_fn's train op (variables that op creates, such as an optimizer's
  slots, are initialised and saved with the rest). The losses and
  summaries the model_fn adds to the graph's `LOSSES` and `SUMMARIES`
  collections are dropped (its loss is on placeholder labels); its
  regularisation losses and `UPDATE_OPS` stay, as the network's;
* `is_training=False`: mode `'infer'` (PREDICT; no labels, no loss), which
  builds the same network as EVAL without the metrics. A model_fn that
  fails or gives no predictions in PREDICT mode (tried once in a scratch
  graph) is called in mode `'eval'` with placeholder labels instead.

The logits come from the returned `EstimatorSpec`'s `predictions`: the
tensor itself, or the dict entry `logits` (also `logit`, `scores`); without
one, `probabilities` (also `probs`, `softmax`) as log-probabilities, which
give the same classes, accuracy and softmax. The choice is logged once per
model. A model_fn whose predictions hold only `classes` is refused
(`UserInputError` naming the function).

`params` is a copy of the function's optional `params` attribute (a dict)
with `num_classes` and `n_classes` added when absent; `config` is None.
"""

import contextlib
import inspect

import tensorflow as tf
from absl import logging

from tf1cnn import runtime

TRAIN, EVAL, PREDICT = 'train', 'eval', 'infer'
_REQUIRED = ('features', 'labels', 'mode')
_OPTIONAL = ('params', 'config')
_LOGIT_KEYS = ('logits', 'logit', 'scores')
_PROBABILITY_KEYS = ('probabilities', 'probs', 'softmax')
_LOGGED = set()


def is_model_fn(fn):
  """True when `fn`'s parameters are an Estimator model_fn's."""
  try:
    parameters = list(inspect.signature(fn).parameters)
  except (TypeError, ValueError):
    return False
  if parameters[:1] == ['self']:
    parameters = parameters[1:]
  return (all(p in parameters for p in _REQUIRED)
          and set(parameters) <= set(_REQUIRED + _OPTIONAL))


def _predictions(spec):
  predictions = getattr(spec, 'predictions', None)
  if predictions is None and isinstance(spec, dict):
    predictions = spec.get('predictions')
  if isinstance(predictions, dict) and not predictions:
    return None
  return predictions


def _logits_from(name, predictions, num_classes):
  """`(logits, description)` from a model_fn's predictions."""
  if isinstance(predictions, dict):
    for key in _LOGIT_KEYS:
      if key in predictions:
        return (tf.cast(predictions[key], tf.float32),
                f"predictions['{key}']")
    for key in _PROBABILITY_KEYS:
      if key in predictions:
        probabilities = tf.cast(predictions[key], tf.float32)
        return (tf.math.log(tf.maximum(probabilities, 1e-30)),
                f"the log of predictions['{key}']")
    raise runtime.UserInputError(
        f'--model={name}: its predictions ({", ".join(sorted(predictions))}) '
        f'hold no logits ({"/".join(_LOGIT_KEYS)}) or probabilities '
        f'({"/".join(_PROBABILITY_KEYS)}); return one of them in '
        'EstimatorSpec(predictions={...})')
  tensor = tf.convert_to_tensor(predictions)
  if (not tensor.dtype.is_floating or tensor.shape.ndims != 2
      or tensor.shape[-1] not in (None, num_classes)):
    raise runtime.UserInputError(
        f'--model={name}: its predictions tensor {tensor.shape} '
        f'{tensor.dtype.name} is not [batch, {num_classes}] logits; return '
        "EstimatorSpec(predictions={'logits': ...})")
  return tf.cast(tensor, tf.float32), 'the predictions tensor'


@contextlib.contextmanager
def _own_losses_and_summaries():
  """Drops the losses and summaries the model_fn adds to the graph.

  Its loss on placeholder labels would otherwise join tf1cnn's total loss
  (the `LOSSES` collection) and its summaries tf1cnn's. Regularisation
  losses and `UPDATE_OPS` stay: they belong to the network.
  """
  graph = tf.compat.v1.get_default_graph()
  keys = (tf.compat.v1.GraphKeys.LOSSES, tf.compat.v1.GraphKeys.SUMMARIES)
  saved = {key: list(graph.get_collection(key)) for key in keys}
  try:
    yield
  finally:
    for key, items in saved.items():
      graph.get_collection_ref(key)[:] = items


def adapt(name, fn):
  """Wraps model_fn `fn` as a registry-style builder (see the module)."""
  parameters = inspect.signature(fn).parameters

  def call(images, num_classes, mode, labels):
    kwargs = dict(features=images, labels=labels, mode=mode)
    if 'params' in parameters:
      params = dict(getattr(fn, 'params', None) or {})
      params.setdefault('num_classes', num_classes)
      params.setdefault('n_classes', num_classes)
      kwargs['params'] = params
    if 'config' in parameters:
      kwargs['config'] = None
    return fn(**kwargs)

  def placeholder_labels(images):
    return tf.zeros(tf.shape(images)[:1], tf.int32, name='model_fn_labels')

  eval_modes = {}

  def eval_mode(images, num_classes):
    """PREDICT when the model_fn gives predictions there, else EVAL.

    Tried once in a scratch graph, so the real graph holds one network.
    """
    if num_classes not in eval_modes:
      mode = EVAL
      with tf.Graph().as_default():
        probe = tf.compat.v1.placeholder(images.dtype, images.shape)
        try:
          if _predictions(call(probe, num_classes, PREDICT, None)) is not None:
            mode = PREDICT
        except Exception as e:  # pylint: disable=broad-except
          if isinstance(e, runtime.UserInputError):
            raise
          logging.info('--model=%s: the model_fn fails in PREDICT mode '
                       '(%s: %s); evaluating in EVAL mode', name,
                       type(e).__name__, str(e).splitlines()[0][:200]
                       if str(e) else '')
      eval_modes[num_classes] = mode
    return eval_modes[num_classes]

  def builder(images, num_classes, is_training=False, weight_decay=0.0,
              scope=None, batch_size=None, **options):
    del weight_decay, scope, batch_size
    if options:
      raise ValueError(f'model {name!r} has no option '
                       f'{sorted(options)[0]!r} (its options: none)')
    if not isinstance(is_training, bool):
      raise ValueError(f'model {name!r} (an Estimator model_fn) needs a '
                       'Python bool is_training')
    if is_training:
      mode = TRAIN
      labels = placeholder_labels(images)
    else:
      mode = eval_mode(images, num_classes)
      labels = None if mode == PREDICT else placeholder_labels(images)
    with _own_losses_and_summaries():
      predictions = _predictions(call(images, num_classes, mode, labels))
    if predictions is None:
      raise runtime.UserInputError(
          f'--model={name}: the model_fn returned no predictions in mode '
          f'{mode!r}; set EstimatorSpec(predictions={{"logits": ...}})')
    logits, used = _logits_from(name, predictions, num_classes)
    if (name, used) not in _LOGGED:
      _LOGGED.add((name, used))
      logging.info('--model=%s: an Estimator model_fn; logits from %s '
                   '(mode %s%s)', name, used, mode,
                   '; its own loss and train op are not run'
                   if mode == TRAIN else '')
    return logits, {'Logits': logits}

  builder.__signature__ = inspect.Signature(
      [inspect.Parameter('images', inspect.Parameter.POSITIONAL_OR_KEYWORD)])
  builder.__name__ = fn.__name__
  builder.__doc__ = fn.__doc__
  builder.default_image_size = getattr(fn, 'default_image_size', None)
  builder.default_channels = getattr(fn, 'default_channels', None)
  builder.default_num_classes = getattr(fn, 'default_num_classes', None)
  builder.default_preprocessing = getattr(fn, 'default_preprocessing',
                                          'standardize')
  builder.user_model_kind = 'model_fn'
  return builder
