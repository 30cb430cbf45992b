"""tf1cnn: TF1-style graph-mode convolutional image classifiers on TensorFlow 2.x.

Importing the package has no side effects: it does not switch TensorFlow into
graph mode. Entry points (the scripts and the tests) call
`tf1cnn.runtime.use_graph_mode()` once; library functions that build graphs
call `tf1cnn.runtime.require_graph_mode()` and fail with a clear message when
they are called eagerly.
"""

__version__ = "0.1.0"
