r"""Verifies a GPU machine: tests, LeNet-5 in fp32 and fp16, ops on the GPU.

    tf1cnn-gpu-check --data_dir=PHOTOS          # or: make gpu-check
    tf1cnn-gpu-check --data_dir=PHOTOS --steps=300 --json=runs/gpu_check.json

On a machine where TensorFlow sees no GPU it says so and exits 0. With a GPU
it trains the cat/dog LeNet-5 (`--data_dir`, an image folder with train/
and test/; default the synthetic sample written by `make demo`) for
`--steps` steps from the cached pipeline, once in fp32 and once in fp16,
checks from a traced step that the convolutions ran on the GPU, and prints
one JSON line: images/sec, the input-wait fraction (share of checks where
the batch queue held less than a batch) and the devices of Conv2D, per
precision. Exit status 1 when a convolution did not run on the GPU or a run
failed. (`make gpu-check` also installs the `gpu` extra into its own
environment and runs the test suite with the GPU visible first.)
"""

import json
import os
import tempfile

import tensorflow as tf
from absl import flags
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import cli
from tf1cnn import config as config_lib
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import device

FLAGS = flags.FLAGS
_V1 = tf.compat.v1


class ConvDeviceHook(_V1.train.SessionRunHook):
  """Traces one step and records the devices its Conv2D ops ran on."""

  def __init__(self, at_step=5):
    self._at = at_step
    self._step = 0
    self.devices = set()

  def before_run(self, run_context):
    self._step += 1
    if self._step != self._at:
      return None
    return _V1.train.SessionRunArgs(
        None, options=_V1.RunOptions(trace_level=_V1.RunOptions.FULL_TRACE))

  def after_run(self, run_context, run_values):
    metadata = run_values.run_metadata
    if self._step != self._at or metadata is None:
      return
    for dev_stats in metadata.step_stats.dev_stats:
      for node in dev_stats.node_stats:
        if node.node_name.split('/')[-1].startswith('Conv2D') or (
            'Conv2D' in node.timeline_label):
          self.devices.add(dev_stats.device)


def check_precision(data_dir, run_precision, steps, work_dir):
  """Trains `steps` steps; returns the measurements of one precision."""
  wait_hook = device.InputWaitHook(batch_size=32, every_n_steps=5)
  conv_hook = ConvDeviceHook()
  config = config_lib.training_config(
      model='lenet5', dataset='image_folder', data_dir=data_dir,
      train_dir=os.path.join(work_dir, run_precision), image_size=150,
      batch_size=32, max_steps=steps, pipeline='cached',
      cache_dir=os.path.join(work_dir, 'cache'), precision=run_precision,
      log_every_n_steps=max(1, steps // 6), save_checkpoint_steps=steps,
      seed=1)
  result = training.train(config, extra_hooks=[wait_hook, conv_hook])
  on_gpu = bool(conv_hook.devices) and all(
      'GPU' in d.upper() for d in conv_hook.devices)
  return dict(precision=run_precision, steps=result.global_step,
              images_per_sec=result.examples_per_sec,
              input_wait_fraction=wait_hook.waiting_fraction(),
              conv2d_devices=sorted(conv_hook.devices),
              convolutions_on_gpu=on_gpu, final_loss=result.final_loss)


def _gpu_check(argv):
  del argv
  gpus = tf.config.list_physical_devices('GPU')
  if not gpus and not FLAGS.force:
    print('no GPU is visible to TensorFlow on this machine: nothing to check '
          '(exit 0)', flush=True)
    return
  if not FLAGS.data_dir or not os.path.isdir(FLAGS.data_dir):
    raise runtime.UserInputError(
        f'--data_dir={FLAGS.data_dir!r}: give an image folder with train/ '
        'and test/ (make demo writes data/sample)')
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='tf1cnn_gpu_check_')
  runs = [check_precision(FLAGS.data_dir, p, FLAGS.steps, work_dir)
          for p in FLAGS.precisions]
  result = dict(gpus=[g.name for g in gpus], tensorflow=tf.__version__,
                runs=runs, passed=all(r['convolutions_on_gpu'] for r in runs))
  for run in runs:
    logging.info('%s: %.1f images/sec, input wait %.2f, Conv2D on %s',
                 run['precision'], run['images_per_sec'],
                 run['input_wait_fraction'], ', '.join(run['conv2d_devices']))
  if FLAGS.json:
    checkpoints.write_json(FLAGS.json, result)
  print(json.dumps(result, sort_keys=True), flush=True)
  if not result['passed']:
    raise runtime.UserInputError(
        'a convolution did not run on the GPU: '
        + '; '.join(f'{r["precision"]}: {r["conv2d_devices"]}' for r in runs))


def main():
  """Runs the program."""
  flags.DEFINE_string('data_dir', 'data/sample', 'Image folder with train/ '
                      'and test/.')
  flags.DEFINE_integer('steps', 300, 'Training steps per precision.',
                       lower_bound=10)
  flags.DEFINE_list('precisions', ['fp32', 'fp16'], 'Precisions to run.')
  flags.DEFINE_string('work_dir', '', 'Runs and cache (default a temporary '
                      'folder).')
  flags.DEFINE_string('json', '', 'Also write the result here.')
  flags.DEFINE_boolean('force', False, 'Run without a GPU too (the device '
                       'check then fails; for testing this program).')
  cli.run(_gpu_check, (), __doc__)


if __name__ == '__main__':
  main()
