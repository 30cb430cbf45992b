"""Helpers of `queue_train.py`, imported from the script's own folder.

TF 1.x code as it was written (`import tensorflow as tf`, `import tf_slim as
slim`); under `tf1cnn-run` both imports are served by tf1cnn.compat.
"""

import numpy as np
import tensorflow as tf
import tf_slim as slim


def striped_images(count, size, seed=0):
  """`count` float32 images [size, size, 1]: class 0 horizontal stripes, 1 vertical."""
  rng = np.random.RandomState(seed)
  labels = np.arange(count) % 2
  stripes = (np.arange(size) // 2 % 2).astype(np.float32)
  images = np.empty((count, size, size, 1), np.float32)
  for i, label in enumerate(labels):
    pattern = stripes[:, None] if label == 0 else stripes[None, :]
    images[i, :, :, 0] = pattern + rng.normal(0, 0.3, (size, size))
  return images, labels.astype(np.int64)


def conv_block(images, depth, scope):
  """A slim conv2d + max_pool2d block with seeded Xavier weights."""
  with tf.variable_scope(scope):
    net = slim.conv2d(images, depth, [3, 3], padding='SAME',
                      weights_initializer=slim.xavier_initializer(seed=11),
                      scope='conv')
    return slim.max_pool2d(net, [2, 2], scope='pool')
