"""Verifies a GPU machine (see tf1cnn/cli/gpu_check.py; `make gpu-check`).

Checkout entry point of `tf1cnn.cli.gpu_check`; `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import gpu_check  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  gpu_check.main()
