"""`tf1cnn-run script.py [its flags]`: a TF 1.x script, unmodified, on TF 2.21.

Also `python -m tf1cnn.run script.py [its flags]`. Everything after the
script's path is the script's own command line. The start-up is settled
first (`tf1cnn.startup.prepare`: CPU kernels, TensorFlow's start-up notices);
the logic (TF 1.x behaviour, import hook, errors) is `tf1cnn.compat.runner`.
"""

import os
import sys

USAGE = """usage: tf1cnn-run SCRIPT.py [ARGS...]

Runs a TensorFlow 1.x training, evaluation or inference script unmodified on
TensorFlow 2.21: inside it (and in the modules of its folder) `import
tensorflow as tf` is tf1cnn.compat.v1 (graph mode, tf.layers, tf.contrib,
tf.app), `tf_slim` / `tensorflow.contrib.slim` is tf1cnn.compat.slim.
ARGS (its own flags) are passed to the script as sys.argv[1:].
"""


def main(argv=None):
  """Runs the script named by `argv[1]`; exits with its status."""
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ('-h', '--help'):
    (sys.stdout if len(argv) >= 2 else sys.stderr).write(USAGE)
    sys.exit(0 if len(argv) >= 2 else 2)
  if not os.path.isfile(argv[1]):
    sys.stderr.write(f'tf1cnn-run: error: {argv[1]}: no such script file\n')
    sys.exit(2)
  # pylint: disable=g-import-not-at-top
  from tf1cnn import startup
  startup.prepare()
  from tf1cnn import runtime
  from tf1cnn.compat import runner
  # pylint: enable=g-import-not-at-top
  try:
    status = runner.run_script(argv[1], argv[2:])
  except runtime.UserInputError as e:
    sys.stderr.write(f'tf1cnn-run: error: {e}\n')
    sys.exit(2)
  sys.exit(status)


if __name__ == '__main__':
  main()
