"""`tf.estimator.ModeKeys` and `tf.estimator.EstimatorSpec` (TF 1.15 rules).

A model_fn returns an `EstimatorSpec`; the checks here are those of TF 1.15:
TRAIN needs `loss` and `train_op`, EVAL needs `loss`, PREDICT needs
`predictions`; `loss` must be a scalar (a one-element tensor is reshaped);
`eval_metric_ops` values are `(value, update_op)` pairs; hooks are
`SessionRunHook`s; every tensor comes from the default graph. In PREDICT
mode `export_outputs` default to a `PredictOutput` of the predictions under
`serving_default`, and a single export output is also made the default.
"""

import collections

import tensorflow as tf

from tf1cnn.compat.estimator import errors
from tf1cnn.compat.estimator import export_output as export_output_lib

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

_V1 = tf.compat.v1
DEFAULT_SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
LOSS_METRIC_KEY = 'loss'
AVERAGE_LOSS_METRIC_KEY = 'average_loss'


class ModeKeys(object):
  """The three modes a model_fn is called in."""
  TRAIN = 'train'
  EVAL = 'eval'
  PREDICT = 'infer'


_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)


def _is_tensor(x):
  return isinstance(x, (tf.Tensor, tf.SparseTensor, tf.Variable))


def _check_tensor(x, name):
  if isinstance(x, tf.Variable):
    x = tf.convert_to_tensor(x)
  if not _is_tensor(x):
    raise TypeError(f'{name} must be Tensor, given: {x}')
  return x


def _check_tensor_or_op(x, name):
  if isinstance(x, tf.Operation):
    return x
  if isinstance(x, tf.Variable):
    return tf.convert_to_tensor(x)
  if not isinstance(x, (tf.Tensor, tf.SparseTensor)):
    raise TypeError(f'{name} must be Operation or Tensor, given: {x}')
  return x


def _check_graph(x, name):
  graph = _V1.get_default_graph()
  items = x.values() if isinstance(x, dict) else [x]
  for item in items:
    item_graph = getattr(item, 'graph', None)
    if item_graph is not None and item_graph is not graph:
      raise _Error(
          f'{name} with "{item}" must be from the default graph: create it '
          'inside model_fn, in the call that returns this EstimatorSpec.')


def _check_hooks(hooks, name):
  hooks = tuple(hooks or ())
  for hook in hooks:
    if not isinstance(hook, _V1.train.SessionRunHook):
      raise TypeError(f'All hooks must be SessionRunHook instances, given: '
                      f'{hook} (in {name})')
  return hooks


def default_export_outputs(export_outputs, predictions):
  """The export outputs of a PREDICT spec, with `serving_default` filled in.

  Args:
    export_outputs: None or a dict of name -> ExportOutput.
    predictions: the spec's predictions (a tensor or a dict of tensors).

  Returns:
    A dict that has a `serving_default` entry.

  Raises:
    TypeError: export_outputs is not a dict of ExportOutput.
    ValueError: several outputs and none named `serving_default`.
  """
  if export_outputs is None:
    return {DEFAULT_SERVING_KEY: export_output_lib.PredictOutput(predictions)}
  if not isinstance(export_outputs, dict):
    raise TypeError(f'export_outputs must be dict, given: {export_outputs}')
  for value in export_outputs.values():
    if not isinstance(value, export_output_lib.ExportOutput):
      raise TypeError('Values in export_outputs must be ExportOutput '
                      f'objects. Given: {export_outputs}')
  export_outputs = dict(export_outputs)
  if len(export_outputs) == 1:
    (value,) = export_outputs.values()
    export_outputs.setdefault(DEFAULT_SERVING_KEY, value)
  elif DEFAULT_SERVING_KEY not in export_outputs:
    raise _Error('Multiple export_outputs were provided, but none of '
                 'them is specified as the default. Do this by naming '
                 'one of them with signature_constants.'
                 'DEFAULT_SERVING_SIGNATURE_DEF_KEY.')
  return export_outputs


class EstimatorSpec(
    collections.namedtuple('EstimatorSpec', [
        'mode', 'predictions', 'loss', 'train_op', 'eval_metric_ops',
        'export_outputs', 'training_chief_hooks', 'training_hooks',
        'scaffold', 'evaluation_hooks', 'prediction_hooks'
    ])):
  """What a model_fn returns: the ops of one mode, checked as TF 1.15 does."""

  def __new__(cls,
              mode,
              predictions=None,
              loss=None,
              train_op=None,
              eval_metric_ops=None,
              export_outputs=None,
              training_chief_hooks=None,
              training_hooks=None,
              scaffold=None,
              evaluation_hooks=None,
              prediction_hooks=None):
    """Checks and makes the spec.

    Args:
      mode: a `ModeKeys` value.
      predictions: a tensor or a dict of tensors (required in PREDICT).
      loss: a scalar tensor (required in TRAIN and EVAL).
      train_op: the op of one training step (required in TRAIN).
      eval_metric_ops: dict name -> (value_op, update_op).
      export_outputs: dict name -> ExportOutput (PREDICT and export).
      training_chief_hooks: hooks run on the chief only.
      training_hooks: hooks run on every worker.
      scaffold: a `tf.compat.v1.train.Scaffold` (saver, init ops).
      evaluation_hooks: hooks of evaluate.
      prediction_hooks: hooks of predict.

    Returns:
      The EstimatorSpec.

    Raises:
      ValueError, TypeError: as TF 1.15 for missing or malformed parts.
    """
    if mode not in _MODES:
      raise _Error(f'mode={mode!r} unrecognized: expected one of '
                   f'{list(_MODES)}.')
    if predictions is None:
      if mode == ModeKeys.PREDICT:
        raise _Error('Missing predictions.')
      predictions = {}
    elif isinstance(predictions, dict):
      predictions = {k: _check_tensor(v, f'predictions[{k}]')
                     for k, v in predictions.items()}
    else:
      predictions = _check_tensor(predictions, 'predictions')
    _check_graph(predictions, 'predictions')

    if loss is None:
      if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
        raise _Error('Missing loss.')
    else:
      loss = _check_tensor(loss, 'loss')
      shape = loss.get_shape()
      if shape.num_elements() not in (None, 1):
        raise _Error(f'Loss must be scalar, given: {loss}')
      if not shape.is_compatible_with(tf.TensorShape([])):
        loss = tf.reshape(loss, [])
      _check_graph(loss, 'loss')

    if train_op is None:
      if mode == ModeKeys.TRAIN:
        raise _Error('Missing train_op.')
    else:
      train_op = _check_tensor_or_op(train_op, 'train_op')
      _check_graph(train_op, 'train_op')

    if eval_metric_ops is None:
      eval_metric_ops = {}
    else:
      if not isinstance(eval_metric_ops, dict):
        raise TypeError(f'eval_metric_ops must be a dict, given: '
                        f'{eval_metric_ops}')
      checked = {}
      for key, value in eval_metric_ops.items():
        if not isinstance(value, tuple) or len(value) != 2:
          raise TypeError('Values of eval_metric_ops must be (metric_value, '
                          f'update_op) tuples, given: {value} for key: {key}')
        pair = tuple(_check_tensor_or_op(member, f'eval_metric_ops[{key}]')
                     for member in value)
        for member in pair:
          _check_graph(member, f'eval_metric_ops[{key}]')
        checked[key] = pair
      eval_metric_ops = checked

    if mode == ModeKeys.PREDICT:
      export_outputs = default_export_outputs(export_outputs, predictions)
    elif export_outputs is not None:
      export_outputs = default_export_outputs(export_outputs, predictions)

    training_chief_hooks = _check_hooks(training_chief_hooks,
                                        'training_chief_hooks')
    training_hooks = _check_hooks(training_hooks, 'training_hooks')
    evaluation_hooks = _check_hooks(evaluation_hooks, 'evaluation_hooks')
    prediction_hooks = _check_hooks(prediction_hooks, 'prediction_hooks')

    scaffold = scaffold or _V1.train.Scaffold()
    if not isinstance(scaffold, _V1.train.Scaffold):
      raise TypeError(f'scaffold must be tf.train.Scaffold. Given: '
                      f'{scaffold}')

    return super(EstimatorSpec, cls).__new__(
        cls,
        mode=mode,
        predictions=predictions,
        loss=loss,
        train_op=train_op,
        eval_metric_ops=eval_metric_ops,
        export_outputs=export_outputs,
        training_chief_hooks=training_chief_hooks,
        training_hooks=training_hooks,
        scaffold=scaffold,
        evaluation_hooks=evaluation_hooks,
        prediction_hooks=prediction_hooks)

  def _replace(self, **kwds):
    """Returns a copy with fields replaced, checked again."""
    if 'mode' in kwds and self.mode != kwds['mode']:
      raise _Error('mode of EstimatorSpec cannot be changed.')
    new_fields = map(kwds.pop, self._fields, list(self))
    return EstimatorSpec(*new_fields)
