"""`slim.utils`: the helpers of `tf1cnn.compat.slim.layers.utils`.

`collect_named_outputs`, `convert_collection_to_dict`, `last_dimension`, ...
under the short path `tf1cnn.compat.slim.utils`.
"""

# pylint: disable=unused-import
from tf1cnn.compat.slim.layers.utils import append_tensor_alias
from tf1cnn.compat.slim.layers.utils import channel_dimension
from tf1cnn.compat.slim.layers.utils import collect_named_outputs
from tf1cnn.compat.slim.layers.utils import constant_value
from tf1cnn.compat.slim.layers.utils import convert_collection_to_dict
from tf1cnn.compat.slim.layers.utils import first_dimension
from tf1cnn.compat.slim.layers.utils import gather_tensors_aliases
from tf1cnn.compat.slim.layers.utils import get_tensor_aliases
from tf1cnn.compat.slim.layers.utils import get_variable_collections
from tf1cnn.compat.slim.layers.utils import last_dimension
from tf1cnn.compat.slim.layers.utils import n_positive_integers
from tf1cnn.compat.slim.layers.utils import smart_cond
from tf1cnn.compat.slim.layers.utils import static_cond
from tf1cnn.compat.slim.layers.utils import two_element_tuple
