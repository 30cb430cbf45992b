r"""Evaluates a checkpoint on a dataset split (once, or each new one).

    tf1cnn-eval --flagfile=data/fashion_inception.flags
    tf1cnn-eval --model=lenet5 --data_dir=PATH \
        --checkpoint_path=runs/catdog/model.ckpt-1000 --metrics_json=m.json
    # Beside a running training: each new checkpoint, until the last step.
    tf1cnn-eval --flagfile=data/catdog.flags --eval_interval_secs=60
"""

from absl import flags

from tf1cnn import checkpoints
from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import writable

FLAGS = flags.FLAGS


def _report(metrics):
  print(evaluation.format_report(metrics), flush=True)
  if FLAGS.metrics_json:
    checkpoints.write_json(FLAGS.metrics_json, metrics)


def _evaluate(argv):
  del argv
  writable.check_file(FLAGS.metrics_json, '--metrics_json')  # Before work.
  evaluation.run(tf1cnn_flags.config_from_flags(config_lib.EvalConfig),
                 on_metrics=_report)


def main(**defaults):
  """Runs the program; `defaults` override flag defaults."""
  cli.run(_evaluate, ('common', 'eval'), __doc__, **defaults)


if __name__ == '__main__':
  main()
