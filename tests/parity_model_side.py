"""The parity suite's tf1cnn side for `--model=PROGRAM.py:FUNCTION`.

    python tests/parity_model_side.py SETTINGS.json

Trains the program's network function with tf1cnn's own training functions
(`run_spec.for_training`, `training.build_train_graph`, `default_hooks`,
`prepare_train_dir`, `run_training`), so the loss, the optimizer, the batch
norm updates and the weight averages are tf1cnn's. Only two things are
test-specific:

* the input: `build_train_graph(batch_fn=...)` gets the program's batches
  (0-255 pixels, normalised by the run's own preprocessing recipe), step `i`
  reading batch `i` (chosen by the global step inside the graph), instead of
  the dataset pipeline, whose shuffling no other program shares;
* the start: a `Scaffold` `init_fn` loads the original's initial variables by
  name (every variable of the network must be found).

A hook records the loss of every step; the final variables are read back from
the checkpoint the run wrote. Then the program's own checkpoint (`checkpoint`
in the settings) is evaluated with `evaluation.evaluate` and exported with
`export.export_saved_model`, and the export's `predict_images` signature is
run on the eval pixels. Everything goes to `out_dir/model_side.npz` (`losses`,
`var/<name>`, `export_logits`) and `out_dir/eval_metrics.json`.

Settings (JSON): model, batches, init, out_dir, data_dir, image_size,
optimizer, learning_rate, weight_decay, moving_average_decay, preprocessing,
checkpoint, class_names, steps.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

from tf1cnn import checkpoints
from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import export
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1


class _LossRecorder(_V1.train.SessionRunHook):
  """The total loss of each training step, as the train op saw it."""

  def __init__(self, loss):
    self._loss = loss
    self.values = []

  def before_run(self, run_context):
    del run_context
    return _V1.train.SessionRunArgs(self._loss)

  def after_run(self, run_context, run_values):
    del run_context
    self.values.append(float(run_values.results))


def _fixed_batches(spec, images, labels):
  """`batch_fn`: batch `global_step % steps` of the arrays, normalised."""
  def batch_fn():
    step = _V1.train.get_global_step()
    index = tf.math.floormod(tf.cast(step, tf.int32), images.shape[0])
    pixels = tf.gather(tf.constant(images), index)
    recipe = preprocess.get_recipe(spec.preprocessing.recipe)
    return pipeline.InputBatch(
        recipe.normalize(pixels), tf.gather(tf.constant(labels), index),
        images.shape[0] * images.shape[1], list(spec.class_names))
  return batch_fn


def _init_fn(init_path, model_variables):
  values = np.load(init_path)
  def init_fn(scaffold, sess):
    del scaffold
    loaded = set()
    for var in _V1.global_variables():
      name = var.op.name
      if name in values:
        var.load(values[name], sess)
        loaded.add(name)
    missing = [v.op.name for v in model_variables if v.op.name not in loaded]
    if missing:
      raise ValueError(f'variables not in {init_path}: {missing} '
                       f'(it has {sorted(values)})')
  return init_fn


def train(s):
  data = np.load(s['batches'])
  train_dir = os.path.join(s['out_dir'], 'model_run')
  os.makedirs(train_dir, exist_ok=True)
  config = config_lib.make(
      config_lib.TrainingConfig, model=s['model'], data_dir=s['data_dir'],
      image_size=s['image_size'], batch_size=int(data['labels'].shape[1]),
      max_steps=int(s['steps']), optimizer=s['optimizer'],
      learning_rate=s['learning_rate'], weight_decay=s['weight_decay'],
      moving_average_decay=s['moving_average_decay'],
      preprocessing=s['preprocessing'], train_dir=train_dir,
      log_every_n_steps=10, augment=False)
  spec = run_spec.for_training(config)
  ops = training.build_train_graph(
      spec, batch_fn=_fixed_batches(spec, data['images'], data['labels']))
  recorder = _LossRecorder(ops.model.loss)
  with ops.graph.as_default():
    training.prepare_train_dir(spec, spec.record(
        moving_average_decay=config.optim.moving_average_decay,
        last_step=ops.last_step), ops.model.variables)
    hooks, _ = training.default_hooks(spec, ops)
    hooks.append(recorder)
    scaffold = _V1.train.Scaffold(
        init_fn=_init_fn(s['init'], ops.model.variables),
        saver=_V1.train.Saver(save_relative_paths=True))
    training.run_training(spec, ops, hooks, scaffold)
  reader = _V1.train.load_checkpoint(checkpoints.latest_checkpoint(train_dir))
  final = {f'var/{name}': reader.get_tensor(name)
           for name in reader.get_variable_to_shape_map()}
  return np.array(recorder.values, np.float64), final


def evaluate_and_export(s, class_names):
  """The program's checkpoint through tf1cnn's evaluation and export."""
  labels_file = os.path.join(s['out_dir'], 'labels_file.txt')
  with open(labels_file, 'w', encoding='utf-8') as f:
    f.write('\n'.join(class_names) + '\n')
  eval_config = config_lib.make(
      config_lib.EvalConfig, model=s['model'], data_dir=s['data_dir'],
      image_size=s['image_size'], checkpoint_path=s['checkpoint'],
      preprocessing=s['preprocessing'], eval_batch_size=4,
      eval_dir=os.path.join(s['out_dir'], 'eval'))
  metrics = evaluation.evaluate(eval_config)
  export_config = config_lib.make(
      config_lib.ExportConfig, model=s['model'], image_size=s['image_size'],
      checkpoint_path=s['checkpoint'], labels_file=labels_file,
      data_dir=s['data_dir'], preprocessing=s['preprocessing'],
      export_dir=os.path.join(s['out_dir'], 'export'), verify_images=4)
  version = export.export_saved_model(export_config)
  eval_images = np.load(s['batches'])['eval_images']
  with tf.Graph().as_default(), _V1.Session() as sess:
    meta = _V1.saved_model.load(sess, ['serve'], version)
    signature = meta.signature_def['predict_images']
    logits = sess.run(signature.outputs['logits'].name,
                      {signature.inputs['images'].name: eval_images})
  return metrics, logits


def main():
  runtime.use_graph_mode()
  with open(sys.argv[1], encoding='utf-8') as f:
    s = json.load(f)
  losses, final = train(s)
  metrics, logits = evaluate_and_export(s, s['class_names'])
  with open(os.path.join(s['out_dir'], 'eval_metrics.json'), 'w',
            encoding='utf-8') as f:
    json.dump({k: v for k, v in metrics.items()
               if isinstance(v, (int, float, str))}, f)
  np.savez(os.path.join(s['out_dir'], 'model_side.npz'), losses=losses,
           export_logits=logits, **final)


if __name__ == '__main__':
  main()
