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

`make` and `replace` take flat keyword names (each name belongs to exactly
one part) and reject a name no part has. Every choice list is defined here
once (the flags use the same tuples), and `validate` checks the choices and
ranges of a whole config, so a library caller gets the same one-line errors
as the command line.
"""

import dataclasses
from typing import List, Optional

OPTIMIZERS = ('adam', 'momentum', 'sgd', 'rmsprop')
LR_SCHEDULES = ('fixed', 'exponential', 'cosine')
BAD_IMAGE_POLICIES = ('fail', 'skip')
PIPELINES = ('queue', 'cached', 'tfdata')
PRECISIONS = ('fp32', 'bf16', 'fp16')
JPEG_DECODES = ('auto', 'reduced', 'full')
AUGMENTATIONS = ('', 'none', 'flip', 'light', 'standard')


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
  """Optimizer, learning-rate schedule, regularisation and averaging."""
  optimizer: str = 'adam'
  learning_rate: float = 1e-3
  momentum: float = 0.9
  lr_schedule: str = 'fixed'
  lr_decay_rate: float = 0.1
  lr_decay_epochs: float = 10.0
  warmup_epochs: float = 0.0
  weight_decay: float = 0.0
  moving_average_decay: float = 0.0


@dataclasses.dataclass
class RunConfig:
  """What every run that builds a network shares."""
  model: str = 'lenet5'
  model_options: dict = dataclasses.field(default_factory=dict)
  train_dir: str = 'runs/model'
  precision: str = 'fp32'
  precision_fallback: bool = False
  checkpoint_var_map: List[str] = dataclasses.field(default_factory=list)
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  input: InputConfig = dataclasses.field(default_factory=InputConfig)


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
  warm_start_from: str = ''
  warm_start_exclude: List[str] = dataclasses.field(default_factory=list)
  trainable_scopes: List[str] = dataclasses.field(default_factory=list)
  devices: str = ''
  ps_hosts: str = ''
  worker_hosts: str = ''
  job_name: str = ''
  task_index: int = 0


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


@dataclasses.dataclass
class PredictConfig:
  """Everything `tf1cnn.prediction.predict_files` needs."""
  saved_model_dir: str = 'runs/export'
  top_k: int = 3
  bad_images: str = 'fail'


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


def validate(config):
  """Checks every choice field of `config`; returns `config`.

  Raises:
    ConfigError: naming the flag, its value and the valid choices.
  """
  values = flat_values(config)
  for name, choices in CHOICES.items():
    if name in values and values[name] not in choices:
      shown = ', '.join(c or "''" for c in choices)
      raise ConfigError(f'--{name}={values[name]!r}: use one of {shown}')
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
