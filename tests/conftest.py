"""pytest set-up shared by the graph-mode tests.

* TensorFlow's C++ log is quiet and the CPU kernel library is the one the
  programs choose (`tf1cnn.startup`), both settled before any test module
  imports TensorFlow; `TF_ENABLE_ONEDNN_OPTS=0 pytest ...` runs the tests on
  the Eigen kernels.
* Every temporary file and folder of the run (`tempfile.mkdtemp()`,
  `self.get_temp_dir()`, and those of child processes through `TMPDIR`) lives
  under one folder that is removed when the run ends.
* `@pytest.mark.slow` marks the long tests (cluster faults, real TF-Slim
  fine-tuning, the ONNX and serving exports); `make test` runs them,
  `make test-fast` (`pytest -m "not slow"`) leaves them out.
"""

import atexit
import functools
import os
import shutil
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# The run's temporary folder, before TensorFlow is imported: TensorFlow
# registers its own clean-up of `get_temp_dir()` (inside this folder) later,
# so it runs first at exit (atexit is last in, first out).
_RUN_TEMP = tempfile.mkdtemp(prefix='tf1cnn-tests-')
tempfile.tempdir = _RUN_TEMP
os.environ['TMPDIR'] = _RUN_TEMP
atexit.register(functools.partial(shutil.rmtree, _RUN_TEMP,
                                  ignore_errors=True))

from tf1cnn import startup  # pylint: disable=wrong-import-position

startup.prepare()


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: a long test (left out by `make test-fast`)')


def pytest_collection_modifyitems(items):
  # tf.test.TestCase.test_session is a deprecated context manager, not a
  # test; pytest would collect it and report it as skipped.
  items[:] = [item for item in items if item.name != 'test_session']
