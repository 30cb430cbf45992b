"""Fine-tuning a TF-Slim model-zoo checkpoint on one's own photos.

The zoo checkpoints cannot be downloaded here; real TF-Slim writes one with
the published variable names (its inception_v1 at 1001 classes), and
tf1cnn's `inception_v1` warm-starts from it, re-learning only the logits.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from tf1cnn import runtime

from fixtures import make_striped_dataset, subprocess_env

runtime.use_graph_mode()
pytestmark = pytest.mark.slow  # make test-fast leaves these out
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WRITE_ZOO_CHECKPOINT = """
import sys
sys.path.insert(0, sys.argv[2])
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
import reference_libs
inception_v1 = reference_libs.real_slim_net('inception_v1')
slim = reference_libs.real_tf_slim()
images = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
  inception_v1.inception_v1(images, num_classes=1001, is_training=False)
tf.compat.v1.train.get_or_create_global_step()
with tf.compat.v1.Session() as sess:
  sess.run(tf.compat.v1.global_variables_initializer())
  print(tf.compat.v1.train.Saver().save(sess, sys.argv[1]))
"""


class ZooFineTuneTest(tf.test.TestCase):

  def test_inception_v1_from_a_slim_checkpoint(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    data_dir = os.path.join(root, 'photos')
    make_striped_dataset(data_dir, per_class=2, size=64)
    done = subprocess.run(
        [sys.executable, '-c', _WRITE_ZOO_CHECKPOINT,
         os.path.join(root, 'zoo', 'inception_v1.ckpt'),
         os.path.join(_ROOT, 'tests')],
        capture_output=True, text=True, timeout=300, check=False,
        env=subprocess_env())
    self.assertEqual(done.returncode, 0, done.stderr[-2000:])
    zoo = done.stdout.strip().splitlines()[-1]
    train_dir = os.path.join(root, 'run')
    done = subprocess.run(
        [sys.executable, os.path.join(_ROOT, 'scripts', 'train.py'),
         '--model=inception_v1', '--model_option=global_pool=1',
         f'--data_dir={data_dir}', f'--train_dir={train_dir}',
         '--image_size=64', '--batch_size=2', '--max_steps=2',
         '--input_threads=1', f'--warm_start_from={zoo}',
         '--warm_start_exclude=InceptionV1/Logits',
         '--trainable_scopes=InceptionV1/Logits'],
        capture_output=True, text=True, timeout=300, check=False,
        env=subprocess_env(), cwd=_ROOT)
    self.assertEqual(done.returncode, 0, done.stderr[-2000:])
    trained = tf.train.latest_checkpoint(train_dir)
    name = 'InceptionV1/Conv2d_1a_7x7/weights'
    # Not trained: exactly the zoo's values; the new 2-class logits differ.
    self.assertAllEqual(tf.train.load_variable(trained, name),
                        tf.train.load_variable(zoo, name))
    logits = tf.train.load_variable(
        trained, 'InceptionV1/Logits/Conv2d_0c_1x1/weights')
    self.assertEqual(logits.shape, (1, 1, 1024, 2))
    with open(os.path.join(train_dir, 'run_config.json')) as f:
      record = json.load(f)
    self.assertEqual(record['preprocessing']['recipe'], 'inception')
    self.assertFalse(np.isnan(logits).any())


if __name__ == '__main__':
  tf.test.main()
