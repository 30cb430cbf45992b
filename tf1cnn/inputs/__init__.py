"""Dataset readers and input pipelines, behind one registry.

    info = tf1cnn.inputs.dataset_info('cifar10', data_dir)
    batch = tf1cnn.inputs.build_input(
        'cifar10', data_dir, 'train', batch_size=128, is_training=True,
        preprocessing=preprocess.Preprocessing(augmentation='standard'))
    batch.images, batch.labels, batch.num_examples, batch.class_names

A reader module registers itself with two decorators:

* `@register_dataset('cifar10', 'cifar100')` on
  `dataset_info(name, data_dir) -> DatasetInfo` (cheap: no full decode);
* `@register_pipeline(('cifar10', 'cifar100'), 'queue')` on
  `build(name, data_dir, split, batch_size, is_training, image_size=None,
  num_epochs=None, seed=None, class_names=None, *, <options>)
  -> pipeline.InputBatch`.

The keyword-only parameters of a builder are the options it accepts: an
option it does not declare (a misspelling, or one that does not apply, such
as `augmentation` for image folders) is a `UserInputError` naming it and
listing the valid ones. Every builder declares `preprocessing`: the run's
`preprocess.Preprocessing` (recipe, decode mode and augmentation: the
complete description of the pixels), which the run set-up resolves once
and passes to whichever builder the run uses. Pipelines are keyed by
dataset and name (`queue`, `cached`, `tfdata`). Readers raise `UserInputError` naming the file at
fault. The reader modules of this package are imported on the first
look-up, so adding a dataset or a pipeline touches only its own file.
"""

import collections
import importlib
import inspect
import pkgutil

from tf1cnn import runtime

DatasetInfo = collections.namedtuple(
    'DatasetInfo', ['name', 'image_size', 'channels', 'num_classes',
                    'class_names'])
DatasetInfo.__doc__ = """Static facts about a dataset.

Attributes:
  name: registry name.
  image_size: native square size, or None when images vary (folders).
  channels: 1 or 3.
  num_classes: number of classes.
  class_names: list of names, index = label id.
"""

# Arguments every builder takes; everything else is a declared option.
COMMON_ARGUMENTS = ('image_size', 'num_epochs', 'seed', 'class_names')

_INFO = {}        # dataset -> dataset_info function
_PIPELINES = {}   # (dataset, pipeline) -> build function
_DISCOVERED = False
# Modules of this package that hold no reader.
_NOT_READERS = ('arrays', 'augment', 'device', 'pipeline', 'preprocess',
                'sample_data')


def register_dataset(*names):
  """Decorator registering `dataset_info(name, data_dir)` for `names`."""
  def _register(fn):
    for name in names:
      _INFO[name] = fn
    return fn
  return _register


def register_pipeline(datasets, pipeline_name):
  """Decorator registering a builder for `datasets` under `pipeline_name`.

  Raises:
    TypeError: a builder taking **kwargs (its options must be declared), or
      one without the keyword-only `preprocessing` option.
  """
  datasets = (datasets,) if isinstance(datasets, str) else tuple(datasets)

  def _register(fn):
    parameters = inspect.signature(fn).parameters.values()
    kinds = {p.kind for p in parameters}
    if inspect.Parameter.VAR_KEYWORD in kinds:
      raise TypeError(f'{fn.__module__}.{fn.__name__}: declare its options '
                      'as keyword-only parameters, not **kwargs')
    if not any(p.name == 'preprocessing'
               and p.kind == inspect.Parameter.KEYWORD_ONLY
               for p in parameters):
      raise TypeError(f'{fn.__module__}.{fn.__name__}: declare the '
                      'keyword-only option `preprocessing` (every run passes '
                      'its preprocess.Preprocessing)')
    for dataset in datasets:
      _PIPELINES[(dataset, pipeline_name)] = fn
    return fn
  return _register


def _discover():
  global _DISCOVERED
  if _DISCOVERED:
    return
  for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if module.name not in _NOT_READERS and not module.name.startswith('_'):
      importlib.import_module(f'{__name__}.{module.name}')
  _DISCOVERED = True


def list_datasets():
  """Returns the registered dataset names, sorted."""
  _discover()
  return sorted(_INFO)


def list_pipelines(dataset):
  """The pipeline names registered for `dataset`, sorted."""
  _discover()
  return sorted(p for d, p in _PIPELINES if d == dataset)


def _check_dataset(name):
  _discover()
  if name not in _INFO:
    raise KeyError(f'unknown dataset {name!r}; valid datasets: '
                   f'{", ".join(list_datasets())}')


def dataset_info(name, data_dir):
  """Returns the `DatasetInfo` of dataset `name` stored under `data_dir`."""
  _check_dataset(name)
  return _INFO[name](name, data_dir)


def pipeline_options(name, pipeline_name='queue'):
  """`{option: default}` that the builder of (`name`, `pipeline_name`) takes."""
  builder = get_builder(name, pipeline_name)
  return {p.name: p.default
          for p in inspect.signature(builder).parameters.values()
          if p.kind == inspect.Parameter.KEYWORD_ONLY}


def get_builder(name, pipeline_name='queue'):
  """The build function of dataset `name` and pipeline `pipeline_name`.

  Raises:
    KeyError: unknown dataset.
    UserInputError: a pipeline the dataset does not have.
  """
  _check_dataset(name)
  if (name, pipeline_name) not in _PIPELINES:
    raise runtime.UserInputError(
        f'--pipeline={pipeline_name} is not available for --dataset={name} '
        f'(its pipelines: {", ".join(list_pipelines(name))})')
  return _PIPELINES[(name, pipeline_name)]


def check_options(name, pipeline_name, options):
  """Raises UserInputError for an option the builder does not declare."""
  accepted = pipeline_options(name, pipeline_name)
  for key in options:
    if key not in accepted:
      raise runtime.UserInputError(
          f'--dataset={name} --pipeline={pipeline_name} has no option '
          f'{key!r} (its options: {", ".join(sorted(accepted)) or "none"})')


def build_input(name, data_dir, split, batch_size, is_training,
                pipeline='queue', image_size=None, num_epochs=None, seed=None,
                class_names=None, **options):
  """Builds pipeline `pipeline` of dataset `name`; returns an `InputBatch`.

  Args:
    name: a dataset from `list_datasets()`.
    data_dir: where it is stored.
    split: 'train', 'test', ...
    batch_size: examples per batch.
    is_training: shuffle and augment.
    pipeline: a name from `list_pipelines(name)`.
    image_size: square output size (None: the dataset's own).
    num_epochs: None repeats forever; 1 for evaluation.
    seed: shuffle and augmentation seed.
    class_names: fix the label mapping (evaluation of a trained model).
    **options: the builder's declared options (`pipeline_options`).

  Raises:
    UserInputError: an undeclared option, a pipeline the dataset lacks.
  """
  check_options(name, pipeline, options)
  builder = get_builder(name, pipeline)
  return builder(name, data_dir, split, batch_size, is_training,
                 image_size=image_size, num_epochs=num_epochs, seed=seed,
                 class_names=class_names, **options)
