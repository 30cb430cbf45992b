"""Trains any registered model (or your own network function) on a dataset.

Checkout entry point of `tf1cnn.cli.train` (installed: see pyproject.toml's
console scripts); `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import train  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  train.main()
