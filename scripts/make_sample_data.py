"""Writes the synthetic cat/dog sample set used by make demo.

Checkout entry point of `tf1cnn.cli.sample_data` (installed: see pyproject.toml's
console scripts); `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import sample_data  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  sample_data.main()
