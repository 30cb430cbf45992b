"""The error of a misused Estimator API: a ValueError, as TF 1.15 raises.

`EstimatorValueError` is both a `ValueError` (what TF 1.15 code catches)
and a `tf1cnn.runtime.UserInputError` (a program run through
`runtime.run_main` reports it as one line and exits 2).
"""

from tf1cnn import runtime


class EstimatorValueError(runtime.UserInputError, ValueError):
  """A bad argument, config, TF_CONFIG, spec or input the user can fix."""
