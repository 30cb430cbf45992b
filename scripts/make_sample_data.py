"""Writes the synthetic cat/dog sample set used by `make demo`.

    python scripts/make_sample_data.py --output_dir=data/sample
    python scripts/make_sample_data.py --output_dir=/tmp/tiny \
        --num_train_per_class=20 --num_test_per_class=10 --seed=3

The images are cartoon cat and dog faces drawn procedurally by
`tf1cnn.inputs.sample_data` (see its docstring). A folder that already holds
the complete set for the same flags is left as it is; --overwrite rewrites it.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import sample_data

FLAGS = flags.FLAGS

flags.DEFINE_string('output_dir', 'data/sample',
                    'Folder to write train/{cat,dog} and test/{cat,dog} into.')
flags.DEFINE_integer('num_train_per_class', 200,
                     'Training images per class.', lower_bound=1)
flags.DEFINE_integer('num_test_per_class', 50, 'Test images per class.',
                     lower_bound=1)
flags.DEFINE_integer('seed', 0, 'Random seed; the same seed writes the same '
                     'bytes.', lower_bound=0)
flags.DEFINE_boolean('overwrite', False, 'Rewrite the set even when the '
                     'folder already holds it for the same flags.')


def main(argv):
  if len(argv) > 1:
    raise runtime.UserInputError(
        f'unexpected arguments: {" ".join(argv[1:])}')
  logging.set_verbosity(logging.INFO)
  counts = sample_data.write_sample_dataset(
      FLAGS.output_dir,
      num_train_per_class=FLAGS.num_train_per_class,
      num_test_per_class=FLAGS.num_test_per_class,
      seed=FLAGS.seed,
      overwrite=FLAGS.overwrite)
  total = sum(sum(per_class.values()) for per_class in counts.values())
  logging.info('Sample set ready in %s: %d images %s', FLAGS.output_dir,
               total, counts)


if __name__ == '__main__':
  runtime.run_main(main)
