r"""Measures training, input and evaluation throughput; checks the targets.

    python scripts/benchmark.py --json=runs/benchmark.json
    python scripts/benchmark.py --pipeline=synthetic,cached \
        --precision=fp32 --steps=20 --repeats=1 --accuracy_steps=0 \
        --large_images=0

Checkout entry point of `tf1cnn.cli.benchmark`: --data_dir defaults to
$TF1CNN_SHARED_DATA/catdog, else <checkout>/../shared/data/catdog.
"""

import os

import _script_env  # pylint: disable=g-bad-import-order

from tf1cnn.cli import benchmark  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  benchmark.main(default_data_dir=os.path.join(_script_env.SHARED_DATA,
                                               'catdog'))
