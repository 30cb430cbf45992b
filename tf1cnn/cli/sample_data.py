r"""Writes the synthetic cat/dog sample set used by `make demo`.

    tf1cnn-sample-data --output_dir=data/sample
    tf1cnn-sample-data --output_dir=/tmp/tiny --num_train_per_class=20 \
        --num_test_per_class=10 --seed=3

The images are cartoon cat and dog faces drawn procedurally by
`tf1cnn.inputs.sample_data` (see its docstring). A folder that already holds
the complete set for the same flags is left as it is; --overwrite rewrites it.
"""

from absl import flags
from absl import logging

from tf1cnn import cli
from tf1cnn.inputs import sample_data

FLAGS = flags.FLAGS


def _write(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  counts = sample_data.write_sample_dataset(
      FLAGS.output_dir, num_train_per_class=FLAGS.num_train_per_class,
      num_test_per_class=FLAGS.num_test_per_class, seed=FLAGS.seed,
      overwrite=FLAGS.overwrite)
  total = sum(sum(per_class.values()) for per_class in counts.values())
  logging.info('Sample set ready in %s: %d images %s', FLAGS.output_dir,
               total, counts)


def main():
  """Runs the program."""
  cli.run(_write, ('sample',), __doc__)


if __name__ == '__main__':
  main()
