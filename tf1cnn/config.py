"""Run configuration: plain dataclasses, apart from any command line.

The library reads these objects directly; `tf1cnn.flags` fills them from
absl flags, tests and programs build them with `make`:

    config = tf1cnn.config.make(TrainingConfig, model='lenet5',
                                data_dir='data/sample', batch_size=32)
    config.data.data_dir, config.input.pipeline, config.optim.learning_rate

A config has a few top-level fields and nested parts:

* `data` (`DataConfig`): which dataset, where, at what image size;
* `input` (`InputConfig`): how it is read and preprocessed;
* `optim` (`OptimizerConfig`, training only): optimizer and schedule.

The configs of a run that builds a network (`RunConfigs`: training,
evaluation, export) each say the batch they feed it
(`network_batch_size`).

`make` and `replace` take flat keyword names (each name belongs to exactly
one part) and reject a name no part has. Every choice list is defined here
once (the flags use the same tuples), and `validate` checks the choices and
ranges of a whole config, so a library caller gets the same one-line errors
as the command line.
"""

import dataclasses
import math
import typing
from typing import List, Optional, Union

OPTIMIZERS = ('adam', 'momentum', 'sgd', 'rmsprop', 'adadelta', 'adagrad',
              'ftrl')
LR_SCHEDULES = ('fixed', 'exponential', 'polynomial', 'cosine')
BAD_IMAGE_POLICIES = ('fail', 'skip')
# The input registry's pipelines (`tf1cnn.inputs.list_pipelines`); `config`
# sits below `inputs`, so tests/test_flags_config_parity.py holds them equal.
PIPELINES = ('queue', 'cached', 'tfdata')
PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')
JPEG_DECODES = ('auto', 'reduced', 'full')
AUGMENTATIONS = ('', 'none', 'flip', 'light', 'standard')
# The schedules whose decay period is `lr_decay_epochs` (> 0 for them).
DECAY_STEP_SCHEDULES = ('exponential', 'polynomial')


class ConfigError(ValueError):
  """A config field with a value outside its choices or range."""


@dataclasses.dataclass
class DataConfig:
  """The dataset: registry name, folder, image size (0 = its default)."""
  dataset: str = 'image_folder'
  data_dir: str = ''
  image_size: int = 0
  labels_file: str = ''


@dataclasses.dataclass
class InputConfig:
  """How examples are read and preprocessed.

  Attributes:
    pipeline: queue, cached or tfdata (image folders).
    jpeg_decode: auto, reduced or full.
    cache_dir: decoded-image cache root of --pipeline=cached.
    input_threads: reader threads; 0 = from the number of cores.
    bad_images: fail or skip unreadable image files.
    augment: training augmentation of photos (crop and flip).
    augmentation: policy of array datasets ('' = the dataset default).
    preprocessing: named preprocessing ('' = the model's default); see
      `tf1cnn.inputs.preprocess`.
  """
  pipeline: str = 'queue'
  jpeg_decode: str = 'auto'
  cache_dir: str = ''
  input_threads: int = 0
  bad_images: str = 'fail'
  augment: bool = True
  augmentation: str = ''
  preprocessing: str = ''


@dataclasses.dataclass
class OptimizerConfig:
  """Optimizer, learning-rate schedule, regularisation and averaging.

  The optimizers' own hyperparameters carry TF-Slim's flag names (see
  `tf1cnn.optimizers`); `opt_epsilon=None` keeps TensorFlow's default of
  each optimizer (Slim's is 1.0) and `rmsprop_momentum=None` uses
  `momentum`. `label_smoothing` mixes the one-hot labels with the uniform
  distribution (Slim's); `clip_gradient_norm` > 0 clips the gradients by
  their global norm.
  """
  optimizer: str = 'adam'
  learning_rate: float = 1e-3
  momentum: float = 0.9
  lr_schedule: str = 'fixed'
  lr_decay_rate: float = 0.1
  lr_decay_epochs: float = 10.0
  warmup_epochs: float = 0.0
  weight_decay: float = 0.0
  moving_average_decay: float = 0.0
  end_learning_rate: float = 1e-4
  label_smoothing: float = 0.0
  clip_gradient_norm: float = 0.0
  adam_beta1: float = 0.9
  adam_beta2: float = 0.999
  opt_epsilon: Optional[float] = None
  rmsprop_decay: float = 0.9
  rmsprop_momentum: Optional[float] = None
  adadelta_rho: float = 0.95
  adagrad_initial_accumulator_value: float = 0.1
  ftrl_learning_rate_power: float = -0.5
  ftrl_initial_accumulator_value: float = 0.1
  ftrl_l1: float = 0.0
  ftrl_l2: float = 0.0


@dataclasses.dataclass
class RunConfig:
  """What every run that builds a network shares."""
  model: str = 'lenet5'
  model_options: dict = dataclasses.field(default_factory=dict)
  model_arg_scope: str = ''  # a --model=FILE.py:function's arg scope
  train_dir: str = 'runs/model'
  precision: str = 'auto'
  precision_fallback: bool = False
  checkpoint_var_map: List[str] = dataclasses.field(default_factory=list)
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  input: InputConfig = dataclasses.field(default_factory=InputConfig)

  def network_batch_size(self) -> Optional[int]:
    """The batch the run feeds its network; None: any (an export)."""
    return None


@dataclasses.dataclass
class TrainingConfig(RunConfig):
  """Everything `tf1cnn.training.train` needs."""
  optim: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
  batch_size: int = 32
  max_steps: int = 0
  num_epochs: float = 0.0
  drop_rate: float = 0.0
  seed: Optional[int] = None
  train_split: str = 'train'
  save_checkpoint_steps: int = 0
  save_checkpoint_secs: int = 600
  keep_checkpoint_max: int = 5
  log_every_n_steps: int = 50
  profile_every_n_steps: int = 0
  summarize_histograms: bool = False
  warm_start_from: str = ''
  warm_start_exclude: List[str] = dataclasses.field(default_factory=list)
  ignore_missing_vars: bool = False
  save_summaries_secs: int = 0
  num_clones: int = 0
  trainable_scopes: List[str] = dataclasses.field(default_factory=list)
  devices: str = ''
  ps_hosts: str = ''
  worker_hosts: str = ''
  job_name: str = ''
  task_index: int = 0
  sync_replicas: bool = False
  replicas_to_aggregate: int = 0
  cluster_timeout_secs: int = 60

  def network_batch_size(self) -> Optional[int]:
    return self.batch_size


@dataclasses.dataclass
class EvalConfig(RunConfig):
  """Everything `tf1cnn.evaluation` needs."""
  checkpoint_path: str = ''
  eval_batch_size: int = 100
  eval_split: str = 'test'
  use_moving_averages: bool = True
  eval_dir: str = ''
  eval_interval_secs: int = 0
  eval_timeout_secs: int = 1800
  max_num_batches: int = 0
  # An exported model to evaluate instead of a checkpoint: a frozen .pb, a
  # .tflite file or a SavedModel folder (tf1cnn.served).
  model_file: str = ''

  def network_batch_size(self) -> Optional[int]:
    return self.eval_batch_size


@dataclasses.dataclass
class ExportConfig(RunConfig):
  """Everything `tf1cnn.export.export_saved_model` needs.

  The model, image size and classes come from the training directory's
  `run_config.json` and `labels.txt`; the fields of `RunConfig` fill in
  for a checkpoint that has none (a foreign checkpoint).
  """
  checkpoint_path: str = ''
  export_dir: str = 'runs/export'
  export_version: Optional[int] = None
  use_moving_averages: bool = True
  # names of tf1cnn.export_formats.FORMATS, all or default
  # (tf1cnn.export_formats); each is compared with the checkpoint on
  # verify_images images, tflite_int8 calibrated on representative_images.
  formats: List[str] = dataclasses.field(
      default_factory=lambda: ['default'])
  verify_images: int = 32
  representative_images: int = 200


# The configs of a run that builds a network (`tf1cnn.run_spec.RunSpec`).
RunConfigs = Union[TrainingConfig, EvalConfig, ExportConfig]
RUN_CONFIGS = typing.get_args(RunConfigs)


@dataclasses.dataclass
class PredictConfig:
  """Everything `tf1cnn.prediction.predict_files` needs."""
  saved_model_dir: str = 'runs/export'
  top_k: int = 3
  bad_images: str = 'fail'
  # auto, saved_model, or a format of the export (`format[:runtime]`);
  # tf1cnn.prediction.SERVING_PREFERENCE orders auto's choice.
  serving_format: str = 'auto'


_PARTS = ('data', 'input', 'optim')


def field_names(cls):
  """Flat field names of config class `cls` (parts flattened), in order."""
  names = []
  for field in dataclasses.fields(cls):
    if field.name in _PARTS:
      names.extend(f.name for f in dataclasses.fields(field.default_factory))
    else:
      names.append(field.name)
  return names


def _route(cls, values):
  """Splits flat `values` into top-level and per-part dicts."""
  top, parts = {}, {}
  part_fields = {}
  for field in dataclasses.fields(cls):
    if field.name in _PARTS:
      for sub in dataclasses.fields(field.default_factory):
        part_fields[sub.name] = field.name
  top_fields = {f.name for f in dataclasses.fields(cls)} - set(_PARTS)
  for key, value in values.items():
    if key in top_fields:
      top[key] = value
    elif key in part_fields:
      parts.setdefault(part_fields[key], {})[key] = value
    else:
      raise TypeError(f'{cls.__name__} has no field {key!r} (its fields: '
                      f'{", ".join(field_names(cls))})')
  return top, parts


def make(cls, **values):
  """Builds config class `cls` from flat field names (see module doc).

  Raises:
    TypeError: a name that no part of `cls` has.
  """
  top, parts = _route(cls, values)
  for field in dataclasses.fields(cls):
    if field.name in _PARTS:
      top[field.name] = field.default_factory(**parts.get(field.name, {}))
  return cls(**top)


def replace(config, **values):
  """A copy of `config` with flat field names replaced (see `make`)."""
  top, parts = _route(type(config), values)
  for name, changes in parts.items():
    top[name] = dataclasses.replace(getattr(config, name), **changes)
  return dataclasses.replace(config, **top)


def flat_values(config):
  """`{flat name: value}` of a config (the inverse of `make`)."""
  values = {}
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if field.name in _PARTS:
      values.update(dataclasses.asdict(value))
    else:
      values[field.name] = value
  return values


# name -> (choices) for the enum-like fields; name -> (low, high, what) for
# numeric ranges (None = unbounded). Flags use the same tables.
CHOICES = {
    'optimizer': OPTIMIZERS,
    'lr_schedule': LR_SCHEDULES,
    'bad_images': BAD_IMAGE_POLICIES,
    'pipeline': PIPELINES,
    'precision': PRECISIONS,
    'jpeg_decode': JPEG_DECODES,
    'augmentation': AUGMENTATIONS,
}
# name -> (low, high), both inclusive (None = unbounded): the training
# features' numeric fields (the flags' absl bounds come from here).
RANGES = {
    'end_learning_rate': (0.0, None),
    'label_smoothing': (0.0, 1.0),
    'clip_gradient_norm': (0.0, None),
    'adam_beta1': (0.0, 1.0),
    'adam_beta2': (0.0, 1.0),
    'opt_epsilon': (0.0, None),
    'rmsprop_decay': (0.0, 1.0),
    'rmsprop_momentum': (0.0, None),
    'adadelta_rho': (0.0, 1.0),
    'adagrad_initial_accumulator_value': (1e-12, None),  # TF: must be > 0
    'ftrl_learning_rate_power': (None, 0.0),
    'ftrl_initial_accumulator_value': (0.0, None),
    'ftrl_l1': (0.0, None),
    'ftrl_l2': (0.0, None),
    # Runs, data and checkpoints (the flags' bounds say the same), so a
    # library caller cannot start a run that would end without its work.
    'image_size': (0, None),
    'input_threads': (0, None),
    'batch_size': (1, None),
    'max_steps': (0, None),
    'num_epochs': (0.0, None),
    'learning_rate': (0.0, None),
    'momentum': (0.0, None),
    'weight_decay': (0.0, None),
    'drop_rate': (0.0, 0.999),
    'moving_average_decay': (0.0, 0.999999),
    'save_checkpoint_steps': (0, None),
    'save_checkpoint_secs': (1, None),
    'keep_checkpoint_max': (1, None),
    'log_every_n_steps': (1, None),
    'eval_batch_size': (1, None),
    'eval_interval_secs': (0, None),
    'eval_timeout_secs': (1, None),
    'export_version': (0, None),
    'top_k': (1, None),
}


def validate(config):
  """Checks the choice fields and `RANGES` of `config`; returns `config`.

  Every float field must be finite (NaN and infinity pass no range),
  `formats` must name a format, and the schedules that decay per
  `lr_decay_epochs` need it above 0.

  Raises:
    ConfigError: naming the flag, its value and the valid choices or range.
  """
  values = flat_values(config)
  for name, value in values.items():
    if (isinstance(value, float) and not isinstance(value, bool)
        and not math.isfinite(value)):
      raise ConfigError(f'--{name}={value!r}: must be a finite number')
  for name, choices in CHOICES.items():
    if name in values and values[name] not in choices:
      shown = ', '.join(c or "''" for c in choices)
      raise ConfigError(f'--{name}={values[name]!r}: use one of {shown}')
  for name, (low, high) in RANGES.items():
    value = values.get(name)
    if value is None:
      continue
    if (low is not None and value < low) or (high is not None and
                                             value > high):
      bounds = (f'>= {low}' if high is None else f'<= {high}' if low is None
                else f'in [{low}, {high}]')
      raise ConfigError(f'--{name}={value!r}: must be {bounds}')
  if values.get('formats') is not None and not any(
      str(name).strip() for name in values['formats']):
    raise ConfigError('--formats is empty: name one or more export formats '
                      '(tf1cnn.export_formats.FORMATS) or all')
  schedule = values.get('lr_schedule')
  if (schedule in DECAY_STEP_SCHEDULES
      and values.get('lr_decay_epochs', 1.0) <= 0):
    raise ConfigError(
        f'--lr_decay_epochs={values["lr_decay_epochs"]!r}: must be > 0 with '
        f'--lr_schedule={schedule} (its decay period in epochs)')
  return config


def training_config(**values):
  """`make(TrainingConfig, **values)`, validated."""
  return validate(make(TrainingConfig, **values))


def eval_config(**values):
  """`make(EvalConfig, **values)`, validated."""
  return validate(make(EvalConfig, **values))


def export_config(**values):
  """`make(ExportConfig, **values)`, validated."""
  return validate(make(ExportConfig, **values))
