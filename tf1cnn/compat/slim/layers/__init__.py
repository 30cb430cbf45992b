"""Slim's `layers` package: layer functions, initializers, regularizers.

Mirrors `tf_slim.layers`: the layer functions of `layers.layers` (imported by
the Slim nets as `layers_lib`), the initializers and regularizers, and the
submodules `layers`, `initializers`, `regularizers` and `utils`.
"""

from tf1cnn.compat.slim.layers import initializers
from tf1cnn.compat.slim.layers import layers
from tf1cnn.compat.slim.layers import regularizers
from tf1cnn.compat.slim.layers import utils
from tf1cnn.compat.slim.layers.initializers import trunc_normal
from tf1cnn.compat.slim.layers.initializers import variance_scaling_initializer
from tf1cnn.compat.slim.layers.initializers import xavier_initializer
from tf1cnn.compat.slim.layers.initializers import xavier_initializer_conv2d
from tf1cnn.compat.slim.layers.layers import avg_pool2d
from tf1cnn.compat.slim.layers.layers import avg_pool3d
from tf1cnn.compat.slim.layers.layers import batch_norm
from tf1cnn.compat.slim.layers.layers import bias_add
from tf1cnn.compat.slim.layers.layers import conv1d
from tf1cnn.compat.slim.layers.layers import conv2d
from tf1cnn.compat.slim.layers.layers import conv2d_transpose
from tf1cnn.compat.slim.layers.layers import conv3d
from tf1cnn.compat.slim.layers.layers import convolution
from tf1cnn.compat.slim.layers.layers import convolution1d
from tf1cnn.compat.slim.layers.layers import convolution2d
from tf1cnn.compat.slim.layers.layers import convolution2d_transpose
from tf1cnn.compat.slim.layers.layers import convolution3d
from tf1cnn.compat.slim.layers.layers import dropout
from tf1cnn.compat.slim.layers.layers import elu
from tf1cnn.compat.slim.layers.layers import flatten
from tf1cnn.compat.slim.layers.layers import fully_connected
from tf1cnn.compat.slim.layers.layers import layer_norm
from tf1cnn.compat.slim.layers.layers import linear
from tf1cnn.compat.slim.layers.layers import max_pool2d
from tf1cnn.compat.slim.layers.layers import max_pool3d
from tf1cnn.compat.slim.layers.layers import one_hot_encoding
from tf1cnn.compat.slim.layers.layers import pool
from tf1cnn.compat.slim.layers.layers import relu
from tf1cnn.compat.slim.layers.layers import relu6
from tf1cnn.compat.slim.layers.layers import repeat
from tf1cnn.compat.slim.layers.layers import separable_conv2d
from tf1cnn.compat.slim.layers.layers import separable_convolution2d
from tf1cnn.compat.slim.layers.layers import softmax
from tf1cnn.compat.slim.layers.layers import stack
from tf1cnn.compat.slim.layers.regularizers import apply_regularization
from tf1cnn.compat.slim.layers.regularizers import l1_l2_regularizer
from tf1cnn.compat.slim.layers.regularizers import l1_regularizer
from tf1cnn.compat.slim.layers.regularizers import l2_regularizer
from tf1cnn.compat.slim.layers.regularizers import sum_regularizer
