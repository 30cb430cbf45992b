"""Exports a trained checkpoint as a SavedModel for serving.

Checkout entry point of `tf1cnn.cli.export` (installed: see pyproject.toml's
console scripts); `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import export  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  export.main()
