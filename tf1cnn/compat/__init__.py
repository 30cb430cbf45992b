"""Compatibility layers for TF 1.x code.

* `tf1cnn.compat.v1`: the TF 1.x drop-in (`import tf1cnn.compat.v1 as tf`);
  importing it switches the process to TF 1.x behaviour, as `import
  tensorflow` did in TF 1.x. Importing this package or its other modules
  changes nothing.
* `tf1cnn.compat.slim`: TF-Slim's layer API; `tf1cnn.compat.contrib`: the
  `tf.contrib` parts convolutional networks used; `tf1cnn.compat.tf_layers`:
  TF 1.15's `tf.layers`.
* `tf1cnn.compat.estimator`: `tf.estimator` of the drop-in.
* `tf1cnn.compat.runner`: runs an unmodified TF 1.x script (`tf1cnn-run`).
* `tf1cnn.compat.missing`: the errors for TF 1.x names nothing provides.
"""
