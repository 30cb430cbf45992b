"""Evaluation of a checkpoint on a whole split.

`evaluate(config)` rebuilds the network in eval mode (batch norm on its moving
statistics, no dropout), restores a checkpoint (the latest of `train_dir`, or
`checkpoint_path`: a prefix or a directory), and runs the split once through a
queue pipeline with `num_epochs=1` and `allow_smaller_final_batch`, so every
example is counted exactly once. When the checkpoint holds an
`ExponentialMovingAverage` of the weights, the averages are restored in place
of the raw weights (as in the CIFAR-10 tutorial), unless
`use_moving_averages=False`.

It returns a metrics dict (the program prints `format_report` of it and
writes it as JSON): accuracy, `top_5_accuracy` (more than 5 classes), `loss`
(mean softmax cross-entropy), num_examples, global_step, the confusion
matrix (rows = true class, columns = predicted) and per-class precision,
recall and support. The network, image size, classes and preprocessing come
from the checkpoint's run (`run_spec.for_checkpoint`). The figures also go
to TensorBoard, at the checkpoint's global step, in `eval_dir` (default
`<checkpoint folder>/eval_<split>`), with the evaluation graph once: tags
`accuracy`, `loss`, `top_5_accuracy` (the same as training's, so the curves
overlay), `precision/<class>`, `recall/<class>` and the image
`confusion_matrix` (`write_summaries`).

`evaluate_continuously(config)` is the CIFAR-10 tutorial's evaluation loop:
it watches `train_dir` and evaluates each new checkpoint (at most once per
`eval_interval_secs`) while training runs, until it has evaluated the
training's last step (`last_step` in `run_config.json`) or no new checkpoint
has come for `eval_timeout_secs`. `run(config)` picks one or the other.
"""

import dataclasses
import glob
import os
import re
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import precision
from tf1cnn import progress
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import served
from tf1cnn import summaries
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1


def metrics_from_confusion(confusion, class_names):
  """Accuracy and per-class precision/recall from a confusion matrix.

  Args:
    confusion: `[C, C]` int array, rows = true class, columns = predicted.
    class_names: list of C names.

  Returns:
    dict with `accuracy`, `num_examples`, `confusion_matrix` and `per_class`.
  """
  confusion = np.asarray(confusion, np.int64)
  total = int(confusion.sum())
  correct = int(np.trace(confusion))
  per_class = {}
  for i, name in enumerate(class_names):
    predicted = int(confusion[:, i].sum())
    actual = int(confusion[i, :].sum())
    per_class[name] = dict(
        precision=float(confusion[i, i] / predicted) if predicted else 0.0,
        recall=float(confusion[i, i] / actual) if actual else 0.0,
        support=actual)
  return dict(accuracy=correct / total if total else 0.0, num_examples=total,
              confusion_matrix=confusion.tolist(), per_class=per_class,
              class_names=list(class_names))


def format_report(metrics):
  """Human-readable accuracy, per-class table and confusion matrix."""
  names = metrics['class_names']
  width = max(8, max(len(n) for n in names))
  step = metrics['global_step']
  lines = [f'accuracy {metrics["accuracy"]:.4f} on {metrics["num_examples"]} '
           f'examples ({"no global step" if step is None else f"global step {step}"})']
  extra = []
  if 'top_5_accuracy' in metrics:
    extra.append(f'top-5 accuracy {metrics["top_5_accuracy"]:.4f}')
  if 'loss' in metrics:
    extra.append(f'loss (cross-entropy) {metrics["loss"]:.4f}')
  if extra:
    lines.append(', '.join(extra))
  lines.append(f'{"class":<{width}}  precision  recall  support')
  for name in names:
    row = metrics['per_class'][name]
    lines.append(f'{name:<{width}}  {row["precision"]:9.4f}  '
                 f'{row["recall"]:6.4f}  {row["support"]:7d}')
  lines.append('confusion matrix (rows: true, columns: predicted)')
  lines.append(' ' * width + '  ' + ' '.join(f'{n[:6]:>6}' for n in names))
  for name, row in zip(names, metrics['confusion_matrix']):
    lines.append(f'{name:<{width}}  ' + ' '.join(f'{v:6d}' for v in row))
  return '\n'.join(lines)


@dataclasses.dataclass
class EvalGraph:
  """What `build_eval_graph` returns."""
  graph: tf.Graph
  batch: pipeline.InputBatch
  predictions: tf.Tensor
  saver: object
  used_averages: bool
  input_ops: set
  # Per example: softmax cross-entropy, and whether the label is among the
  # top 5 logits (None with 5 classes or fewer).
  losses: Optional[tf.Tensor] = None
  in_top_5: Optional[tf.Tensor] = None


def build_eval_graph(spec, prefix, batch_size, split, num_epochs=1,
                     use_moving_averages=True):
  """The inference graph of `spec` fed by a split, with its restoring Saver.

  The checkpoint's names go through `--checkpoint_var_map`; its global step
  is read, not restored (another program's may be missing or int32).

  Raises:
    UserInputError: the checkpoint does not fit the network.
  """
  graph = tf.Graph()
  with graph.as_default():
    input_ops = set()
    with pipeline.record_ops(input_ops):
      batch = spec.build_input(split, batch_size, is_training=False,
                               num_epochs=num_epochs)
    logits, _ = spec.network_fn(is_training=False)(batch.images)
    predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
    float_logits = tf.cast(logits, tf.float32)
    labels = tf.cast(batch.labels, tf.int32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=float_logits, name='eval_losses')
    in_top_5 = None
    if spec.num_classes > summaries.TOP_K:
      in_top_5 = tf.nn.in_top_k(predictions=float_logits, targets=labels,
                                k=summaries.TOP_K, name='in_top_5')
    rules = spec.config.checkpoint_var_map
    var_map, used_averages = checkpoints.restore_var_map(
        prefix, use_moving_averages=use_moving_averages, name_rules=rules)
    checkpoints.check_compatible(prefix, var_map,
                                 what=f'--model={spec.model}',
                                 name_rules=rules)
    saver = _V1.train.Saver(var_map)
  return EvalGraph(graph, batch, predictions, saver, used_averages,
                   input_ops, losses=losses, in_top_5=in_top_5)


def evaluate(config, prefix=None):
  """Evaluates a checkpoint on `config.eval_split`; returns the metrics dict.

  Args:
    config: tf1cnn.config.EvalConfig.
    prefix: the checkpoint to evaluate; default the one `checkpoint_path`
      or `train_dir` names (`checkpoints.resolve_checkpoint`).

  A checkpoint picked from a folder (the latest of `train_dir`) that a
  training rotates away (`--keep_checkpoint_max`) or that turns out damaged
  while it is read is replaced by the newest intact one, up to
  `_PICK_ATTEMPTS` times, as `evaluate_continuously` does.

  Raises:
    UserInputError: no checkpoint, a checkpoint of another model, bad data.
  """
  if prefix:
    return _evaluate_checkpoint(config, prefix)
  picked_from_folder = not (config.checkpoint_path and
                            not os.path.isdir(config.checkpoint_path))
  for attempt in range(_PICK_ATTEMPTS):
    prefix = checkpoints.resolve_checkpoint(config.checkpoint_path,
                                            config.train_dir)
    try:
      return _evaluate_checkpoint(config, prefix)
    except (runtime.UserInputError, ValueError, tf.errors.OpError):
      if not picked_from_folder or attempt + 1 == _PICK_ATTEMPTS:
        raise
      problem = checkpoints.checkpoint_problem(prefix, verify_data=True)
      if problem is None:
        raise
      logging.warning('checkpoint %s %s while it was evaluated; evaluating '
                      'the newest checkpoint instead', prefix,
                      'was deleted' if _gone(prefix) else
                      f'turned out damaged ({problem})')
  raise AssertionError('unreachable')


# How many checkpoints a one-shot evaluation of a folder tries.
_PICK_ATTEMPTS = 5


def _gone(prefix):
  return not glob.glob(glob.escape(prefix) + '.*')


def _evaluate_checkpoint(config, prefix):
  """`evaluate` of one checkpoint prefix."""
  # Read first: a training may rotate the checkpoint away after the restore.
  global_step = checkpoints.checkpoint_step(prefix)
  spec = run_spec.for_checkpoint(config, prefix)
  ops = build_eval_graph(spec, prefix, spec.batch_size, config.eval_split,
                         use_moving_averages=config.use_moving_averages)
  confusion = np.zeros([spec.num_classes, spec.num_classes], np.int64)
  counter = progress.Progress('evaluated', total=ops.batch.num_examples,
                              unit='examples')

  sums = dict(loss=0.0, top_5=0)
  fetches = [ops.batch.labels, ops.predictions, ops.losses]
  if ops.in_top_5 is not None:
    fetches.append(ops.in_top_5)

  def _count(values):
    true_labels, predicted, losses = values[:3]
    np.add.at(confusion, (true_labels, predicted), 1)
    sums['loss'] += float(np.sum(losses, dtype=np.float64))
    if len(values) > 3:
      sums['top_5'] += int(np.sum(values[3]))
    counter.add(len(true_labels))

  with ops.graph.as_default(), _V1.Session(
      config=precision.apply_to_config(runtime.session_config(),
                                       spec.precision)) as sess:
    # tables_initializer also starts a --pipeline=tfdata iterator.
    sess.run([_V1.local_variables_initializer(), _V1.tables_initializer()])
    ops.saver.restore(sess, prefix)
    try:
      pipeline.run_to_end(sess, fetches, _count,
                          max_steps=config.max_num_batches or None)
    except tf.errors.OpError as e:
      failure = pipeline.input_failure(
          e, ops.input_ops, f'--data_dir={config.data.data_dir}')
      if failure is None:
        raise
      raise runtime.UserInputError(failure) from None
  counter.done()
  metrics = metrics_from_confusion(confusion, ops.batch.class_names)
  if (metrics['num_examples'] != ops.batch.num_examples
      and not config.max_num_batches):
    raise RuntimeError(f'evaluated {metrics["num_examples"]} examples but the '
                       f'split has {ops.batch.num_examples}')
  count = max(1, metrics['num_examples'])
  metrics['loss'] = sums['loss'] / count
  if ops.in_top_5 is not None:
    metrics['top_5_accuracy'] = sums['top_5'] / count
  metrics.update(global_step=global_step, checkpoint=prefix,
                 split=config.eval_split, model=spec.model,
                 used_moving_averages=ops.used_averages)
  logging.info('evaluated %s: accuracy %.4f on %d examples', prefix,
               metrics['accuracy'], metrics['num_examples'])
  write_summaries(config.eval_dir or os.path.join(
      os.path.dirname(prefix), f'eval_{config.eval_split}'), metrics,
                  graph=ops.graph)
  return metrics


def write_summaries(eval_dir, metrics, graph=None):
  """Adds the metrics to TensorBoard events in `eval_dir` at their step.

  Tags (`tf1cnn.summaries`; the split is the folder, `eval_<split>`):
  `accuracy`, `loss` and `top_5_accuracy` (as training's, so the curves
  overlay), `precision/<class>`, `recall/<class>` and the image
  `confusion_matrix`. The first write to `eval_dir` in this process also
  writes `graph`, the evaluation graph, once.

  A folder that cannot be written is reported with a warning: the evaluation
  itself has already been printed.
  """
  values = [_V1.Summary.Value(tag=summaries.ACCURACY,
                              simple_value=metrics['accuracy'])]
  for tag, key in ((summaries.LOSS, 'loss'),
                   (summaries.TOP_5_ACCURACY, 'top_5_accuracy')):
    if key in metrics:
      values.append(_V1.Summary.Value(tag=tag, simple_value=metrics[key]))
  for name, row in metrics['per_class'].items():
    values += [
        _V1.Summary.Value(tag=f'precision/{name}',
                          simple_value=row['precision']),
        _V1.Summary.Value(tag=f'recall/{name}', simple_value=row['recall'])]
  values.append(summaries.image_value(
      summaries.CONFUSION_MATRIX,
      summaries.confusion_matrix_image(metrics['confusion_matrix'])))
  try:
    writer = summaries.eval_writer(eval_dir, graph)
    writer.add_summary(_V1.Summary(value=values),
                       metrics['global_step'] or 0)
    writer.flush()
  except (OSError, tf.errors.OpError) as e:
    logging.warning('could not write evaluation summaries to %s: %s',
                    eval_dir, getattr(e, 'message', e))


def evaluate_continuously(config, on_metrics=None):
  """Evaluates each new checkpoint of `train_dir` while training runs.

  Checkpoints are taken as they appear (`checkpoints_iterator`: the newest
  one, at most once per `eval_interval_secs`). The loop ends after the
  checkpoint of the training's last step (`run_config.json`, re-read after
  every evaluation, since a resumed run may train further), or when no new
  checkpoint has come for `eval_timeout_secs`. A checkpoint deleted by the
  trainer before or while it was read (`keep_checkpoint_max`), or a damaged
  one (`checkpoints.checkpoint_problem`), is skipped with a warning: the
  loop never dies of a race with training.
  `on_metrics(metrics)` is called after each evaluation (the program prints
  the report there).

  Returns:
    The metrics of every evaluation, in order.

  Raises:
    UserInputError: nothing to watch, no checkpoint before the timeout, a
      checkpoint of another model, bad data.
  """
  directory = config.train_dir
  if config.checkpoint_path:
    if not os.path.isdir(config.checkpoint_path):
      raise runtime.UserInputError(
          f'--checkpoint_path={config.checkpoint_path} with '
          '--eval_interval_secs: give the folder to watch, not one '
          'checkpoint')
    directory = config.checkpoint_path
  if not directory:
    raise runtime.UserInputError('--eval_interval_secs needs --train_dir, '
                                 'the folder to watch for checkpoints')
  if config.eval_timeout_secs <= 0:
    raise runtime.UserInputError(
        f'--eval_timeout_secs={config.eval_timeout_secs}: must be > 0')
  logging.info('watching %s for checkpoints (every %d s at most; stopping '
               'after %d s without one)', directory, config.eval_interval_secs,
               config.eval_timeout_secs)
  results = []
  for prefix in _V1.train.checkpoints_iterator(
      directory, min_interval_secs=config.eval_interval_secs,
      timeout=config.eval_timeout_secs):
    problem = checkpoints.checkpoint_problem(prefix, verify_data=True)
    if problem is None:
      try:
        metrics = evaluate(config, prefix)
      except (runtime.UserInputError, ValueError, tf.errors.OpError):
        # The trainer's rotation may delete it between the check and the
        # restore ('not a valid checkpoint', NotFound, DataLoss).
        problem = checkpoints.checkpoint_problem(prefix, verify_data=True)
        if problem is None:
          raise
    if problem is not None:
      if _gone(prefix):
        logging.warning('%s was deleted before it could be evaluated (the '
                        'trainer keeps --keep_checkpoint_max); waiting for '
                        'the next checkpoint', prefix)
      else:
        logging.warning('skipping checkpoint %s: %s; waiting for the next '
                        'checkpoint', prefix, problem)
      continue
    results.append(metrics)
    if on_metrics is not None:
      on_metrics(metrics)
    last_step = (checkpoints.read_run_config(directory) or {}).get('last_step')
    if last_step and metrics['global_step'] >= last_step:
      logging.info('evaluated the last training step (%d); done', last_step)
      break
  else:
    logging.info('no new checkpoint in %s for %d s; stopping', directory,
                 config.eval_timeout_secs)
  if not results:
    raise runtime.UserInputError(
        f'no checkpoint appeared in {directory} within '
        f'--eval_timeout_secs={config.eval_timeout_secs}')
  return results


def evaluate_served(config):
  """Evaluates an exported model (`config.model_file`) like a checkpoint.

  A frozen `.pb`, a `.tflite` file or a SavedModel folder
  (`tf1cnn.served`) runs over `config.eval_split` of the image folder
  `config.data.data_dir`, fed the pixels the evaluation pipeline makes
  (the export's recorded decode mode and eval geometry; the normalisation is
  inside the export). Returns the metrics dict of `evaluate`, with
  `model_file` and `format` in place of the checkpoint.

  Raises:
    UserInputError: a missing or foreign model file, data it cannot read.
  """
  if config.data.dataset != 'image_folder':
    raise runtime.UserInputError(
        f'--model_file evaluates image folders; --dataset={config.data.dataset}'
        ' has no image files to feed it')
  if not config.data.data_dir:
    raise runtime.UserInputError('--model_file needs --data_dir')
  with served.load(config.model_file) as model:
    confusion, class_names = served.evaluate_split(
        model, config.data.data_dir, config.eval_split,
        batch_size=config.eval_batch_size,
        bad_images=config.input.bad_images)
    kind, run_config = model.kind, model.run_config
  metrics = metrics_from_confusion(confusion, class_names)
  # The step of the exported checkpoint (its name: it may be gone now).
  step = re.search(r'-(\d+)$', run_config.get('source_checkpoint') or '')
  metrics.update(global_step=int(step.group(1)) if step else None,
                 model_file=config.model_file, format=kind,
                 split=config.eval_split, model=run_config.get('model'))
  logging.info('evaluated %s: accuracy %.4f on %d examples',
               config.model_file, metrics['accuracy'],
               metrics['num_examples'])
  return metrics


def run(config, on_metrics=None):
  """`evaluate` once, or `evaluate_continuously` with `eval_interval_secs`.

  Args:
    config: an EvalConfig.
    on_metrics: called with each evaluation's metrics.

  Returns:
    The metrics dict of the (last) evaluation.
  """
  if config.eval_interval_secs > 0:
    return evaluate_continuously(config, on_metrics)[-1]
  metrics = evaluate_served(config) if config.model_file else evaluate(config)
  if on_metrics is not None:
    on_metrics(metrics)
  return metrics
