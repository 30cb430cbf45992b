r"""Classifies image files with an export (tf1cnn-export).

    tf1cnn-predict --saved_model_dir=runs/export photo.jpg more/
    tf1cnn-predict --saved_model_dir=runs/export/1500 --top_k=1 \
        --predictions_json=predictions.json photos/

Prints one line per file: the path and its --top_k classes with their
probabilities. Folders stand for the image files directly inside them. The
export's fastest verified format whose runtime is installed classifies them
(--serving_format=auto; see tf1cnn/prediction.py), else its SavedModel.
"""

import dataclasses

from absl import flags

from tf1cnn import checkpoints
from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import prediction

FLAGS = flags.FLAGS


def _predict(argv):
  config = tf1cnn_flags.config_from_flags(config_lib.PredictConfig)
  predictions, _ = prediction.predict_files(
      config.saved_model_dir, argv[1:], top_k=config.top_k,
      bad_images=config.bad_images, serving_format=config.serving_format,
      on_prediction=lambda p: print(prediction.format_prediction(p),
                                    flush=True))
  if FLAGS.predictions_json:
    checkpoints.write_json(FLAGS.predictions_json,
                           [dataclasses.asdict(p) for p in predictions],
                           indent=1)


def main(**defaults):
  """Runs the program; `defaults` override flag defaults."""
  cli.run(_predict, ('predict',), __doc__, positional=True, **defaults)


if __name__ == '__main__':
  main()
