"""The outputs a SavedModel signature is built from (`tf.estimator.export`).

`PredictOutput` (any named tensors: a `predict` signature),
`ClassificationOutput` (float32 `scores` and/or string `classes`: a
`classify` signature) and `RegressionOutput` (a float32 `value`: a
`regress` signature). The classify and regress signatures take one string
tensor of serialized `tf.Example`s as input, as in TF 1.15; with other
receivers those signatures are left out of the export (logged).
"""

import abc

import tensorflow as tf

from tf1cnn.compat.estimator import errors

# A ValueError (as TF 1.15) that is also a runtime.UserInputError.
_Error = errors.EstimatorValueError

_V1 = tf.compat.v1


def _is_tensor(x):
  return isinstance(x, (tf.Tensor, tf.SparseTensor))


class ExportOutput(abc.ABC):
  """One output of an exported model: builds a SignatureDef."""

  @abc.abstractmethod
  def as_signature_def(self, receiver_tensors):
    """Returns the SignatureDef of this output for the given inputs."""

  @staticmethod
  def _wrap_and_check(outputs, single_name, label):
    if not isinstance(outputs, dict):
      outputs = {single_name: outputs}
    for key, value in outputs.items():
      if not isinstance(key, str):
        raise _Error(f'{label} output key must be a string; got {key}.')
      if not _is_tensor(value):
        raise _Error(f'{label} output value must be a Tensor; got '
                     f'{value}.')
    return dict(outputs)


def _single_string_input(receiver_tensors, label):
  if len(receiver_tensors) != 1:
    raise _Error(f'{label} input must be a single string Tensor; got '
                 f'{receiver_tensors}')
  (examples,) = receiver_tensors.values()
  if examples.dtype != tf.string:
    raise _Error(f'{label} input must be a single string Tensor; got '
                 f'{receiver_tensors}')
  return examples


class ClassificationOutput(ExportOutput):
  """Class scores and/or names, for a `classify` signature."""

  def __init__(self, scores=None, classes=None):
    if scores is not None and not (_is_tensor(scores) and
                                   scores.dtype == tf.float32):
      raise _Error('Classification scores must be a float32 Tensor; got '
                   f'{scores}')
    if classes is not None and not (_is_tensor(classes) and
                                    classes.dtype == tf.string):
      raise _Error('Classification classes must be a string Tensor; got '
                   f'{classes}')
    if scores is None and classes is None:
      raise _Error('At least one of scores and classes must be set.')
    self._scores = scores
    self._classes = classes

  @property
  def scores(self):
    return self._scores

  @property
  def classes(self):
    return self._classes

  def as_signature_def(self, receiver_tensors):
    examples = _single_string_input(receiver_tensors, 'Classification')
    return _V1.saved_model.classification_signature_def(
        examples, self.classes, self.scores)


class RegressionOutput(ExportOutput):
  """A float32 value per example, for a `regress` signature."""

  def __init__(self, value):
    if not (_is_tensor(value) and value.dtype == tf.float32):
      raise _Error(f'Regression output value must be a float32 Tensor; '
                   f'got {value}')
    self._value = value

  @property
  def value(self):
    return self._value

  def as_signature_def(self, receiver_tensors):
    examples = _single_string_input(receiver_tensors, 'Regression')
    return _V1.saved_model.regression_signature_def(examples, self.value)


class PredictOutput(ExportOutput):
  """Named output tensors for a `predict` signature (one tensor: 'output')."""

  def __init__(self, outputs):
    self._outputs = self._wrap_and_check(outputs, 'output', 'Prediction')

  @property
  def outputs(self):
    return self._outputs

  def as_signature_def(self, receiver_tensors):
    return _V1.saved_model.predict_signature_def(receiver_tensors,
                                                 self.outputs)
