"""The measured probe behind the CPU kernel choice (`tf1cnn.startup`).

`python -m tf1cnn.kernel_probe --steps=20` trains a network on one synthetic
batch held in memory and prints one JSON line with its images/s. It runs in
a child process per kernel library, since `TF_ENABLE_ONEDNN_OPTS` is read
once, when TensorFlow loads. `--model=probe` is a small two-convolution
network; a registered model name (`--model=lenet5`) times that model's
training step (Adam, weight decay, its own input size with
`--image_size=0`).
"""

import json
import os
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_integer('steps', 20, 'timed training steps', lower_bound=1)
  flags.DEFINE_integer('warmup_steps', 5, 'untimed steps first',
                       lower_bound=0)
  flags.DEFINE_integer('batch_size', 16, 'images per step', lower_bound=1)
  flags.DEFINE_integer('image_size', 64,
                       'image side (0: the model\'s own)', lower_bound=0)
  flags.DEFINE_string('model', 'probe', "'probe' or a registered model")


def _probe_network(images, num_classes):
  tf = __import__('tensorflow').compat.v1
  net = images
  for i, depth in enumerate((16, 32)):
    kernel = tf.get_variable(f'conv{i}/weights', [3, 3, net.shape[-1], depth])
    net = tf.nn.relu(tf.nn.conv2d(net, kernel, [1, 1, 1, 1], 'SAME'))
    net = tf.nn.max_pool2d(net, 2, 2, 'SAME')
  net = tf.reshape(net, [net.shape[0], -1])
  weights = tf.get_variable('fc/weights', [net.shape[-1], num_classes])
  return tf.matmul(net, weights)


def measure(steps, warmup_steps, batch_size, image_size, model):
  """images/s of `steps` training steps after `warmup_steps`."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tf1cnn import startup  # pylint: disable=g-import-not-at-top
  tf = startup.import_tensorflow()
  v1 = tf.compat.v1
  v1.disable_eager_execution()
  channels, num_classes = 3, 2
  if model != 'probe':
    from tf1cnn import models  # pylint: disable=g-import-not-at-top
    builder = models.get_builder(model)
    image_size = image_size or builder.default_image_size
    channels = builder.default_channels
    num_classes = builder.default_num_classes
  rng = np.random.RandomState(0)
  graph = tf.Graph()
  with graph.as_default():
    v1.set_random_seed(0)
    images = tf.constant(rng.standard_normal(
        (batch_size, image_size, image_size, channels)).astype(np.float32))
    labels = tf.constant(rng.randint(0, num_classes, batch_size))
    if model == 'probe':
      logits = _probe_network(images, num_classes)
    else:
      network_fn = models.get_network_fn(model, num_classes=num_classes,
                                         is_training=True, weight_decay=1e-4)
      logits, _ = network_fn(images)
    loss = tf.reduce_mean(v1.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    loss += tf.add_n(v1.get_collection(v1.GraphKeys.REGULARIZATION_LOSSES)
                     or [tf.constant(0.0)])
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
      train_op = v1.train.AdamOptimizer(1e-3).minimize(loss)
    with v1.Session(graph=graph) as sess:
      sess.run(v1.global_variables_initializer())
      for _ in range(warmup_steps):
        sess.run(train_op)
      start = time.perf_counter()
      for _ in range(steps):
        sess.run(train_op)
      elapsed = time.perf_counter() - start
  return steps * batch_size / elapsed


def _main(argv):
  del argv
  rate = measure(FLAGS.steps, FLAGS.warmup_steps, FLAGS.batch_size,
                 FLAGS.image_size, FLAGS.model)
  print(json.dumps(dict(images_per_sec=rate, model=FLAGS.model,
                        steps=FLAGS.steps,
                        onednn_env=os.environ.get('TF_ENABLE_ONEDNN_OPTS'))))


def main():
  _define_flags()
  app.run(_main)


if __name__ == '__main__':
  main()
