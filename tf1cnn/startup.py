"""What a tf1cnn program settles before TensorFlow is imported.

TensorFlow reads two things once, when it loads, so they are decided here,
by every entry point (the scripts, the console scripts, `tf1cnn-run`, the
benchmark and the tests) before anything imports `tensorflow`:

* **The CPU kernel library** (`TF_ENABLE_ONEDNN_OPTS`). TensorFlow turns its
  oneDNN kernels on by default only on x86 CPUs with AVX512-VNNI, AVX512-BF16,
  AVX-VNNI or AMX; elsewhere its Eigen kernels run, which trained the cat/dog
  LeNet-5 2.2x slower than oneDNN on an AVX2 + FMA CPU (AMD EPYC Zen 2, 52-54
  against 117 images/s). `choose_kernels` picks oneDNN on every x86-64 CPU
  with AVX2 and FMA; where the CPU's features do not settle it (other
  architectures, older x86, no `/proc/cpuinfo`) a short measured probe in two
  child processes decides, and its result is cached per machine
  (`<cache dir>/kernels.json`, keyed by CPU, features and TensorFlow version).
  A value the user set in the environment always wins. The choice is carried
  to child processes and to the log through `TF1CNN_KERNELS`.
* **TensorFlow's start-up noise on CPU machines**: loading the wheel prints
  notices such as "Could not find cuda drivers", "failed call to cuInit ...
  (303)" and the instruction-set note before absl logging starts, whatever
  `TF_CPP_MIN_LOG_LEVEL` says. `import_tensorflow` loads TensorFlow with its
  standard error captured and writes back every line except those notices;
  the CUDA ones are dropped only on a machine without an NVIDIA device, where
  they cannot be errors the user needs to see.

Checkpoints do not depend on the kernel library: the variables are the same
float32 tensors, so a checkpoint trained under one resumes under the other.
Numbers differ in the last bits between the two (different summation orders);
tests that compare two computations run both in one process, under the same
kernels.

This module imports no TensorFlow at import time and has no side effects
until `prepare()` is called.
"""

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

ONEDNN_ENV = 'TF_ENABLE_ONEDNN_OPTS'
CHOICE_ENV = 'TF1CNN_KERNELS'
# Features with which TensorFlow itself turns oneDNN on (x86 Linux).
_TF_ONEDNN_FEATURES = ('avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile',
                       'amx_bf16', 'amx_int8')
# A probe result must beat the other library by this much to be chosen.
_PROBE_MARGIN = 1.05
_PROBE_TIMEOUT_SECS = 180

# TensorFlow's start-up lines dropped on every machine.
_NOISE = (
    re.compile(r'All log messages before absl::InitializeLog\(\) is called '
               r'are written to STDERR'),
    re.compile(r'oneDNN custom operations are on\.'),
    re.compile(r'cpu_feature_guard\.cc:\d+\] This TensorFlow binary is '
               r'optimized to use available CPU instructions'),
    re.compile(r'^To enable the following instructions: .*rebuild '
               r'TensorFlow with the appropriate compiler flags\.$'),
)
# Dropped only on a machine without an NVIDIA device.
_CUDA_NOISE = (
    re.compile(r'Could not find cuda drivers on your machine'),
    re.compile(r'failed call to cuInit: .*(UNKNOWN ERROR \(303\)|'
               r'CUDA_ERROR_NO_DEVICE|no CUDA-capable device)'),
    re.compile(r'Unable to register cu(DNN|FFT|BLAS) factory'),
    re.compile(r'TF-TRT Warning: Could not find TensorRT'),
    re.compile(r'computation placer already registered'),
)


class KernelChoice:
  """The CPU kernel library of this process and why it was chosen.

  Attributes:
    library: 'onednn', 'eigen' or 'default' (TensorFlow decides).
    source: 'environment', 'cpu features', 'probe', 'probe (cached)' or
      'unknown'.
    reason: one human-readable clause.
  """

  def __init__(self, library, source, reason):
    self.library = library
    self.source = source
    self.reason = reason

  def env_value(self):
    return {'onednn': '1', 'eigen': '0'}.get(self.library)

  def to_record(self):
    return dict(library=self.library, source=self.source, reason=self.reason)

  def log_line(self):
    value = self.env_value()
    setting = f'{ONEDNN_ENV}={value}' if value else 'TensorFlow default'
    name = {'onednn': 'oneDNN', 'eigen': 'Eigen'}.get(self.library,
                                                      "TensorFlow's default")
    return f'CPU kernels: {name} ({setting}; {self.source}: {self.reason})'

  def encode(self):
    return json.dumps(self.to_record(), sort_keys=True)

  @classmethod
  def decode(cls, text):
    try:
      record = json.loads(text)
      return cls(record['library'], record['source'], record['reason'])
    except (ValueError, KeyError, TypeError):
      return None

  def __repr__(self):
    return f'KernelChoice({self.library!r}, {self.source!r}, {self.reason!r})'


def cpu_info(cpuinfo_path='/proc/cpuinfo'):
  """`(machine, model name, set of feature flags)`; features may be empty.

  Args:
    cpuinfo_path: Linux's CPU description (other systems: features empty).
  """
  machine = platform.machine().lower()
  model, features = platform.processor() or '', set()
  model_seen = False
  try:
    with open(cpuinfo_path, encoding='utf-8', errors='replace') as f:
      for line in f:
        key, _, value = line.partition(':')
        key = key.strip().lower()
        if key in ('model name', 'cpu model') and not model_seen:
          model, model_seen = value.strip(), True
        elif key in ('flags', 'features') and not features:
          features = set(value.split())
  except OSError:
    pass
  return machine, model.strip(), features


def _is_x86(machine):
  return machine in ('x86_64', 'amd64', 'i386', 'i686', 'x86')


def choose_from_features(machine, features):
  """The choice the CPU's features settle, or None when they do not.

  Args:
    machine: `platform.machine()` (lower case).
    features: the CPU's feature flags (`/proc/cpuinfo`).

  Returns:
    A KernelChoice, or None (a probe decides).
  """
  if not _is_x86(machine) or not features:
    return None
  tf_own = sorted(features.intersection(_TF_ONEDNN_FEATURES))
  if tf_own:
    return KernelChoice('onednn', 'cpu features',
                        f'x86-64 with {", ".join(tf_own)}, where TensorFlow '
                        'turns oneDNN on itself')
  if {'avx2', 'fma'} <= features:
    return KernelChoice('onednn', 'cpu features',
                        'x86-64 with AVX2 and FMA, where TensorFlow would '
                        'run its slower Eigen kernels')
  return None


def _cache_file():
  root = os.environ.get('TF1CNN_CACHE_DIR') or os.path.join(
      os.path.expanduser('~'), '.cache', 'tf1cnn')
  return os.path.join(root, 'kernels.json')


def _machine_key(machine, model, features):
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    tf_version = metadata.version('tensorflow')
  except Exception:  # pylint: disable=broad-except
    tf_version = 'unknown'
  text = '|'.join([machine, model, ' '.join(sorted(features)), tf_version])
  return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def _read_cache(path):
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
    return data if isinstance(data, dict) else {}
  except (OSError, ValueError):
    return {}


def _write_cache(path, key, entry):
  """Adds `entry` under `key`, atomically; a cache that cannot be written is
  only a lost speed-up."""
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = _read_cache(path)
    data[key] = entry
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
  except OSError:
    pass


def measure_kernels(steps=20, warmup_steps=5, batch_size=16, image_size=64,
                    model='probe', timeout_secs=_PROBE_TIMEOUT_SECS,
                    python=None, libraries=('onednn', 'eigen')):
  """Training images/s under each kernel library, one child process each.

  Args:
    steps: timed training steps.
    warmup_steps: untimed steps first.
    batch_size: images per step.
    image_size: side of the synthetic images.
    model: 'probe' (a small two-convolution network) or a registered model
      name (e.g. 'lenet5', at its own input size when image_size is 0).
    timeout_secs: limit of each child.
    python: interpreter (default this one).
    libraries: any of 'onednn', 'eigen' and 'default' (`TF_ENABLE_ONEDNN_OPTS`
      unset: what TensorFlow itself picks on this CPU), run in this order.

  Returns:
    `{library: rate or None}` (None: that child failed or timed out).
  """
  rates = {}
  for library in libraries:
    env = dict(os.environ)
    value = KernelChoice(library, '', '').env_value()
    if value is None:
      env.pop(ONEDNN_ENV, None)
    else:
      env[ONEDNN_ENV] = value
    env[CHOICE_ENV] = KernelChoice(library, 'environment', 'probe').encode()
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    cmd = [python or sys.executable, '-m', 'tf1cnn.kernel_probe',
           f'--steps={steps}', f'--warmup_steps={warmup_steps}',
           f'--batch_size={batch_size}', f'--image_size={image_size}',
           f'--model={model}']
    try:
      done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                            timeout=timeout_secs, check=False)
      lines = [l for l in done.stdout.splitlines() if l.startswith('{')]
      reported = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
      # A child that ran under another setting than asked is no measurement.
      rates[library] = (reported['images_per_sec']
                        if reported and reported.get('onednn_env') == value
                        else None)
    except (subprocess.TimeoutExpired, OSError, ValueError, KeyError):
      rates[library] = None
  return rates


def _choose_by_probe(machine, model, features, measure=measure_kernels,
                     cache_path=None):
  cache_path = cache_path or _cache_file()
  key = _machine_key(machine, model, features)
  cached = _read_cache(cache_path).get(key)
  if isinstance(cached, dict) and cached.get('library') in (
      'onednn', 'eigen', 'default'):
    return KernelChoice(cached['library'], 'probe (cached)',
                        cached.get('reason', ''))
  rates = measure()
  onednn, eigen = rates.get('onednn'), rates.get('eigen')
  cpu = model or machine
  if not onednn and not eigen:
    choice = KernelChoice('default', 'probe',
                          f'both probe runs failed on {cpu}')
    return choice  # not cached: may work next time
  if onednn and (not eigen or onednn >= _PROBE_MARGIN * eigen):
    choice = KernelChoice('onednn', 'probe',
                          f'{onednn:.1f} images/s against Eigen\'s '
                          f'{eigen or 0:.1f} on {cpu}')
  elif eigen and (not onednn or eigen >= _PROBE_MARGIN * onednn):
    choice = KernelChoice('eigen', 'probe',
                          f'{eigen:.1f} images/s against oneDNN\'s '
                          f'{onednn or 0:.1f} on {cpu}')
  else:
    choice = KernelChoice('default', 'probe',
                          f'oneDNN {onednn:.1f} and Eigen {eigen:.1f} '
                          f'images/s on {cpu}: within 5%')
  _write_cache(cache_path, key, dict(choice.to_record(), rates=rates))
  return choice


def choose_kernels(environ=None, cpu=None, measure=measure_kernels,
                   cache_path=None):
  """The kernel library for this process (does not change the environment).

  Args:
    environ: the environment (default `os.environ`).
    cpu: `(machine, model, features)` (default `cpu_info()`).
    measure: the probe (`measure_kernels`); only called when the CPU's
      features do not settle the choice and no cached result exists.
    cache_path: the probe cache file (default `<cache dir>/kernels.json`).

  Returns:
    A KernelChoice.
  """
  environ = os.environ if environ is None else environ
  user_value = environ.get(ONEDNN_ENV)
  if user_value is not None:
    inherited = KernelChoice.decode(environ.get(CHOICE_ENV, ''))
    if inherited and inherited.env_value() == user_value.strip():
      return inherited   # decided by a parent tf1cnn process
    library = ('eigen' if user_value.strip().lower() in ('0', 'false', 'off')
               else 'onednn')
    return KernelChoice(library, 'environment',
                        f'{ONEDNN_ENV}={user_value} set by the user')
  machine, model, features = cpu or cpu_info()
  choice = choose_from_features(machine, features)
  if choice is None:
    choice = _choose_by_probe(machine, model, features, measure=measure,
                              cache_path=cache_path)
  return choice


def current_choice():
  """The choice `prepare()` made in this process (or its parent), or None."""
  return KernelChoice.decode(os.environ.get(CHOICE_ENV, ''))


def current_choice_record():
  """`current_choice()` as a `run_config.json` record ({} when unknown)."""
  choice = current_choice()
  return choice.to_record() if choice else {}


def has_nvidia_device():
  """True where an NVIDIA driver or device node exists."""
  return (os.path.exists('/proc/driver/nvidia') or
          os.path.exists('/dev/nvidia0') or
          os.path.exists('/dev/nvidiactl'))


def is_noise(line, gpu_machine=None):
  """True for a TensorFlow start-up notice that says nothing to a CPU user."""
  if any(p.search(line) for p in _NOISE):
    return True
  if gpu_machine is None:
    gpu_machine = has_nvidia_device()
  return not gpu_machine and any(p.search(line) for p in _CUDA_NOISE)


def filter_noise(text, gpu_machine=None):
  """`text` without TensorFlow's start-up notices (other lines kept)."""
  if gpu_machine is None:
    gpu_machine = has_nvidia_device()
  kept = [line for line in text.splitlines(keepends=True)
          if not is_noise(line.rstrip('\n'), gpu_machine)]
  return ''.join(kept)


def import_tensorflow():
  """Imports TensorFlow (and lists its devices) with the notices filtered.

  The C++ runtime writes them to file descriptor 2 directly, so the
  descriptor is pointed at a temporary file for the duration and every line
  that is not a known notice is written back to standard error afterwards,
  in order, also when the import fails.

  Returns:
    The `tensorflow` module.
  """
  if 'tensorflow' in sys.modules:
    return sys.modules['tensorflow']
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, AttributeError, ValueError):
    import tensorflow  # pylint: disable=g-import-not-at-top
    return tensorflow
  capture = tempfile.TemporaryFile()
  try:
    os.dup2(capture.fileno(), 2)
    try:
      import tensorflow  # pylint: disable=g-import-not-at-top
      # The CUDA platform announces itself when devices are first listed.
      tensorflow.config.list_physical_devices('GPU')
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
  finally:
    capture.seek(0)
    rest = filter_noise(capture.read().decode('utf-8', errors='replace'))
    capture.close()
    if rest:
      sys.stderr.write(rest)
      sys.stderr.flush()
  return tensorflow


def prepare(quiet_import=True):
  """Settles the kernel library, then (optionally) imports TensorFlow quietly.

  Idempotent. When TensorFlow is already imported the kernel library can no
  longer change: the choice is then only recorded as TensorFlow's.

  Args:
    quiet_import: also import TensorFlow with its start-up notices filtered.

  Returns:
    The KernelChoice in force.
  """
  choice = current_choice()
  if choice is None or choice.env_value() != os.environ.get(ONEDNN_ENV):
    if 'tensorflow' in sys.modules and ONEDNN_ENV not in os.environ:
      choice = KernelChoice('default', 'unknown',
                            'TensorFlow was imported before the choice')
    else:
      choice = choose_kernels()
      value = choice.env_value()
      if value is not None:
        os.environ[ONEDNN_ENV] = value
    os.environ[CHOICE_ENV] = choice.encode()
  if quiet_import:
    import_tensorflow()
  return choice


def log_choice():
  """Logs the choice in force in one INFO line; returns its record or {}."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  choice = current_choice()
  if choice is None:
    return {}
  logging.info('%s', choice.log_line())
  return choice.to_record()
