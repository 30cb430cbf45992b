"""Classifies image files with an exported SavedModel.

Checkout entry point of `tf1cnn.cli.predict` (installed: see pyproject.toml's
console scripts); `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import predict  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  predict.main()
