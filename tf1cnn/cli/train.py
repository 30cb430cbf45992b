r"""Trains a registered model, or your own network function, on a dataset.

    tf1cnn-train --model=inception --dataset=fashion_mnist \
        --data_dir=PATH --train_dir=runs/inception
    tf1cnn-train --flagfile=data/fashion_inception.flags
    tf1cnn-train --model=my_net.py:inference --data_dir=PATH

Exit status: 0 when the run reached its last step (or had already), 2 for
an error a user can fix (one line on stderr), 130 / 143 when SIGINT /
SIGTERM stopped it early (after saving a checkpoint of the step reached).
"""

from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import training


def _train(argv):
  del argv
  result = training.train(
      tf1cnn_flags.config_from_flags(config_lib.TrainingConfig))
  if result is None:
    return 0
  if result.already_finished:
    print(f'already finished at step {result.global_step}: nothing trained, '
          f'checkpoint {result.checkpoint}', flush=True)
    return 0
  speed = (f'{result.examples_per_sec:.1f} examples/sec'
           if result.examples_per_sec else
           'speed not measured (fewer steps than --log_every_n_steps)')
  if result.interrupted:
    # A preempted run is not a finished one: exit 128 + the signal.
    print(f'interrupted at step {result.global_step}: loss '
          f'{result.final_loss:.4f}, {speed}, checkpoint {result.checkpoint}',
          flush=True)
    return 128 + result.signal
  print(f'trained to step {result.global_step}: loss {result.final_loss:.4f}, '
        f'{speed}, checkpoint {result.checkpoint}', flush=True)
  return 0


def main(**defaults):
  """Runs the program; `defaults` override flag defaults."""
  cli.run(_train, ('common', 'train'), __doc__, **defaults)


if __name__ == '__main__':
  main()
