"""Trains any registered model on any registered dataset.

    python scripts/train.py --model=inception --dataset=fashion_mnist \
        --data_dir=PATH --train_dir=runs/inception
    python scripts/train.py --flagfile=data/fashion_inception.flags
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn import flags as tf1cnn_flags  # pylint: disable=g-import-not-at-top
from tf1cnn import runtime
from tf1cnn import training


def main(argv):
  del argv
  runtime.use_graph_mode()
  result = training.train(tf1cnn_flags.training_config())
  speed = (f'{result.examples_per_sec:.1f} examples/sec'
           if result.examples_per_sec else
           'speed not measured (fewer steps than --log_every_n_steps)')
  print(f'trained to step {result.global_step}: loss {result.final_loss:.4f}, '
        f'{speed}, checkpoint {result.checkpoint}', flush=True)


if __name__ == '__main__':
  tf1cnn_flags.define_flags()
  runtime.run_main(main)
