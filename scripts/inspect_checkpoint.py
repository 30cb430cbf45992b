"""Lists a checkpoint's variables and what a model would restore from each.

Checkout entry point of `tf1cnn.cli.inspect_checkpoint` (installed:
`tf1cnn-inspect-checkpoint`); `--help` lists its flags.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import inspect_checkpoint  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  inspect_checkpoint.main()
