"""Evals the cat/dog LeNet-5 (seed 003) on an image folder.

    python scripts/eval_catdog.py --flagfile=data/catdog.flags
    python scripts/eval_catdog.py --flagfile=data/catdog_sample.flags

Same flags as scripts/eval.py, with --model=lenet5 and
--dataset=image_folder as defaults.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn import flags as tf1cnn_flags  # pylint: disable=g-import-not-at-top
from tf1cnn import runtime

import eval  # pylint: disable=g-import-not-at-top,wrong-import-position


if __name__ == '__main__':
  tf1cnn_flags.define_flags(model='lenet5', dataset='image_folder')
  runtime.run_main(eval.main)
