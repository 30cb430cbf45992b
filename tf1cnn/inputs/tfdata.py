"""The image-folder input as a `tf.data` pipeline in graph mode.

The same preprocessing as the queue pipeline (`preprocess.photo`: decode,
the recipe's geometry with the random crop and flip while training, and its
normalisation), expressed as

    Dataset.from_tensor_slices((filenames, labels))
      -> shuffle (training; a full reshuffle every epoch) -> repeat(num_epochs)
      -> map(decode ..., num_parallel_calls=threads, deterministic in eval)
      -> batch (training drops the last partial batch for a static shape)
      -> prefetch

and read through `tf.compat.v1.data.make_initializable_iterator`.

The iterator's initializer is added to the `TABLE_INITIALIZERS` collection:
`Scaffold`'s default `local_init_op` (used by `MonitoredTrainingSession`)
runs `tf.compat.v1.tables_initializer()`, which groups that collection, so the
iterator is initialised on session creation with no extra hook; a plain
`Session` runs `tf.compat.v1.tables_initializer()` itself (as evaluation
does). `build_dataset_input` also returns the initializer for callers that
re-initialise (another epoch in evaluation).
"""

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import preprocess
from tf1cnn.inputs import register_pipeline

_V1 = tf.compat.v1


def make_dataset(filenames, labels, batch_size, is_training, image_size,
                 num_epochs=None, augment=True, seed=None, num_threads=None,
                 preprocessing=preprocess.Preprocessing(decode='reduced')):
  """Returns the batched `tf.data.Dataset` of `(images, labels)`."""
  threads = num_threads or pipeline.default_num_threads()
  dataset = tf.data.Dataset.from_tensor_slices(
      (image_folder.path_tensor(filenames),
       tf.constant(np.asarray(labels, np.int32))))
  if is_training:
    dataset = dataset.shuffle(len(filenames), seed=seed,
                              reshuffle_each_iteration=True)
  dataset = dataset.repeat(num_epochs)

  def _load(path, label):
    image = preprocess.photo(tf.io.read_file(path), image_size,
                             preprocessing, is_training, augment, seed)
    return image, label

  dataset = dataset.map(_load, num_parallel_calls=threads,
                        deterministic=not is_training)
  dataset = dataset.batch(batch_size, drop_remainder=is_training)
  return dataset.prefetch(2)


def build_dataset_input(data_dir, split, batch_size, is_training,
                        image_size=150, num_epochs=None, augment=True,
                        seed=None, class_names=None, bad_images='fail',
                        num_threads=None,
                        preprocessing=preprocess.Preprocessing(
                            decode='reduced')):
  """Builds the tf.data pipeline; returns `(InputBatch, iterator_initializer)`.

  The initializer is also registered in `TABLE_INITIALIZERS` (see the module
  docstring).
  """
  runtime.require_graph_mode('tfdata.build_dataset_input')
  filenames, labels, class_names = image_folder.scan_and_check(
      data_dir, split, class_names, bad_images)
  image_folder.note_file_checks(filenames)
  image_size = int(image_size or 150)
  with tf.name_scope(f'tfdata_input_{split}'):
    dataset = make_dataset(filenames, labels, batch_size, is_training,
                           image_size, num_epochs=num_epochs, augment=augment,
                           seed=seed, num_threads=num_threads,
                           preprocessing=preprocessing)
    iterator = _V1.data.make_initializable_iterator(dataset)
    _V1.add_to_collection(_V1.GraphKeys.TABLE_INITIALIZERS,
                          iterator.initializer)
    images, batch_labels = iterator.get_next()
  logging.info('%s/%s: %d images, %d classes (tf.data, %s preprocessing, '
               '%s JPEG decode)', data_dir, split, len(filenames),
               len(class_names), preprocessing.recipe, preprocessing.decode)
  batch = pipeline.InputBatch(images, batch_labels, len(filenames),
                              class_names)
  return batch, iterator.initializer


@register_pipeline('image_folder', 'tfdata')
def build_input(name, data_dir, split, batch_size, is_training,
                image_size=150, num_epochs=None, seed=None, class_names=None,
                *, augment=True, bad_images='fail', num_threads=None,
                preprocessing=preprocess.Preprocessing(decode='reduced')):
  """Registry entry point: arguments as `image_folder.build_input`.

  Returns:
    pipeline.InputBatch (the iterator initializer is in TABLE_INITIALIZERS).
  """
  del name
  batch, _ = build_dataset_input(
      data_dir, split, batch_size, is_training, image_size=image_size,
      num_epochs=num_epochs, augment=augment, seed=seed,
      class_names=class_names, bad_images=bad_images, num_threads=num_threads,
      preprocessing=preprocessing)
  return batch
