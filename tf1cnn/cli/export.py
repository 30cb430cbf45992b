r"""Exports a trained checkpoint as a SavedModel for serving.

    tf1cnn-export --flagfile=data/catdog.flags --export_dir=runs/export
    tf1cnn-export --checkpoint_path=runs/catdog/model.ckpt-750 \
        --export_dir=runs/export
"""

from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import export
from tf1cnn import flags as tf1cnn_flags


def _export(argv):
  del argv
  target = export.export_saved_model(
      tf1cnn_flags.config_from_flags(config_lib.ExportConfig))
  print(f'exported to {target}', flush=True)


def main(**defaults):
  """Runs the program; `defaults` override flag defaults."""
  cli.run(_export, ('common', 'export'), __doc__, **defaults)


if __name__ == '__main__':
  main()
