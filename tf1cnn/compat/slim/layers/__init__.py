"""Slim's `layers` package: layer functions, initializers, regularizers.

Mirrors `tf_slim.layers`: the layer functions of `layers.layers` (imported by
the Slim nets as `layers_lib`), the initializers and regularizers, and the
submodules `layers`, `initializers`, `regularizers` and `utils`.
"""

from tf1cnn.compat.slim.layers import initializers
from tf1cnn.compat.slim.layers import layers
from tf1cnn.compat.slim.layers import regularizers
from tf1cnn.compat.slim.layers import utils
# The public names of the three modules, each listed once in its `__all__`.
# pylint: disable=wildcard-import
from tf1cnn.compat.slim.layers.initializers import *
from tf1cnn.compat.slim.layers.layers import *
from tf1cnn.compat.slim.layers.regularizers import *
# pylint: enable=wildcard-import

__all__ = initializers.__all__ + layers.__all__ + regularizers.__all__
