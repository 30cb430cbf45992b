"""Small generated datasets shared by the tests."""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

_V1 = tf.compat.v1


def make_striped_dataset(root, per_class=12, size=36, seed=0):
  """Two learnable classes: horizontal vs vertical stripes, noisy colours."""
  rng = np.random.RandomState(seed)
  for split in ('train', 'test'):
    for label, name in enumerate(['horizontal', 'vertical']):
      folder = os.path.join(root, split, name)
      os.makedirs(folder, exist_ok=True)
      for i in range(per_class):
        stripes = (np.arange(size) // 3 % 2).astype(np.float32)
        pattern = stripes[:, None] if label == 0 else stripes[None, :]
        pattern = np.broadcast_to(pattern, (size, size))
        colour = rng.uniform(60, 255, 3)
        pixels = pattern[..., None] * colour + rng.normal(0, 20, (size, size, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f'{i:02d}.png'))


def trained_striped_export(root, per_class, max_steps, export_options,
                           **train_options):
  """A LeNet-5 trained on a striped dataset under `root`, then exported.

  Returns `(data_dir, train_dir, version_dir)`. `train_options` override the
  training config (image size, steps, moving averages); `export_options`
  are the export config's (formats, verify_images, ...).
  """
  # The library's modules: only the tests that train import them.
  from tf1cnn import config as config_lib  # pylint: disable=g-import-not-at-top
  from tf1cnn import export  # pylint: disable=g-import-not-at-top
  from tf1cnn import training  # pylint: disable=g-import-not-at-top
  data_dir = os.path.join(root, 'data')
  train_dir = os.path.join(root, 'train')
  make_striped_dataset(data_dir, per_class=per_class)
  training.train(config_lib.training_config(**{
      'model': 'lenet5', 'data_dir': data_dir, 'train_dir': train_dir,
      'batch_size': 4, 'max_steps': max_steps, 'seed': 1, 'input_threads': 2,
      **train_options}))
  version = export.export_saved_model(config_lib.export_config(
      train_dir=train_dir, export_dir=os.path.join(root, 'export'),
      data_dir=data_dir, **export_options))
  return data_dir, train_dir, version


def run_batches(batch, initializers=()):
  """Runs an evaluation pipeline (num_epochs=1) to its end."""
  images, labels = [], []
  with _V1.Session(config=_V1.ConfigProto(
      operation_timeout_in_ms=60000)) as sess:
    sess.run([_V1.local_variables_initializer(), _V1.tables_initializer()])
    sess.run(list(initializers))
    coord = _V1.train.Coordinator()
    threads = _V1.train.start_queue_runners(sess, coord)
    try:
      while True:
        x, y = sess.run([batch.images, batch.labels])
        images.append(x)
        labels.append(y)
    except tf.errors.OutOfRangeError:
      pass
    finally:
      coord.request_stop()
      coord.join(threads)
  return np.concatenate(images), np.concatenate(labels)


def subprocess_env(**overrides):
  """The environment for a test's child process.

  Without `TF_USE_LEGACY_KERAS`, which `reference_libs` sets in the test
  process (a child's TensorFlow would load tf_keras), and with TensorFlow's
  C++ log quiet unless `overrides` say otherwise.
  """
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  env.update(overrides)
  return env
