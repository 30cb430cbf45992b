"""Serving speed of one export: every format on every installed runtime.

`measure(version_dir, data_dir)` loads each format written in an export
version folder (`tf1cnn.export`) with its own runtime and with every
installed alternate runtime (`ExportFormat.alternates`: OpenVINO for the
ONNX files), at each of `threads` (0: the runtime's default), and measures,
side by side on the same decoded test split (`served.split_pixels`: the
evaluation pixels):

* images/sec at batch `batch_size` (64): passes over the whole split, the
  fastest pass kept;
* images/sec at batch 1, and its p50 and p99 latency, over
  `latency_images` single-image calls;
* test accuracy over the whole split, and the max |delta probability| and
  the top-1 agreement with the checkpoint that the export recorded when it
  compared every format with it (`run_config.json` `verification`; export
  with `verify_images` >= the split's size for them to cover every image).

The candidates are interleaved within each of `repeats` rounds, so a change
of machine load touches them alike. `fastest(rows, reference_accuracy)` is
the quickest row that loses at most `max_loss_points` of accuracy.
`tf1cnn.benchmark` runs it on the checkpoint it trains; `tf1cnn.prediction`
serves with the preference order it established (`SERVING_PREFERENCE`).
"""

import dataclasses
import os
import time
from typing import List, Optional, Tuple

import numpy as np
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import export_formats
from tf1cnn import runtime
from tf1cnn import served

# What each `served` runtime is called in the table.
RUNTIME_NAMES = {
    'saved_model': 'tensorflow',
    'frozen': 'tensorflow',
    'tflite': 'litert',
    'onnx': 'onnxruntime',
    'openvino': 'openvino',
}


@dataclasses.dataclass
class Candidate:
  """One (format, runtime, threads) of an export.

  Attributes:
    row_name: `format` or `format:alternate runtime` (as the export's
      verification names it).
    format: the export format (`tf1cnn.export_formats`).
    runtime: the `served.RUNTIMES` name.
    threads: intra-op threads given to the runtime (0: its default).
    path: the model file or folder.
  """
  row_name: str
  format: str
  runtime: str
  threads: int
  path: str


def candidates(version_dir, threads=(0,)):
  """Every format written in `version_dir`, on each installed runtime.

  Raises:
    UserInputError: a folder without an export's `run_config.json`.
  """
  record = checkpoints.read_run_config(version_dir)
  if not record or 'formats' not in record:
    raise runtime.UserInputError(
        f'{version_dir}: not a tf1cnn export version folder (no formats in '
        'its run_config.json)')
  found = []
  for name in record['formats']:
    if name not in export_formats.FORMATS:
      continue
    fmt = export_formats.get(name)
    path = fmt.path(version_dir)
    runtimes = [(name, _runtime_of(fmt))] + [
        (f'{name}:{alternate}', alternate)
        for alternate in fmt.installed_alternates()]
    for row_name, runtime_name in runtimes:
      if not served.runtime_installed(runtime_name):
        continue
      for count in threads:
        found.append(Candidate(row_name, name, runtime_name, int(count), path))
  return found


def _runtime_of(fmt):
  return next(name for name, loader in served.RUNTIMES.items()
              if loader is fmt.loader)


def runtime_label(candidate):
  """`onnxruntime`, `openvino`, `litert` (or `tf.lite`), `tensorflow`."""
  if candidate.runtime == 'tflite':
    interpreter = served.tflite_interpreter_class()
    return ('litert' if interpreter.__module__.startswith('ai_edge_litert')
            else 'tf.lite')
  return RUNTIME_NAMES.get(candidate.runtime, candidate.runtime)


def _verification_rows(version_dir):
  """The export's comparison with its checkpoint, by row name."""
  record = checkpoints.read_run_config(version_dir) or {}
  rows = record.get('verification', {}).get('results', [])
  return {row['format']: row for row in rows}


def test_pixels(version_dir, data_dir, split='test', limit=None):
  """`(pixels, labels)` of `split` as every format takes them (eval pixels)."""
  with served.load(version_dir) as model:
    filenames, truth, _ = served.split_files(data_dir, split,
                                             model.class_names, limit=limit)
    batches = list(served.split_pixels(
        filenames, truth, model.image_size, served.served_preprocessing(model),
        model.channels))
  return (np.concatenate([b[0] for b in batches]),
          np.concatenate([b[1] for b in batches]))


def measure(version_dir, data_dir, repeats=3, batch_size=64,
            latency_images=200, threads=(0,), split='test'):
  """The serving table of one export (see the module docstring).

  Args:
    version_dir: an export version folder.
    data_dir: the image-folder dataset whose `split` is served.
    repeats: interleaved rounds.
    batch_size: the large batch.
    latency_images: single-image calls per round.
    threads: runtime intra-op thread counts to try (0: the default).
    split: the split served.

  Returns:
    A list of row dicts: `name`, `format`, `runtime`, `threads`,
    `batch_images_per_sec`, `single_images_per_sec`, `p50_ms`, `p99_ms`,
    `test_accuracy`, `test_examples`, `max_abs_diff` and `top1_agreement`
    (the export's comparison with its checkpoint; None when the export did
    not compare that row), `file_bytes`.
  """
  pixels, labels = test_pixels(version_dir, data_dir, split)
  compared = _verification_rows(version_dir)
  found = candidates(version_dir, threads)
  models = []
  try:
    for candidate in found:
      models.append(served.load(candidate.path,
                                num_threads=candidate.threads or None,
                                loader=served.RUNTIMES[candidate.runtime]))
    batch_seconds = [None] * len(found)
    single_seconds = [[] for _ in found]
    latencies = [[] for _ in found]
    predicted = [None] * len(found)
    singles = pixels[:max(1, min(latency_images, len(pixels)))]
    for model in models:  # warm-up: first allocations, graph optimisation
      model.probabilities(pixels[:batch_size])
      model.probabilities(pixels[:1])
    for round_index in range(repeats):
      for index, model in enumerate(models):
        start = time.perf_counter()
        outputs = [model.probabilities(pixels[first:first + batch_size])
                   for first in range(0, len(pixels), batch_size)]
        elapsed = time.perf_counter() - start
        if batch_seconds[index] is None or elapsed < batch_seconds[index]:
          batch_seconds[index] = elapsed
        if predicted[index] is None:
          predicted[index] = np.concatenate(outputs).argmax(axis=1)
        start = time.perf_counter()
        for image in singles:
          before = time.perf_counter()
          model.probabilities(image[None])
          latencies[index].append(time.perf_counter() - before)
        single_seconds[index].append(time.perf_counter() - start)
      logging.info('serving round %d of %d done', round_index + 1, repeats)
  finally:
    for model in models:
      model.close()
  rows = []
  for index, candidate in enumerate(found):
    waits = np.asarray(latencies[index]) * 1e3
    rows.append(dict(
        name=candidate.row_name, format=candidate.format,
        runtime=runtime_label(candidate), threads=candidate.threads,
        batch_images_per_sec=len(pixels) / batch_seconds[index],
        single_images_per_sec=float(len(singles) / np.median(
            single_seconds[index])),
        p50_ms=float(np.percentile(waits, 50)),
        p99_ms=float(np.percentile(waits, 99)),
        test_accuracy=float(np.mean(predicted[index] == labels)),
        test_examples=int(len(labels)),
        max_abs_diff=compared.get(candidate.row_name, {}).get('max_abs_diff'),
        top1_agreement=compared.get(candidate.row_name, {}).get(
            'top1_agreement'),
        file_bytes=_size(candidate.path)))
  return rows


def _size(path):
  """Bytes of a model file, or of a SavedModel (graph, variables, assets)."""
  if os.path.isfile(path):
    return os.path.getsize(path)
  total = 0
  for name in ('saved_model.pb', 'variables', 'assets'):
    part = os.path.join(path, name)
    if os.path.isfile(part):
      total += os.path.getsize(part)
    for folder, _, names in os.walk(part):
      total += sum(os.path.getsize(os.path.join(folder, n)) for n in names)
  return total


def fastest(rows, reference_accuracy, max_loss_points=1.0,
            key='batch_images_per_sec') -> Optional[dict]:
  """The quickest row within `max_loss_points` of `reference_accuracy`."""
  kept = [row for row in rows
          if 100 * (reference_accuracy - row['test_accuracy'])
          <= max_loss_points + 1e-9]
  return max(kept, key=lambda row: row[key]) if kept else None


def format_rows(rows, reference_accuracy=None) -> List[str]:
  """The table as lines of text (one row per format, runtime and threads)."""
  lines = [f'{"format":<22} {"runtime":<12} {"thr":>3} {"b64 img/s":>10} '
           f'{"b1 img/s":>9} {"p50 ms":>7} {"p99 ms":>7} {"accuracy":>8} '
           f'{"max |dp|":>9} {"top-1 agree":>11}']
  for row in rows:
    diff = row['max_abs_diff']
    agreement = row.get('top1_agreement')
    lines.append(
        f'{row["name"]:<22} {row["runtime"]:<12} '
        f'{row["threads"] or "def":>3} {row["batch_images_per_sec"]:10.1f} '
        f'{row["single_images_per_sec"]:9.1f} {row["p50_ms"]:7.2f} '
        f'{row["p99_ms"]:7.2f} {row["test_accuracy"]:8.4f} '
        + ('      n/a' if diff is None else f'{diff:9.3g}')
        + ('         n/a' if agreement is None
           else f' {100 * agreement:10.1f}%'))
  if reference_accuracy is not None:
    best: Tuple = (fastest(rows, reference_accuracy),
                   fastest(rows, reference_accuracy,
                           key='single_images_per_sec'))
    for label, row in zip(('batch 64', 'batch 1'), best):
      if row:
        lines.append(f'fastest at {label} within 1 point of the checkpoint\'s '
                     f'{reference_accuracy:.4f}: {row["name"]} on '
                     f'{row["runtime"]} ({row["threads"] or "default"} '
                     'threads)')
  return lines
