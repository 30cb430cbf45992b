"""Makes `tf1cnn` importable from a checkout and quiets TensorFlow's C++ log.

Imported first by every script (before TensorFlow is loaded).
TF_CPP_MIN_LOG_LEVEL is only a default: set it to 0 to see everything.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
