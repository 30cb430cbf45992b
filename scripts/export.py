"""Exports a trained checkpoint as a SavedModel for serving.

    python scripts/export.py --flagfile=data/catdog.flags --export_dir=runs/export
    python scripts/export.py --checkpoint_path=runs/catdog/model.ckpt-750 \
        --export_dir=runs/export
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

from absl import flags

from tf1cnn import export
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import runtime

FLAGS = flags.FLAGS


def main(argv):
  del argv
  runtime.use_graph_mode()
  target = export.export_saved_model(
      train_dir=FLAGS.train_dir, checkpoint_path=FLAGS.checkpoint_path,
      export_dir=FLAGS.export_dir, version=FLAGS.export_version,
      use_moving_averages=FLAGS.use_moving_averages)
  print(f'exported to {target}', flush=True)


if __name__ == '__main__':
  tf1cnn_flags.define_flags()
  runtime.run_main(main)
