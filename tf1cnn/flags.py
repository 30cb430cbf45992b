"""Command-line flags in groups, and the configs they fill.

Each program defines only the groups it uses (`define(GROUPS)`), so
`--helpfull` lists only its own flags:

    common     model, data and input, precision, train_dir
    train      batch, steps, optimizer, schedule, checkpoints, devices, cluster
    eval       checkpoint, split, metrics, continuous evaluation
    export     export folder and version
    predict    SavedModel, top-k, JSON
    benchmark  the benchmark's own (lists of pipelines and precisions)
    sample     the synthetic sample set

One flagfile serves every program (`data/catdog.flags` holds training and
evaluation flags): a line of a `--flagfile` that names a flag of another
group is skipped by the programs without that group, while a name no group
has stays an error, as does any flag typed on the command line that this
program does not define. A flagfile line that is not a flag (`max_steps=5`
without dashes, which absl would silently take as an argument) is an error
naming the file and the line.

Choices and ranges are validated by absl where each flag is defined (enums
from `tf1cnn.config`, lower/upper bounds), once; `config_from_flags(cls)`
turns the parsed flags into a `tf1cnn.config` dataclass.
"""

import math
import os
import sys

from absl import flags

from tf1cnn import config as config_lib

FLAGS = flags.FLAGS


def parse_model_options(values):
  """Parses `NAME=VALUE` strings into a dict with int/float/str values."""
  options = {}
  for item in values:
    if '=' not in item:
      raise ValueError(f'--model_option={item!r}: expected NAME=VALUE')
    key, raw = item.split('=', 1)
    value = raw
    for cast in (int, float):
      try:
        value = cast(raw)
        break
      except ValueError:
        continue
    options[key.strip()] = value
  return options


def _model_options_valid(values):
  try:
    parse_model_options(values)
  except ValueError:
    return False
  return True


def _define_common(fv, model='lenet5', dataset='image_folder'):
  """Model, data, input pipeline, precision, train_dir."""
  flags.DEFINE_string('model', model, 'Model name (tf1cnn.models.'
                      'list_models()), or your own network function as '
                      'path/to/file.py:function or package.module:function.',
                      flag_values=fv)
  flags.DEFINE_multi_string('model_option', [],
                            'Model-specific option NAME=VALUE (int, float or '
                            'string), e.g. --model_option=num_layers=3.',
                            flag_values=fv)
  flags.register_validator(
      'model_option', _model_options_valid,
      message='--model_option: expected NAME=VALUE', flag_values=fv)
  flags.DEFINE_string('model_arg_scope', '', 'For --model=FILE.py:function: '
                      'the module\'s arg-scope function applied around the '
                      'network (TF-Slim style); empty = <function>_arg_scope '
                      'when the module has one, none = no arg scope.',
                      flag_values=fv)
  flags.DEFINE_string('dataset', dataset,
                      'Dataset reader (tf1cnn.inputs.list_datasets()).',
                      flag_values=fv)
  flags.DEFINE_string('data_dir', '', 'Dataset root folder (for image '
                      'folders: the folder holding train/ and test/).',
                      flag_values=fv)
  flags.DEFINE_integer('image_size', 0, 'Square input size; 0 = the '
                       'dataset/model default.', lower_bound=0,
                       flag_values=fv)
  flags.DEFINE_string('labels_file', '', 'Class names, one per line (for a '
                      'checkpoint without labels.txt beside it).',
                      flag_values=fv)
  flags.DEFINE_string('train_dir', 'runs/model',
                      'Checkpoints, summaries and labels.txt go here.',
                      flag_values=fv)
  flags.DEFINE_enum('bad_images', 'fail', config_lib.BAD_IMAGE_POLICIES,
                    'Unreadable image files: fail naming the file, or skip '
                    'them and report how many were skipped.', flag_values=fv)
  flags.DEFINE_integer('input_threads', 0, 'Input reader threads; 0 = from '
                       'the number of cores.', lower_bound=0, flag_values=fv)
  flags.DEFINE_enum('pipeline', 'queue', config_lib.PIPELINES,
                    'Image-folder input: queue (queue runners decoding the '
                    'files every epoch), cached (decode once into a uint8 '
                    'cache under --cache_dir, then read it with queue '
                    'runners; augmentation still per step) or tfdata '
                    '(tf.data in graph mode).', flag_values=fv)
  flags.DEFINE_enum('jpeg_decode', 'auto', config_lib.JPEG_DECODES,
                    'reduced: decode large JPEGs at 1/2, 1/4 or 1/8 scale in '
                    'the DCT domain before resizing; full: decode at full '
                    'size; auto: full for --pipeline=queue, reduced for '
                    'cached and tfdata.', flag_values=fv)
  flags.DEFINE_string('cache_dir', '', 'Decoded-image cache of '
                      '--pipeline=cached for this dataset; empty = '
                      '$TF1CNN_CACHE_DIR or ~/.cache/tf1cnn, one sub-folder '
                      'per data_dir.', flag_values=fv)
  flags.DEFINE_string('preprocessing', '', 'Image preprocessing (tf1cnn.'
                      'inputs.preprocess.list_preprocessings()); empty = the '
                      'model\'s default. Recorded with the model.',
                      flag_values=fv)
  flags.DEFINE_enum('precision', 'auto', config_lib.PRECISIONS,
                    'auto: fp16 on GPUs with tensor cores, bf16 on CPUs with '
                    'AMX, else fp32; fp32; bf16: oneDNN bfloat16 graph rewrite (CPUs with '
                    'avx512_bf16/AMX); fp16: automatic mixed precision with '
                    'dynamic loss scaling (GPUs). Weights and checkpoints '
                    'stay float32.', flag_values=fv)
  flags.DEFINE_boolean('precision_fallback', False, 'Fall back to fp32 when '
                       '--precision is not supported here (otherwise that is '
                       'an error).', flag_values=fv)
  flags.DEFINE_multi_string('checkpoint_var_map', [],
                            'REGEX=REPLACEMENT (repeatable): Python re.sub '
                            'applied to a checkpoint\'s variable names to '
                            'give the model\'s (checkpoints another program '
                            'wrote).', flag_values=fv)


def _define_train(fv):
  """Training: batch, steps, optimizer, schedule, checkpoints, cluster."""
  _define_slim_train(fv)
  _define_train_features(fv)
  flags.DEFINE_string('train_split', 'train', 'Split used for training.',
                      flag_values=fv)
  flags.DEFINE_integer('batch_size', 32, 'Training batch size.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('max_steps', 0, 'Stop after this global step (0: use '
                       'num_epochs).', lower_bound=0, flag_values=fv)
  flags.DEFINE_float('num_epochs', 0.0, 'Epochs to train when max_steps is '
                     '0.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('learning_rate', 1e-3, 'Initial learning rate.',
                     lower_bound=0.0, flag_values=fv)
  flags.DEFINE_enum('optimizer', 'adam', config_lib.OPTIMIZERS, 'Optimizer.',
                    flag_values=fv)
  flags.DEFINE_float('momentum', 0.9, 'Momentum (momentum, and rmsprop '
                     'unless --rmsprop_momentum).', lower_bound=0.0,
                     flag_values=fv)
  flags.DEFINE_enum('lr_schedule', 'fixed', config_lib.LR_SCHEDULES,
                    'fixed; exponential: lr * lr_decay_rate^(epoch / '
                    'lr_decay_epochs), staircase; polynomial: linear decay '
                    '(TF-Slim\'s, power 1) to --end_learning_rate over '
                    'lr_decay_epochs, then constant; cosine: cosine decay to '
                    '0 over the run.', flag_values=fv)
  flags.DEFINE_float('lr_decay_rate', 0.1, 'Exponential decay factor.',
                     lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('lr_decay_epochs', 10.0, 'Epochs per exponential '
                     'decay; length of the polynomial decay.',
                     lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('warmup_epochs', 0.0, 'Linear learning-rate warm-up.',
                     lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('weight_decay', 0.0, 'L2 coefficient (tf.nn.l2_loss).',
                     lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('drop_rate', 0.0, 'Dropout rate where the model has '
                     'one, in [0, 1).', lower_bound=0.0, upper_bound=0.999,
                     flag_values=fv)
  flags.DEFINE_float('moving_average_decay', 0.0, 'Keep an '
                     'ExponentialMovingAverage of the weights (e.g. 0.999); '
                     'evaluation then restores the averages. 0: off.',
                     lower_bound=0.0, upper_bound=0.999999, flag_values=fv)
  flags.DEFINE_boolean('augment', True, 'Training augmentation of photos '
                       '(crop and flip).', flag_values=fv)
  flags.DEFINE_enum('augmentation', '', config_lib.AUGMENTATIONS,
                    'Augmentation policy of array datasets (Fashion-MNIST, '
                    'MNIST, CIFAR): none, flip, light (2-px pad + crop + '
                    'flip), standard (4-px pad + crop + flip); empty = the '
                    'dataset default (none for MNIST formats, standard for '
                    'CIFAR).', flag_values=fv)
  flags.DEFINE_integer('seed', None, 'Graph-level random seed.',
                       flag_values=fv)
  flags.DEFINE_string('warm_start_from', '', 'Initialise the model from this '
                      'checkpoint (prefix or training directory) when '
                      '--train_dir has none yet.', flag_values=fv)
  flags.DEFINE_list('warm_start_exclude', [], 'Variable scopes not taken '
                    'from --warm_start_from, e.g. softmax_linear to re-learn '
                    'the classifier.', flag_values=fv)
  flags.DEFINE_list('trainable_scopes', [], 'Train only the variables under '
                    'these scopes (default all).', flag_values=fv)
  flags.DEFINE_integer('save_checkpoint_steps', 0, 'Checkpoint every N steps '
                       '(0: use save_checkpoint_secs).', lower_bound=0,
                       flag_values=fv)
  flags.DEFINE_integer('save_checkpoint_secs', 600, 'Checkpoint every N '
                       'seconds.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('keep_checkpoint_max', 5, 'Checkpoints kept.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('log_every_n_steps', 50, 'Log line period.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('profile_every_n_steps', 0, 'Write a Chrome trace '
                       '(timeline-<step>.json, with memory) of one step every '
                       'N steps to --train_dir; 0: off.', lower_bound=0,
                       flag_values=fv)
  flags.DEFINE_string('devices', '', 'Comma-separated devices, one model '
                      'tower each, e.g. gpu:0,gpu:1 (the batch is split '
                      'evenly); empty = TensorFlow\'s default placement.',
                      flag_values=fv)
  flags.DEFINE_string('ps_hosts', '', 'Parameter servers, host:port,...',
                      flag_values=fv)
  flags.DEFINE_string('worker_hosts', '', 'Workers, host:port,...',
                      flag_values=fv)
  flags.DEFINE_enum('job_name', '', ('', 'ps', 'worker'), 'This task\'s job: '
                    'ps or worker.', flag_values=fv)
  flags.DEFINE_integer('task_index', 0, 'This task\'s index in its job; '
                       'worker 0 is the chief (checkpoints, summaries).',
                       lower_bound=0, flag_values=fv)
  flags.DEFINE_boolean('sync_replicas', False, 'Cluster only: synchronous '
                       'training (SyncReplicasOptimizer): each step averages '
                       '--replicas_to_aggregate workers\' gradients; default '
                       'asynchronous.', flag_values=fv)
  flags.DEFINE_integer('replicas_to_aggregate', 0, 'With --sync_replicas: '
                       'gradients averaged per step; 0 = the number of '
                       'workers.', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('cluster_timeout_secs', 60, 'Cluster only: a worker '
                       'gives up, with a message naming the address, when a '
                       'parameter server has not answered for this long.',
                       lower_bound=1, flag_values=fv)


def _define_slim_train(fv):
  """TF-Slim training flags that have no tf1cnn equivalent of their own."""
  flags.DEFINE_boolean('ignore_missing_vars', False, 'Warm start: variables '
                       'the --warm_start_from checkpoint lacks keep their '
                       'initial values (TF-Slim\'s flag) instead of being '
                       'an error.', flag_values=fv)
  flags.DEFINE_integer('save_summaries_secs', 0, 'Write summaries every N '
                       'seconds instead of every --log_every_n_steps steps '
                       '(0: by steps).', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('num_clones', 0, 'TF-Slim\'s model clones: N > 1 '
                       'trains one tower on each of gpu:0..N-1 (same as '
                       '--devices); 0: use --devices.', lower_bound=0,
                       flag_values=fv)


def _bounds(name):
  low, high = config_lib.RANGES[name]
  return dict(lower_bound=low, upper_bound=high)


def _define_train_features(fv):
  """Training: label smoothing, clipping, histograms, optimizer settings.

  TF-Slim's names and defaults, except `--opt_epsilon` (unset: each
  optimizer's TensorFlow default; Slim's is 1.0) and `--rmsprop_momentum`
  (unset: `--momentum`).
  """
  flags.DEFINE_float('end_learning_rate', 1e-4, 'Where --lr_schedule='
                     'polynomial ends.', flag_values=fv,
                     **_bounds('end_learning_rate'))
  flags.DEFINE_float('label_smoothing', 0.0, 'Train on one-hot labels * '
                     '(1 - s) + s / num_classes (TF-Slim\'s); 0: off.',
                     flag_values=fv, **_bounds('label_smoothing'))
  flags.DEFINE_float('clip_gradient_norm', 0.0, 'Clip the gradients by '
                     'their global norm (after the tower average and the '
                     'fp16 loss scale); 0: off.', flag_values=fv,
                     **_bounds('clip_gradient_norm'))
  flags.DEFINE_boolean('summarize_histograms', False, 'Also write '
                       'histograms of the weights, gradients and activations '
                       'to TensorBoard (slower summaries).', flag_values=fv)
  flags.DEFINE_float('adam_beta1', 0.9, 'Adam: decay of the 1st moment.',
                     flag_values=fv, **_bounds('adam_beta1'))
  flags.DEFINE_float('adam_beta2', 0.999, 'Adam: decay of the 2nd moment.',
                     flag_values=fv, **_bounds('adam_beta2'))
  flags.DEFINE_float('opt_epsilon', None, 'Epsilon of adam, rmsprop and '
                     'adadelta; unset: TensorFlow\'s default of each (1e-8, '
                     '1e-10, 1e-8). TF-Slim\'s default is 1.0.',
                     flag_values=fv, **_bounds('opt_epsilon'))
  flags.DEFINE_float('rmsprop_decay', 0.9, 'RMSProp: decay of the squared '
                     'gradient average.', flag_values=fv,
                     **_bounds('rmsprop_decay'))
  flags.DEFINE_float('rmsprop_momentum', None, 'RMSProp: momentum; unset: '
                     '--momentum.', flag_values=fv,
                     **_bounds('rmsprop_momentum'))
  flags.DEFINE_float('adadelta_rho', 0.95, 'Adadelta: decay rate.',
                     flag_values=fv, **_bounds('adadelta_rho'))
  flags.DEFINE_float('adagrad_initial_accumulator_value', 0.1, 'Adagrad: '
                     'starting value of the accumulators (> 0).',
                     flag_values=fv,
                     **_bounds('adagrad_initial_accumulator_value'))
  flags.DEFINE_float('ftrl_learning_rate_power', -0.5, 'FTRL: learning-rate '
                     'power (<= 0).', flag_values=fv,
                     **_bounds('ftrl_learning_rate_power'))
  flags.DEFINE_float('ftrl_initial_accumulator_value', 0.1, 'FTRL: starting '
                     'value of the accumulators.', flag_values=fv,
                     **_bounds('ftrl_initial_accumulator_value'))
  flags.DEFINE_float('ftrl_l1', 0.0, 'FTRL: L1 regularisation strength.',
                     flag_values=fv, **_bounds('ftrl_l1'))
  flags.DEFINE_float('ftrl_l2', 0.0, 'FTRL: L2 regularisation strength.',
                     flag_values=fv, **_bounds('ftrl_l2'))


def _define_eval(fv):
  """Evaluation of a checkpoint, once or continuously."""
  flags.DEFINE_string('checkpoint_path', '', 'Checkpoint prefix or directory '
                      'to use; empty = the latest checkpoint in train_dir.',
                      flag_values=fv)
  flags.DEFINE_integer('eval_batch_size', 100, 'Evaluation batch size.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_string('eval_split', 'test', 'Split to evaluate.',
                      flag_values=fv)
  flags.DEFINE_string('metrics_json', '', 'Write evaluation metrics here.',
                      flag_values=fv)
  flags.DEFINE_boolean('use_moving_averages', True, 'Use the weights\' '
                       'moving averages when the checkpoint has them.',
                       flag_values=fv)
  flags.DEFINE_string('eval_dir', '', 'TensorBoard summaries of the '
                      'evaluations; default <checkpoint folder>/eval_<split>.',
                      flag_values=fv)
  flags.DEFINE_integer('eval_interval_secs', 0, 'Keep evaluating: each new '
                       'checkpoint of --train_dir, at most once per N '
                       'seconds, until the training\'s last step is '
                       'evaluated; 0: evaluate once.', lower_bound=0,
                       flag_values=fv)
  flags.DEFINE_integer('eval_timeout_secs', 1800, 'Continuous evaluation '
                       'stops after this many seconds without a new '
                       'checkpoint.', lower_bound=1, flag_values=fv)
  flags.DEFINE_string('model_file', '', 'Evaluate an export instead of a '
                      'checkpoint: a frozen .pb, a .tflite or .onnx file or '
                      'a SavedModel folder (image folders only).',
                      flag_values=fv)
  flags.DEFINE_integer('max_num_batches', 0, 'Evaluate only the first N '
                       'batches (TF-Slim\'s flag); 0: the whole split.',
                       lower_bound=0, flag_values=fv)


def _define_export(fv):
  """Export of a checkpoint for serving."""
  if 'checkpoint_path' not in fv:
    flags.DEFINE_string('checkpoint_path', '', 'Checkpoint prefix or '
                        'directory to use; empty = the latest checkpoint in '
                        'train_dir.', flag_values=fv)
  if 'use_moving_averages' not in fv:
    flags.DEFINE_boolean('use_moving_averages', True, 'Use the weights\' '
                         'moving averages when the checkpoint has them.',
                         flag_values=fv)
  flags.DEFINE_string('export_dir', 'runs/export', 'SavedModel base folder.',
                      flag_values=fv)
  flags.DEFINE_integer('export_version', None, 'Export version; default the '
                       'checkpoint\'s step.', lower_bound=0, flag_values=fv)
  # The choices and their help come from the format registry.
  from tf1cnn import export_formats  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('formats', ['default'], export_formats.help_text(),
                    flag_values=fv)
  flags.register_validator(
      'formats', lambda values: all(
          v.strip() in export_formats.CHOICES for v in values or []
          if v.strip()),
      message='--formats: use default, all or some of '
      f'{",".join(export_formats.FORMATS)}', flag_values=fv)
  flags.DEFINE_integer('verify_images', 32, 'Images of --data_dir\'s test '
                       'split each format is compared with the checkpoint '
                       'on.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('representative_images', 200, 'Training images '
                       'tflite_int8 is calibrated on (at most).',
                       lower_bound=1, flag_values=fv)


def _define_predict(fv):
  """Classification of files with an export."""
  flags.DEFINE_string('saved_model_dir', 'runs/export', 'SavedModel to '
                      'classify with: a version folder, or an export base '
                      '(its highest version is used).', flag_values=fv)
  flags.DEFINE_integer('top_k', 3, 'Classes shown per file.', lower_bound=1,
                       flag_values=fv)
  flags.DEFINE_string('predictions_json', '', 'Also write the predictions '
                      'here as JSON.', flag_values=fv)
  flags.DEFINE_string('serving_format', 'auto', 'What classifies the files: '
                      'auto (the fastest format of the export whose runtime '
                      'is installed and that agrees with the checkpoint on '
                      '>= 99% of the export\'s check images, else the '
                      'SavedModel), saved_model, or a format the export '
                      'holds, optionally with its runtime (tflite_dynamic, '
                      'onnx_int8:openvino).', flag_values=fv)
  if 'bad_images' not in fv:
    flags.DEFINE_enum('bad_images', 'fail', config_lib.BAD_IMAGE_POLICIES,
                      'Unreadable image files: fail naming the file, or skip '
                      'them.', flag_values=fv)


def _define_benchmark(fv):
  """The benchmark's own flags (lists of pipelines and precisions)."""
  flags.DEFINE_string('model', 'lenet5', 'Model name.', flag_values=fv)
  flags.DEFINE_string('data_dir', '', 'Image-folder dataset with train/ and '
                      'test/.', flag_values=fv)
  flags.DEFINE_integer('image_size', 150, 'Square input size.', lower_bound=8,
                       flag_values=fv)
  flags.DEFINE_integer('batch_size', 32, 'Training batch size.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('steps', 30, 'Timed training steps per measurement.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('warmup_steps', 10, 'Untimed steps before each '
                       'measurement.', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('repeats', 3, 'Repeats of every measurement (median, '
                       'min and max are reported).', lower_bound=1,
                       flag_values=fv)
  pipelines = ('synthetic',) + config_lib.PIPELINES
  precisions = config_lib.PRECISIONS
  flags.DEFINE_list('pipeline', list(pipelines), 'Training pipelines to '
                    'time: ' + ', '.join(pipelines) + '.', flag_values=fv)
  flags.register_validator(
      'pipeline', lambda values: set(values) <= set(pipelines),
      message='--pipeline: use ' + ', '.join(pipelines), flag_values=fv)
  flags.DEFINE_list('precision', ['auto'], 'Precisions: fp32, bf16, fp16; '
                    'auto = fp32 and every supported one.', flag_values=fv)
  flags.register_validator(
      'precision', lambda values: set(values) <= set(precisions),
      message='--precision: use ' + ', '.join(precisions), flag_values=fv)
  flags.DEFINE_boolean('precision_fallback', False, 'Replace an unsupported '
                       '--precision by fp32 instead of failing.',
                       flag_values=fv)
  flags.DEFINE_boolean('input_only', True, 'Also time each pipeline without '
                       'the model, and the large-photo decode comparison.',
                       flag_values=fv)
  flags.DEFINE_integer('large_images', 120, 'Photos re-encoded at '
                       '--large_side for the large-photo comparison (0: '
                       'skip).', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('large_side', 2000, 'Long side of the large copies.',
                       lower_bound=16, flag_values=fv)
  flags.DEFINE_integer('large_quality', 90, 'JPEG quality of the large '
                       'copies.', lower_bound=1, upper_bound=95,
                       flag_values=fv)
  flags.DEFINE_integer('eval_batch_size', 100, 'Evaluation batch size.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('eval_steps', 12, 'Timed evaluation batches.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('accuracy_steps', 750, 'Steps of the per-precision '
                       'training run whose test accuracy is compared; eval '
                       'restores its fp32 checkpoint (0: skip both).',
                       lower_bound=0, flag_values=fv)
  flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.',
                     lower_bound=0.0, flag_values=fv)
  flags.DEFINE_integer('seed', 1, 'Random seed.', flag_values=fv)
  flags.DEFINE_string('work_dir', '', 'Caches, large copies and checkpoints; '
                      'default a temporary folder removed at the end.',
                      flag_values=fv)
  flags.DEFINE_string('cache_dir', '', 'Decoded-image cache root (reuse it '
                      'across runs); default inside --work_dir.',
                      flag_values=fv)
  flags.DEFINE_string('json', '', 'Also write the results here.',
                      flag_values=fv)
  flags.DEFINE_boolean('compare_kernels', True, 'Also time the training '
                       'step under TensorFlow\'s default, oneDNN and Eigen, '
                       'each in a child process (TF_ENABLE_ONEDNN_OPTS '
                       'unset, 1 and 0), interleaved over --repeats.',
                       flag_values=fv)
  flags.DEFINE_boolean('serving_formats', True, 'Export the fp32 accuracy '
                       'checkpoint in every installed format and time each '
                       'on each installed runtime (TensorFlow, LiteRT, ONNX '
                       'Runtime, OpenVINO) on the test split: images/sec at '
                       '--serving_batch_size and at batch 1, p50/p99 '
                       'latency, accuracy, max |dp| and top-1 agreement with '
                       'the checkpoint.',
                       flag_values=fv)
  flags.DEFINE_string('serving_checkpoint', '', 'Only the serving table, '
                      'for this checkpoint (a prefix or a training '
                      'directory); nothing is trained.', flag_values=fv)
  flags.DEFINE_integer('serving_batch_size', 64, 'The large batch of the '
                       'serving table.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('serving_latency_images', 200, 'Single-image calls '
                       'per round for the batch-1 rate and latency.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_list('serving_threads', ['0', '1'], 'Intra-op threads given '
                    'to each serving runtime, one row each (0: the '
                    'runtime\'s default).', flag_values=fv)
  flags.register_validator(
      'serving_threads',
      lambda values: all(v.isdigit() for v in values) and bool(values),
      message='--serving_threads: non-negative integers', flag_values=fv)


def _define_sample(fv):
  """The synthetic sample set's flags."""
  flags.DEFINE_string('output_dir', 'data/sample', 'Folder to write '
                      'train/{cat,dog} and test/{cat,dog} into.',
                      flag_values=fv)
  flags.DEFINE_integer('num_train_per_class', 200, 'Training images per '
                       'class.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('num_test_per_class', 50, 'Test images per class.',
                       lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('seed', 0, 'Random seed; the same seed writes '
                       'the same bytes.', lower_bound=0, flag_values=fv)
  flags.DEFINE_boolean('overwrite', False, 'Rewrite the set even when the '
                       'folder already holds it for the same flags.',
                       flag_values=fv)


GROUPS = {
    'common': _define_common,
    'train': _define_train,
    'eval': _define_eval,
    'export': _define_export,
    'predict': _define_predict,
    'benchmark': _define_benchmark,
    'sample': _define_sample,
}
# A flag that shows the group is defined.
_MARKERS = {'common': 'dataset', 'train': 'batch_size', 'eval': 'eval_split',
            'export': 'export_dir', 'predict': 'saved_model_dir',
            'benchmark': 'warmup_steps', 'sample': 'output_dir'}
# Groups that define flags of the same names and cannot share a program.
_EXCLUSIVE = ('common', 'benchmark')


def define(groups, flag_values=FLAGS, **defaults):
  """Defines the flag groups `groups` (names from GROUPS), once.

  Args:
    groups: e.g. ('common', 'train').
    flag_values: where to define them (absl's global FLAGS by default).
    **defaults: new defaults, e.g. model='lenet5' (common group).
  """
  if all(group in groups for group in _EXCLUSIVE):
    raise ValueError(f'flag groups {" and ".join(_EXCLUSIVE)} cannot be '
                     'combined')
  before = set(flag_values)
  for group in groups:
    if group not in GROUPS:
      raise KeyError(f'unknown flag group {group!r}; groups: '
                     f'{", ".join(GROUPS)}')
    if _MARKERS[group] in flag_values:
      continue
    if group == 'common':
      _define_common(flag_values, **defaults)
    else:
      GROUPS[group](flag_values)
  _validate_new_flags(flag_values, sorted(set(flag_values) - before))
  _define_slim_aliases(flag_values)


def _finite(value):
  """True for None, a finite float, or a list of finite floats."""
  if value is None:
    return True
  if isinstance(value, (list, tuple)):
    return all(_finite(v) for v in value)
  return math.isfinite(value)


def _validate_new_flags(flag_values, names):
  """Validators of the flags `names` just defined (not their aliases).

  Every float flag refuses NaN and infinity (absl's bounds let them pass:
  every comparison with NaN is false), `--formats` must name at least
  one format, and `--lr_decay_epochs` must be
  above 0 for the schedules that decay per that period
  (`config.DECAY_STEP_SCHEDULES`; `config.validate` says the same for
  library callers).
  """
  for name in names:
    if isinstance(flag_values[name].parser, flags.FloatParser):
      flags.register_validator(
          name, _finite, message=f'--{name} must be a finite number (not '
          'NaN or infinity)', flag_values=flag_values)
  if 'formats' in names:
    from tf1cnn import export_formats  # pylint: disable=g-import-not-at-top
    flags.register_validator(
        'formats', lambda value: any(v.strip() for v in value or []),
        message=f'--formats is empty: name {", ".join(export_formats.FORMATS)}'
        ' or all', flag_values=flag_values)
  if 'lr_decay_epochs' in names and 'lr_schedule' in flag_values:
    flags.register_multi_flags_validator(
        ['lr_schedule', 'lr_decay_epochs'],
        lambda values: not (
            values['lr_schedule'] in config_lib.DECAY_STEP_SCHEDULES
            and values['lr_decay_epochs'] <= 0),
        message='--lr_decay_epochs must be > 0 with --lr_schedule='
        f'{" or ".join(config_lib.DECAY_STEP_SCHEDULES)} (its decay '
        'period in epochs)', flag_values=flag_values)


# TF-Slim's train_image_classifier.py / eval_image_classifier.py names ->
# tf1cnn's, per group (Slim's flags with tf1cnn's own meaning are defined
# under their Slim names: label_smoothing, opt_epsilon, adam_beta1, ...).
SLIM_ALIASES = {
    'common': {'dataset_dir': 'data_dir', 'dataset_name': 'dataset',
               'model_name': 'model', 'num_readers': 'input_threads'},
    'train': {'dataset_split_name': 'train_split',
              'max_number_of_steps': 'max_steps',
              'train_image_size': 'image_size',
              'checkpoint_exclude_scopes': 'warm_start_exclude',
              'checkpoint_path': 'warm_start_from',
              'save_interval_secs': 'save_checkpoint_secs',
              'learning_rate_decay_type': 'lr_schedule',
              'learning_rate_decay_factor': 'lr_decay_rate',
              'num_epochs_per_decay': 'lr_decay_epochs'},
    'eval': {'dataset_split_name': 'eval_split',
             'eval_image_size': 'image_size'},
}


def _define_slim_aliases(flag_values):
  """Defines TF-Slim's flag names as absl aliases of tf1cnn's flags.

  `--checkpoint_path` of a training program has Slim's meaning: warm start
  from that checkpoint unless `--train_dir` already has one.
  """
  for group, aliases in SLIM_ALIASES.items():
    if _MARKERS[group] not in flag_values:
      continue
    for alias, name in aliases.items():
      if alias in flag_values or name not in flag_values:
        continue
      flags.DEFINE_alias(alias, name, flag_values=flag_values)


def _alias_pairs(flag_values):
  """`{alias: name}` of the TF-Slim aliases defined on `flag_values`."""
  pairs = {}
  for aliases in SLIM_ALIASES.values():
    for alias, name in aliases.items():
      if (alias in flag_values and name in flag_values
          and flag_values[alias] is not flag_values[name]
          and flag_values[alias].parser is flag_values[name].parser):
        pairs[alias] = name
  return pairs


def _given_values(args, flag_values):
  """`{name: raw value}` of the last occurrence of each valued flag."""
  given = {}
  index = 0
  while index < len(args):
    arg = args[index]
    if arg == '--':
      break
    name = _flag_name(arg)
    if name in flag_values and not flag_values[name].boolean:
      if '=' in arg:
        given[name] = arg.split('=', 1)[1]
      elif index + 1 < len(args):
        index += 1
        given[name] = args[index]
    index += 1
  return given


def check_alias_conflicts(args, flag_values=FLAGS, where='the command line'):
  """Refuses a TF-Slim alias and its tf1cnn flag given different values.

  `--max_steps=3 --max_number_of_steps=5` would otherwise keep whichever
  came last; the same value twice is fine. Only arguments of one source
  (the command line, or one flagfile) are compared: the command line
  overrides a flagfile under either name.

  Raises:
    flags.Error: naming both flags and their values.
  """
  pairs = _alias_pairs(flag_values)
  if not pairs:
    return
  given = _given_values(args, flag_values)
  for alias, name in pairs.items():
    if alias not in given or name not in given:
      continue
    parser = flag_values[name].parser
    try:
      same = parser.parse(given[alias]) == parser.parse(given[name])
    except (ValueError, TypeError):
      same = given[alias] == given[name]
    if not same:
      raise flags.Error(
          f'--{alias}={given[alias]} and --{name}={given[name]} ({where}) '
          f'set the same flag (--{alias} is TF-Slim\'s name for --{name}) '
          'to different values: give one of them')


_ALL_NAMES = None


def all_flag_names():
  """Every flag name of every group (defined on a private FlagValues)."""
  global _ALL_NAMES
  if _ALL_NAMES is None:
    names = set()
    for group in GROUPS:
      scratch = flags.FlagValues()
      define((group,), flag_values=scratch)
      names.update(scratch)
    _ALL_NAMES = frozenset(names)
  return _ALL_NAMES


def _flag_name(arg):
  """`--name=value` / `--noname` / `--name` -> name (None if not a flag)."""
  if not arg.startswith('-'):
    return None
  body = arg.lstrip('-').split('=', 1)[0]
  return body


def _read_flagfile_lines(path):
  try:
    with open(path, encoding='utf-8') as f:
      return f.read().splitlines()
  except OSError as e:
    raise flags.Error(f'--flagfile={path}: cannot read it ({e.strerror})')


def expand_flagfiles(argv, flag_values=FLAGS, _seen=None):
  """Expands `--flagfile=F` arguments, dropping other programs' flags.

  Lines of a flagfile naming a flag this program does not define, but some
  other tf1cnn program does, are dropped; every other line is kept (absl
  then reports unknown names). A non-blank, non-comment line that does not
  start with a dash is an error naming the file and the line.

  Args:
    argv: arguments without the program name.
    flag_values: the program's flags.

  Returns:
    The expanded argument list.

  Raises:
    flags.Error: unreadable flagfile, a line that is not a flag, a loop.
  """
  seen = _seen or set()
  known_elsewhere = all_flag_names() - set(flag_values)
  expanded = []
  for arg in argv:
    if arg == '--':
      expanded.append(arg)
      continue
    path = None
    if arg.startswith('--flagfile=') or arg.startswith('-flagfile='):
      path = arg.split('=', 1)[1]
    if path is None:
      expanded.append(arg)
      continue
    real = os.path.realpath(path)
    if real in seen:
      raise flags.Error(f'--flagfile={path}: includes itself')
    lines = _read_flagfile_lines(path)
    from_file = []
    for number, line in enumerate(lines, start=1):
      text = line.strip()
      if not text or text.startswith('#') or text.startswith('//'):
        continue
      if not text.startswith('-'):
        raise flags.Error(
            f'{path}:{number}: {text!r} is not a flag (flagfile lines start '
            f'with --, e.g. --{text})')
      name = _flag_name(text)
      if name == 'flagfile':
        from_file.extend(expand_flagfiles([text], flag_values,
                                          seen | {real}))
        continue
      negated = name[2:] if name.startswith('no') else None
      if name not in flag_values and (
          name in known_elsewhere or
          (negated and negated not in flag_values and
           negated in known_elsewhere)):
        continue  # Another program's flag (one flagfile serves them all).
      from_file.append(text)
    check_alias_conflicts(from_file, flag_values, where=path)
    expanded.extend(from_file)
  return expanded


_HELP_ARGS = ('-h', '-help', '--help', '-?', '--helpshort', '-helpshort')


def help_text(doc, flag_values=FLAGS):
  """The program's docstring (line breaks kept) and its own flags.

  Only the flags this module defined for the program are listed (absl's,
  TensorFlow's and the test runner's are in `--helpfull`).
  """
  own = flag_values.module_help(__name__).strip('\n').split('\n', 1)[-1]
  return ((doc or '').strip('\n') + '\n\nflags (--helpfull for all):\n\n'
          + own.strip('\n') + '\n  --flagfile: Insert flag definitions from '
          'the given file into the command line.')


def _take_model_flags(args, flag_values):
  """Hands a `--model=FILE.py:function` module the flags it defines itself.

  Command-line and flagfile flags that the module defines and this program
  does not are removed from `args` and parsed into the module's own flag
  values (`models.user_model.set_module_flag_args`); the rest is returned.
  """
  from tf1cnn.models import user_model  # pylint: disable=g-import-not-at-top
  from tf1cnn import runtime  # pylint: disable=g-import-not-at-top
  model = flag_values['model'].default if 'model' in flag_values else ''
  for arg in args:
    if _flag_name(arg) in ('model', 'model_name') and '=' in arg:
      model = arg.split('=', 1)[1]
  if not user_model.is_user_model(model):
    return args
  try:
    own = user_model.module_flags(model)
  except runtime.UserInputError as e:
    raise flags.Error(str(e)) from None  # a file that does not import
  if own is None:
    return args
  kept, taken = [], []
  index = 0
  while index < len(args):
    arg = args[index]
    name = _flag_name(arg)
    base = name[2:] if name and name.startswith('no') and name[2:] in own \
        else name
    if arg == '--':
      kept.extend(args[index:])
      break
    if (name is None or name in flag_values or base in flag_values
        or base not in own):
      kept.append(arg)
    else:
      taken.append(arg)
      if ('=' not in arg and base == name and not own[name].boolean
          and index + 1 < len(args)):
        index += 1
        taken.append(args[index])
    index += 1
  try:
    user_model.set_module_flag_args(model, taken)
  except runtime.UserInputError as e:
    raise flags.Error(str(e)) from None
  return kept


def parse(argv, flag_values=FLAGS, doc=None):
  """absl's parser with `expand_flagfiles` first; returns the leftover argv.

  A `--model=FILE.py:function` module's own flags (defined by that file and
  not by this program) go to the module (`_take_model_flags`).

  Pass as `flags_parser` to `absl.app.run` (`tf1cnn.runtime.run_main`).
  `--help` prints `doc` and this program's flags and exits 0 (`--helpfull`
  adds absl's own); a flag error
  prints one line and exits 2.
  """
  if any(arg in _HELP_ARGS for arg in argv[1:]):
    sys.stdout.write(help_text(doc, flag_values) + '\n')
    sys.exit(0)
  if any(arg in ('--helpfull', '-helpfull') for arg in argv[1:]):
    sys.stdout.write((doc or '').strip('\n') + '\n\nflags:\n\n'
                     + flag_values.get_help() + '\n')
    sys.exit(0)
  try:
    check_alias_conflicts(
        [a for a in argv[1:] if _flag_name(a) != 'flagfile'], flag_values)
    expanded = _take_model_flags(
        expand_flagfiles(list(argv[1:]), flag_values), flag_values)
    return flag_values([argv[0]] + expanded)
  except flags.Error as e:
    sys.stderr.write(f'error: {e}\n')
    sys.exit(2)


def config_from_flags(cls, flag_values=FLAGS):
  """A `tf1cnn.config` dataclass of class `cls` from the parsed flags.

  Fields whose flag this program does not define keep their defaults.
  """
  values = {}
  for name in config_lib.field_names(cls):
    if name == 'model_options':
      if 'model_option' in flag_values:
        values[name] = parse_model_options(flag_values.model_option)
    elif name in flag_values:
      values[name] = flag_values[name].value
  return config_lib.validate(config_lib.make(cls, **values))
