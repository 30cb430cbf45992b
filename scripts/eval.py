"""Evaluates a checkpoint on a dataset split (once, or each new one).

Checkout entry point of `tf1cnn.cli.evaluate` (installed: see pyproject.toml's
console scripts); `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import evaluate  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  evaluate.main()
