"""A TF 1.x Estimator CNN on MNIST-style arrays, as written for TF 1.15.

`tf.layers` convolutions in a `model_fn`, `tf.estimator.inputs.numpy_input_fn`
over the IDX files of MNIST / Fashion-MNIST (or generated 28x28 digits-like
arrays without `--data_dir`), then `evaluate` and `export_saved_model`:

    python scripts/tf1_examples/estimator_mnist_cnn.py \
        --data_dir=../shared/data/fashion_mnist --model_dir=runs/est_mnist \
        --train_steps=500

It prints the evaluation metrics and the export folder as one JSON line.
The batch-norm and weight-averaging variants are estimator_bn_cnn.py and
estimator_ema_cnn.py (`--model=bn|ema` here picks them).
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))
sys.path.insert(0, _HERE)
import tf1cnn.compat.v1 as tf  # pylint: disable=wrong-import-position

NUM_CLASSES = 10


def read_idx(path):
  """An IDX file (gzipped or not) as a numpy array."""
  with open(path, 'rb') as f:
    data = f.read()
  if data[:2] == b'\x1f\x8b':
    data = gzip.decompress(data)
  ndim = data[3]
  shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
           for i in range(ndim)]
  return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_arrays(data_dir, split, limit=None, seed=0):
  """(images float32 [N, 28, 28, 1] in [0, 1], labels int32 [N]).

  Args:
    data_dir: a folder of the four MNIST IDX files, or None for generated
      arrays (a bright bar whose position is the class, plus noise).
    split: 'train' or 't10k'.
    limit: keep the first `limit` examples.
    seed: seed of the generated arrays.
  """
  if data_dir:
    def find(kind):
      rank = 1 if kind == 'labels' else 3
      for suffix in ('-ubyte.gz', '-ubyte'):
        path = os.path.join(data_dir, f'{split}-{kind}-idx{rank}{suffix}')
        if os.path.exists(path):
          return path
      raise SystemExit(f'--data_dir: no {split} {kind} IDX file in {data_dir}')
    images = read_idx(find('images'))[:limit]
    labels = read_idx(find('labels'))[:limit]
    return (images[..., None].astype(np.float32) / 255.,
            labels.astype(np.int32))
  rng = np.random.RandomState(seed + (split == 't10k'))
  count = limit or 1000
  labels = rng.randint(0, NUM_CLASSES, count).astype(np.int32)
  images = rng.uniform(0, 0.3, (count, 28, 28, 1)).astype(np.float32)
  for i, label in enumerate(labels):
    images[i, 2 + 2 * label:4 + 2 * label, 4:24, 0] += 0.7
  return images, labels


def cnn(images, mode, params):
  """Two conv/pool blocks and two dense layers (tf.layers); returns logits."""
  training = mode == tf.estimator.ModeKeys.TRAIN
  net = tf.layers.conv2d(images, params.get('filters', 8), 5, padding='same',
                         activation=tf.nn.relu, name='conv1')
  net = tf.layers.max_pooling2d(net, 2, 2, name='pool1')
  net = tf.layers.conv2d(net, 2 * params.get('filters', 8), 5,
                         padding='same', activation=tf.nn.relu, name='conv2')
  net = tf.layers.max_pooling2d(net, 2, 2, name='pool2')
  net = tf.layers.flatten(net)
  net = tf.layers.dense(net, params.get('hidden', 32), activation=tf.nn.relu,
                        name='dense')
  net = tf.layers.dropout(net, params.get('dropout', 0.0), training=training)
  return tf.layers.dense(net, NUM_CLASSES, name='logits')


def predictions_of(logits):
  return {'classes': tf.argmax(logits, axis=1),
          'probabilities': tf.nn.softmax(logits, name='softmax_tensor')}


def model_fn(features, labels, mode, params):
  """The Estimator model_fn: features {'x': images} or an image tensor."""
  images = features['x'] if isinstance(features, dict) else features
  logits = cnn(images, mode, params)
  predictions = predictions_of(logits)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={'predict': tf.estimator.export.PredictOutput(
            predictions)})
  loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
  if mode == tf.estimator.ModeKeys.TRAIN:
    optimizer = tf.train.GradientDescentOptimizer(
        params.get('learning_rate', 0.05))
    train_op = optimizer.minimize(loss, tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
  metrics = {'accuracy': tf.metrics.accuracy(labels, predictions['classes'])}
  return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)


def serving_input_receiver_fn():
  images = tf.placeholder(tf.float32, [None, 28, 28, 1], name='x')
  return tf.estimator.export.ServingInputReceiver({'x': images},
                                                  {'x': images})


def run(argv, chosen_model_fn=None):
  """Trains, evaluates and exports; returns the JSON-able result."""
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--model_dir', default='runs/estimator_mnist_cnn')
  parser.add_argument('--export_dir', default=None,
                      help='default: <model_dir>/export')
  parser.add_argument('--model', choices=['plain', 'bn', 'ema'],
                      default='plain')
  parser.add_argument('--train_steps', type=int, default=500)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--num_train', type=int, default=None)
  parser.add_argument('--num_test', type=int, default=None)
  parser.add_argument('--learning_rate', type=float, default=0.05)
  parser.add_argument('--seed', type=int, default=1)
  args = parser.parse_args(argv)
  if chosen_model_fn is None:
    if args.model == 'bn':
      import estimator_bn_cnn  # pylint: disable=g-import-not-at-top
      chosen_model_fn = estimator_bn_cnn.model_fn
    elif args.model == 'ema':
      import estimator_ema_cnn  # pylint: disable=g-import-not-at-top
      chosen_model_fn = estimator_ema_cnn.model_fn
    else:
      chosen_model_fn = model_fn
  train_x, train_y = load_arrays(args.data_dir, 'train', args.num_train)
  test_x, test_y = load_arrays(args.data_dir, 't10k', args.num_test)
  config = tf.estimator.RunConfig(
      model_dir=args.model_dir, tf_random_seed=args.seed,
      save_checkpoints_steps=max(1, args.train_steps // 2),
      save_summary_steps=50, log_step_count_steps=50)
  classifier = tf.estimator.Estimator(
      chosen_model_fn, config=config,
      params={'learning_rate': args.learning_rate})
  classifier.train(tf.estimator.inputs.numpy_input_fn(
      {'x': train_x}, train_y, batch_size=args.batch_size, num_epochs=None,
      shuffle=True), steps=args.train_steps)
  metrics = classifier.evaluate(tf.estimator.inputs.numpy_input_fn(
      {'x': test_x}, test_y, batch_size=args.batch_size, num_epochs=1,
      shuffle=False))
  export_dir = classifier.export_saved_model(
      args.export_dir or os.path.join(args.model_dir, 'export'),
      serving_input_receiver_fn)
  return {'accuracy': float(metrics['accuracy']),
          'loss': float(metrics['loss']),
          'global_step': int(metrics['global_step']),
          'export_dir': export_dir.decode()}


def main(argv=None):
  print(json.dumps(run(sys.argv[1:] if argv is None else argv)))


if __name__ == '__main__':
  main()
