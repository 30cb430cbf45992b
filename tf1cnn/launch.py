"""Console-script entry points: settle the start-up, then run a program.

Each function here is named in `pyproject.toml`'s `[project.scripts]`. It
calls `tf1cnn.startup.prepare()` (the CPU kernel library, TensorFlow loaded
without its CPU-machine notices) before the program's module, which imports
TensorFlow, is imported; `scripts/_script_env.py` does the same for the
checkout's scripts.
"""

import importlib


def _run(module_name):
  from tf1cnn import startup  # pylint: disable=g-import-not-at-top
  startup.prepare()
  return importlib.import_module(module_name).main()


def train():
  return _run('tf1cnn.cli.train')


def evaluate():
  return _run('tf1cnn.cli.evaluate')


def export():
  return _run('tf1cnn.cli.export')


def predict():
  return _run('tf1cnn.cli.predict')


def benchmark():
  return _run('tf1cnn.cli.benchmark')


def sample_data():
  return _run('tf1cnn.cli.sample_data')


def inspect_checkpoint():
  return _run('tf1cnn.cli.inspect_checkpoint')


def gpu_check():
  return _run('tf1cnn.cli.gpu_check')
