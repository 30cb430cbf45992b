"""An Estimator CNN on the cat/dog photos: tf.data input, train_and_evaluate.

A TF 1.x program as it was written for TensorFlow 1.15 (`import tensorflow
as tf`, `tf.estimator`, `tf.app.flags`), run unchanged on TensorFlow 2.21 by
`tf1cnn-run`. The network is seed 003's LeNet-5 (tf1cnn's
`tf1cnn.models.lenet5.inference`, so it is exactly the network
`scripts/train.py --model=lenet5` trains), here at 64x64 by default to keep
a CPU run short. The `input_fn` reads an image folder with `tf.data`
(`<data_dir>/{train,test}/<class>/*.jpg`): decode, bilinear resize,
`per_image_standardization`, random left-right flips while training.
Training is `train_and_evaluate` (an evaluation after each checkpoint) with
a `FinalExporter` writing the SavedModel; the program prints one JSON line
with the test accuracy, the training speed (images per second of the
training steps alone, and of the whole run) and the export.

    tf1cnn-run scripts/tf1_examples/estimator_catdog.py \
        --data_dir=../shared/data/catdog --model_dir=runs/estimator_catdog

The same network trained by tf1cnn itself, for comparison:

    python scripts/train.py --model=lenet5 --data_dir=../shared/data/catdog \
        --image_size=64 --batch_size=32 --num_epochs=10 --optimizer=adam \
        --learning_rate=0.001 --weight_decay=0.0005 --drop_rate=0.5 \
        --train_dir=runs/lenet5_64
    python scripts/eval.py --data_dir=../shared/data/catdog \
        --train_dir=runs/lenet5_64
"""

import json
import os
import time

import tensorflow as tf

from tf1cnn.models import lenet5

flags = tf.app.flags
flags.DEFINE_string('data_dir', 'data/catdog',
                    'Image folder with train/ and test/ splits.')
flags.DEFINE_string('model_dir', 'runs/estimator_catdog',
                    'Checkpoints, events and exports.')
flags.DEFINE_integer('image_size', 64, 'Square input size.')
flags.DEFINE_integer('batch_size', 32, 'Training batch.')
flags.DEFINE_integer('num_epochs', 10, 'Training epochs (sets max_steps).')
flags.DEFINE_float('learning_rate', 0.001, 'Adam learning rate.')
flags.DEFINE_float('drop_rate', 0.5, 'Dropout after local1 while training.')
flags.DEFINE_float('weight_decay', 0.0005, 'L2 on the weights.')
flags.DEFINE_integer('save_checkpoints_steps', 250,
                     'A checkpoint (and an evaluation) every this many steps.')
flags.DEFINE_integer('seed', 1, 'Graph-level random seed.')
flags.DEFINE_string('json', '', 'Also write the result line to this file.')
FLAGS = flags.FLAGS

_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')


def list_split(data_dir, split):
  """`(files, labels, class names)` of `<data_dir>/<split>/<class>/*`."""
  folder = os.path.join(data_dir, split)
  classes = sorted(d for d in os.listdir(folder)
                   if os.path.isdir(os.path.join(folder, d)))
  files, labels = [], []
  for label, name in enumerate(classes):
    for file in sorted(os.listdir(os.path.join(folder, name))):
      if file.lower().endswith(_EXTENSIONS):
        files.append(os.path.join(folder, name, file))
        labels.append(label)
  return files, labels, classes


def make_input_fn(split, training):
  files, labels, _ = list_split(FLAGS.data_dir, split)

  def load(path, label):
    image = tf.image.decode_image(tf.read_file(path), channels=3,
                                  expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32),
                            [FLAGS.image_size, FLAGS.image_size])
    if training:
      image = tf.image.random_flip_left_right(image)
    return tf.image.per_image_standardization(image), label

  def input_fn():
    dataset = tf.data.Dataset.from_tensor_slices((files, labels))
    if training:
      dataset = dataset.shuffle(len(files), seed=FLAGS.seed).repeat()
    dataset = dataset.map(load, num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return dataset.batch(FLAGS.batch_size if training else 100).prefetch(2)

  return input_fn, len(files)


def serving_input_receiver_fn():
  """Pixels 0-255 in, the same standardisation inside the export."""
  pixels = tf.placeholder(tf.float32,
                          [None, FLAGS.image_size, FLAGS.image_size, 3],
                          name='images')
  images = tf.map_fn(tf.image.per_image_standardization, pixels)
  return tf.estimator.export.TensorServingInputReceiver(images,
                                                        {'images': pixels})


def model_fn(features, labels, mode, params):
  training = mode == tf.estimator.ModeKeys.TRAIN
  logits = lenet5.inference(features, None, params['num_classes'],
                            FLAGS.drop_rate, is_training=training,
                            weight_decay=FLAGS.weight_decay)
  predictions = {'classes': tf.argmax(logits, 1), 'logits': logits,
                 'probabilities': tf.nn.softmax(logits)}
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={'serving_default':
                        tf.estimator.export.PredictOutput(predictions)})
  loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
  loss += tf.add_n(tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
                   or [tf.constant(0.0)])
  train_op = tf.train.AdamOptimizer(FLAGS.learning_rate).minimize(
      loss, global_step=tf.train.get_global_step())
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op,
      eval_metric_ops={'accuracy': tf.metrics.accuracy(
          labels, predictions['classes'])})


class StepTimeHook(tf.train.SessionRunHook):
  """Sums the wall time of the training steps alone (no evaluations)."""

  def __init__(self):
    self.seconds, self.steps = 0.0, 0
    self._start = None

  def before_run(self, run_context):
    self._start = time.time()

  def after_run(self, run_context, run_values):
    self.seconds += time.time() - self._start
    self.steps += 1


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  train_input_fn, num_train = make_input_fn('train', training=True)
  eval_input_fn, num_test = make_input_fn('test', training=False)
  _, _, classes = list_split(FLAGS.data_dir, 'train')
  max_steps = -(-num_train * FLAGS.num_epochs // FLAGS.batch_size)
  estimator = tf.estimator.Estimator(
      model_fn, params={'num_classes': len(classes)},
      config=tf.estimator.RunConfig(
          model_dir=FLAGS.model_dir, tf_random_seed=FLAGS.seed,
          save_checkpoints_steps=FLAGS.save_checkpoints_steps,
          save_summary_steps=100, log_step_count_steps=100))
  timer = StepTimeHook()
  started = time.time()
  metrics, exports = tf.estimator.train_and_evaluate(
      estimator,
      tf.estimator.TrainSpec(train_input_fn, max_steps=max_steps,
                             hooks=[timer]),
      tf.estimator.EvalSpec(
          eval_input_fn, steps=None, throttle_secs=0,
          exporters=[tf.estimator.FinalExporter(
              'final', serving_input_receiver_fn)]))
  seconds = time.time() - started
  result = {
      'model': f'lenet5 (Estimator) {FLAGS.image_size}x{FLAGS.image_size}',
      'train_images': num_train, 'test_images': num_test,
      'max_steps': max_steps, 'batch_size': FLAGS.batch_size,
      'test_accuracy': float(metrics['accuracy']) if metrics else None,
      'global_step': int(metrics['global_step']) if metrics else None,
      'train_step_images_per_sec': round(
          timer.steps * FLAGS.batch_size / timer.seconds, 1)
                                   if timer.seconds else None,
      'total_seconds': round(seconds, 1),
      'export': [tf.compat.as_str_any(e) for e in exports or [] if e]}
  line = json.dumps(result)
  print(line)
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      f.write(line + '\n')


if __name__ == '__main__':
  tf.app.run(main)
