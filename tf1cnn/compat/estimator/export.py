"""`tf.estimator.export`: serving inputs, export outputs and export folders.

* `ServingInputReceiver(features, receiver_tensors,
  receiver_tensors_alternatives=None)`: what the model_fn gets as features
  (a tensor becomes `{'feature': tensor}`) and what the SavedModel's
  signatures take as inputs (a tensor becomes `{'input': tensor}`);
* `TensorServingInputReceiver`: the same with a single feature tensor handed
  to the model_fn as it is;
* `build_raw_serving_input_receiver_fn(features, default_batch_size=None)`:
  placeholders shaped like the given tensors (batch dimension
  `default_batch_size`), fed straight to the model;
* `build_parsing_serving_input_receiver_fn(feature_spec,
  default_batch_size=None)`: one string placeholder `input_example_tensor`
  of serialized `tf.Example`s (input name `examples`), parsed with
  `feature_spec`;
* `PredictOutput`, `ClassificationOutput`, `RegressionOutput`,
  `ExportOutput`;
* export folders: `<base>/<unix seconds>/`, written under
  `<base>/temp-<unix seconds>/` and renamed when complete.
"""

import collections
import os
import time

from absl import logging
import tensorflow as tf

from tf1cnn.compat.estimator import errors
from tf1cnn.compat.estimator.export_output import ClassificationOutput
from tf1cnn.compat.estimator.export_output import ExportOutput
from tf1cnn.compat.estimator.export_output import PredictOutput
from tf1cnn.compat.estimator.export_output import RegressionOutput

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

__all__ = [
    'ServingInputReceiver', 'TensorServingInputReceiver',
    'build_raw_serving_input_receiver_fn',
    'build_parsing_serving_input_receiver_fn', 'ExportOutput',
    'PredictOutput', 'ClassificationOutput', 'RegressionOutput',
]

_V1 = tf.compat.v1
SINGLE_FEATURE_DEFAULT_NAME = 'feature'
SINGLE_RECEIVER_DEFAULT_NAME = 'input'
_MAX_DIRECTORY_ATTEMPTS = 10


def _is_tensor(x):
  return isinstance(x, (tf.Tensor, tf.SparseTensor, tf.RaggedTensor))


def _wrap_and_check(tensors, single_name, label):
  if tensors is None:
    raise _Error(f'{label}s must be defined.')
  if not isinstance(tensors, dict):
    tensors = {single_name: tensors}
  for name, tensor in tensors.items():
    if not isinstance(name, str):
      raise _Error(f'{label} keys must be strings: {name}.')
    if not _is_tensor(tensor):
      raise _Error(f'{label} {name} must be a Tensor, SparseTensor, or '
                   'RaggedTensor.')
  return dict(tensors)


def _check_alternatives(alternatives):
  if alternatives is None:
    return None
  if not isinstance(alternatives, dict):
    raise _Error(f'receiver_tensors_alternatives must be a dict: '
                 f'{alternatives}.')
  return {name: _wrap_and_check(tensors, SINGLE_RECEIVER_DEFAULT_NAME,
                                'receiver_tensors_alternative')
          for name, tensors in alternatives.items()}


class ServingInputReceiver(
    collections.namedtuple('ServingInputReceiver', [
        'features', 'receiver_tensors', 'receiver_tensors_alternatives'])):
  """The features a model_fn sees and the inputs a served model takes."""

  def __new__(cls, features, receiver_tensors,
              receiver_tensors_alternatives=None):
    features = _wrap_and_check(features, SINGLE_FEATURE_DEFAULT_NAME,
                               'feature')
    receiver_tensors = _wrap_and_check(
        receiver_tensors, SINGLE_RECEIVER_DEFAULT_NAME, 'receiver_tensor')
    return super(ServingInputReceiver, cls).__new__(
        cls, features=features, receiver_tensors=receiver_tensors,
        receiver_tensors_alternatives=_check_alternatives(
            receiver_tensors_alternatives))


class TensorServingInputReceiver(
    collections.namedtuple('TensorServingInputReceiver', [
        'features', 'receiver_tensors', 'receiver_tensors_alternatives'])):
  """A ServingInputReceiver whose features are one tensor, passed as is."""

  def __new__(cls, features, receiver_tensors,
              receiver_tensors_alternatives=None):
    if features is None:
      raise _Error('features must be defined.')
    if not _is_tensor(features):
      raise _Error('feature must be a Tensor, SparseTensor, or '
                   f'RaggedTensor: {features}')
    receiver = ServingInputReceiver(features, receiver_tensors,
                                    receiver_tensors_alternatives)
    return super(TensorServingInputReceiver, cls).__new__(
        cls, features=receiver.features[SINGLE_FEATURE_DEFAULT_NAME],
        receiver_tensors=receiver.receiver_tensors,
        receiver_tensors_alternatives=receiver.receiver_tensors_alternatives)


def build_raw_serving_input_receiver_fn(features, default_batch_size=None):
  """A serving_input_receiver_fn of placeholders shaped like `features`.

  Args:
    features: a dict name -> tensor (or one tensor: name 'feature'); only
      their dtypes and shapes are used.
    default_batch_size: the batch dimension of the placeholders (None: any).

  Returns:
    A function returning a ServingInputReceiver whose features and
    receiver tensors are the same placeholders.
  """
  single = not isinstance(features, dict)
  specs = {SINGLE_FEATURE_DEFAULT_NAME: features} if single else dict(features)

  def serving_input_receiver_fn():
    placeholders = {}
    for name, tensor in specs.items():
      shape = tensor.get_shape().as_list() if tensor.get_shape().rank else []
      if shape:
        shape[0] = default_batch_size
      op_name = getattr(getattr(tensor, 'op', None), 'name', None) or name
      placeholders[name] = _V1.placeholder(
          dtype=tensor.dtype, shape=shape if tensor.get_shape().rank is not
          None else None, name=op_name)
    if single:
      return TensorServingInputReceiver(
          placeholders[SINGLE_FEATURE_DEFAULT_NAME],
          placeholders[SINGLE_FEATURE_DEFAULT_NAME])
    return ServingInputReceiver(placeholders, placeholders)

  return serving_input_receiver_fn


def build_parsing_serving_input_receiver_fn(feature_spec,
                                            default_batch_size=None):
  """A serving_input_receiver_fn parsing serialized tf.Example protos.

  Args:
    feature_spec: dict name -> FixedLenFeature / VarLenFeature, as for
      `tf.io.parse_example`.
    default_batch_size: the length of the string input (None: any).

  Returns:
    A function returning a ServingInputReceiver with receiver tensor
    `examples`.
  """

  def serving_input_receiver_fn():
    serialized = _V1.placeholder(dtype=tf.string, shape=[default_batch_size],
                                 name='input_example_tensor')
    features = _V1.parse_example(serialized, feature_spec)
    return ServingInputReceiver(features, {'examples': serialized})

  return serving_input_receiver_fn


def get_timestamped_export_dir(export_dir_base):
  """`<export_dir_base>/<unix seconds>`, a name not taken yet.

  Raises:
    RuntimeError: every name tried for 10 seconds was taken.
  """
  for attempt in range(1, _MAX_DIRECTORY_ATTEMPTS + 1):
    result = os.path.join(os.fspath(export_dir_base), str(int(time.time())))
    if not tf.io.gfile.exists(result):
      return result
    time.sleep(1)
    logging.warning('Directory %s already exists; retrying (attempt %d/%d)',
                    result, attempt, _MAX_DIRECTORY_ATTEMPTS)
  raise RuntimeError('Failed to obtain a unique export directory name after '
                     f'{_MAX_DIRECTORY_ATTEMPTS} attempts.')


def get_temp_export_dir(timestamped_export_dir):
  """`<base>/temp-<unix seconds>`: the export is written there, then renamed."""
  head, tail = os.path.split(timestamped_export_dir)
  return os.path.join(head, 'temp-' + tail)


def build_all_signature_defs(receiver_tensors, export_outputs,
                             receiver_tensors_alternatives=None):
  """The SignatureDefs of every export output, for every receiver.

  Outputs that cannot take the receiver (a classify signature over a
  non-string input) are left out and logged, as TF 1.15 does.

  Returns:
    dict signature name -> SignatureDef (valid ones only).
  """
  if not isinstance(receiver_tensors, dict):
    receiver_tensors = {SINGLE_RECEIVER_DEFAULT_NAME: receiver_tensors}
  if not isinstance(export_outputs, dict):
    raise _Error(f'export_outputs must be a dict and not '
                 f'{type(export_outputs)}')
  signatures, excluded = {}, {}
  receivers = [(None, receiver_tensors)]
  for name, tensors in (receiver_tensors_alternatives or {}).items():
    if not isinstance(tensors, dict):
      tensors = {SINGLE_RECEIVER_DEFAULT_NAME: tensors}
    receivers.append((name, tensors))
  for receiver_name, tensors in receivers:
    for output_key, output in export_outputs.items():
      key = '{}'.format(output_key or 'None')
      if receiver_name is not None:
        key = '{}:{}'.format(receiver_name or 'None', key)
      try:
        signatures[key] = output.as_signature_def(tensors)
      except ValueError as e:
        excluded[key] = str(e)
  for key, reason in sorted(excluded.items()):
    logging.warning('Export: signature %s left out: %s', key, reason)
  logging.info('Signatures included in the export: %s', sorted(signatures))
  return {key: value for key, value in signatures.items()
          if _V1.saved_model.is_valid_signature(value)}
