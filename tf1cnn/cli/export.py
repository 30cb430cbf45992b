r"""Exports a trained checkpoint for serving, each format checked first.

    tf1cnn-export --flagfile=data/catdog.flags --export_dir=runs/export
    # Also a frozen GraphDef, three TFLite files (float32, dynamic-range,
    # full-integer calibrated on --data_dir's training images) and ONNX:
    tf1cnn-export --flagfile=data/catdog.flags --data_dir=PHOTOS --formats=all
    tf1cnn-export --checkpoint_path=runs/catdog/model.ckpt-750 \
        --export_dir=runs/export
"""

from tf1cnn import checkpoints
from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import export
from tf1cnn import export_formats
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import writable


def _export(argv):
  del argv
  config = tf1cnn_flags.config_from_flags(config_lib.ExportConfig)
  writable.check_dir(config.export_dir, '--export_dir')  # Before any work.
  target = export.export_saved_model(config)
  verification = (checkpoints.read_run_config(target) or {}).get(
      'verification')
  if verification:
    print(export_formats.format_comparison(verification['results'],
                                           verification['images']))
  print(f'exported to {target}', flush=True)


def main(**defaults):
  """Runs the program; `defaults` override flag defaults."""
  cli.run(_export, ('common', 'export'), __doc__, **defaults)


if __name__ == '__main__':
  main()
