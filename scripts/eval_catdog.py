"""Evaluates the cat/dog LeNet-5 (seed 003) on an image folder.

    python scripts/eval_catdog.py --flagfile=data/catdog.flags
    python scripts/eval_catdog.py --flagfile=data/catdog_sample.flags

The flags of scripts/eval.py, with --model=lenet5 and
--dataset=image_folder as defaults.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import evaluate  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  evaluate.main(model='lenet5', dataset='image_folder')
