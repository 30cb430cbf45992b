"""Evaluates a checkpoint of any registered model on a dataset split.

    python scripts/eval.py --flagfile=data/fashion_inception.flags
    python scripts/eval.py --model=lenet5 --data_dir=PATH \
        --checkpoint_path=runs/catdog/model.ckpt-1000 --metrics_json=m.json
    # Beside a running training: each new checkpoint, until the last step.
    python scripts/eval.py --flagfile=data/catdog.flags --eval_interval_secs=60
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn import evaluation  # pylint: disable=g-import-not-at-top
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import runtime


def main(argv):
  del argv
  runtime.use_graph_mode()
  evaluation.run(tf1cnn_flags.eval_config())


if __name__ == '__main__':
  tf1cnn_flags.define_flags()
  runtime.run_main(main)
