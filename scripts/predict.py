"""Classifies image files with an exported SavedModel (scripts/export.py).

    python scripts/predict.py --saved_model_dir=runs/export photo.jpg more/
    python scripts/predict.py --saved_model_dir=runs/export/1500 --top_k=1 \
        --predictions_json=predictions.json photos/

Prints one line per file: the path and its --top_k classes with their
probabilities. Folders stand for the image files directly inside them.
"""

import _script_env  # pylint: disable=unused-import,g-bad-import-order

import dataclasses  # pylint: disable=g-import-not-at-top
import json
import os

from absl import flags

from tf1cnn import flags as tf1cnn_flags
from tf1cnn import prediction
from tf1cnn import runtime

FLAGS = flags.FLAGS


def main(argv):
  runtime.use_graph_mode()
  predictions, _ = prediction.predict_files(
      FLAGS.saved_model_dir, argv[1:], top_k=FLAGS.top_k,
      bad_images=FLAGS.bad_images)
  print(prediction.format_predictions(predictions), flush=True)
  if FLAGS.predictions_json:
    path = FLAGS.predictions_json
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
      json.dump([dataclasses.asdict(p) for p in predictions], f, indent=1)
      f.write('\n')


if __name__ == '__main__':
  tf1cnn_flags.define_flags()
  runtime.run_main(main)
