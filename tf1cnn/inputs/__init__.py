"""Dataset readers and queue-style input pipelines.

Every dataset is reached through this registry:

    info = tf1cnn.inputs.dataset_info('cifar10', data_dir)
    batch = tf1cnn.inputs.build_input('cifar10', data_dir, 'train',
                                      batch_size=128, is_training=True)
    batch.images, batch.labels, batch.num_examples, batch.class_names

A reader module implements two functions:

* `dataset_info(name, data_dir) -> DatasetInfo` (cheap: no full decode);
* `build_input(name, data_dir, split, batch_size, is_training,
  image_size=None, num_epochs=None, augment=True, seed=None, **options)
  -> pipeline.InputBatch`.

Readers raise `tf1cnn.runtime.UserInputError` naming the file at fault.
Modules are imported lazily, so an unused reader costs nothing.
"""

import collections
import importlib

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

# name -> module implementing dataset_info / build_input.
_READERS = {
    'image_folder': 'tf1cnn.inputs.image_folder',
    'fashion_mnist': 'tf1cnn.inputs.idx',
    'mnist': 'tf1cnn.inputs.idx',
    'cifar10': 'tf1cnn.inputs.cifar',
    'cifar100': 'tf1cnn.inputs.cifar',
}


def list_datasets():
  """Returns the registered dataset names."""
  return list(_READERS)


def _reader(name):
  if name not in _READERS:
    raise KeyError(f'unknown dataset {name!r}; valid datasets: '
                   f'{", ".join(list_datasets())}')
  return importlib.import_module(_READERS[name])


def dataset_info(name, data_dir):
  """Returns the `DatasetInfo` of dataset `name` stored under `data_dir`."""
  return _reader(name).dataset_info(name, data_dir)


def build_input(name, data_dir, split, batch_size, is_training, **options):
  """Builds the queue pipeline of dataset `name`; returns an `InputBatch`."""
  return _reader(name).build_input(name, data_dir, split, batch_size,
                                   is_training, **options)
