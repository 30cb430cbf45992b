"""`tf.estimator.train_and_evaluate` as TF 1.x code, local or on a cluster.

A tiny CNN `model_fn` (`tf.layers`) learns which half of an 8x8 image is
brighter, from generated arrays (`numpy_input_fn`), with a TrainSpec /
EvalSpec pair and exporters, exactly as a TF 1.15 program would:

    python scripts/tf1_examples/estimator_train_and_evaluate.py \
        --model_dir=runs/estimator_tae --max_steps=200

Without `TF_CONFIG` it trains and evaluates in this process (an evaluation
after each checkpoint, at most every `--throttle_secs`) and prints the last
evaluation's metrics and the export paths as one JSON line. With `TF_CONFIG`
it plays the task named there; start one process per task, e.g. on one
machine:

    CLUSTER='"cluster": {"chief": ["127.0.0.1:2220"],
      "worker": ["127.0.0.1:2221"], "ps": ["127.0.0.1:2222"]}'
    TF_CONFIG="{$CLUSTER, \\"task\\": {\\"type\\": \\"ps\\", \\"index\\": 0}}" \
        python scripts/tf1_examples/estimator_train_and_evaluate.py &
    ... the same with "chief" 0, "worker" 0 and "evaluator" 0.

The ps stops by itself once the trainers are done
(`tf1cnn.compat.estimator.training`). `model_fn` also works as a tf1cnn
model: `tf1cnn-eval --model=scripts/tf1_examples/
estimator_train_and_evaluate.py:model_fn ...` takes its logits from the
predictions.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
import numpy as np  # pylint: disable=wrong-import-position
import tf1cnn.compat.v1 as tf  # pylint: disable=wrong-import-position

flags = tf.app.flags
flags.DEFINE_string('model_dir', 'runs/estimator_train_and_evaluate',
                    'Checkpoints, events and exports.')
flags.DEFINE_integer('max_steps', 200, 'TrainSpec.max_steps.')
flags.DEFINE_integer('batch_size', 32, 'Training batch.')
flags.DEFINE_integer('save_checkpoints_steps', 50,
                     'RunConfig.save_checkpoints_steps.')
flags.DEFINE_integer('eval_steps', None, 'EvalSpec.steps (None: one epoch).')
flags.DEFINE_integer('throttle_secs', 0, 'EvalSpec.throttle_secs.')
flags.DEFINE_integer('start_delay_secs', 0, 'EvalSpec.start_delay_secs.')
flags.DEFINE_float('learning_rate', 0.01, 'Adam learning rate.')
flags.DEFINE_integer('seed', 1, 'RunConfig.tf_random_seed.')
FLAGS = flags.FLAGS

IMAGE_SIZE = 8


def make_data(count, seed):
  """Images [count, 8, 8, 1] in 0-1 and labels: 1 when the right half is brighter."""
  rng = np.random.RandomState(seed)
  images = rng.uniform(0, 1, (count, IMAGE_SIZE, IMAGE_SIZE, 1))
  labels = rng.randint(0, 2, count)
  half = IMAGE_SIZE // 2
  images[labels == 1, :, half:] += 0.5
  images[labels == 0, :, :half] += 0.5
  return images.astype(np.float32), labels.astype(np.int32)


def model_fn(features, labels, mode, params):
  """conv 3x3x4 -> max pool -> dense(2); Adam; accuracy."""
  images = features['x'] if isinstance(features, dict) else features
  net = tf.layers.conv2d(images, 4, 3, padding='same', activation=tf.nn.relu,
                         name='conv1')
  net = tf.layers.max_pooling2d(net, 2, 2, name='pool1')
  net = tf.layers.flatten(net)
  logits = tf.layers.dense(net, params.get('num_classes', 2), name='logits')
  predictions = {'classes': tf.argmax(logits, 1),
                 'probabilities': tf.nn.softmax(logits), 'logits': logits}
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={'serving_default':
                        tf.estimator.export.PredictOutput(predictions)})
  loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
  if mode == tf.estimator.ModeKeys.TRAIN:
    optimizer = tf.train.AdamOptimizer(params.get('learning_rate', 0.01))
    train_op = optimizer.minimize(loss,
                                  global_step=tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
  accuracy = tf.metrics.accuracy(labels, predictions['classes'])
  return tf.estimator.EstimatorSpec(mode, loss=loss,
                                    eval_metric_ops={'accuracy': accuracy})


def serving_input_receiver_fn():
  images = tf.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 1],
                          name='images')
  return tf.estimator.export.ServingInputReceiver({'x': images},
                                                  {'x': images})


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  train_x, train_y = make_data(512, seed=0)
  test_x, test_y = make_data(128, seed=1)
  config = tf.estimator.RunConfig(
      model_dir=FLAGS.model_dir, tf_random_seed=FLAGS.seed,
      save_checkpoints_steps=FLAGS.save_checkpoints_steps,
      save_summary_steps=FLAGS.save_checkpoints_steps)
  estimator = tf.estimator.Estimator(
      model_fn=model_fn, config=config,
      params={'learning_rate': FLAGS.learning_rate, 'num_classes': 2})
  train_input_fn = tf.estimator.inputs.numpy_input_fn(
      {'x': train_x}, train_y, batch_size=FLAGS.batch_size, num_epochs=None,
      shuffle=True)
  eval_input_fn = tf.estimator.inputs.numpy_input_fn(
      {'x': test_x}, test_y, batch_size=64, num_epochs=1, shuffle=False)
  exporters = [
      tf.estimator.LatestExporter('latest', serving_input_receiver_fn,
                                  exports_to_keep=2),
      tf.estimator.FinalExporter('final', serving_input_receiver_fn),
      tf.estimator.BestExporter('best', serving_input_receiver_fn,
                                exports_to_keep=1)]
  train_spec = tf.estimator.TrainSpec(train_input_fn,
                                      max_steps=FLAGS.max_steps)
  eval_spec = tf.estimator.EvalSpec(
      eval_input_fn, steps=FLAGS.eval_steps, exporters=exporters,
      start_delay_secs=FLAGS.start_delay_secs,
      throttle_secs=FLAGS.throttle_secs)
  result = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
  if result is not None:  # a local run
    metrics, exports = result
    print(json.dumps({
        'metrics': {k: float(v) for k, v in (metrics or {}).items()},
        'exports': [e.decode() if isinstance(e, bytes) else e
                    for e in (exports or [])]}))


if __name__ == '__main__':
  tf.app.run(main)
