"""Where a training step's time goes (`scripts/profile_step.py`).

`run(config)` builds the training graph exactly as `tf1cnn-train` does
(`training.build_train_graph`, `training.default_hooks`,
`training.session_config`: the same update ops, moving averages, hooks and
session options) on the in-memory `synthetic` batch and on the `cached`
pipeline (`tf1cnn.inputs.cache`), runs warm-up steps, then:

* traces `trace_steps` steps with `RunOptions(trace_level=FULL_TRACE)` and
  aggregates `RunMetadata.step_stats` (`aggregate_step_stats`) by op type
  and by category (`CATEGORIES`): the big fully connected layer, the
  convolutions, pooling/LRN, the optimizer's updates, the moving averages,
  the input and the rest. The executor runs ops on several threads, so two
  times are reported: the summed op time (`all_end_rel_micros` of every op,
  what the shares are of) and the traced step's wall time (first op start
  to last op end);
* times `timed_steps` untraced steps (the tracing itself costs time) and
  divides the step's FLOPs (`count_flops`) by that wall time: the achieved
  GFLOP/s, against the CPU's fp32 peak (`peak_flops`);
* measures each variant of `VARIANTS` (thread, grappler, XLA, kernel
  library and gradient-gating options) side by side with the default, `repeats`
  interleaved repeats, with the loss of the first steps from the same
  initial values, so a faster variant can be checked for unchanged numerics
  (on the in-memory batch: the queue pipelines' batch order varies).

FLOPs are counted from the graph's static shapes over the ops a step runs
(`executed_ops`): 2 FLOPs per multiply-add of every Conv2D,
Conv2DBackpropInput, Conv2DBackpropFilter, MatMul and BatchMatMul (a backward
convolution does exactly the multiply-adds of its forward one). TensorFlow's
profiler (`tf.compat.v1.profiler.profile` with `float_operation()`) is run
beside it for comparison: its registered statistics count the same
convolutions and products, backward ones included, plus element-wise ops
such as bias adds, over the whole graph, so its total is a little higher
(20.82 G against 20.64 G for the LeNet-5 step at 150x150, batch 32).

The last line of `report` is the whole result as one JSON object.
"""

import collections
import contextlib
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from tf1cnn import benchmark
from tf1cnn import checkpoints
from tf1cnn import runtime
from tf1cnn import startup
from tf1cnn import training
from tf1cnn.inputs import cache
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import preprocess

_V1 = tf.compat.v1

PIPELINES = ('synthetic', 'cached')

# Categories in the order a node is tested against them (first match wins).
CATEGORIES = ('input', 'moving_average', 'optimizer', 'dense', 'conv',
              'pool_lrn', 'other')

INPUT_OP_TYPES = frozenset((
    'QueueDequeueV2', 'QueueDequeueManyV2', 'QueueDequeueUpToV2',
    'IteratorGetNext', 'IteratorGetNextSync', 'Stage', 'Unstage'))
OPTIMIZER_OP_TYPES = frozenset((
    'ApplyAdam', 'ResourceApplyAdam', 'ApplyGradientDescent',
    'ResourceApplyGradientDescent', 'ApplyMomentum', 'ResourceApplyMomentum',
    'ApplyRMSProp', 'ResourceApplyRMSProp', 'ApplyAdadelta',
    'ResourceApplyAdadelta', 'ApplyAdagrad', 'ResourceApplyAdagrad',
    'ApplyFtrlV2', 'ResourceApplyFtrlV2', 'ApplyFtrl', 'ResourceApplyFtrl'))
POOL_LRN_OP_TYPES = frozenset((
    'AvgPool', 'AvgPoolGrad', 'MaxPool', 'MaxPoolGrad', 'MaxPoolV2',
    'MaxPoolGradV2', 'LRN', 'LRNGrad'))
CONV_OP_TYPES = frozenset((
    'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter',
    'DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter', 'FusedConv2D'))
FLOP_OP_TYPES = frozenset((
    'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MatMul',
    'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3'))
_MOVING_AVERAGE_NAMES = ('ExponentialMovingAverage', 'AssignMovingAvg')
# oneDNN's graph rewrite renames op types (`_MklConv2D`, `_MklFusedMatMul`,
# `_MklNativeConv2DBackpropFilter`...): the base type is what is left.
_MKL_PREFIX = re.compile(r'^_(Mkl(Native)?|OneDnn)')


@dataclasses.dataclass
class StepProfileConfig:
  """Options of `run` (see scripts/profile_step.py for the flags).

  The model's options are those of `data/catdog.flags` (Adam, cosine decay,
  weight decay, dropout, a moving average of the weights).
  """
  model: str = 'lenet5'
  data_dir: str = ''
  image_size: int = 150
  batch_size: int = 32
  learning_rate: float = 1e-3
  optimizer: str = 'adam'
  lr_schedule: str = 'cosine'
  weight_decay: float = 5e-4
  drop_rate: float = 0.5
  moving_average_decay: float = 0.995
  seed: int = 1
  pipelines: Tuple[str, ...] = PIPELINES
  warmup_steps: int = 10
  trace_steps: int = 5
  timed_steps: int = 30
  variants: Tuple[str, ...] = ()
  repeats: int = 3
  loss_steps: int = 5
  work_dir: str = ''
  cache_dir: str = ''
  json_path: str = ''


# --- variants ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Variant:
  """A change measured against the default.

  `session_fn` edits a copy of the training session's ConfigProto;
  `build_context` returns a context manager the training graph is built in;
  `env` holds environment variables TensorFlow reads at import, so such a
  variant runs in a child process (`scripts/profile_step.py
  --variants=default`).
  """
  name: str
  description: str
  session_fn: Optional[Callable] = None
  env: Tuple[Tuple[str, str], ...] = ()
  build_context: Optional[Callable] = None


def _threads(intra, inter):
  def edit(config):
    config.intra_op_parallelism_threads = intra
    config.inter_op_parallelism_threads = inter
  return edit


def _rewrite(**options):
  """Sets grappler `RewriterConfig` fields (`'OFF'`/`'ON'`/`'AGGRESSIVE'`)."""
  def edit(config):
    rewrite = config.graph_options.rewrite_options
    for field, value in options.items():
      setattr(rewrite, field, getattr(type(rewrite), value))
  return edit


def _xla_jit(config):
  config.graph_options.optimizer_options.global_jit_level = (
      _V1.OptimizerOptions.ON_1)


@contextlib.contextmanager
def _gradients_ungated():
  """`Optimizer.minimize` with `gate_gradients=GATE_NONE` while building.

  The default `GATE_OP` groups the gradients of each op's inputs, so every
  Conv2D's input gradient is computed, the first layer's too, which nothing
  consumes; ungated, the executor prunes it.
  """
  optimizer_class = _V1.train.Optimizer
  original = optimizer_class.minimize

  def minimize(self, loss, *args, **kwargs):
    kwargs.setdefault('gate_gradients', optimizer_class.GATE_NONE)
    return original(self, loss, *args, **kwargs)

  optimizer_class.minimize = minimize
  try:
    yield
  finally:
    optimizer_class.minimize = original


VARIANTS = collections.OrderedDict((v.name, v) for v in (
    Variant('default', 'training.session_config as tf1cnn-train uses it'),
    Variant('intra_cores_inter1', 'intra-op threads = cores, inter-op 1',
            _threads(os.cpu_count() or 1, 1)),
    Variant('intra_cores_inter2', 'intra-op threads = cores, inter-op 2',
            _threads(os.cpu_count() or 1, 2)),
    Variant('intra1_inter_cores', 'intra-op 1, inter-op threads = cores',
            _threads(1, os.cpu_count() or 1)),
    Variant('no_remapping', 'grappler remapper (op fusion) off',
            _rewrite(remapping='OFF')),
    Variant('no_layout', 'grappler layout optimizer off',
            _rewrite(layout_optimizer='OFF')),
    Variant('no_arithmetic', 'grappler arithmetic optimizer off',
            _rewrite(arithmetic_optimization='OFF')),
    Variant('aggressive_constfold', 'grappler constant folding aggressive, '
            'memory optimizer off',
            _rewrite(constant_folding='AGGRESSIVE', memory_optimization='OFF')),
    Variant('xla_jit', 'session global_jit_level ON_1 (on the CPU it needs '
            'xla_cpu_jit\'s flag too)',
            _xla_jit),
    Variant('gate_none', 'gradients not gated per op (GATE_NONE): the '
            'unused input gradient of the first convolution is pruned',
            build_context=_gradients_ungated),
    Variant('xla_cpu_jit', 'XLA auto-clustering on the CPU '
            '(TF_XLA_FLAGS=--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit)',
            env=(('TF_XLA_FLAGS',
                  '--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit'),)),
    Variant('onednn_off', 'Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0)',
            env=(('TF_ENABLE_ONEDNN_OPTS', '0'),)),
))


def _variant(name):
  if name not in VARIANTS:
    raise runtime.UserInputError(
        f'--variants={name!r}: use {", ".join(VARIANTS)}')
  return VARIANTS[name]


# --- the CPU's peak ---------------------------------------------------------


def _clock_mhz(cpuinfo_path='/proc/cpuinfo'):
  """`(MHz, source)`: lscpu's max MHz, else /proc/cpuinfo's current MHz."""
  try:
    out = subprocess.run(['lscpu'], capture_output=True, text=True,
                         timeout=10, check=False).stdout
    match = re.search(r'^CPU max MHz:\s*([0-9.]+)', out, re.M)
    if match and float(match.group(1)) > 0:
      return float(match.group(1)), 'lscpu CPU max MHz'
  except (OSError, subprocess.SubprocessError):
    pass
  try:
    with open(cpuinfo_path, encoding='utf-8', errors='replace') as f:
      values = [float(line.split(':')[1]) for line in f
                if line.lower().startswith('cpu mhz')]
    if values:
      return max(values), '/proc/cpuinfo cpu MHz'
  except (OSError, ValueError, IndexError):
    pass
  return None, 'unknown'


def _vendor_family(cpuinfo_path='/proc/cpuinfo'):
  vendor, family = '', None
  try:
    with open(cpuinfo_path, encoding='utf-8', errors='replace') as f:
      for line in f:
        key, _, value = line.partition(':')
        key = key.strip().lower()
        if key == 'vendor_id' and not vendor:
          vendor = value.strip()
        elif key == 'cpu family' and family is None:
          family = int(value.strip())
  except (OSError, ValueError):
    pass
  return vendor, family


def flops_per_cycle(features, vendor='', family=None):
  """`(fp32 FLOPs per cycle per core, assumption)` from the CPU's features.

  Two FMA pipes are assumed on x86. AMD Zen 4 (family 25 with AVX-512)
  executes a 512-bit FMA as two 256-bit halves, so its two 256-bit pipes give
  2 x 8 lanes x 2 = 32; an Intel core with AVX-512 and two 512-bit FMA units
  gives 64; AVX2 with FMA 32; SSE without FMA 2 x 4 lanes = 8.
  """
  if 'avx512f' in features:
    if vendor == 'AuthenticAMD' and family is not None and family <= 25:
      return 32, ('AVX-512 FMA on AMD Zen 4 runs as 2 x 256-bit: 2 FMA pipes '
                  'x 8 fp32 lanes x 2 FLOPs')
    return 64, '2 x 512-bit FMA units x 16 fp32 lanes x 2 FLOPs'
  if 'avx2' in features and 'fma' in features:
    return 32, '2 x 256-bit FMA units x 8 fp32 lanes x 2 FLOPs'
  if 'avx' in features:
    return 16, '256-bit add + multiply, no FMA: 8 lanes x 2'
  return 8, '128-bit SSE add + multiply: 4 lanes x 2'


def peak_flops():
  """The CPU's fp32 peak: cores x clock x FLOPs/cycle, with its sources."""
  _, model, features = startup.cpu_info()
  vendor, family = _vendor_family()
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    cores = os.cpu_count() or 1
  mhz, clock_source = _clock_mhz()
  per_cycle, assumption = flops_per_cycle(features, vendor, family)
  peak = cores * mhz * 1e6 * per_cycle if mhz else None
  return dict(cpu_model=model, vendor=vendor, family=family, cores=cores,
              mhz=mhz, clock_source=clock_source, flops_per_cycle=per_cycle,
              assumption=assumption, peak_gflops=peak / 1e9 if peak else None)


# --- FLOPs ------------------------------------------------------------------


def _static(shape):
  dims = shape.as_list() if shape.rank is not None else None
  if dims is None or any(d is None for d in dims):
    return None
  return dims


def op_flops(op):
  """FLOPs (2 per multiply-add) of one Conv2D/backprop/MatMul op, else 0.

  A backward convolution does the multiply-adds of the forward one it
  differentiates: for `Conv2DBackpropInput` and `Conv2DBackpropFilter` the
  forward output is `out_backprop` (input 2) and the filter shape is the
  filter (or filter sizes) input.

  Returns:
    An int, or None when a shape is not static.
  """
  kind = op.type
  if kind == 'Conv2D':
    out, kernel = _static(op.outputs[0].shape), _static(op.inputs[1].shape)
  elif kind in ('Conv2DBackpropInput', 'Conv2DBackpropFilter'):
    out = _static(op.inputs[2].shape)
    kernel = (_static(op.inputs[1].shape) if kind == 'Conv2DBackpropInput'
              else _static(op.outputs[0].shape))
  elif kind == 'MatMul':
    a, b = _static(op.inputs[0].shape), _static(op.inputs[1].shape)
    if a is None or b is None:
      return None
    rows = a[1] if op.get_attr('transpose_a') else a[0]
    inner = a[0] if op.get_attr('transpose_a') else a[1]
    cols = b[0] if op.get_attr('transpose_b') else b[1]
    return 2 * rows * inner * cols
  elif kind.startswith('BatchMatMul'):
    a, out = _static(op.inputs[0].shape), _static(op.outputs[0].shape)
    if a is None or out is None:
      return None
    adjoint = op.get_attr('adj_x')
    inner = a[-2] if adjoint else a[-1]
    return 2 * int(np.prod(out)) * inner
  else:
    return 0
  if out is None or kernel is None:
    return None
  if op.get_attr('data_format') in (b'NCHW', 'NCHW'):
    batch, height, width = out[0], out[2], out[3]
  else:
    batch, height, width = out[0], out[1], out[2]
  kh, kw, cin, cout = kernel
  return 2 * batch * height * width * kh * kw * cin * cout


def executed_ops(fetches):
  """The ops a `sess.run(fetches)` runs: ancestors through data and control
  inputs (the executor prunes the rest, e.g. the input gradient of the first
  convolution, which `tf.gradients` builds but nothing consumes)."""
  todo = [f if isinstance(f, tf.Operation) else f.op
          for f in tf.nest.flatten(fetches)]
  seen = {}
  while todo:
    op = todo.pop()
    if op.name in seen:
      continue
    seen[op.name] = op
    todo.extend(t.op for t in op.inputs)
    todo.extend(op.control_inputs)
  return list(seen.values())


def count_flops(graph, fetches=None, run_profiler=True):
  """FLOPs of one `sess.run(fetches)` of a training step's graph.

  Args:
    graph: the graph.
    fetches: what a step runs; None: every op of the graph.
    run_profiler: also run TensorFlow's profiler (whole graph).

  Returns:
    `{total, by_type, unknown_shape_ops, profiler_total}`:
    `total` counts the convolutions (forward and backward) and matrix
    products from static shapes (`op_flops`); `profiler_*` is TensorFlow's
    own total (`float_operation()`, every op of the graph), None when not
    run.
  """
  by_type = collections.Counter()
  unknown = []
  ops = executed_ops(fetches) if fetches is not None else graph.get_operations()
  for op in ops:
    if op.type not in FLOP_OP_TYPES:
      continue
    value = op_flops(op)
    if value is None:
      unknown.append(op.name)
    else:
      by_type[op.type] += value
  result = dict(total=int(sum(by_type.values())), by_type=dict(by_type),
                unknown_shape_ops=unknown, profiler_total=None)
  if run_profiler:
    options = (_V1.profiler.ProfileOptionBuilder(
        _V1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    profile = _V1.profiler.profile(graph, cmd='op', options=options)
    result['profiler_total'] = int(profile.total_float_ops)
  return result


# --- step stats -------------------------------------------------------------


def base_op_type(op_type):
  """`_MklFusedConv2D` -> `FusedConv2D`; other names unchanged."""
  return _MKL_PREFIX.sub('', op_type)


def _op_type_of(node, graph):
  label = node.timeline_label
  match = re.match(r'^[^=]*=\s*([A-Za-z0-9_]+)\(', label or '')
  if match:
    return match.group(1)
  try:
    return graph.get_operation_by_name(node.node_name).type
  except (KeyError, ValueError):
    return node.node_name.split(':')[-1] if ':' in node.node_name else '?'


def _scope_of_variable(variable):
  return variable.op.name.rsplit('/', 1)[0]


def network_scopes(graph):
  """`(dense_scopes, conv_scopes)`: the scopes of the big FC layer's and the
  convolutions' weights.

  The dense scope is the scope of the largest 2-D trainable variable
  (LeNet-5's `local1_scope`, 14.6M weights); convolution scopes hold 4-D
  weights.
  """
  with graph.as_default():
    variables = _V1.trainable_variables()
  matrices = [v for v in variables if v.shape.rank == 2]
  dense = ()
  if matrices:
    largest = max(matrices, key=lambda v: v.shape.num_elements() or 0)
    dense = (_scope_of_variable(largest),)
  conv = tuple(sorted({_scope_of_variable(v) for v in variables
                       if v.shape.rank == 4}))
  return dense, conv


def _in_scopes(name, scopes):
  """True when `name` (or its gradient `gradients*/name`) is in a scope."""
  stripped = re.sub(r'^(.*/)?gradients(_\d+)?/', '', name)
  return any(s and (stripped == s or stripped.startswith(s + '/') or
                    stripped.startswith(s + '_'))
             for s in scopes)


def categorize(name, op_type, dense_scopes=(), conv_scopes=(),
               input_names=frozenset()):
  """The category (one of `CATEGORIES`) of a node of a training step.

  Args:
    name: the node name.
    op_type: its op type (oneDNN prefixes allowed).
    dense_scopes: scopes of the big fully connected layer.
    conv_scopes: scopes of the convolution layers.
    input_names: names of the input pipeline's ops.
  """
  base = base_op_type(op_type)
  if name in input_names or base in INPUT_OP_TYPES:
    return 'input'
  if any(part in name for part in _MOVING_AVERAGE_NAMES):
    return 'moving_average'
  if base in OPTIMIZER_OP_TYPES or re.search(r'(^|/)(Adam|Momentum|RMSProp|'
                                            r'GradientDescent)(_\d+)?/', name):
    return 'optimizer'
  if _in_scopes(name, dense_scopes):
    return 'dense'
  if base in CONV_OP_TYPES or 'Conv2D' in base or _in_scopes(name,
                                                               conv_scopes):
    return 'conv'
  if base in POOL_LRN_OP_TYPES:
    return 'pool_lrn'
  return 'other'


def aggregate_step_stats(step_stats_list, graph, input_names=frozenset()):
  """Op time by op type and by category over traced steps.

  Args:
    step_stats_list: `StepStats` protos (one per traced step).
    graph: the graph that ran (op types of nodes whose label lacks one).
    input_names: names of the input pipeline's ops (category `input`).

  Returns:
    `{steps, op_micros, wall_micros, by_category, by_type, top_nodes}`:
    per-step means. `op_micros` sums every op's `all_end_rel_micros` (threads
    overlap, so it may exceed the wall time); `wall_micros` is first start to
    last end; `by_category` and `by_type` map to per-step micros and their
    share of `op_micros`; they sum to `op_micros`.
  """
  dense_scopes, conv_scopes = network_scopes(graph)
  by_category = collections.Counter({c: 0 for c in CATEGORIES})
  by_type = collections.Counter()
  by_node = collections.Counter()
  walls = []
  steps = 0
  for step_stats in step_stats_list:
    steps += 1
    starts, ends = [], []
    for device in step_stats.dev_stats:
      for node in device.node_stats:
        if node.node_name in ('_SOURCE', '_SINK'):
          continue
        micros = node.all_end_rel_micros
        starts.append(node.all_start_micros)
        ends.append(node.all_start_micros + micros)
        op_type = _op_type_of(node, graph)
        name = node.node_name.split(':')[0]
        category = categorize(name, op_type, dense_scopes, conv_scopes,
                              input_names)
        by_category[category] += micros
        by_type[op_type] += micros
        by_node[(name, op_type, category)] += micros
    if starts:
      walls.append(max(ends) - min(starts))
  steps = max(steps, 1)
  total = sum(by_category.values())

  def _shares(counter):
    return {k: dict(micros=v / steps, share=(v / total if total else 0.0))
            for k, v in counter.most_common()}

  return dict(steps=steps, op_micros=total / steps,
              wall_micros=(statistics.mean(walls) if walls else 0.0),
              by_category={c: dict(micros=by_category[c] / steps,
                                   share=(by_category[c] / total if total
                                          else 0.0)) for c in CATEGORIES},
              by_type=_shares(by_type),
              top_nodes=[dict(name=n, type=t, category=c, micros=v / steps)
                         for (n, t, c), v in by_node.most_common(25)],
              dense_scopes=list(dense_scopes), conv_scopes=list(conv_scopes))


# --- the training graph -----------------------------------------------------


def _spec(config, pipeline_name):
  return benchmark._train_spec(  # pylint: disable=protected-access
      config, pipeline_name, 'fp32', optimizer=config.optimizer,
      lr_schedule=config.lr_schedule, weight_decay=config.weight_decay,
      drop_rate=config.drop_rate,
      moving_average_decay=config.moving_average_decay)


def _input_names(ops):
  return frozenset(op.name for op in ops.input_ops
                   if isinstance(op, tf.Operation)) | frozenset(
                       op.op.name for op in ops.input_ops
                       if isinstance(op, tf.Tensor))


def profile_pipeline(config, pipeline_name, num_classes, variant,
                     trace=True):
  """One training graph of `pipeline_name` under `variant`, measured.

  Returns:
    `{images_per_sec, cpu_ms_per_image, step_ms, losses, profile, flops}`
    (`profile` and `flops` only with `trace`).
  """
  spec = _spec(config, pipeline_name)
  batch_fn = None
  if pipeline_name == 'synthetic':
    batch_fn = lambda: benchmark._synthetic_batch(config, num_classes)  # pylint: disable=g-long-lambda,protected-access
  with (variant.build_context() if variant.build_context
        else contextlib.nullcontext()):
    ops = training.build_train_graph(spec, batch_fn=batch_fn)
  session = training.session_config(spec)
  if variant.session_fn:
    variant.session_fn(session)
  result = {}
  with ops.graph.as_default():
    hooks, _ = training.default_hooks(spec, ops)
    creator = _V1.train.ChiefSessionCreator(config=session)
    with _V1.train.MonitoredSession(session_creator=creator,
                                    hooks=hooks) as sess:
      # The loss of the first steps from the same seeded initial values:
      # a variant that leaves the math alone gives the same numbers.
      fetch = dict(train=ops.model.train_op, loss=ops.model.loss)
      result['losses'] = [float(sess.run(fetch)['loss'])
                          for _ in range(config.loss_steps)]
      rate, cpu_ms = benchmark._timed_steps(  # pylint: disable=protected-access
          sess, ops.model.train_op, config.warmup_steps, config.timed_steps,
          config.batch_size)
      result.update(images_per_sec=rate, cpu_ms_per_image=cpu_ms,
                    step_ms=1000.0 * config.batch_size / rate)
      if trace:
        stats = []
        for _ in range(config.trace_steps):
          metadata = _V1.RunMetadata()
          sess.run(ops.model.train_op,
                   options=_V1.RunOptions(
                       trace_level=_V1.RunOptions.FULL_TRACE),
                   run_metadata=metadata)
          stats.append(metadata.step_stats)
        result['profile'] = aggregate_step_stats(stats, ops.graph,
                                                 _input_names(ops))
  if trace:
    result['flops'] = count_flops(ops.graph, ops.model.train_op)
  return result


def _child_rate(config, pipeline_name, variant):
  """`profile_pipeline` of an environment variant, in a child process."""
  script = os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'scripts', 'profile_step.py')
  env = dict(os.environ)
  env.pop('TF1CNN_KERNELS', None)
  env.update(dict(variant.env))
  args = [sys.executable, script, f'--model={config.model}',
          f'--data_dir={config.data_dir}', f'--image_size={config.image_size}',
          f'--batch_size={config.batch_size}',
          f'--pipelines={pipeline_name}', '--variants=default',
          '--repeats=1', '--notrace', f'--warmup_steps={config.warmup_steps}',
          f'--timed_steps={config.timed_steps}',
          f'--loss_steps={config.loss_steps}',
          f'--cache_dir={config.cache_dir}']
  done = subprocess.run(args, capture_output=True, text=True, env=env,
                        check=False)
  if done.returncode != 0:
    logging.warning('variant %s failed: %s', variant.name,
                    done.stderr.strip().splitlines()[-1:])
    return None
  last = json.loads(done.stdout.strip().splitlines()[-1])
  return last['variants']['default'][pipeline_name]['runs'][0]


# --- the whole run ------------------------------------------------------------


def run(config):
  """Profiles the step and measures the variants; returns the results dict.

  Raises:
    UserInputError: bad options or a missing dataset.
  """
  runtime.require_graph_mode('step_profile.run')
  benchmark.check_pipelines(config.data_dir, config.pipelines, PIPELINES,
                            'pipelines')
  variants = [_variant(v) for v in (config.variants or ('default',))]
  if variants[0].name != 'default':
    variants.insert(0, VARIANTS['default'])
  _, _, class_names = image_folder.scan_split(config.data_dir, 'train')
  own_work_dir = not config.work_dir
  work_dir = config.work_dir or tempfile.mkdtemp(prefix='tf1cnn_profile_')
  config.work_dir = work_dir
  config.cache_dir = config.cache_dir or os.path.join(work_dir, 'cache')
  results = dict(config=dataclasses.asdict(config), peak=peak_flops(),
                 tensorflow=tf.__version__,
                 kernels=startup.current_choice_record(), profile={},
                 variants={})
  try:
    if 'cached' in config.pipelines:
      cache.ensure_cache(config.data_dir, 'train',
                         preprocess.crop_source_size(config.image_size),
                         cache_dir=config.cache_dir)
    runs = {}
    for repeat in range(config.repeats):
      for variant in variants:
        for pipeline_name in config.pipelines:
          trace = (repeat == 0 and variant.name == 'default' and
                   config.trace_steps > 0)
          if variant.env:
            item = _child_rate(config, pipeline_name, variant)
          else:
            item = profile_pipeline(config, pipeline_name, len(class_names),
                                    variant, trace=trace)
          if item is None:
            continue
          if trace:
            results['profile'][pipeline_name] = dict(
                profile=item.pop('profile'), flops=item.pop('flops'))
          runs.setdefault((variant.name, pipeline_name), []).append(item)
          logging.info('repeat %d: %s %s: %.1f images/sec, %.2f CPU ms/image',
                       repeat + 1, variant.name, pipeline_name,
                       item['images_per_sec'], item['cpu_ms_per_image'])
    for (name, pipeline_name), items in runs.items():
      results['variants'].setdefault(name, {})[pipeline_name] = dict(
          runs=items, median_images_per_sec=float(statistics.median(
              i['images_per_sec'] for i in items)))
    _add_ratios(results)
    _add_efficiency(results)
  finally:
    if own_work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)
  return results


def _add_ratios(results):
  """Each variant's images/s over the default's, median of paired repeats,
  and the largest loss difference from the default's first steps."""
  default = results['variants'].get('default', {})
  for name, by_pipeline in results['variants'].items():
    for pipeline_name, row in by_pipeline.items():
      base = default.get(pipeline_name)
      if not base:
        continue
      ratios = [a['images_per_sec'] / b['images_per_sec']
                for a, b in zip(row['runs'], base['runs'])]
      row['vs_default'] = float(statistics.median(ratios)) if ratios else None
      row['vs_default_each'] = ratios
      # CPU time per image moves less with other processes' load.
      cpu_ratios = [b['cpu_ms_per_image'] / a['cpu_ms_per_image']
                    for a, b in zip(row['runs'], base['runs'])]
      row['cpu_vs_default'] = (float(statistics.median(cpu_ratios))
                               if cpu_ratios else None)
      row['median_cpu_ms_per_image'] = float(statistics.median(
          r['cpu_ms_per_image'] for r in row['runs']))
      # The queue pipelines hand out batches in a thread-dependent order,
      # so only the in-memory batch gives comparable losses.
      row['max_loss_diff'] = (float(max(
          abs(x - y) for a, b in zip(row['runs'], base['runs'])
          for x, y in zip(a['losses'], b['losses'])))
                              if pipeline_name == 'synthetic' else None)


def _add_efficiency(results):
  """GFLOP/s of the default's median untraced step and its share of peak."""
  peak = results['peak']['peak_gflops']
  for pipeline_name, entry in results['profile'].items():
    row = results['variants']['default'][pipeline_name]
    step_seconds = (results['config']['batch_size'] /
                    row['median_images_per_sec'])
    gflops = entry['flops']['total'] / step_seconds / 1e9
    cpu_seconds = statistics.median(
        r['cpu_ms_per_image'] for r in row['runs']) * (
            results['config']['batch_size'] / 1000.0)
    per_core_peak = peak / results['peak']['cores'] if peak else None
    entry['step_ms'] = 1000.0 * step_seconds
    entry['cpu_ms_per_step'] = 1000.0 * cpu_seconds
    entry['gflops_per_sec'] = gflops
    entry['share_of_peak'] = gflops / peak if peak else None
    # Per CPU-second: what the process's own cycles achieved, however much
    # of the cores other processes took.
    entry['gflops_per_cpu_sec'] = entry['flops']['total'] / cpu_seconds / 1e9
    entry['share_of_core_peak'] = (entry['gflops_per_cpu_sec'] / per_core_peak
                                   if per_core_peak else None)


# --- report -----------------------------------------------------------------


def format_report(results):
  """The profile and variant tables as text."""
  lines = []
  peak = results['peak']
  lines.append(
      f'CPU: {peak["cpu_model"] or "unknown"}, {peak["cores"]} cores at '
      f'{peak["mhz"]} MHz ({peak["clock_source"]}), {peak["flops_per_cycle"]}'
      f' fp32 FLOPs/cycle/core ({peak["assumption"]}): peak '
      + (f'{peak["peak_gflops"]:.1f} GFLOP/s' if peak['peak_gflops']
         else 'unknown'))
  kernels = results.get('kernels') or {}
  lines.append(f'CPU kernels: {kernels.get("library", "unknown")}; '
               f'TensorFlow {results["tensorflow"]}')
  for pipeline_name, entry in results['profile'].items():
    profile, flops = entry['profile'], entry['flops']
    lines.append('')
    lines.append(f'== {pipeline_name}: {profile["steps"]} traced steps; summed'
                 f' op time {profile["op_micros"] / 1000:.1f} ms/step, traced '
                 f'wall {profile["wall_micros"] / 1000:.1f} ms/step, untraced '
                 f'wall {entry["step_ms"]:.1f} ms/step')
    lines.append(f'{"category":<16} {"ms/step":>9} {"share":>7}')
    for category, row in profile['by_category'].items():
      lines.append(f'{category:<16} {row["micros"] / 1000:9.2f} '
                   f'{100 * row["share"]:6.1f}%')
    lines.append(f'{"op type":<36} {"ms/step":>9} {"share":>7}')
    for op_type, row in list(profile['by_type'].items())[:15]:
      lines.append(f'{op_type:<36} {row["micros"] / 1000:9.2f} '
                   f'{100 * row["share"]:6.1f}%')
    lines.append('slowest nodes:')
    for node in profile['top_nodes'][:12]:
      lines.append(f'  {node["micros"] / 1000:8.2f} ms  {node["category"]:<15}'
                   f' {node["type"]:<28} {node["name"]}')
    lines.append(
        f'FLOPs/step: {flops["total"] / 1e9:.3f} G (conv and matmul, forward '
        'and backward, from static shapes: '
        + ', '.join(f'{k} {v / 1e9:.3f}' for k, v in
                    sorted(flops['by_type'].items()))
        + '); TensorFlow profiler: '
        + (f'{flops["profiler_total"] / 1e9:.3f} G' if
           flops['profiler_total'] is not None else 'not run'))
    share = entry['share_of_peak']
    lines.append(f'achieved: {entry["gflops_per_sec"]:.1f} GFLOP/s (wall)'
                 + (f' = {100 * share:.1f}% of peak' if share is not None
                    else '')
                 + f'; {entry["gflops_per_cpu_sec"]:.1f} GFLOP per CPU-second'
                 f' ({entry["cpu_ms_per_step"]:.0f} CPU ms/step)'
                 + (f' = {100 * entry["share_of_core_peak"]:.1f}% of one '
                    'core\'s peak' if entry['share_of_core_peak'] else ''))
  if results['variants']:
    lines.append('')
    lines.append(f'{"variant":<22} {"pipeline":<10} {"median img/s":>12} '
                 f'{"vs default":>10} {"CPU ms/img":>10} {"CPU vs def":>10} '
                 f'{"max |dloss|":>11}  img/s of each repeat')
    for name, by_pipeline in results['variants'].items():
      for pipeline_name, row in by_pipeline.items():
        ratio = row.get('vs_default')
        cpu_ratio = row.get('cpu_vs_default')
        diff = row.get('max_loss_diff')
        lines.append(
            f'{name:<22} {pipeline_name:<10} '
            f'{row["median_images_per_sec"]:12.1f} '
            + (f'{ratio:10.3f}' if ratio is not None else f'{"-":>10}')
            + f' {row.get("median_cpu_ms_per_image", float("nan")):10.2f} '
            + (f'{cpu_ratio:10.3f}' if cpu_ratio is not None else f'{"-":>10}')
            + ' ' + (f'{diff:11.2e}' if diff is not None else f'{"-":>11}')
            + '  ' + ' '.join(f'{r["images_per_sec"]:.1f}'
                              for r in row['runs']))
  return '\n'.join(lines)


def report(results, json_path=''):
  """Prints the tables and, last, the results as one JSON line."""
  print(format_report(results))
  if json_path:
    checkpoints.write_json(json_path, results, indent=1, sort_keys=True)
  print(json.dumps(results, sort_keys=True), flush=True)
