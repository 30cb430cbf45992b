"""The command-line flags, defined once and shared by every script.

Training and evaluation scripts define the same set of flags, so one flagfile
(`data/catdog.flags`) serves both `train_*.py` and `eval_*.py`. A script calls
`define_flags(model=..., dataset=...)` to set its defaults, then parses with
absl (`--flagfile=` works for any flag; an unknown flag is an error that names
it).

`training_config()` and `eval_config()` turn the parsed flags into plain
dataclasses, so the library never reads absl flags itself.
"""

import dataclasses
from typing import List, Optional

from absl import flags

FLAGS = flags.FLAGS

OPTIMIZERS = ('adam', 'momentum', 'sgd', 'rmsprop')
LR_SCHEDULES = ('fixed', 'exponential', 'cosine')
BAD_IMAGE_POLICIES = ('fail', 'skip')
PIPELINES = ('queue', 'cached', 'tfdata')
PRECISIONS = ('fp32', 'bf16', 'fp16')
JPEG_DECODES = ('auto', 'reduced', 'full')


@dataclasses.dataclass
class RunConfig:
  """What training and evaluation share: model, data, input, precision."""
  model: str = 'lenet5'
  dataset: str = 'image_folder'
  data_dir: str = ''
  train_dir: str = 'runs/model'
  image_size: int = 0
  bad_images: str = 'fail'
  pipeline: str = 'queue'
  jpeg_decode: str = 'auto'
  cache_dir: str = ''
  precision: str = 'fp32'
  precision_fallback: bool = False
  model_options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TrainingConfig(RunConfig):
  """Everything `tf1cnn.training.train` needs (see `define_flags` for docs)."""
  batch_size: int = 32
  max_steps: int = 0
  num_epochs: float = 0.0
  learning_rate: float = 1e-3
  optimizer: str = 'adam'
  momentum: float = 0.9
  lr_schedule: str = 'fixed'
  lr_decay_rate: float = 0.1
  lr_decay_epochs: float = 10.0
  warmup_epochs: float = 0.0
  weight_decay: float = 0.0
  drop_rate: float = 0.0
  moving_average_decay: float = 0.0
  augment: bool = True
  augmentation: str = ''
  seed: Optional[int] = None
  save_checkpoint_steps: int = 0
  save_checkpoint_secs: int = 600
  keep_checkpoint_max: int = 5
  log_every_n_steps: int = 50
  profile_every_n_steps: int = 0
  warm_start_from: str = ''
  warm_start_exclude: List[str] = dataclasses.field(default_factory=list)
  trainable_scopes: List[str] = dataclasses.field(default_factory=list)
  input_threads: int = 0
  train_split: str = 'train'
  devices: str = ''
  ps_hosts: str = ''
  worker_hosts: str = ''
  job_name: str = ''
  task_index: int = 0


@dataclasses.dataclass
class EvalConfig(RunConfig):
  """Everything `tf1cnn.evaluation.run` needs."""
  checkpoint_path: str = ''
  eval_batch_size: int = 100
  eval_split: str = 'test'
  metrics_json: str = ''
  use_moving_averages: bool = True
  eval_dir: str = ''
  eval_interval_secs: int = 0
  eval_timeout_secs: int = 1800


_DEFINED = False


def define_flags(model='lenet5', dataset='image_folder'):
  """Defines all tf1cnn flags (idempotent); `model`/`dataset` set defaults."""
  global _DEFINED
  if _DEFINED:
    return
  _DEFINED = True
  # What to train on.
  flags.DEFINE_string('model', model, 'Model name (see tf1cnn.models.list_models()).')
  flags.DEFINE_string('dataset', dataset,
                      'Dataset reader (see tf1cnn.inputs.list_datasets()).')
  flags.DEFINE_string('data_dir', '', 'Dataset root folder (for image folders: '
                      'the folder holding train/ and test/).')
  flags.DEFINE_string('train_dir', 'runs/model',
                      'Checkpoints, summaries and labels.txt go here.')
  flags.DEFINE_integer('image_size', 0,
                       'Square input size; 0 = the model default.')
  flags.DEFINE_string('train_split', 'train', 'Split used for training.')
  # Training.
  flags.DEFINE_integer('batch_size', 32, 'Training batch size.')
  flags.DEFINE_integer('max_steps', 0,
                       'Stop after this global step (0: use num_epochs).')
  flags.DEFINE_float('num_epochs', 0.0,
                     'Epochs to train when max_steps is 0.')
  flags.DEFINE_float('learning_rate', 1e-3, 'Initial learning rate.')
  flags.DEFINE_enum('optimizer', 'adam', OPTIMIZERS, 'Optimizer.')
  flags.DEFINE_float('momentum', 0.9, 'Momentum (momentum and rmsprop).')
  flags.DEFINE_enum('lr_schedule', 'fixed', LR_SCHEDULES,
                    'fixed; exponential: lr * lr_decay_rate^(epoch / '
                    'lr_decay_epochs), staircase; cosine: cosine decay to 0 '
                    'over the run.')
  flags.DEFINE_float('lr_decay_rate', 0.1, 'Exponential decay factor.')
  flags.DEFINE_float('lr_decay_epochs', 10.0, 'Epochs per exponential decay.')
  flags.DEFINE_float('warmup_epochs', 0.0, 'Linear learning-rate warm-up.')
  flags.DEFINE_float('weight_decay', 0.0, 'L2 coefficient (tf.nn.l2_loss).')
  flags.DEFINE_float('drop_rate', 0.0, 'Dropout rate where the model has one.')
  flags.DEFINE_float('moving_average_decay', 0.0,
                     'Keep an ExponentialMovingAverage of the weights (e.g. '
                     '0.999); evaluation then restores the averages. 0: off.')
  flags.DEFINE_boolean('augment', True, 'Training augmentation (flip/crop).')
  # Fine-tuning (tf1cnn/finetune.py).
  flags.DEFINE_string('warm_start_from', '',
                      'Initialise the model from this checkpoint (prefix or '
                      'training directory) when --train_dir has none yet.')
  flags.DEFINE_list('warm_start_exclude', [],
                    'Variable scopes not taken from --warm_start_from, e.g. '
                    'softmax_linear to re-learn the classifier.')
  flags.DEFINE_list('trainable_scopes', [],
                    'Train only the variables under these scopes (default '
                    'all).')
  flags.DEFINE_string('augmentation', '',
                      'Augmentation policy of array datasets (Fashion-MNIST, '
                      'MNIST, CIFAR): none, flip, light (2-px pad + crop + '
                      'flip), standard (4-px pad + crop + flip); empty = the '
                      'dataset default (none for MNIST formats, standard for '
                      'CIFAR).')
  flags.DEFINE_integer('seed', None, 'Graph-level random seed.')
  flags.DEFINE_integer('save_checkpoint_steps', 0,
                       'Checkpoint every N steps (0: use save_checkpoint_secs).')
  flags.DEFINE_integer('save_checkpoint_secs', 600,
                       'Checkpoint every N seconds.')
  flags.DEFINE_integer('keep_checkpoint_max', 5, 'Checkpoints kept.')
  flags.DEFINE_integer('log_every_n_steps', 50, 'Log line period.')
  flags.DEFINE_integer('profile_every_n_steps', 0,
                       'Write a Chrome trace (timeline-<step>.json, with '
                       'memory) of one step every N steps to --train_dir; '
                       '0: off.')
  flags.DEFINE_enum('bad_images', 'fail', BAD_IMAGE_POLICIES,
                    'Unreadable image files: fail naming the file, or skip '
                    'them and report how many were skipped.')
  flags.DEFINE_integer('input_threads', 0,
                       'Input reader threads; 0 = from the number of cores.')
  # Input pipeline and precision (training and evaluation).
  flags.DEFINE_enum('pipeline', 'queue', PIPELINES,
                    'Image-folder input: queue (queue runners decoding the '
                    'files every epoch), cached (decode once into a uint8 '
                    'cache under --cache_dir, then read it with queue '
                    'runners; augmentation still per step) or tfdata '
                    '(tf.data in graph mode).')
  flags.DEFINE_enum('jpeg_decode', 'auto', JPEG_DECODES,
                    'reduced: decode large JPEGs at 1/2, 1/4 or 1/8 scale in '
                    'the DCT domain before resizing; full: decode at full '
                    'size; auto: full for --pipeline=queue, reduced for '
                    'cached and tfdata.')
  flags.DEFINE_string('cache_dir', '',
                      'Decoded-image cache of --pipeline=cached for this '
                      'dataset; empty = $TF1CNN_CACHE_DIR or ~/.cache/tf1cnn, '
                      'one sub-folder per data_dir.')
  flags.DEFINE_enum('precision', 'fp32', PRECISIONS,
                    'fp32; bf16: oneDNN bfloat16 graph rewrite (CPUs with '
                    'avx512_bf16/AMX); fp16: automatic mixed precision with '
                    'dynamic loss scaling (GPUs). Weights and checkpoints '
                    'stay float32.')
  flags.DEFINE_boolean('precision_fallback', False,
                       'Fall back to fp32 when --precision is not supported '
                       'here (otherwise that is an error).')
  # Multi-device and multi-machine training (tf1cnn/distributed.py).
  flags.DEFINE_string('devices', '',
                      'Comma-separated devices, one model tower each, e.g. '
                      'gpu:0,gpu:1 (the batch is split evenly); empty = '
                      'TensorFlow\'s default placement.')
  flags.DEFINE_string('ps_hosts', '', 'Parameter servers, host:port,...')
  flags.DEFINE_string('worker_hosts', '', 'Workers, host:port,...')
  flags.DEFINE_string('job_name', '', 'This task\'s job: ps or worker.')
  flags.DEFINE_integer('task_index', 0, 'This task\'s index in its job; '
                       'worker 0 is the chief (checkpoints, summaries).')
  # Evaluation.
  flags.DEFINE_string('checkpoint_path', '',
                      'Checkpoint prefix or directory to evaluate; empty = '
                      'the latest checkpoint in train_dir.')
  flags.DEFINE_integer('eval_batch_size', 100, 'Evaluation batch size.')
  flags.DEFINE_string('eval_split', 'test', 'Split to evaluate.')
  flags.DEFINE_string('metrics_json', '', 'Write evaluation metrics here.')
  flags.DEFINE_boolean('use_moving_averages', True,
                       'Evaluate the weights\' moving averages when the '
                       'checkpoint has them.')
  flags.DEFINE_string('eval_dir', '', 'TensorBoard summaries of the '
                      'evaluations; default <checkpoint folder>/eval_<split>.')
  flags.DEFINE_integer('eval_interval_secs', 0,
                       'Keep evaluating: each new checkpoint of --train_dir, '
                       'at most once per N seconds, until the training\'s '
                       'last step is evaluated; 0: evaluate once.')
  flags.DEFINE_integer('eval_timeout_secs', 1800,
                       'Continuous evaluation stops after this many seconds '
                       'without a new checkpoint.')
  # Export.
  flags.DEFINE_string('export_dir', 'runs/export',
                      'SavedModel base folder (scripts/export.py).')
  flags.DEFINE_integer('export_version', None,
                       'Export version; default the checkpoint\'s step.')
  # Prediction (scripts/predict.py).
  flags.DEFINE_string('saved_model_dir', 'runs/export',
                      'SavedModel to classify with: a version folder, or an '
                      'export base (its highest version is used).')
  flags.DEFINE_integer('top_k', 3, 'Classes shown per file.')
  flags.DEFINE_string('predictions_json', '', 'Also write the predictions '
                      'here as JSON.')
  # Model options.
  flags.DEFINE_multi_string('model_option', [],
                            'Model-specific option NAME=VALUE (int, float or '
                            'string), e.g. --model_option=num_layers=3.')


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


def _pick(cls):
  names = {f.name for f in dataclasses.fields(cls)}
  values = {name: FLAGS[name].value for name in names
            if name in FLAGS and name != 'model_options'}
  values['model_options'] = parse_model_options(FLAGS.model_option)
  return cls(**values)


def training_config():
  """Returns a TrainingConfig from the parsed flags."""
  return _pick(TrainingConfig)


def eval_config():
  """Returns an EvalConfig from the parsed flags."""
  return _pick(EvalConfig)
