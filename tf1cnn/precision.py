"""Mixed precision for training and evaluation: `--precision=fp32|bf16|fp16`.

The model code stays float32; a grappler pass rewrites the graph when the
session is created:

* `bf16`: `RewriterConfig.auto_mixed_precision_onednn_bfloat16` (oneDNN
  bfloat16 rewrite on CPUs). Convolutions and matrix products run in
  bfloat16, variables, the optimizer update and the loss stay float32. It is
  supported when TensorFlow is built with oneDNN and the CPU has
  `avx512_bf16` or AMX (`amx_bf16`) in /proc/cpuinfo. bfloat16 has float32's
  exponent range, so it needs no loss scaling.
* `fp16`: `RewriterConfig.auto_mixed_precision` (the CUDA float16 rewrite),
  supported when a GPU is visible, with dynamic loss scaling
  (`tf.compat.v1.mixed_precision.MixedPrecisionLossScaleOptimizer`): the loss
  is scaled up before the gradients and the gradients scaled back down, and
  steps whose gradients overflow are skipped while the scale is lowered.

Master weights and checkpoints stay float32, so a checkpoint trained in any
precision restores, evaluates and resumes training in any other. An fp16 run
adds two loss-scale variables, `current_loss_scale` and `good_steps`, to the
`LOSS_SCALE_VARIABLES` collection; a checkpoint written without them (by an
fp32 or bf16 run) resumes in fp16 with the loss scale starting afresh
(`checkpoints.check_compatible(optional=...)` and `checkpoints.ResumeSaver`).

An unsupported precision is an error (`UserInputError` naming `--precision`
and the reason) unless `--precision_fallback` is set, which falls back to
fp32 with a warning.
"""

import os

import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import rewriter_config_pb2

from tf1cnn import runtime

_V1 = tf.compat.v1

PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')
# Graph collection of the fp16 loss-scale variables (optional in checkpoints).
LOSS_SCALE_VARIABLES = 'tf1cnn_loss_scale_variables'
CPUINFO = '/proc/cpuinfo'
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_flags(cpuinfo=CPUINFO):
  """Returns the set of CPU feature flags in `cpuinfo` (empty if unreadable)."""
  try:
    with open(cpuinfo, encoding='utf-8', errors='replace') as f:
      for line in f:
        if line.startswith('flags') and ':' in line:
          return set(line.split(':', 1)[1].split())
  except OSError:
    pass
  return set()


def onednn_enabled():
  """True when TensorFlow's oneDNN optimisations are on in this process."""
  if os.environ.get('TF_ENABLE_ONEDNN_OPTS', '').strip() in ('0', 'false',
                                                              'False'):
    return False
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
    return bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    return 'onednn' in str(tf.sysconfig.get_build_info()).lower()


def gpu_available():
  """True when TensorFlow sees at least one GPU."""
  return bool(tf.config.list_physical_devices('GPU'))


def support(precision, cpuinfo=CPUINFO):
  """Whether `precision` can run here.

  Returns:
    `(supported, reason)`; `reason` explains a missing requirement.
  """
  if precision == 'fp32':
    return True, ''
  if precision == 'bf16':
    if not onednn_enabled():
      return False, ('TensorFlow\'s oneDNN optimisations are off '
                     '(TF_ENABLE_ONEDNN_OPTS=0 or a build without oneDNN)')
    flags = cpu_flags(cpuinfo)
    if not flags & set(BF16_CPU_FLAGS):
      return False, (f'the CPU has none of {", ".join(BF16_CPU_FLAGS)} in '
                     f'{cpuinfo}')
    return True, ''
  if precision == 'fp16':
    if not gpu_available():
      return False, 'no GPU is visible (fp16 mixed precision needs a GPU)'
    return True, ''
  raise runtime.UserInputError(
      f'--precision={precision!r}: use {", ".join(PRECISIONS)}')


# Below this compute capability a GPU has no tensor cores (fp16 would not
# be faster).
TENSOR_CORE_CAPABILITY = (7, 0)


def _gpu_capabilities():
  capabilities = []
  for gpu in tf.config.list_physical_devices('GPU'):
    try:
      details = tf.config.experimental.get_device_details(gpu)
    except (ValueError, RuntimeError):
      details = {}
    capabilities.append(tuple(details.get('compute_capability') or (0, 0)))
  return capabilities


def choose_auto(cpuinfo=CPUINFO, gpu_capabilities=None):
  """What `--precision=auto` picks here: `(precision, reason)`.

  fp16 on GPUs with tensor cores; bf16 on CPUs with AMX (where oneDNN's
  bfloat16 kernels are faster than fp32); fp32 elsewhere, including CPUs
  with avx512_bf16 but no AMX, where bf16 trains slower (0.68x measured).
  """
  capabilities = (_gpu_capabilities() if gpu_capabilities is None
                  else gpu_capabilities)
  if capabilities:
    if min(capabilities) >= TENSOR_CORE_CAPABILITY:
      return 'fp16', ('GPU(s) with tensor cores (compute capability '
                      f'{".".join(map(str, min(capabilities)))})')
    return 'fp32', 'a GPU without tensor cores (compute capability < 7.0)'
  flags = cpu_flags(cpuinfo)
  if 'amx_bf16' in flags and onednn_enabled():
    return 'bf16', 'a CPU with AMX (amx_bf16) and oneDNN'
  if 'avx512_bf16' in flags:
    return 'fp32', ('the CPU has avx512_bf16 but no AMX: bf16 is slower '
                    'than fp32 there')
  return 'fp32', 'no bfloat16 hardware and no GPU'


def resolve(precision, fallback=False, cpuinfo=CPUINFO):
  """Returns the precision to use, or raises when it is unsupported here.

  Args:
    precision: 'auto', 'fp32', 'bf16' or 'fp16' ('' means fp32); 'auto' is
      `choose_auto`'s pick.
    fallback: fall back to fp32 (with a warning) instead of failing.
    cpuinfo: where to read CPU flags (tests pass a file).

  Raises:
    UserInputError: unknown or unsupported precision without `fallback`.
  """
  precision = precision or 'fp32'
  if precision == 'auto':
    chosen, reason = choose_auto(cpuinfo)
    logging.info('--precision=auto: %s (%s)', chosen, reason)
    return chosen
  supported, reason = support(precision, cpuinfo)
  if supported:
    if precision == 'bf16' and 'amx_bf16' not in cpu_flags(cpuinfo):
      logging.warning('--precision=bf16 on a CPU without AMX (amx_bf16): '
                      'oneDNN\'s bfloat16 kernels are usually slower than '
                      'fp32 there; --precision=auto picks fp32')
    return precision
  if fallback:
    logging.warning('--precision=%s is not supported on this machine: %s; '
                    'falling back to fp32 (--precision_fallback)', precision,
                    reason)
    return 'fp32'
  raise runtime.UserInputError(
      f'--precision={precision} is not supported on this machine: {reason}. '
      'Use --precision=fp32, or pass --precision_fallback to fall back to '
      'fp32.')


def apply_to_config(config, precision):
  """Turns on the graph rewrite for `precision` in a ConfigProto (in place).

  Returns:
    The same ConfigProto.
  """
  rewrite = config.graph_options.rewrite_options
  on = rewriter_config_pb2.RewriterConfig.ON
  if precision == 'bf16':
    rewrite.auto_mixed_precision_onednn_bfloat16 = on
  elif precision == 'fp16':
    rewrite.auto_mixed_precision = on
  elif precision not in ('fp32', ''):
    raise runtime.UserInputError(
        f'--precision={precision!r}: use {", ".join(PRECISIONS)}')
  return config


def session_config(precision='fp32', fallback=False, **kwargs):
  """`runtime.session_config(**kwargs)` with the precision's rewrite on.

  `precision` is resolved first (see `resolve`).
  """
  resolved = resolve(precision, fallback)
  return apply_to_config(runtime.session_config(**kwargs), resolved)


def wrap_optimizer(optimizer, precision, initial_scale=2.0**15):
  """Adds dynamic loss scaling to a tf.compat.v1 optimizer for fp16.

  The loss-scale variables are added to the `LOSS_SCALE_VARIABLES`
  collection. Other precisions return the optimizer unchanged.
  """
  if precision != 'fp16':
    return optimizer
  before = {variable.ref() for variable in _V1.global_variables()}
  loss_scale = _V1.mixed_precision.DynamicLossScale(
      initial_loss_scale=initial_scale)
  for variable in _V1.global_variables():
    if variable.ref() not in before:
      _V1.add_to_collection(LOSS_SCALE_VARIABLES, variable)
  return _V1.mixed_precision.MixedPrecisionLossScaleOptimizer(optimizer,
                                                              loss_scale)
