"""The run set-up shared by training, evaluation, export and the benchmark.

`for_training(config)` and `for_checkpoint(config, prefix)` turn a config
(`tf1cnn.config`: a TrainingConfig, or an EvalConfig or ExportConfig) into
one resolved, checked `RunSpec`: the model and its options, the dataset
facts, the image size and channels, the class names, the preprocessing, the
precision, the batch the network is fed, the devices and the process's
place in a cluster (`distributed.Placement`; local until training starts
its task). Everything that can be wrong with flags or data is found here,
before a graph is built or a file written; the modules above (`training`,
`evaluation`, `export`) start from a spec and never import each other.

The preprocessing, model, model options and image size a model was trained
with are written to `run_config.json` (`RunSpec.record`) and read back by
`for_checkpoint`, so evaluation, export and prediction see the pixels
training saw.
"""

import dataclasses
import functools
import os
from typing import List, Optional, Union

import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import config as config_lib
from tf1cnn import distributed
from tf1cnn import inputs
from tf1cnn import models
from tf1cnn import precision as precision_lib
from tf1cnn import runtime
from tf1cnn import startup
from tf1cnn import towers
from tf1cnn.inputs import augment as augment_lib
from tf1cnn.inputs import preprocess
from tf1cnn.models import user_model


@dataclasses.dataclass
class RunSpec:
  """A resolved run.

  Attributes:
    config: the config it was resolved from (`config_lib.RunConfigs`).
    model: model name (registry name or `file.py:function`).
    model_options: options passed to the builder.
    info: `inputs.DatasetInfo` (None when the data is not needed: export).
    image_size: square input side.
    channels: image channels.
    class_names: label id -> name.
    preprocessing: `preprocess.Preprocessing`.
    precision: resolved precision (fp32, bf16, fp16).
    batch_size: the batch the network is fed (`--batch_size` in training,
      `--eval_batch_size` in evaluation, `user_model.DEFAULT_BATCH_SIZE`
      for an export); a user model's fixed batch.
    devices: tower devices ([] = default placement).
    placement: the process's place in a cluster (`distributed.Placement`;
      local unless training started a cluster task).
  """
  config: config_lib.RunConfigs
  model: str
  model_options: dict
  info: Optional[inputs.DatasetInfo]
  image_size: int
  channels: int
  class_names: List[str]
  preprocessing: preprocess.Preprocessing
  precision: str
  batch_size: int
  devices: List[str] = dataclasses.field(default_factory=list)
  placement: distributed.Placement = dataclasses.field(
      default_factory=distributed.Placement)

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def logits_scopes(self):
    """The model's classifier scopes (registry metadata; () if unknown)."""
    return tuple(getattr(models.get_builder(self.model), 'logits_scopes',
                         ()))

  def network_fn(self, is_training, **extra_options):
    """`models.get_network_fn` for this spec; option errors name the flag.

    A user model gets the run's batch size (its fixed batch where it needs
    one, `models.user_model`).
    """
    options = dict(self.model_options)
    options.update(extra_options)
    try:
      network_fn = models.get_network_fn(self.model, self.num_classes,
                                         is_training=is_training, **options)
    except ValueError as e:
      raise runtime.UserInputError(f'--model={self.model}: {e}') from None
    if user_model.is_user_model(self.model):
      network_fn = functools.partial(network_fn, batch_size=self.batch_size)
    return network_fn

  def input_options(self, is_training):
    """The options of `inputs.build_input` this run sets.

    Every builder gets the run's `preprocessing` (recipe, decode mode and
    augmentation policy, resolved once here). The other options are passed
    only when a user changed them from their defaults, so an option that
    does not apply to the dataset's pipeline is an error
    (`inputs.check_options`) exactly when it was asked for.
    """
    cfg = self.config.input
    defaults = config_lib.InputConfig()
    options = dict(preprocessing=self.preprocessing)
    if is_training and cfg.augment != defaults.augment:
      options['augment'] = cfg.augment
    if cfg.bad_images != defaults.bad_images:
      options['bad_images'] = cfg.bad_images
    if cfg.input_threads:
      options['num_threads'] = cfg.input_threads
    if cfg.cache_dir and cfg.pipeline == 'cached':
      options['cache_dir'] = cfg.cache_dir
    return options

  def build_input(self, split, batch_size, is_training, num_epochs=None,
                  seed=None, device='/cpu:0'):
    """The dataset pipeline of this run (input ops on `device`)."""
    with tf.device(device):
      return inputs.build_input(
          self.config.data.dataset, self.config.data.data_dir, split,
          batch_size, is_training, pipeline=self.config.input.pipeline,
          image_size=self.image_size, num_epochs=num_epochs, seed=seed,
          class_names=self.class_names,
          **self.input_options(is_training))

  def record(self, **extra):
    """The `run_config.json` record of this run."""
    record = dict(model=self.model, dataset=self.config.data.dataset,
                  image_size=self.image_size, channels=self.channels,
                  num_classes=self.num_classes,
                  model_options=self.model_options,
                  preprocessing=self.preprocessing.to_record(),
                  pipeline=self.config.input.pipeline,
                  precision=self.precision,
                  cpu_kernels=startup.current_choice_record(), **extra)
    if user_model.is_user_model(self.model):
      record.update(user_model.describe(self.model))
    return record


def _check_config_type(config, classes, what):
  """Refuses a config of another class than `classes` (a library caller's).

  Raises:
    TypeError: naming `what`, the classes it takes and the one it got.
  """
  if not isinstance(config, classes):
    raise TypeError(
        f'{what} takes {" or ".join(c.__name__ for c in classes)}, not '
        f'{type(config).__name__}')


def network_batch_size(config: config_lib.RunConfigs):
  """The batch a run feeds its network (a user model's fixed batch).

  The config's own (`network_batch_size`: training's `--batch_size`,
  evaluation's `--eval_batch_size`), else `user_model.DEFAULT_BATCH_SIZE`
  (an export takes any batch).

  Raises:
    TypeError: not one of `config_lib.RUN_CONFIGS`.
  """
  _check_config_type(config, config_lib.RUN_CONFIGS, 'a RunSpec')
  return config.network_batch_size() or user_model.DEFAULT_BATCH_SIZE


def check_model_name(model):
  """Raises UserInputError listing the valid models for an unknown name."""
  try:
    return models.get_builder(model)
  except KeyError as e:
    raise runtime.UserInputError(f'--model: {e.args[0]}') from None


def lookup_dataset_info(dataset, data_dir):
  """DatasetInfo, with an unknown dataset name turned into a UserInputError."""
  try:
    return inputs.dataset_info(dataset, data_dir)
  except KeyError as e:
    raise runtime.UserInputError(f'--dataset: {e.args[0]}') from None


def check_model_dataset(builder, model_name, info, image_size,
                        cropped=False):
  """Fails before any work when a model cannot take a dataset's images.

  Raises:
    UserInputError: saying which of channels / image size does not fit.
    cropped: an explicit preprocessing crops the images, so a smaller
      `image_size` than the dataset's is fine.
  """
  if (builder.default_channels is not None
      and info.channels != builder.default_channels):
    raise runtime.UserInputError(
        f'--model={model_name} takes {builder.default_channels}-channel '
        f'images but --dataset={info.name} has {info.channels} channel(s)')
  if (info.image_size is not None and image_size != info.image_size
      and not (cropped and image_size < info.image_size)):
    raise runtime.UserInputError(
        f'--image_size={image_size} but --dataset={info.name} images are '
        f'{info.image_size}x{info.image_size}; leave --image_size at 0')
  if info.num_classes < 2:
    raise runtime.UserInputError(f'--dataset={info.name} has only '
                                 f'{info.num_classes} class(es)')


def resolve_preprocessing(config, builder, recorded=None):
  """The Preprocessing of a run: recorded > flags > the model's default.

  `--jpeg_decode=auto` is full for the queue pipeline and reduced for the
  cached and tf.data ones.
  """
  if recorded:
    return preprocess.Preprocessing.from_record(recorded)
  recipe = (config.input.preprocessing or
            getattr(builder, 'default_preprocessing', 'standardize'))
  preprocess.get_recipe(recipe)
  decode = config.input.jpeg_decode
  if decode == 'auto':
    decode = 'full' if config.input.pipeline == 'queue' else 'reduced'
  return preprocess.Preprocessing(recipe=recipe, decode=decode)


def resolve_augmentation(config):
  """What training does to the pixels: `Preprocessing.augmentation`.

  A dataset whose pipeline declares the `augmentation` option (the array
  datasets) takes a policy of `inputs.augment`: `--augmentation`, else the
  recipe's own training geometry when `--preprocessing` is given, else the
  dataset's default policy. Photos use their recipe's training geometry.
  `--noaugment` is `none` for both.

  Raises:
    UserInputError: `--augmentation` for a dataset without policies (the
      pipeline's option list), an unknown policy or a flip of digits,
      `--augmentation` contradicting `--noaugment`.
  """
  cfg = config.input
  dataset = config.data.dataset
  takes_policy = 'augmentation' in inputs.pipeline_options(dataset,
                                                           cfg.pipeline)
  if cfg.augmentation and not takes_policy:
    inputs.check_options(dataset, cfg.pipeline,
                         {'augmentation': cfg.augmentation})
  if not cfg.augment:
    if cfg.augmentation not in ('', 'none'):
      raise runtime.UserInputError(
          f'--augmentation={cfg.augmentation} contradicts --noaugment; '
          'give one of them')
    return 'none'
  if not takes_policy:
    return preprocess.RECIPE_AUGMENTATION
  if not cfg.augmentation and cfg.preprocessing:
    return preprocess.RECIPE_AUGMENTATION
  return augment_lib.resolve_policy(dataset, cfg.augmentation or None)


def _devices(config):
  """`--devices`, or TF-Slim's `--num_clones` GPUs."""
  if config.num_clones > 1:
    if config.devices:
      raise runtime.UserInputError(
          f'--num_clones={config.num_clones} and --devices={config.devices}: '
          'give one of them')
    return ','.join(f'gpu:{i}' for i in range(config.num_clones))
  return config.devices


def training_network_options(config):
  """The generic training flags a network takes: weight decay, dropout.

  `drop_rate` is passed only when set, so a model without dropout accepts
  the default but refuses `--drop_rate=0.5` (`models.supported_options`).
  """
  options = dict(weight_decay=config.optim.weight_decay)
  if config.drop_rate:
    options['drop_rate'] = config.drop_rate
  return options


def _declared_image_size(model, builder, info):
  """A user model's own image size where it differs from the dataset's."""
  declared = (builder.default_image_size
              if user_model.is_user_model(model) else None)
  if declared and info.image_size and declared != info.image_size:
    logging.info('--model=%s declares images of %dx%d: --dataset=%s images '
                 '(%dx%d) are resized to it', model, declared, declared,
                 info.name, info.image_size, info.image_size)
  return declared


def _check_user_model_classes(model, builder, info):
  """An images-only user function's fixed class count must fit the data."""
  declared = getattr(builder, 'default_num_classes', None)
  if (getattr(builder, 'user_model_kind', None) == 'images' and declared
      and declared != info.num_classes):
    raise runtime.UserInputError(
        f'--model={model}: {builder.user_function}() outputs {declared} '
        f'classes (its module\'s NUM_CLASSES / num_classes) but '
        f'--dataset={info.name} has {info.num_classes}')


def user_model_options(config, options, model=None):
  """`options` with `--model_arg_scope` as a user model's `arg_scope`.

  Raises:
    UserInputError: `--model_arg_scope` with a registry model.
  """
  options = dict(options)
  model = model or config.model
  if config.model_arg_scope:
    if not user_model.is_user_model(model):
      raise runtime.UserInputError(
          f'--model_arg_scope={config.model_arg_scope} applies to '
          f'--model=FILE.py:function only, not --model={model}')
    options['arg_scope'] = config.model_arg_scope
  return options


def for_training(config: config_lib.TrainingConfig) -> RunSpec:
  """The RunSpec of a training run (checks flags and data, writes nothing).

  Raises:
    UserInputError: any flag, model or data problem, naming it.
    TypeError: `config` is not a TrainingConfig.
  """
  _check_config_type(config, (config_lib.TrainingConfig,),
                     'run_spec.for_training')
  config_lib.validate(config)
  builder = check_model_name(config.model)
  if config.max_steps <= 0 and config.num_epochs <= 0:
    raise runtime.UserInputError('set --max_steps or --num_epochs')
  data = config.data
  info = lookup_dataset_info(data.dataset, data.data_dir)
  declared = _declared_image_size(config.model, builder, info)
  image_size = int(data.image_size or declared or info.image_size or
                   builder.default_image_size or 0)
  if not image_size:
    raise runtime.UserInputError(
        f'--model={config.model} has no default image size and '
        f'--dataset={data.dataset} images vary: set --image_size')
  check_model_dataset(builder, config.model, info, image_size,
                      cropped=bool(config.input.preprocessing or declared))
  _check_user_model_classes(config.model, builder, info)
  spec = RunSpec(
      config=config, model=config.model,
      model_options=user_model_options(config, config.model_options),
      info=info, image_size=image_size, channels=info.channels,
      class_names=list(info.class_names),
      preprocessing=dataclasses.replace(
          resolve_preprocessing(config, builder),
          augmentation=resolve_augmentation(config)),
      precision=precision_lib.resolve(config.precision,
                                      config.precision_fallback),
      batch_size=network_batch_size(config),
      devices=towers.parse_devices(_devices(config)))
  inputs.check_options(data.dataset, config.input.pipeline,
                       spec.input_options(is_training=True))
  # The network's own options are checked when the factory is asked.
  spec.network_fn(is_training=True, **training_network_options(config))
  check_image_size(builder, spec, is_training=True,
                   **training_network_options(config))
  return spec


def check_image_size(builder, spec, is_training=False, **options):
  """Refuses an image size below the model's minimum, naming both.

  A model may declare `min_image_size`; one that does not is built once
  in a scratch graph when the size is below its default, so a size its
  layers cannot take ('Negative dimension size') is one line here rather
  than a traceback later.

  Raises:
    UserInputError: naming --image_size and the model.
  """
  minimum = getattr(builder, 'min_image_size', None)
  if minimum and spec.image_size < minimum:
    raise runtime.UserInputError(
        f'--image_size={spec.image_size} is too small for --model='
        f'{spec.model}: it takes images of at least {minimum}x{minimum}')
  default = getattr(builder, 'default_image_size', None)
  if minimum or not default or spec.image_size >= default:
    return
  with tf.Graph().as_default():
    images = tf.compat.v1.placeholder(
        tf.float32,
        [spec.batch_size, spec.image_size, spec.image_size, spec.channels])
    try:
      spec.network_fn(is_training=is_training, **options)(images)
    except ValueError as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else ''
      raise runtime.UserInputError(
          f'--image_size={spec.image_size} is too small for --model='
          f'{spec.model} ({first[:160]})') from None


def _check_user_model_file(model, run_config):
  """Warns when a user model's file changed since the checkpoint's run."""
  recorded = run_config.get('model_sha256')
  if not recorded:
    return
  now = user_model.describe(model).get('model_sha256')
  if now != recorded:
    logging.warning('%s changed since this checkpoint was trained (SHA-256 '
                    '%s then, %s now)', run_config.get('model_file', model),
                    recorded[:12], (now or 'missing')[:12])


def recorded_run(prefix, train_dir=''):
  """`(run_config dict or {}, class names or None)` stored beside `prefix`."""
  run_dir = os.path.dirname(prefix)
  run_config = (checkpoints.read_run_config(run_dir)
                or (checkpoints.read_run_config(train_dir) if train_dir
                    else None) or {})
  class_names = (checkpoints.read_labels(run_dir)
                 or (checkpoints.read_labels(train_dir) if train_dir
                     else None))
  return run_config, class_names


def _recorded_dataset(config, run_config, prefix):
  """`config` reading the dataset recorded in `run_config.json`.

  `--dataset` left at its default takes the recorded dataset; a `--dataset`
  given that contradicts the record is an error.
  """
  recorded = run_config.get('dataset')
  if not recorded or recorded == config.data.dataset:
    return config
  if config.data.dataset != config_lib.DataConfig().dataset:
    raise runtime.UserInputError(
        f'--dataset={config.data.dataset} but checkpoint {prefix} was trained '
        f'on --dataset={recorded} (run_config.json beside it): drop the flag '
        'or pass the recorded one')
  logging.info('--dataset=%s, recorded in the run_config.json beside %s',
               recorded, prefix)
  return dataclasses.replace(
      config, data=dataclasses.replace(config.data, dataset=recorded))


def for_checkpoint(
    config: Union[config_lib.EvalConfig, config_lib.ExportConfig], prefix,
    need_data=True, fallback_num_classes=0) -> RunSpec:
  """The RunSpec to rebuild the network of checkpoint `prefix`.

  The model, its options, the image size and the preprocessing come from
  the `run_config.json` beside the checkpoint (written by training); the
  flags fill in what it lacks (a checkpoint another program wrote), and
  `--image_size` and `--model_option` may override it. The dataset is the
  recorded one unless `--dataset` says otherwise (an error then). The
  class names come from `labels.txt`, else `--labels_file`, else the
  dataset.

  Args:
    config: an EvalConfig or ExportConfig.
    prefix: the checkpoint.
    need_data: read the dataset (evaluation) or not (export).
    fallback_num_classes: without labels.txt, --labels_file or --data_dir,
      build this many placeholder classes instead of failing (0: fail).

  Raises:
    UserInputError: no way to know the classes, a bad model or data.
    TypeError: `config` is neither an EvalConfig nor an ExportConfig.
  """
  _check_config_type(config, (config_lib.EvalConfig, config_lib.ExportConfig),
                     'run_spec.for_checkpoint')
  config_lib.validate(config)
  run_config, class_names = recorded_run(prefix, config.train_dir)
  model = run_config.get('model') or config.model
  if model != config.model:
    logging.warning('building --model=%s, the model this checkpoint was '
                    'trained as (run_config.json beside it), not --model=%s%s',
                    model, config.model,
                    '; --checkpoint_var_map applies to its names'
                    if config.checkpoint_var_map else '')
  config = _recorded_dataset(config, run_config, prefix)
  if user_model.is_user_model(model):
    _check_user_model_file(model, run_config)
  builder = check_model_name(model)
  if config.data.labels_file and not class_names:
    class_names = checkpoints.read_labels_file(config.data.labels_file)
  info = None
  if not class_names and fallback_num_classes and not config.data.data_dir:
    class_names = [f'class_{i}' for i in range(fallback_num_classes)]
  if need_data or not class_names:
    if not config.data.data_dir and not class_names:
      raise runtime.UserInputError(
          f'{prefix}: no labels.txt beside the checkpoint; pass '
          '--labels_file or --data_dir so the classes are known')
    info = lookup_dataset_info(config.data.dataset, config.data.data_dir)
    class_names = class_names or list(info.class_names)
  image_size = int(config.data.image_size or run_config.get('image_size')
                   or (info.image_size if info else 0)
                   or builder.default_image_size or 0)
  if not image_size:
    raise runtime.UserInputError(
        f'{prefix}: the image size is unknown (no run_config.json beside '
        'the checkpoint): set --image_size')
  channels = int(run_config.get('channels') or
                 (info.channels if info else 0) or
                 builder.default_channels or 3)
  if info is not None:
    check_model_dataset(builder, model, info, image_size,
                        cropped=bool(run_config.get('preprocessing') or
                                     config.input.preprocessing))
  options = dict(run_config.get('model_options') or {})
  options.update(config.model_options)
  options = user_model_options(config, options, model)
  return RunSpec(
      config=config, model=model, model_options=options, info=info,
      image_size=image_size, channels=channels, class_names=class_names,
      preprocessing=resolve_preprocessing(config, builder,
                                          run_config.get('preprocessing')),
      precision=precision_lib.resolve(config.precision,
                                      config.precision_fallback),
      batch_size=network_batch_size(config))


