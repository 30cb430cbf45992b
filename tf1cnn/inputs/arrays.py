"""Queue pipeline over in-memory uint8 image arrays (MNIST, CIFAR pickles).

Readers that decode a whole split into numpy (`idx`, the CIFAR pickle format)
hand the arrays to `build_array_input`:

    uint8 [N, H, W, C] images, int labels [N]
      -> two non-trainable LOCAL variables (see `array_variable`)
      -> `slice_input_producer([images, labels], num_epochs, shuffle)`
      -> `preprocess_example`: the run's `preprocess.Preprocessing`
         (training: the augmentation policy, or the recipe's own training
         geometry; the recipe's geometry; its normalisation)
      -> `pipeline.batch_examples` (`shuffle_batch` or in-order `batch`)

Where the data lives: the arrays are not graph constants (a GraphDef is
limited to 2 GB and is written into every checkpoint's `.meta` file and into
the summary event file). Each array is held by a resource variable in the
`LOCAL_VARIABLES` collection whose initial value comes from a `py_func`
returning the numpy array. So

* the GraphDef stays small whatever the dataset size;
* `tf.compat.v1.local_variables_initializer()` (run by
  `MonitoredTrainingSession`'s default `local_init_op` and by the evaluation
  loop) loads the data, with no feed needed;
* the default `Saver` only saves global variables, so the data never goes into
  checkpoints.

A graph built this way can only run in the process that built it (the
`py_func` refers to a Python function of this process).

Evaluation (`is_training=False`, `num_epochs=1`) yields every example exactly
once, in array order, the last batch possibly smaller; the pipeline then
raises `tf.errors.OutOfRangeError`.
"""

import collections
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import augment as augment_lib
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1


class FileCache:
  """Keeps the last few decoded files, keyed by path, size and mtime.

  Readers decode a split once per process even when training and evaluation
  (or several graphs) use it; a file changed on disk is read again. Cached
  values should be read-only arrays.
  """

  def __init__(self, max_entries):
    self._max_entries = max_entries
    self._entries = collections.OrderedDict()

  def get(self, path, loader):
    """Returns `loader(path)`, decoded now or earlier.

    Raises:
      UserInputError: `path` cannot be read (the message names it).
    """
    try:
      stat = os.stat(path)
    except OSError as e:
      raise runtime.UserInputError(
          f'{path}: cannot read ({e.strerror})') from None
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key in self._entries:
      self._entries.move_to_end(key)
      return self._entries[key]
    value = loader(path)
    self._entries[key] = value
    while len(self._entries) > self._max_entries:
      self._entries.popitem(last=False)
    return value

  def clear(self):
    """Forgets every cached value."""
    self._entries.clear()


def array_variable(array, name):
  """Creates a non-trainable local variable initialised with `array`.

  The value reaches the variable through a `py_func`, not through a graph
  constant, so large arrays do not bloat the GraphDef.

  Args:
    array: numpy array (kept alive by the graph's py_func).
    name: variable name.

  Returns:
    A resource variable in the `LOCAL_VARIABLES` collection.
  """
  array = np.ascontiguousarray(array)
  dtype = tf.as_dtype(array.dtype)

  def _value():
    return array

  # stateful=True: keeps grappler from folding the array into a constant.
  initial = _V1.py_func(_value, [], dtype, stateful=True,
                        name=f'{name}_value')
  initial.set_shape(array.shape)
  return _V1.Variable(initial, trainable=False, name=name,
                      collections=[_V1.GraphKeys.LOCAL_VARIABLES],
                      use_resource=True)


def array_preprocessing(dataset, preprocessing=None, augmentation=None):
  """The `preprocess.Preprocessing` of an array dataset's pipeline.

  A run's set-up (`run_spec`) resolves it once and passes it; a direct
  call of a reader may instead name only a policy (`augmentation`), which
  then fills in the default recipe.

  Args:
    dataset: registry name (the policy's default and the MNIST no-flip rule).
    preprocessing: a `preprocess.Preprocessing`, or None.
    augmentation: a policy of `augment.py`, or None.

  Returns:
    A `preprocess.Preprocessing`.

  Raises:
    UserInputError: both given and they disagree; an unknown policy; a
      flip of MNIST digits.
  """
  if preprocessing is None:
    return preprocess.Preprocessing(
        augmentation=augment_lib.resolve_policy(dataset, augmentation))
  if augmentation not in (None, '', preprocessing.augmentation):
    raise runtime.UserInputError(
        f'augmentation={augmentation!r} contradicts the run\'s preprocessing '
        f'(augmentation {preprocessing.augmentation!r}); give one of them')
  if preprocessing.augmentation != preprocess.RECIPE_AUGMENTATION:
    augment_lib.resolve_policy(dataset, preprocessing.augmentation)
  return preprocessing


def preprocess_example(image, is_training, preprocessing=None,
                       image_size=None, augment=True, seed=None,
                       dataset=None):
  """One stored image -> the network's float32 input (the one pixel path).

  Training (`preprocessing.augments`) applies either the recipe's own
  training geometry (augmentation `recipe`) or the array policy (`augment.py`)
  on the stored pixels followed by the recipe's evaluation geometry;
  evaluation applies the evaluation geometry. The recipe's normalisation
  comes last.

  Args:
    image: one `[H, W, C]` image with a static shape, uint8 or float.
    is_training: augmentation only happens when True.
    preprocessing: `preprocess.Preprocessing`; None: the `standardize`
      recipe without augmentation.
    image_size: square output size; None keeps the native size.
    augment: False turns augmentation off even in training.
    seed: op seed of the augmentation.
    dataset: registry name, for the policy (MNIST digits are not flipped).

  Returns:
    float32 `[image_size, image_size, C]` image.
  """
  if preprocessing is None:
    preprocessing = preprocess.Preprocessing(augmentation='none')
  recipe = preprocess.get_recipe(preprocessing.recipe)
  size = int(image_size or image.shape[0])
  if (preprocessing.augments(is_training, augment)
      and preprocessing.augmentation == preprocess.RECIPE_AUGMENTATION):
    pixels = recipe.train_pixels(image, size, seed)
  else:
    if preprocessing.augments(is_training, augment):
      policy_fn = augment_lib.augment_fn(
          dataset, preprocessing.augmentation,
          seed=None if seed is None else int(seed) + 2)
      if policy_fn is not None:
        image = policy_fn(image)
    pixels = recipe.eval_pixels(image, size)
  return recipe.normalize(tf.cast(pixels, tf.float32))


def check_arrays(images, labels, num_classes, source):
  """Validates image and label arrays before a graph is built.

  Args:
    images: `[N, H, W, C]` uint8 array.
    labels: `[N]` integer array.
    num_classes: labels must lie in `[0, num_classes)`.
    source: file or folder named in error messages.

  Raises:
    UserInputError: wrong rank or dtype, count mismatch, no examples, a label
      out of range.
  """
  if not isinstance(images, np.ndarray) or images.ndim != 4:
    raise runtime.UserInputError(
        f'{source}: images must be a [N, H, W, C] array, got '
        f'{getattr(images, "shape", type(images).__name__)}')
  if images.dtype != np.uint8:
    raise runtime.UserInputError(
        f'{source}: images must be uint8, got {images.dtype}')
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
    raise runtime.UserInputError(
        f'{source}: {images.shape[0]} images but labels of shape '
        f'{labels.shape}')
  if images.shape[0] == 0:
    raise runtime.UserInputError(f'{source}: no examples')
  if not np.issubdtype(labels.dtype, np.integer):
    raise runtime.UserInputError(
        f'{source}: labels must be integers, got {labels.dtype}')
  low, high = int(labels.min()), int(labels.max())
  if low < 0 or high >= num_classes:
    bad = int(np.argmax((labels < 0) | (labels >= num_classes)))
    raise runtime.UserInputError(
        f'{source}: label {int(labels[bad])} of example {bad} is outside '
        f'[0, {num_classes - 1}]')


def check_trained_classes(trained_class_names, dataset_class_names, where):
  """Raises UserInputError when a trained model's classes differ from the data's.

  Args:
    trained_class_names: the classes of the trained model, or None (no check).
    dataset_class_names: the classes the dataset has.
    where: the dataset's location, for the message.
  """
  if (trained_class_names is not None
      and list(trained_class_names) != list(dataset_class_names)):
    raise runtime.UserInputError(
        f'the model was trained on classes {list(trained_class_names)} but '
        f'{where} has classes {list(dataset_class_names)}')


def build_array_input(images, labels, class_names, batch_size, is_training,
                      num_epochs=None, augment=True,
                      image_size=None, seed=None, num_threads=None,
                      name='input', source='arrays', preprocessing=None,
                      dataset=None):
  """Builds the queue pipeline over in-memory arrays.

  Args:
    images: uint8 `[N, H, W, C]` numpy array.
    labels: integer `[N]` numpy array, values in `[0, len(class_names))`.
    class_names: list of class names (label i is class_names[i]).
    batch_size: examples per batch.
    is_training: shuffle and augment when True; otherwise in order with a
      smaller final batch.
    num_epochs: None repeats forever; an int ends the pipeline with
      `OutOfRangeError` after that many passes (evaluation uses 1).
    augment: False turns training augmentation off.
    image_size: square output size; None keeps the native size.
    seed: seed of the example shuffle (the batch shuffle uses `seed + 1`).
    num_threads: enqueue threads while training.
    name: name scope of the pipeline.
    source: file or folder named in error messages and the log.
    preprocessing: `preprocess.Preprocessing` (see `preprocess_example`;
      None: no augmentation, the `standardize` recipe).
    dataset: registry name, for the augmentation policy.

  Returns:
    pipeline.InputBatch.

  Raises:
    UserInputError: see `check_arrays`.
  """
  runtime.require_graph_mode('build_input')
  check_arrays(images, labels, len(class_names), source)
  num_examples = int(images.shape[0])
  with tf.name_scope(name):
    images_var = array_variable(images, 'images')
    labels_var = array_variable(np.asarray(labels, np.int32), 'labels')
    image, label = _V1.train.slice_input_producer(
        [images_var, labels_var], num_epochs=num_epochs, shuffle=is_training,
        seed=seed, capacity=max(32, 4 * batch_size), name='examples')
    image = preprocess_example(image, is_training, preprocessing,
                               image_size, augment, seed, dataset)
    batch_images, batch_labels = pipeline.batch_examples(
        image, label, batch_size, is_training, num_threads=num_threads,
        seed=None if seed is None else int(seed) + 1, name='batch')
  logging.info('%s: %d examples of %s, %d classes', source, num_examples,
               'x'.join(str(d) for d in images.shape[1:]), len(class_names))
  return pipeline.InputBatch(batch_images, batch_labels, num_examples,
                             list(class_names))
