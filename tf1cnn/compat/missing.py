"""The errors raised for TF 1.x features that tf1cnn's compatibility layer lacks.

`tf1cnn.compat.v1` forwards unknown names to `tensorflow.compat.v1` and adds
what TF 1.15 code used and TensorFlow 2.21 lost (`tf.layers`, `tf.contrib`).
A name found in neither place raises `NotProvidedError` at the attribute
access, naming the full TF 1.x symbol:

    import tf1cnn.compat.v1 as tf
    tf.contrib.learn  # NotProvidedError: tf.contrib.learn is not provided ...

Two cases are told apart (`not_provided`): a name TF 1.15 had (TensorFlow
2.21 removed it, tf1cnn does not implement it) and a name TF 1.x never had
in that namespace, most likely a misspelling, for which the closest real
names are suggested (`tf.layres` -> "did you mean tf.layers?"). The names
TF 1.15 had are known for `tf.`, `tf.layers.`, `tf.contrib.`,
`tf.contrib.layers.`, `tf.contrib.framework.`, `tf.estimator.` and
`slim.`; elsewhere a missing name is reported as not provided, without
suggestions.

`NotProvidedError` is an `AttributeError` (so `hasattr` and `getattr` with a
default keep working) and a `tf1cnn.runtime.UserInputError` (so a script run
through `runtime.run_main` or `tf1cnn-run` reports it as one line).

`UnsupportedArgumentError` (a UserInputError and a ValueError) is raised for an
argument value the compatibility layer does not implement, such as
`tf.layers.batch_normalization(renorm=True)`.
"""

import difflib

from tf1cnn import runtime


class NotProvidedError(runtime.UserInputError, AttributeError):
  """A TF 1.x symbol that neither TensorFlow 2.21 nor tf1cnn provides."""


class UnsupportedArgumentError(runtime.UserInputError, ValueError):
  """A TF 1.x argument value tf1cnn.compat does not implement (e.g. renorm)."""


# TF 1.15 top-level names that tensorflow.compat.v1 of TensorFlow 2.21 lacks;
# the rest of TF 1.15's `tf.` namespace is dir(tensorflow.compat.v1).
_TF1_TOP_LEVEL_REMOVED = ('contrib', 'estimator', 'pywrap_tensorflow')

_TF1_LAYERS = (
    'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D',
    'BatchNormalization', 'Conv1D', 'Conv2D', 'Conv2DTranspose', 'Conv3D',
    'Conv3DTranspose', 'Dense', 'Dropout', 'Flatten', 'InputSpec', 'Layer',
    'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'SeparableConv1D',
    'SeparableConv2D', 'average_pooling1d', 'average_pooling2d',
    'average_pooling3d', 'batch_normalization', 'conv1d', 'conv2d',
    'conv2d_transpose', 'conv3d', 'conv3d_transpose', 'dense', 'dropout',
    'experimental', 'flatten', 'max_pooling1d', 'max_pooling2d',
    'max_pooling3d', 'separable_conv1d', 'separable_conv2d')

_TF1_CONTRIB = (
    'all_reduce', 'autograph', 'batching', 'bayesflow', 'bigtable',
    'boosted_trees', 'checkpoint', 'cloud', 'cluster_resolver', 'coder',
    'compiler', 'constrained_optimization', 'copy_graph', 'crf', 'cudnn_rnn',
    'data', 'deprecated', 'distribute', 'distributions', 'eager', 'estimator',
    'factorization', 'feature_column', 'ffmpeg', 'framework', 'gan',
    'graph_editor', 'grid_rnn', 'image', 'input_pipeline', 'integrate',
    'keras', 'kernel_methods', 'labeled_tensor', 'layers', 'learn',
    'legacy_seq2seq', 'linalg', 'linear_optimizer', 'lookup', 'losses',
    'memory_stats', 'metrics', 'mixed_precision', 'model_pruning', 'nccl',
    'nn', 'opt', 'optimizer_v2', 'periodic_resample', 'predictor', 'proto',
    'quantization', 'quantize', 'rate', 'receptive_field', 'recurrent',
    'reduce_slice_ops', 'remote_fused_graph', 'resampler', 'rnn', 'rpc',
    'saved_model', 'seq2seq', 'signal', 'slim', 'solvers', 'sparsemax',
    'specs', 'staging', 'stat_summarizer', 'stateless', 'summary',
    'tensor_forest', 'tensorboard', 'tensorrt', 'testing', 'text', 'tfprof',
    'timeseries', 'tpu', 'training', 'util')

_TF1_CONTRIB_FRAMEWORK = (
    'VariableDeviceChooser', 'add_arg_scope', 'add_model_variable',
    'arg_scope', 'arg_scoped_arguments', 'assert_global_step',
    'assert_or_get_global_step', 'assert_same_float_dtype', 'assert_scalar',
    'assert_scalar_int', 'assign_from_checkpoint', 'assign_from_checkpoint_fn',
    'assign_from_values', 'assign_from_values_fn',
    'convert_to_tensor_or_sparse_tensor', 'create_global_step',
    'current_arg_scope', 'deprecated', 'deprecated_arg_values',
    'deprecated_args', 'filter_variables', 'get_global_step',
    'get_graph_from_inputs', 'get_local_variables', 'get_model_variables',
    'get_name_scope', 'get_or_create_global_step', 'get_trainable_variables',
    'get_unique_variable', 'get_variable_full_name', 'get_variables',
    'get_variables_by_name', 'get_variables_by_suffix',
    'get_variables_to_restore', 'global_variable', 'has_arg_scope',
    'init_from_checkpoint', 'is_tensor', 'list_variables', 'load_checkpoint',
    'load_embedding_initializer', 'load_variable', 'local_variable',
    'model_variable', 'nest', 'prepend_name_scope', 'reduce_sum_n',
    'remove_squeezable_dimensions', 'strip_name_scope', 'variable',
    'with_same_shape', 'with_shape', 'zero_initializer')

_TF1_CONTRIB_LAYERS = (
    'apply_regularization', 'avg_pool2d', 'avg_pool3d', 'batch_norm',
    'bias_add', 'bucketized_column', 'conv1d', 'conv2d', 'conv2d_in_plane',
    'conv2d_transpose', 'conv3d', 'conv3d_transpose', 'convolution',
    'convolution1d', 'convolution2d', 'convolution2d_in_plane',
    'convolution2d_transpose', 'convolution3d', 'convolution3d_transpose',
    'create_feature_spec_for_parsing', 'crossed_column', 'dense_to_sparse',
    'dropout', 'elu', 'embed_sequence', 'embedding_column',
    'embedding_lookup_unique', 'feature_column', 'flatten', 'fully_connected',
    'gdn', 'group_norm', 'images_to_sequence', 'infer_real_valued_columns',
    'initializers', 'input_from_feature_columns', 'instance_norm',
    'l1_l2_regularizer', 'l1_regularizer', 'l2_regularizer', 'layer_norm',
    'legacy_fully_connected', 'legacy_linear', 'legacy_relu', 'linear',
    'max_pool2d', 'max_pool3d', 'maxout', 'one_hot_column',
    'one_hot_encoding', 'optimize_loss', 'parse_feature_columns_from_examples',
    'pool', 'real_valued_column', 'recompute_grad', 'regularizers', 'relu',
    'relu6', 'repeat', 'rev_block', 'safe_embedding_lookup_sparse',
    'scale_gradient', 'scattered_embedding_lookup',
    'scattered_embedding_lookup_sparse', 'separable_conv2d',
    'separable_convolution2d', 'sequence_to_images', 'softmax',
    'sparse_column_with_hash_bucket', 'sparse_column_with_keys',
    'spatial_softmax', 'stack', 'sum_regularizer', 'summarize_activation',
    'summarize_activations', 'summarize_biases', 'summarize_collection',
    'summarize_tensor', 'summarize_tensors', 'summarize_variables',
    'summarize_weights', 'unit_norm', 'variance_scaling_initializer',
    'xavier_initializer', 'xavier_initializer_conv2d')

_TF1_ESTIMATOR = (
    'BaselineClassifier', 'BaselineEstimator', 'BaselineRegressor',
    'BestExporter', 'BoostedTreesClassifier', 'BoostedTreesEstimator',
    'BoostedTreesRegressor', 'CheckpointSaverHook', 'CheckpointSaverListener',
    'DNNClassifier', 'DNNEstimator', 'DNNLinearCombinedClassifier',
    'DNNLinearCombinedEstimator', 'DNNLinearCombinedRegressor',
    'DNNRegressor', 'Estimator', 'EstimatorSpec', 'EvalSpec', 'Exporter',
    'FeedFnHook', 'FinalExporter', 'FinalOpsHook', 'GlobalStepWaiterHook',
    'LatestExporter', 'LinearClassifier', 'LinearEstimator',
    'LinearRegressor', 'LoggingTensorHook', 'ModeKeys',
    'NanLossDuringTrainingError', 'NanTensorHook', 'ProfilerHook',
    'RunConfig', 'SecondOrStepTimer', 'SessionRunArgs', 'SessionRunContext',
    'SessionRunHook', 'SessionRunValues', 'StepCounterHook',
    'StopAtStepHook', 'SummarySaverHook', 'TrainSpec', 'VocabInfo',
    'WarmStartSettings', 'add_metrics', 'classifier_parse_example_spec',
    'experimental', 'export', 'inputs', 'regressor_parse_example_spec',
    'tpu', 'train_and_evaluate')

# TF-Slim (`tf.contrib.slim`, `tf_slim`): the layers and framework names
# above plus its own modules.
_TF1_SLIM_MODULES = (
    'data', 'evaluation', 'layers', 'learning', 'losses', 'metrics',
    'model_analyzer', 'nets', 'ops', 'prefetch_queue', 'queues', 'summaries',
    'trunc_normal', 'utils', 'variables')


def _tf1_top_level():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return set(dir(tf.compat.v1)) | set(_TF1_TOP_LEVEL_REMOVED)


def tf1_names(namespace):
  """The names TF 1.15 had in `namespace`, or None if they are not known.

  Args:
    namespace: the symbol's prefix with its dot: 'tf.', 'tf.layers.',
      'tf.contrib.', 'tf.contrib.layers.', 'tf.contrib.framework.',
      'tf.estimator.', 'slim.'.

  Returns:
    A set of names, or None for a namespace this module has no list of.
  """
  if namespace == 'tf.':
    return {n for n in _tf1_top_level() if not n.startswith('_')}
  tables = {
      'tf.layers.': set(_TF1_LAYERS),
      'tf.contrib.': set(_TF1_CONTRIB),
      'tf.contrib.framework.': set(_TF1_CONTRIB_FRAMEWORK),
      'tf.contrib.layers.': set(_TF1_CONTRIB_LAYERS),
      'tf.estimator.': set(_TF1_ESTIMATOR),
      'tf.contrib.slim.': (set(_TF1_CONTRIB_LAYERS) |
                           set(_TF1_CONTRIB_FRAMEWORK) |
                           set(_TF1_SLIM_MODULES)),
  }
  tables['slim.'] = tables['tf.contrib.slim.']
  return tables.get(namespace)


def suggestions(name, candidates, limit=3):
  """The names of `candidates` closest to `name`, best first (difflib)."""
  candidates = sorted(set(candidates))
  same_case = [c for c in candidates if c.lower() == name.lower()]
  close = difflib.get_close_matches(name, candidates, n=limit, cutoff=0.6)
  close_lower = difflib.get_close_matches(
      name.lower(), candidates, n=limit, cutoff=0.6)
  out = []
  for c in same_case + close + close_lower:
    if c not in out and c != name:
      out.append(c)
  return out[:limit]


def not_provided(symbol, hint=None, available=()):
  """Builds the NotProvidedError for a missing TF 1.x symbol.

  A name TF 1.15 had is reported as removed by TensorFlow 2.21 and not
  implemented here; a name TF 1.x never had in that namespace is reported as
  such, with the closest real names ("did you mean ...?").

  Args:
    symbol: the full TF 1.x name, e.g. 'tf.contrib.learn'.
    hint: optional extra sentence (what to use instead).
    available: names the namespace has here, also offered as suggestions.

  Returns:
    A NotProvidedError to raise.
  """
  namespace, _, name = symbol.rpartition('.')
  namespace += '.'
  known = tf1_names(namespace)
  if known is None or name in known:
    message = (f'{symbol} is not provided: TensorFlow 2.21 removed it and '
               'tf1cnn.compat does not implement it')
    if hint:
      message += f' ({hint})'
    return NotProvidedError(message)
  close = suggestions(name, known | set(available))
  message = f'{symbol} is not provided: TensorFlow 1.x has no such name'
  if close:
    message += '; did you mean ' + ' or '.join(
        namespace + c for c in close) + '?'
  return NotProvidedError(message)
