"""Makes `tf1cnn` importable from a checkout and quiets TensorFlow's C++ log.

Imported first by every script (before TensorFlow is loaded); it settles the
CPU kernel library and loads TensorFlow without its CPU-machine start-up
notices (`tf1cnn.startup.prepare`).
TF_CPP_MIN_LOG_LEVEL is only a default: set it to 0 to see everything.
`SHARED_DATA` is the checkout's test data: `$TF1CNN_SHARED_DATA`, default
`<checkout>/../shared/data`.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
SHARED_DATA = os.environ.get('TF1CNN_SHARED_DATA') or os.path.join(
    os.path.dirname(ROOT), 'shared', 'data')

# The CPU kernel library and TensorFlow's start-up notices are settled
# before any script imports TensorFlow (tf1cnn/startup.py).
from tf1cnn import startup  # pylint: disable=g-import-not-at-top,wrong-import-position

startup.prepare()
