"""Training and input-pipeline throughput benchmark (`scripts/benchmark.py`).

`run(config)` measures images/sec on an image-folder dataset for:

* `train` with each pipeline and precision, on the graph and hooks that
  `tf1cnn-train` builds (`training.build_train_graph`,
  `training.default_hooks`, the same session config), so the numbers are
  the user's:
  - `synthetic`: the train step on a batch already in memory (a local
    variable), one `sess.run` per step: the ceiling for the model;
  - `queue`: the plain queue-runner pipeline decoding the JPEG files;
  - `cached`: the decoded-image cache (`inputs.cache`), after it exists;
  - `tfdata`: the same graph fed by `tf.data` (`inputs.tfdata`);
* `input_only`: each pipeline without the model, and, on large copies of the
  photos (re-encoded at `large_side` pixels on the long side in a temporary
  folder), the queue pipeline with full-size and with reduced-scale decode;
* `large_decoder`: TensorFlow's JPEG decoder alone on those large copies,
  one thread, full-size and reduced-scale (`measure_decoder_alone`): the
  ceiling of the reduced-scale gain on this machine;
* `eval`: inference from a restored checkpoint on the cached test split;
* `accuracy`: the same training run (`training.train`, cached pipeline, the
  hyper-parameters of `data/catdog.flags`: Adam 1e-3 decayed by 0.3 every 5
  epochs, weight decay 1e-4, dropout 0.5; `accuracy_steps` steps, 750 = 12
  epochs of 2,000 images) in each precision, evaluated on the test split.
* `kernels` (`compare_kernels`): the synthetic training step of the model
  under TensorFlow's own default (`TF_ENABLE_ONEDNN_OPTS` unset) and each CPU
  kernel library, oneDNN and Eigen, interleaved, each in a child process
  (`tf1cnn.startup.measure_kernels`), beside the library this process runs
  and why it was chosen, and the CPU's model and features;
* `serving` (`serving_formats`): the fp32 accuracy checkpoint exported in
  every installed format (`tf1cnn.export_formats`) and each format timed on
  each installed runtime and thread setting on the decoded test split, side
  by side (`tf1cnn.serving_benchmark`): images/sec at batch
  `serving_batch_size` and at batch 1, p50/p99 latency, accuracy, max |dp|
  and top-1 agreement against the checkpoint; with `serving_checkpoint`,
  only this table, for that checkpoint.

Every throughput is measured `repeats` times, the configurations interleaved
within each repeat, so a change in machine load affects them alike; a result
is the median with min and max. Ratios between configurations (the targets)
are medians of the ratios within each repeat.

The targets of the fast path are checked at the end, one PASS/FAIL line each;
the last line of stdout is the whole result as one JSON object (also written
to `json_path`).
"""

import dataclasses
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import config as config_lib
from tf1cnn import evaluation
from tf1cnn import export
from tf1cnn import export_formats
from tf1cnn import precision
from tf1cnn import run_spec
from tf1cnn import runtime
from tf1cnn import startup
from tf1cnn import served
from tf1cnn import serving_benchmark
from tf1cnn import training
from tf1cnn.inputs import cache
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import pipeline
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

TRAIN_PIPELINES = ('synthetic', 'queue', 'cached', 'tfdata')

# Targets on the reference machine (2 cores, LeNet-5 150x150, batch 32).
CACHED_VS_SYNTHETIC = 0.95
LARGE_REDUCED_VS_FULL = 3.0
BF16_SPEEDUP = 1.3
BF16_ACCURACY_POINTS = 1.0
EVAL_FP32 = 900.0
EVAL_BF16 = 1800.0
# The fp32 run must beat this test accuracy for the bf16 comparison to count.
LEARNED_ACCURACY = 0.55


@dataclasses.dataclass
class BenchmarkConfig:
  """Options of `run` (see scripts/benchmark.py for the flags)."""
  model: str = 'lenet5'
  data_dir: str = ''
  image_size: int = 150
  batch_size: int = 32
  steps: int = 30
  warmup_steps: int = 10
  repeats: int = 3
  pipelines: Tuple[str, ...] = TRAIN_PIPELINES
  precisions: Tuple[str, ...] = ('fp32', 'bf16')
  precision_fallback: bool = False
  input_only: bool = True
  large_images: int = 120
  large_side: int = 2000
  large_quality: int = 90
  eval_batch_size: int = 100
  eval_steps: int = 12
  accuracy_steps: int = 750
  learning_rate: float = 1e-3
  seed: int = 1
  work_dir: str = ''
  cache_dir: str = ''
  json_path: str = ''
  keep_work_dir: bool = False
  serving_formats: bool = True
  compare_kernels: bool = True
  serving_checkpoint: str = ''
  serving_batch_size: int = 64
  serving_latency_images: int = 200
  serving_threads: Tuple[int, ...] = (0, 1)


def summarize(measurements):
  """`{median, min, max, repeats, cpu_ms_per_image}` of `(rate, cpu)` pairs.

  `cpu_ms_per_image` is the median process CPU time per image.
  """
  values = [m[0] for m in measurements]
  cpu = [m[1] for m in measurements]
  return dict(median=float(statistics.median(values)), min=float(min(values)),
              max=float(max(values)), repeats=[float(v) for v in values],
              cpu_ms_per_image=float(statistics.median(cpu)))


# --- graph pieces -----------------------------------------------------------


def _train_spec(config, pipeline_name, run_precision, data_dir=None,
                decode='auto', **overrides):
  """The RunSpec `tf1cnn-train` would resolve for one measurement."""
  values = dict(
      model=config.model, dataset='image_folder',
      data_dir=data_dir or config.data_dir, image_size=config.image_size,
      batch_size=config.batch_size,
      pipeline='queue' if pipeline_name == 'synthetic' else pipeline_name,
      jpeg_decode=decode, cache_dir=config.cache_dir,
      precision=run_precision, learning_rate=config.learning_rate,
      seed=config.seed, max_steps=10**9, log_every_n_steps=10**9,
      train_dir=os.path.join(config.work_dir or '.', 'unused'))
  values.update(overrides)
  return run_spec.for_training(config_lib.training_config(**values))


def _synthetic_batch(config, num_classes):
  """A standardised random batch held in local variables (in memory)."""
  rng = np.random.RandomState(config.seed)
  size = config.image_size
  images = rng.uniform(0, 255, (config.batch_size, size, size, 3))
  images = (images - images.mean()) / images.std()
  images = _V1.get_variable(
      'synthetic_images', initializer=tf.constant(images.astype(np.float32)),
      trainable=False, collections=[_V1.GraphKeys.LOCAL_VARIABLES])
  labels = _V1.get_variable(
      'synthetic_labels', initializer=tf.constant(
          rng.randint(0, num_classes, config.batch_size).astype(np.int32)),
      trainable=False, collections=[_V1.GraphKeys.LOCAL_VARIABLES])
  return pipeline.InputBatch(images, labels, 0, [])


def _timed_steps(sess, fetch, warmup_steps, steps, images_per_step):
  """Runs `warmup_steps`, then times `steps`; returns (images/s, CPU ms/img).

  The CPU time counts every thread of this process (model and input), so
  it shows the work per image even when other processes share the cores.
  """
  for _ in range(warmup_steps):
    sess.run(fetch)
  start, cpu_start = time.perf_counter(), time.process_time()
  for _ in range(steps):
    sess.run(fetch)
  elapsed = time.perf_counter() - start
  cpu = time.process_time() - cpu_start
  images = images_per_step * steps
  return images / elapsed, 1000.0 * cpu / images


def _time_graph(graph, fetch, session_config, warmup_steps, steps,
                images_per_step, restore=None):
  """Times `fetch` in a plain session of `graph` (queue runners started).

  Args:
    graph: the graph.
    fetch: what to run per step.
    session_config: the ConfigProto.
    warmup_steps: untimed steps (graph optimisation, queue filling).
    steps: timed steps.
    images_per_step: images each step consumes.
    restore: optional `(saver, prefix)`.
  """
  with graph.as_default():
    init = [_V1.global_variables_initializer(),
            _V1.local_variables_initializer(), _V1.tables_initializer()]
    with _V1.Session(config=session_config) as sess:
      sess.run(init)
      if restore:
        restore[0].restore(sess, restore[1])
      with pipeline.queue_runners(sess):
        return _timed_steps(sess, fetch, warmup_steps, steps,
                            images_per_step)


def measure_train(config, pipeline_name, run_precision, num_classes):
  """`(images/sec, CPU ms/image)` of the user's training steps."""
  spec = _train_spec(config, pipeline_name, run_precision)
  batch_fn = None
  if pipeline_name == 'synthetic':
    batch_fn = lambda: _synthetic_batch(config, num_classes)  # pylint: disable=g-long-lambda
  ops = training.build_train_graph(spec, batch_fn=batch_fn)
  with ops.graph.as_default():
    _V1.set_random_seed(1)
    hooks, _ = training.default_hooks(spec, ops)
    creator = _V1.train.ChiefSessionCreator(
        config=training.session_config(spec))
    with _V1.train.MonitoredSession(session_creator=creator,
                                    hooks=hooks) as sess:
      return _timed_steps(sess, ops.model.train_op, config.warmup_steps,
                          config.steps, config.batch_size)


def measure_input_only(config, pipeline_name, data_dir=None, decode='auto',
                       steps=None):
  """`(images/sec, CPU ms/image)` a training pipeline delivers alone."""
  spec = _train_spec(config, pipeline_name, 'fp32', data_dir=data_dir,
                     decode=decode)
  graph = tf.Graph()
  with graph.as_default():
    _V1.set_random_seed(1)
    batch = spec.build_input('train', config.batch_size, is_training=True,
                             seed=config.seed)
    with tf.control_dependencies([batch.images, batch.labels]):
      fetch = tf.no_op()
  return _time_graph(graph, fetch, runtime.session_config(),
                     config.warmup_steps, steps or 2 * config.steps,
                     config.batch_size)


def measure_eval(config, prefix, run_precision):
  """`(images/sec, CPU ms/image)` of inference from checkpoint `prefix` on
  the cached test split, in the graph `tf1cnn-eval` builds."""
  eval_config = config_lib.eval_config(
      model=config.model, dataset='image_folder', data_dir=config.data_dir,
      image_size=config.image_size, pipeline='cached',
      cache_dir=config.cache_dir, precision=run_precision)
  spec = run_spec.for_checkpoint(eval_config, prefix)
  ops = evaluation.build_eval_graph(spec, prefix, config.eval_batch_size,
                                    'test', num_epochs=None)
  return _time_graph(ops.graph, ops.predictions,
                     precision.apply_to_config(runtime.session_config(),
                                               spec.precision),
                     3, config.eval_steps, config.eval_batch_size,
                     restore=(ops.saver, prefix))


def measure_decoder_alone(data_dir, image_size, split='train', passes=3):
  """CPU ms per image of TensorFlow's JPEG decoder alone, in one thread.

  Every JPEG of `data_dir/split` is decoded, one file per `sess.run` with one
  intra- and inter-op thread, at full size and at the ratio
  `preprocess.pick_ratio` picks for `image_size`, each followed by the bilinear
  resize to `image_size`. Reduced-scale decoding still entropy-decodes every
  DCT coefficient (it only skips the inverse DCT, upsampling and colour
  conversion of the discarded detail), so `full_ms / reduced_ms` is the most
  an input pipeline built on this decoder gains from it: the pipeline's own
  per-image work (reading, queues, resize, crop) adds to both sides.

  Returns:
    `{full_ms, reduced_ms, ceiling, files}`: the fastest of `passes` passes.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  filenames, _, _ = image_folder.scan_split(data_dir, split)
  files = []
  for path in filenames:
    with Image.open(path) as image:
      width, height = image.size
    with open(path, 'rb') as f:
      files.append((f.read(), preprocess.pick_ratio(height, width, image_size)))
  graph = tf.Graph()
  with graph.as_default():
    contents = _V1.placeholder(tf.string, [])
    by_ratio = [preprocess.resize(preprocess.decode_jpeg_at_ratio(contents, r),
                                    image_size) for r in preprocess.RATIOS]
  config = runtime.session_config(intra_op_threads=1, inter_op_threads=1)
  costs = {}
  with _V1.Session(graph=graph, config=config) as sess:
    for name in ('full', 'reduced'):
      best = float('inf')
      for _ in range(passes):
        cpu_start = time.process_time()
        for data, ratio_index in files:
          sess.run(by_ratio[0 if name == 'full' else ratio_index],
                   {contents: data})
        best = min(best, time.process_time() - cpu_start)
      costs[name] = 1000.0 * best / len(files)
  return dict(full_ms=costs['full'], reduced_ms=costs['reduced'],
              ceiling=costs['full'] / costs['reduced'], files=len(files))


# --- data preparation -------------------------------------------------------


def make_large_copies(data_dir, output_dir, count, side, split='train',
                      quality=90):
  """Re-encodes `count` photos (half per class) at `side` px on the long side.

  The copies are bicubic up-scales saved as baseline JPEGs at `quality`
  (4:2:0 chroma).

  Returns:
    The dataset root holding `<split>/<class>/*.jpg`.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  filenames, labels, class_names = image_folder.scan_split(data_dir, split)
  per_class = max(1, count // len(class_names))
  written = 0
  for label, class_name in enumerate(class_names):
    folder = os.path.join(output_dir, split, class_name)
    os.makedirs(folder, exist_ok=True)
    chosen = [f for f, l in zip(filenames, labels) if l == label][:per_class]
    for path in chosen:
      with Image.open(path) as image:
        image = image.convert('RGB')
        scale = side / max(image.size)
        size = (max(1, round(image.size[0] * scale)),
                max(1, round(image.size[1] * scale)))
        image.resize(size, Image.BICUBIC).save(
            os.path.join(folder, os.path.basename(path)), quality=quality)
      written += 1
  logging.info('wrote %d photos at %d px (long side), quality %d, to %s',
               written, side, quality, output_dir)
  return output_dir


def _accuracy_run(config, run_precision, train_dir):
  """Trains `accuracy_steps` with the cached pipeline; returns metrics."""
  common = dict(model=config.model, dataset='image_folder',
                data_dir=config.data_dir, train_dir=train_dir,
                image_size=config.image_size, pipeline='cached',
                cache_dir=config.cache_dir, precision=run_precision)
  train_config = config_lib.training_config(
      batch_size=config.batch_size, max_steps=config.accuracy_steps,
      learning_rate=config.learning_rate, seed=config.seed,
      lr_schedule='exponential', lr_decay_rate=0.3, lr_decay_epochs=5.0,
      weight_decay=1e-4, drop_rate=0.5,
      log_every_n_steps=max(1, config.accuracy_steps // 5),
      save_checkpoint_steps=config.accuracy_steps, **common)
  shutil.rmtree(train_dir, ignore_errors=True)  # never resume an old run
  start = time.perf_counter()
  result = training.train(train_config)
  train_seconds = time.perf_counter() - start
  metrics = evaluation.evaluate(config_lib.eval_config(
      eval_batch_size=config.eval_batch_size, **common))
  return dict(precision=run_precision, steps=result.global_step,
              final_loss=result.final_loss,
              train_images_per_sec=result.examples_per_sec,
              train_seconds=train_seconds, test_accuracy=metrics['accuracy'],
              test_examples=metrics['num_examples'],
              checkpoint=result.checkpoint)


def measure_serving_formats(config, prefix, work_dir):
  """The serving table of checkpoint `prefix` (`tf1cnn.serving_benchmark`).

  Exports `prefix` in every installed format (`tf1cnn.export`, each checked
  against the checkpoint on every test image, so the table's max |dp| covers
  the whole split) and times each format on each installed runtime and
  thread setting, interleaved over `repeats` rounds.

  Returns:
    `{'rows': [...], 'checkpoint_accuracy': float, 'fastest_batch': row,
    'fastest_single': row}` (the fastest rows within 1 point of the
    checkpoint's accuracy, by `serving_batch_size` and batch-1 images/sec).
  """
  test_files = image_folder.scan_split(config.data_dir, 'test')[0]
  version = export.export_saved_model(config_lib.export_config(
      checkpoint_path=prefix, train_dir=os.path.dirname(prefix),
      export_dir=os.path.join(work_dir, 'export'), data_dir=config.data_dir,
      formats=['all'], verify_images=len(test_files)))
  rows = serving_benchmark.measure(
      version, config.data_dir, repeats=config.repeats,
      batch_size=config.serving_batch_size,
      latency_images=config.serving_latency_images,
      threads=config.serving_threads)
  reference = evaluation.evaluate(config_lib.eval_config(
      checkpoint_path=prefix, train_dir=os.path.dirname(prefix),
      data_dir=config.data_dir, eval_batch_size=config.eval_batch_size,
      eval_split='test'))['accuracy']
  for line in serving_benchmark.format_rows(rows, reference):
    logging.info('%s', line)
  return dict(
      rows=rows, checkpoint_accuracy=float(reference),
      fastest_batch=serving_benchmark.fastest(rows, reference),
      fastest_single=serving_benchmark.fastest(
          rows, reference, key='single_images_per_sec'))


# --- targets and report -------------------------------------------------------


def _paired_ratio(numerators, denominators):
  ratios = [a / b for a, b in zip(numerators, denominators) if b]
  return float(statistics.median(ratios)) if ratios else None


def _target(name, value, threshold, unit=''):
  ok = value is not None and value >= threshold
  return dict(name=name, value=value, threshold=threshold, unit=unit,
              passed=bool(ok))


def check_targets(results):
  """The fast path's targets from a results dict; a list of target dicts."""
  train = results['train']
  targets = []
  if 'synthetic/fp32' in train and 'cached/fp32' in train:
    targets.append(_target(
        'cached training >= 95% of synthetic (fp32)',
        _paired_ratio(train['cached/fp32']['repeats'],
                      train['synthetic/fp32']['repeats']),
        CACHED_VS_SYNTHETIC, 'x synthetic'))
  large = results.get('input_only', {})
  if 'large_reduced' in large and 'large_full' in large:
    targets.append(_target(
        'large photos: reduced-scale decode >= 3x full decode (input only)',
        _paired_ratio(large['large_reduced']['repeats'],
                      large['large_full']['repeats']),
        LARGE_REDUCED_VS_FULL, 'x full'))
  for pipeline_name in ('cached', 'synthetic'):
    if f'{pipeline_name}/bf16' in train and f'{pipeline_name}/fp32' in train:
      targets.append(_target(
          f'bf16 trains >= 1.3x fp32 ({pipeline_name})',
          _paired_ratio(train[f'{pipeline_name}/bf16']['repeats'],
                        train[f'{pipeline_name}/fp32']['repeats']),
          BF16_SPEEDUP, 'x fp32'))
      break
  accuracy = {a['precision']: a for a in results.get('accuracy', [])}
  if 'bf16' in accuracy and 'fp32' in accuracy:
    difference = 100 * abs(accuracy['bf16']['test_accuracy'] -
                           accuracy['fp32']['test_accuracy'])
    # Two runs stuck at chance agree trivially: that is not a pass.
    learned = accuracy['fp32']['test_accuracy'] >= LEARNED_ACCURACY
    targets.append(dict(
        name='bf16 test accuracy within 1 point of fp32 (same steps)'
        + ('' if learned else '; fp32 did not learn, no comparison'),
        value=difference, threshold=BF16_ACCURACY_POINTS, unit='points',
        passed=learned and difference <= BF16_ACCURACY_POINTS))
  evals = results.get('eval', {})
  for run_precision, threshold in (('fp32', EVAL_FP32), ('bf16', EVAL_BF16)):
    if run_precision in evals:
      targets.append(_target(
          f'eval from checkpoint, cached input, {run_precision} >= '
          f'{threshold:.0f} images/sec', evals[run_precision]['median'],
          threshold, 'images/sec'))
  return targets


def format_table(results):
  """The measured rates as a text table."""
  rows = [('mode', 'pipeline', 'precision', 'median', 'min', 'max',
           'cpu_ms/img')]
  def _row(mode, name, run_precision, stats):
    rows.append((mode, name, run_precision, stats['median'], stats['min'],
                 stats['max'], stats['cpu_ms_per_image']))
  for key, stats in results['train'].items():
    pipeline_name, run_precision = key.split('/')
    _row('train', pipeline_name, run_precision, stats)
  for name, stats in results.get('input_only', {}).items():
    _row('input_only', name, '-', stats)
  for run_precision, stats in results.get('eval', {}).items():
    _row('eval', 'cached', run_precision, stats)
  lines = []
  for row in rows:
    cells = [f'{c:10.1f}' if isinstance(c, float) else f'{c:>10}'
             for c in row[3:6]]
    cells.append(f'{row[6]:10.3f}' if isinstance(row[6], float)
                 else f'{row[6]:>10}')
    lines.append(f'{row[0]:<11} {row[1]:<14} {row[2]:<9} ' + ' '.join(cells))
  for item in results.get('accuracy', []):
    lines.append(f'accuracy    cached         {item["precision"]:<9} '
                 f'test accuracy {item["test_accuracy"]:.4f} after '
                 f'{item["steps"]} steps ({item["train_images_per_sec"]:.1f} '
                 'images/sec in training.train)')
  return '\n'.join(lines)


# --- main entry ----------------------------------------------------------------


def resolve_precisions(requested, fallback):
  """Expands 'auto' and drops (with fallback) or rejects unsupported ones."""
  if list(requested) == ['auto']:
    requested = ['fp32'] + [p for p in ('bf16', 'fp16')
                            if precision.support(p)[0]]
  resolved = []
  for name in requested:
    value = precision.resolve(name, fallback)
    if value not in resolved:
      resolved.append(value)
  return resolved


def _machine():
  _, cpu_model, cpu_features = startup.cpu_info()
  return dict(cpus=os.cpu_count(), bf16=precision.support('bf16')[0],
              precision_auto=list(precision.choose_auto()),
              gpu=precision.gpu_available(), tensorflow=tf.__version__,
              cpu_model=cpu_model, cpu_features=sorted(cpu_features),
              kernels=startup.current_choice_record())


def _serving_only(config):
  """`run` with `serving_checkpoint`: the serving table of that checkpoint."""
  prefix = checkpoints.resolve_checkpoint(config.serving_checkpoint,
                                          flag='--serving_checkpoint')
  work_dir = config.work_dir or tempfile.mkdtemp(prefix='tf1cnn_benchmark_')
  try:
    serving = measure_serving_formats(config, prefix, work_dir)
  finally:
    if not config.work_dir and not config.keep_work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)
  return dict(config=dataclasses.asdict(config), machine=_machine(),
              train={}, input_only={}, eval={}, accuracy=[], cache={},
              serving=serving, targets=[])


def check_pipelines(data_dir, names, valid, flag):
  """An image-folder `data_dir` is given and every `--flag` name is valid.

  Raises:
    UserInputError: an empty `data_dir`, or a name not in `valid`.
  """
  if not data_dir:
    raise runtime.UserInputError('--data_dir is empty: an image-folder '
                                 'dataset with train/ and test/')
  for name in names:
    if name not in valid:
      raise runtime.UserInputError(f'--{flag}={name!r}: use '
                                   f'{", ".join(valid)}')


def run(config):
  """Runs the benchmark; returns the results dict (see module docstring).

  Raises:
    UserInputError: bad flags, missing data or an unsupported precision.
  """
  runtime.require_graph_mode('benchmark.run')
  check_pipelines(config.data_dir, config.pipelines, TRAIN_PIPELINES,
                  'pipeline')
  if config.serving_checkpoint:
    return _serving_only(config)
  precisions = resolve_precisions(config.precisions, config.precision_fallback)
  _, _, class_names = image_folder.scan_split(config.data_dir, 'train')
  num_classes = len(class_names)
  own_work_dir = not config.work_dir
  work_dir = config.work_dir or tempfile.mkdtemp(prefix='tf1cnn_benchmark_')
  os.makedirs(work_dir, exist_ok=True)
  config.cache_dir = config.cache_dir or os.path.join(work_dir, 'cache')
  results = dict(config=dataclasses.asdict(config), machine=_machine(),
                 train={}, input_only={}, eval={}, accuracy=[], cache={})
  try:
    # The caches: training (crop source size) and test (image size).
    for split, size in (('train', preprocess.crop_source_size(config.image_size)),
                        ('test', config.image_size)):
      start = time.perf_counter()
      _, manifest = cache.ensure_cache(config.data_dir, split, size,
                                       cache_dir=config.cache_dir)
      results['cache'][split] = dict(
          image_size=size, num_examples=manifest['num_examples'],
          seconds=time.perf_counter() - start)
    large_dir = None
    if config.input_only and config.large_images > 0:
      large_dir = make_large_copies(config.data_dir,
                                    os.path.join(work_dir, 'large'),
                                    config.large_images, config.large_side,
                                    quality=config.large_quality)
      results['large_decoder'] = measure_decoder_alone(
          large_dir, preprocess.crop_source_size(config.image_size))
    train_rates = {}
    input_rates = {}
    kernel_rates = {}
    for repeat in range(config.repeats):
      if config.compare_kernels:
        for library, rate in startup.measure_kernels(
            steps=config.steps, warmup_steps=config.warmup_steps,
            batch_size=config.batch_size, image_size=config.image_size,
            model=config.model,
            libraries=('default', 'onednn', 'eigen')).items():
          kernel_rates.setdefault(library, []).append(rate)
          logging.info('repeat %d: synthetic training step under %s: %s '
                       'images/sec', repeat + 1, library, rate)
      for run_precision in precisions:
        for pipeline_name in config.pipelines:
          rate = measure_train(config, pipeline_name, run_precision,
                               num_classes)
          train_rates.setdefault(f'{pipeline_name}/{run_precision}',
                                 []).append(rate)
          logging.info('repeat %d: train %s %s: %.1f images/sec, %.2f CPU '
                       'ms/image', repeat + 1, pipeline_name, run_precision,
                       *rate)
      if config.input_only:
        runs = [(p, dict()) for p in config.pipelines if p != 'synthetic']
        if large_dir:
          large_steps = max(4, config.steps // 5)
          runs += [('large_full', dict(pipeline_name='queue', decode='full',
                                       data_dir=large_dir, steps=large_steps)),
                   ('large_reduced', dict(pipeline_name='queue',
                                          decode='reduced', data_dir=large_dir,
                                          steps=large_steps))]
        for name, options in runs:
          options = dict(options)
          pipeline_name = options.pop('pipeline_name', name)
          rate = measure_input_only(config, pipeline_name, **options)
          input_rates.setdefault(name, []).append(rate)
          logging.info('repeat %d: input only %s: %.1f images/sec, %.2f CPU '
                       'ms/image', repeat + 1, name, *rate)
    results['train'] = {k: summarize(v) for k, v in train_rates.items()}
    results['input_only'] = {k: summarize(v) for k, v in input_rates.items()}
    results['kernels'] = {
        library: dict(median=(float(statistics.median(
            [r for r in rates if r])) if any(rates) else None),
                      repeats=rates)
        for library, rates in kernel_rates.items()}

    checkpoint = None
    if config.accuracy_steps > 0:
      for run_precision in precisions:
        item = _accuracy_run(config, run_precision,
                             os.path.join(work_dir, f'train_{run_precision}'))
        results['accuracy'].append(item)
        if run_precision == 'fp32' or checkpoint is None:
          checkpoint = item['checkpoint']
    if checkpoint:
      eval_rates = {}
      for _ in range(config.repeats):
        for run_precision in precisions:
          eval_rates.setdefault(run_precision, []).append(measure_eval(
              config, checkpoint, run_precision))
      results['eval'] = {k: summarize(v) for k, v in eval_rates.items()}
      if config.serving_formats:
        results['serving'] = measure_serving_formats(config, checkpoint,
                                                     work_dir)
  finally:
    if own_work_dir and not config.keep_work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)
  results['targets'] = check_targets(results)
  return results


def report(results, json_path=''):
  """Prints the table, a PASS/FAIL line per target and the JSON line."""
  print(format_table(results))
  train = results['train']
  for run_precision in ('fp32', 'bf16'):
    fed, ceiling = (train.get(f'cached/{run_precision}'),
                    train.get(f'synthetic/{run_precision}'))
    if fed and ceiling:
      print(f'info: cached training uses {fed["cpu_ms_per_image"]:.3f} CPU '
            f'ms/image, synthetic {ceiling["cpu_ms_per_image"]:.3f} '
            f'({100 * ceiling["cpu_ms_per_image"] / fed["cpu_ms_per_image"]:.1f}'
            f'% of the work is the model step; {run_precision})')
  machine = results['machine']
  print(f'info: CPU {machine.get("cpu_model") or "unknown"}; features: '
        f'{" ".join(machine.get("cpu_features", [])) or "unknown"}')
  chosen = machine.get('kernels') or {}
  kernels = results.get('kernels') or {}
  shown = ', '.join(
      f'{library} {row["median"]:.1f}' if row['median'] else f'{library} failed'
      for library, row in sorted(kernels.items()))
  print(f'info: CPU kernels in this process: {chosen.get("library", "unknown")}'
        f' ({chosen.get("source", "")}: {chosen.get("reason", "")})'
        + (f'; synthetic training images/sec by library: {shown}'
           if shown else ''))
  auto = results['machine'].get('precision_auto')
  if auto:
    rates = {p: results['train'][f'cached/{p}']['median']
             for p in ('fp32', 'bf16') if f'cached/{p}' in results['train']}
    shown = ', '.join(f'{p} {r:.1f}' for p, r in rates.items())
    print(f'info: --precision=auto picks {auto[0]} here ({auto[1]})'
          + (f'; cached training images/sec: {shown}' if shown else ''))
  serving = results.get('serving')
  if serving:
    print(f'serving (batch {results["config"]["serving_batch_size"]} and 1, '
          f'{serving["rows"][0]["test_examples"] if serving["rows"] else 0} '
          'test images; accuracy of the checkpoint '
          f'{serving["checkpoint_accuracy"]:.4f}):')
    for line in serving_benchmark.format_rows(
        serving['rows'], serving['checkpoint_accuracy']):
      print(f'serving {line}')
  decoder = results.get('large_decoder')
  if decoder:
    print(f'info: large photos, TensorFlow\'s JPEG decoder alone (one '
          f'thread, {decoder["files"]} files): full decode + resize '
          f'{decoder["full_ms"]:.3f} CPU ms/image, reduced-scale decode + '
          f'resize {decoder["reduced_ms"]:.3f}: {decoder["ceiling"]:.2f}x, '
          'the most a pipeline on this decoder gains from reduced-scale '
          'decoding (it still entropy-decodes every coefficient; the '
          'pipeline\'s own per-image work lowers the ratio)')
  for target in results['targets']:
    value = target['value']
    shown = 'n/a' if value is None else f'{value:.3f}'
    print(f'{"PASS" if target["passed"] else "FAIL"}: {target["name"]}: '
          f'{shown} {target["unit"]} (threshold {target["threshold"]})')
  line = json.dumps(results, sort_keys=True)
  if json_path:
    checkpoints.write_json(json_path, results, indent=1, sort_keys=True)
  print(line, flush=True)
