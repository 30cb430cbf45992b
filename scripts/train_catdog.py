"""Trains the cat/dog LeNet-5 (seed 003) on an image folder.

    python scripts/train_catdog.py --flagfile=data/catdog.flags
    python scripts/train_catdog.py --flagfile=data/catdog_sample.flags

The flags of scripts/train.py, with --model=lenet5 and
--dataset=image_folder as defaults.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import train  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  train.main(model='lenet5', dataset='image_folder')
