"""Slim's `ops` modules: `arg_scope` and `variables` (as in tf_slim.ops)."""

from tf1cnn.compat.slim.ops import arg_scope
from tf1cnn.compat.slim.ops import variables
