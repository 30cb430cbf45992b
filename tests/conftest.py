"""pytest set-up shared by the graph-mode tests."""

import os

# Quiet TensorFlow's C++ log before it is imported by any test module.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def pytest_collection_modifyitems(items):
  # tf.test.TestCase.test_session is a deprecated context manager, not a
  # test; pytest would collect it and report it as skipped.
  items[:] = [item for item in items if item.name != 'test_session']
