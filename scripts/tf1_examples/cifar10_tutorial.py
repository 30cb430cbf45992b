"""A CIFAR-10-tutorial-style model module, as TF 1.x code left as it is.

The TF 1.x CIFAR-10 tutorial's conventions: the module defines its own
`tf.app.flags` (`data_dir`, `batch_size`, `use_fp16`, names tf1cnn's
programs define too), `inference(images)` takes the images alone and
flattens with the Python `FLAGS.batch_size`, the weights live on the CPU,
and the weight decay of the fully connected layers goes to the `'losses'`
collection (`tf.add_to_collection('losses', ...)`), which the tutorial's
own `loss()` sums. tf1cnn trains it with that decay in the total loss:

    tf1cnn-train --model=scripts/tf1_examples/cifar10_tutorial.py:inference \
        --dataset=cifar10 --data_dir=PATH --max_steps=2000 --batch_size=128

The module's flags take their defaults; a flag only the module defines may
be given on the command line or in a flagfile (`--use_fp16`), and its
`batch_size` flag follows the run's batch. `IMAGE_SIZE` and `NUM_CLASSES`
tell tf1cnn the input size and the number of classes.
"""

import re

import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

FLAGS = tf.app.flags.FLAGS

tf.app.flags.DEFINE_string('data_dir', '/tmp/cifar10_data',
                           'Path to the CIFAR-10 data directory.')
tf.app.flags.DEFINE_integer('batch_size', 128,
                            'Number of images to process in a batch.')
tf.app.flags.DEFINE_boolean('use_fp16', False,
                            'Train the model using fp16.')

IMAGE_SIZE = 24
NUM_CLASSES = 10
TOWER_NAME = 'tower'


def _activation_summary(x):
  """Histogram and sparsity summaries of an activation."""
  name = re.sub(f'{TOWER_NAME}_[0-9]*/', '', x.op.name)
  tf.summary.histogram(name + '/activations', x)
  tf.summary.scalar(name + '/sparsity', tf.nn.zero_fraction(x))


def _variable_on_cpu(name, shape, initializer):
  """A variable kept in CPU memory."""
  with tf.device('/cpu:0'):
    dtype = tf.float16 if FLAGS.use_fp16 else tf.float32
    return tf.get_variable(name, shape, initializer=initializer, dtype=dtype)


def _variable_with_weight_decay(name, shape, stddev, wd):
  """A truncated-normal variable; `wd` > 0 adds its L2 decay to 'losses'."""
  dtype = tf.float16 if FLAGS.use_fp16 else tf.float32
  var = _variable_on_cpu(
      name, shape, tf.truncated_normal_initializer(stddev=stddev, dtype=dtype))
  if wd is not None:
    weight_decay = tf.multiply(tf.nn.l2_loss(var), wd, name='weight_loss')
    tf.add_to_collection('losses', weight_decay)
  return var


def _conv(name, inputs, shape):
  with tf.variable_scope(name) as scope:
    kernel = _variable_with_weight_decay('weights', shape=shape, stddev=5e-2,
                                         wd=None)
    conv = tf.nn.conv2d(inputs, kernel, [1, 1, 1, 1], padding='SAME')
    biases = _variable_on_cpu('biases', shape[-1:],
                              tf.constant_initializer(0.0 if name == 'conv1'
                                                      else 0.1))
    out = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
    _activation_summary(out)
  return out


def inference(images):
  """The network: two conv/pool/norm stages, two local layers, a linear one.

  Args:
    images: `[FLAGS.batch_size, IMAGE_SIZE, IMAGE_SIZE, 3]`.

  Returns:
    Logits `[FLAGS.batch_size, NUM_CLASSES]`.
  """
  conv1 = _conv('conv1', images, [5, 5, 3, 64])
  pool1 = tf.nn.max_pool(conv1, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                         padding='SAME', name='pool1')
  norm1 = tf.nn.lrn(pool1, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                    name='norm1')
  conv2 = _conv('conv2', norm1, [5, 5, 64, 64])
  norm2 = tf.nn.lrn(conv2, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                    name='norm2')
  pool2 = tf.nn.max_pool(norm2, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                         padding='SAME', name='pool2')
  with tf.variable_scope('local3') as scope:
    # The Python batch size: every batch must have FLAGS.batch_size rows.
    reshape = tf.reshape(pool2, [FLAGS.batch_size, -1])
    dim = reshape.get_shape()[1].value
    weights = _variable_with_weight_decay('weights', shape=[dim, 384],
                                          stddev=0.04, wd=0.004)
    biases = _variable_on_cpu('biases', [384], tf.constant_initializer(0.1))
    local3 = tf.nn.relu(tf.matmul(reshape, weights) + biases, name=scope.name)
    _activation_summary(local3)
  with tf.variable_scope('local4') as scope:
    weights = _variable_with_weight_decay('weights', shape=[384, 192],
                                          stddev=0.04, wd=0.004)
    biases = _variable_on_cpu('biases', [192], tf.constant_initializer(0.1))
    local4 = tf.nn.relu(tf.matmul(local3, weights) + biases, name=scope.name)
    _activation_summary(local4)
  with tf.variable_scope('softmax_linear') as scope:
    weights = _variable_with_weight_decay('weights', [192, NUM_CLASSES],
                                          stddev=1 / 192.0, wd=None)
    biases = _variable_on_cpu('biases', [NUM_CLASSES],
                              tf.constant_initializer(0.0))
    softmax_linear = tf.add(tf.matmul(local4, weights), biases,
                            name=scope.name)
    _activation_summary(softmax_linear)
  return softmax_linear
