"""Runs N parameter servers and M workers of scripts/train.py on 127.0.0.1.

Checkout entry point of `tf1cnn.cli.launch_local_cluster`; `--help` lists
the launcher's flags, the others go to every task's scripts/train.py.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from tf1cnn.cli import launch_local_cluster  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  launch_local_cluster.main()
