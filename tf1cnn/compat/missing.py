"""The errors raised for TF 1.x features that tf1cnn's compatibility layer lacks.

`tf1cnn.compat.v1` forwards unknown names to `tensorflow.compat.v1` and adds
what TF 1.15 code used and TensorFlow 2.21 lost (`tf.layers`, `tf.contrib`).
A name found in neither place raises `NotProvidedError` at the attribute
access, naming the full TF 1.x symbol:

    import tf1cnn.compat.v1 as tf
    tf.contrib.learn  # NotProvidedError: tf.contrib.learn is not provided ...

`NotProvidedError` is an `AttributeError` (so `hasattr` and `getattr` with a
default keep working) and a `tf1cnn.runtime.UserInputError` (so a script run
through `runtime.run_main` reports it as one line).

`UnsupportedArgumentError` (a UserInputError and a ValueError) is raised for an
argument value the compatibility layer does not implement, such as
`tf.layers.batch_normalization(renorm=True)`.
"""

from tf1cnn import runtime


class NotProvidedError(runtime.UserInputError, AttributeError):
  """A TF 1.x symbol that neither TensorFlow 2.21 nor tf1cnn provides."""


class UnsupportedArgumentError(runtime.UserInputError, ValueError):
  """A TF 1.x argument value tf1cnn.compat does not implement (e.g. renorm)."""


def not_provided(symbol, hint=None):
  """Builds the NotProvidedError for a missing TF 1.x symbol.

  Args:
    symbol: the full TF 1.x name, e.g. 'tf.contrib.learn'.
    hint: optional extra sentence (what to use instead).

  Returns:
    A NotProvidedError to raise.
  """
  message = (f'{symbol} is not provided: TensorFlow 2.21 removed it and '
             'tf1cnn.compat does not implement it')
  if hint:
    message += f' ({hint})'
  return NotProvidedError(message)
