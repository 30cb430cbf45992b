"""Tests of `tf1cnn-run` / `python -m tf1cnn.run` and the TF 1.x drop-in.

The example program `scripts/tf1_examples/queue_train.py` (with its helper
module `queue_helpers.py`) is run unmodified by both entry points in child
processes and compared with the same file run against the real libraries:
TensorFlow's `tf.compat.v1` with real TF-Slim for `tensorflow.contrib.*` /
`tf_slim` and the Keras-2 `tf.compat.v1.layers` for `tf.layers`
(tests/reference_libs.py), installed by a small import hook of this test.
Also: the one-line report of a TF 1.x symbol that is not provided (file and
line), misspellings with suggestions, tracebacks and exit statuses, which
modules get the real TensorFlow, and `import tf1cnn.compat.v1 as tf` on its
own (TF 1.x behaviour at import; importing `tf1cnn` changes nothing).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import tensorflow as tf

from tf1cnn import runtime
from tf1cnn.compat import missing
from tf1cnn.compat import runner

from fixtures import subprocess_env

runtime.use_graph_mode()
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TESTS = os.path.join(_ROOT, 'tests')
_EXAMPLES = os.path.join(_ROOT, 'scripts', 'tf1_examples')
_TIMEOUT = 300
_STEPS = 20


def _env():
  # The same CPU kernels in every child, so their numbers can be compared.
  return subprocess_env(
      TF_ENABLE_ONEDNN_OPTS=os.environ.get('TF_ENABLE_ONEDNN_OPTS', '0'))


def _console_script():
  return os.path.join(os.path.dirname(sys.executable), 'tf1cnn-run')


def _run(command, cwd):
  return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True,
                        text=True, timeout=_TIMEOUT, check=False)


# The same script on the real libraries: tensorflow.compat.v1, TF-Slim and
# the Keras-2 tf.compat.v1.layers, for the imports of the script's folder.
_REFERENCE = textwrap.dedent('''
    import builtins, os, runpy, sys, types
    sys.path.insert(0, sys.argv[1])
    import reference_libs
    tf_slim = reference_libs.real_tf_slim()
    tf_layers = reference_libs.real_tf_layers()
    import tensorflow
    v1 = tensorflow.compat.v1
    v1.disable_v2_behavior()
    contrib = types.ModuleType('tensorflow.contrib')
    contrib.slim = contrib.layers = contrib.framework = tf_slim
    tf = types.ModuleType('tensorflow')
    tf.__dict__.update({n: getattr(v1, n) for n in dir(v1)
                        if not n.startswith('__')})
    tf.layers, tf.contrib = tf_layers, contrib
    modules = {'tensorflow': tf, 'tensorflow.contrib': contrib,
               'tensorflow.contrib.slim': tf_slim,
               'tensorflow.contrib.layers': tf_slim,
               'tensorflow.contrib.framework': tf_slim, 'tf_slim': tf_slim}
    script = os.path.abspath(sys.argv[2])
    folder = os.path.dirname(script) + os.sep
    original = builtins.__import__

    def hook(name, globals=None, locals=None, fromlist=(), level=0):
      if (level == 0 and name in modules and
          str((globals or {}).get('__file__', '')).startswith(folder)):
        return modules[name] if fromlist else modules[name.split('.')[0]]
      return original(name, globals, locals, fromlist, level)

    builtins.__import__ = hook
    sys.argv = sys.argv[2:]
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name='__main__')
''')


def _copy_example(folder):
  os.makedirs(folder)
  for name in ('queue_train.py', 'queue_helpers.py'):
    shutil.copy(os.path.join(_EXAMPLES, name), folder)


class QueueTrainExampleTest(tf.test.TestCase):
  """queue_train.py by tf1cnn-run, python -m tf1cnn.run and the reference."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    root = cls.tmp.name
    _copy_example(os.path.join(root, 'prog'))
    script = os.path.join('prog', 'queue_train.py')  # relative to cwd
    cls.script = script
    args = [f'--steps={_STEPS}', '--batch_size=8', 'extra']

    def flags(name):
      return [f'--summary_json={os.path.join(root, name + ".json")}',
              f'--train_dir={os.path.join(root, name)}']

    cls.results = {
        'console': _run([_console_script(), script] + args + flags('console'),
                        root),
        'module': _run([sys.executable, '-m', 'tf1cnn.run', script] + args +
                       flags('module'), root),
        'reference': _run([sys.executable, '-c', _REFERENCE, _TESTS, script] +
                          args + flags('reference'), root),
    }
    cls.summaries = {}
    for name, result in cls.results.items():
      path = os.path.join(root, name + '.json')
      if result.returncode == 0 and os.path.exists(path):
        with open(path) as f:
          cls.summaries[name] = json.load(f)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def _summary(self, name):
    result = self.results[name]
    self.assertEqual(result.returncode, 0,
                     f'{name}: {result.stdout[-2000:]}{result.stderr[-4000:]}')
    self.assertIn(name, self.summaries)
    return self.summaries[name]

  def test_console_script_trains_as_the_real_libraries(self):
    run = self._summary('console')
    reference = self._summary('reference')
    self.assertLen(run['losses'], _STEPS)
    self.assertAllClose(run['losses'], reference['losses'], rtol=1e-4,
                        atol=1e-6)
    self.assertLess(run['losses'][-1], 0.5 * run['losses'][0])
    self.assertEqual(run['variables'], reference['variables'])

  def test_python_dash_m_gives_the_same_losses(self):
    self.assertAllClose(self._summary('module')['losses'],
                        self._summary('console')['losses'], rtol=1e-6, atol=0)

  def test_argv_file_cwd_and_flags_are_the_scripts(self):
    root = self.tmp.name
    for name in ('console', 'module'):
      run = self._summary(name)
      self.assertEqual(run['argv'][0], self.script)
      self.assertEqual(run['argv'][1:4],
                       [f'--steps={_STEPS}', '--batch_size=8', 'extra'])
      # tf.app.run parsed the script's own flags and passed the rest on.
      self.assertEqual(run['app_argv'], [self.script, 'extra'])
      self.assertEqual(run['file'],
                       os.path.join(root, 'prog', 'queue_train.py'))
      self.assertEqual(os.path.realpath(run['cwd']), os.path.realpath(root))

  def test_static_shapes_are_tf1_dimensions(self):
    # block1 pools 8x8 to 4x4; conv2 keeps 4x4 with 6 channels.
    self.assertEqual(self._summary('console')['flat_dim'], 4 * 4 * 6)

  def test_checkpoint_of_the_final_step(self):
    self._summary('console')
    prefix = tf.train.latest_checkpoint(os.path.join(self.tmp.name, 'console'))
    self.assertIsNotNone(prefix)
    self.assertTrue(prefix.endswith(f'model.ckpt-{_STEPS}'), prefix)
    self.assertEqual(tf.train.load_variable(prefix, 'global_step'), _STEPS)


def _write(folder, name, text):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), 'w') as f:
    f.write(textwrap.dedent(text).lstrip('\n'))


class ErrorReportTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.get_temp_dir()
    self.prog = os.path.join(self.root, 'prog')

  def _run_script(self, name, *args, module=False):
    path = os.path.join('prog', name)
    if module:
      command = [sys.executable, '-m', 'tf1cnn.run', path]
    else:
      command = [_console_script(), path]
    return _run(command + list(args), self.root)

  def test_not_provided_symbol_is_one_line_with_file_and_line(self):
    _write(self.prog, 'uses_learn.py', '''
        import tensorflow as tf

        x = tf.placeholder(tf.float32, [None, 3])
        experiment = tf.contrib.learn.Experiment
        print('not reached')
        ''')
    result = self._run_script('uses_learn.py')
    self.assertEqual(result.returncode, 2, result.stderr)
    self.assertNotIn('not reached', result.stdout)
    self.assertNotIn('Traceback', result.stderr)
    lines = [l for l in result.stderr.splitlines() if 'not provided' in l]
    self.assertEqual(lines, [
        os.path.join('prog', 'uses_learn.py') + ':4: tf.contrib.learn is not '
        'provided: TensorFlow 2.21 removed it and tf1cnn.compat does not '
        'implement it (write the training loop with tf.train and a Session)'])

  def test_misspelling_in_a_sibling_module_names_it_and_suggests(self):
    _write(self.prog, 'helper.py', '''
        import tensorflow as tf


        def head(net):
          return tf.layres.dense(net, 2)
        ''')
    _write(self.prog, 'main.py', '''
        import tensorflow as tf
        from tensorflow.contrib import layers
        import helper

        helper.head(tf.placeholder(tf.float32, [None, 3]))
        ''')
    result = self._run_script('main.py', module=True)
    self.assertEqual(result.returncode, 2, result.stderr)
    self.assertNotIn('Traceback', result.stderr)
    self.assertIn(
        os.path.join('prog', 'helper.py') + ':5: tf.layres is not provided: '
        'TensorFlow 1.x has no such name; did you mean tf.layers',
        result.stderr)

  def test_missing_name_in_a_from_import(self):
    _write(self.prog, 'bad_import.py', '''
        import os
        from tensorflow.contrib.framework import arg_scop
        ''')
    result = self._run_script('bad_import.py')
    self.assertEqual(result.returncode, 2, result.stderr)
    self.assertIn(
        os.path.join('prog', 'bad_import.py') + ':2: '
        'tf.contrib.framework.arg_scop is not provided: TensorFlow 1.x has no '
        'such name; did you mean tf.contrib.framework.arg_scope', result.stderr)

  def test_other_errors_keep_their_traceback_and_exit_1(self):
    _write(self.prog, 'fails.py', '''
        import sys
        import tensorflow as tf


        def step():
          return 1 / 0

        if len(sys.argv) > 1:
          sys.exit(int(sys.argv[1]))
        step()
        ''')
    result = self._run_script('fails.py')
    self.assertEqual(result.returncode, 1, result.stderr)
    self.assertIn('Traceback (most recent call last)', result.stderr)
    self.assertIn('in step', result.stderr)
    self.assertIn('ZeroDivisionError', result.stderr)
    self.assertNotIn('runner.py', result.stderr)
    # SystemExit passes through with the script's status.
    self.assertEqual(self._run_script('fails.py', '7').returncode, 7)

  def test_missing_script_file(self):
    result = self._run_script('no_such_script.py')
    self.assertEqual(result.returncode, 2)
    self.assertEqual(result.stderr.strip().splitlines()[-1],
                     'tf1cnn-run: error: prog/no_such_script.py: no such '
                     'script file')


_PROBE = '''
    import importlib, json, sys
    import tensorflow as tf
    import tensorflow as tf_again
    import tensorflow.compat.v1 as tf_v1
    import tensorflow.contrib.slim as contrib_slim
    import tf_slim
    import tensorflow.contrib.slim
    from tensorflow.contrib import layers
    from tensorflow.contrib import framework
    from tensorflow.contrib.framework import arg_scope
    from tensorflow.contrib.layers.python.layers import batch_norm
    from tensorflow.contrib.framework.python.ops import variables
    from tensorflow.python.framework import ops
    import tensorflow.python.framework.dtypes as dtypes
    import tf1cnn.runtime
    import sibling

    tf.app.flags.DEFINE_integer('probe_steps', 3, 'read without tf.app.run')
    flag_read = tf.app.flags.FLAGS.probe_steps  # TF 1.x parsed sys.argv here

    real_tf = sys.modules['tensorflow']
    v1 = importlib.import_module('tf1cnn.compat.v1')
    slim = importlib.import_module('tf1cnn.compat.slim')
    x = tf.placeholder(tf.float32, [None, 5])
    result = {
        'tf_is_v1': tf is v1 and tf_again is v1,
        'compat_v1_is_v1': tf_v1 is v1 and tf.compat.v1 is v1,
        'slim_forms': all(m is slim for m in (
            contrib_slim, tf_slim, layers, tensorflow.contrib.slim,
            tf.contrib.slim, tf.contrib.layers)),
        'framework': framework is v1.contrib.framework,
        'arg_scope': arg_scope is slim.arg_scope,
        'contrib_layers_python': batch_norm is slim.batch_norm,
        'framework_python_ops': variables.__name__,
        'internals': [ops.__name__, dtypes.__name__,
                      ops is importlib.import_module(
                          'tensorflow.python.framework.ops')],
        'sys_modules_real': real_tf is not tf and real_tf.__name__,
        'library_gets_real': tf1cnn.runtime.tf is real_tf,
        'sibling': [sibling.tf is v1, sibling.slim is slim],
        'graph_mode': not tf.executing_eagerly(),
        'dimension_value': x.shape[1].value,
        'flag_read': [flag_read, tf.flags.FLAGS is tf.app.flags.FLAGS],
        'argv': sys.argv,
    }
    try:
      importlib.import_module('tf1cnn.compat.estimator')
      has_estimator = True
    except ModuleNotFoundError:
      has_estimator = False
    if has_estimator:
      import tensorflow.estimator
      import tensorflow_estimator
      est = importlib.import_module('tf1cnn.compat.estimator')
      result['estimator'] = [tf.estimator is est, tensorflow.estimator is est,
                             tf.compat.v1.estimator is est,
                             tensorflow_estimator.estimator is est]
    else:
      try:
        tf.estimator
      except AttributeError as e:
        result['estimator'] = str(e)
    print('PROBE ' + json.dumps(result))
'''


class ImportRedirectTest(tf.test.TestCase):

  def test_script_and_folder_get_tf1cnn_compat_others_the_real_tensorflow(self):
    root = self.get_temp_dir()
    prog = os.path.join(root, 'prog')
    _write(prog, 'probe.py', _PROBE)
    _write(prog, 'sibling.py', '''
        import tensorflow as tf
        from tensorflow.contrib import slim
        ''')
    result = _run([_console_script(), os.path.join('prog', 'probe.py'),
                   '--probe_steps=9', 'rest'], root)
    self.assertEqual(result.returncode, 0, result.stderr[-4000:])
    lines = [l for l in result.stdout.splitlines() if l.startswith('PROBE ')]
    self.assertLen(lines, 1, result.stdout)
    probe = json.loads(lines[0][len('PROBE '):])
    for key in ('tf_is_v1', 'compat_v1_is_v1', 'slim_forms', 'framework',
                'arg_scope', 'contrib_layers_python', 'library_gets_real',
                'graph_mode'):
      self.assertIs(probe[key], True, key)
    self.assertEqual(probe['framework_python_ops'],
                     'tf1cnn.compat.slim.ops.variables')
    self.assertEqual(probe['internals'], ['tensorflow.python.framework.ops',
                                          'tensorflow.python.framework.dtypes',
                                          True])
    self.assertEqual(probe['sys_modules_real'], 'tensorflow')
    self.assertEqual(probe['sibling'], [True, True])
    self.assertEqual(probe['dimension_value'], 5)
    self.assertEqual(probe['flag_read'], [9, True])
    self.assertEqual(probe['argv'],
                     [os.path.join('prog', 'probe.py'), '--probe_steps=9',
                      'rest'])
    if isinstance(probe['estimator'], list):
      self.assertEqual(probe['estimator'], [True] * 4)
    else:
      self.assertStartsWith(probe['estimator'], 'tf.estimator is not provided')

  def test_owns_only_the_script_folders_own_files(self):
    with tempfile.TemporaryDirectory() as folder:
      hook = runner.ImportHook(folder, __import__)
      self.assertTrue(hook.owns(os.path.join(folder, 'train.py')))
      self.assertTrue(hook.owns(os.path.join(folder, 'nets', 'vgg.py')))
      self.assertFalse(hook.owns(os.path.join(
          folder, 'venv', 'lib', 'site-packages', 'tf_slim', 'layers.py')))
      self.assertFalse(hook.owns(folder + '_other/train.py'))
      self.assertFalse(hook.owns(tf.__file__))
      self.assertFalse(hook.owns(None))
    # A script inside a checkout: the tf1cnn package there is not its own.
    hook = runner.ImportHook(_ROOT, __import__)
    self.assertTrue(hook.owns(os.path.join(_ROOT, 'scripts', 'x.py')))
    self.assertFalse(hook.owns(runtime.__file__))


_DROP_IN = '''
    import json
    import tf1cnn
    import tf1cnn.runtime
    import tf1cnn.compat.contrib
    import tf1cnn.compat.slim
    import tensorflow
    eager_before = tensorflow.executing_eagerly()

    import tf1cnn.compat.v1 as tf
    eager_after_import = tf.executing_eagerly()
    tf.disable_v2_behavior()

    images = tf.constant([[[[float(i)]] * 4] * 4 for i in range(6)])
    image, label = tf.train.slice_input_producer(
        [images, tf.range(6)], shuffle=False)
    batch, labels = tf.train.batch([image, label], batch_size=3)
    net = tf.layers.conv2d(batch, 2, 3, padding='same', name='conv')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      coord = tf.train.Coordinator()
      threads = tf.train.start_queue_runners(sess=sess, coord=coord)
      first, second = sess.run(labels), sess.run(labels)
      coord.request_stop()
      coord.join(threads)
    messages = {}
    for name in ('layres', 'estimatorr', 'contrib.layers.conv2dd'):
      try:
        obj = tf
        for part in name.split('.'):
          obj = getattr(obj, part)
      except AttributeError as e:
        messages[name] = str(e)
    print('DROPIN ' + json.dumps({
        'eager_before': eager_before,
        'eager_after_import': eager_after_import,
        'eager_after': tf.executing_eagerly(),
        'value': net.shape[1].value,
        'variable': type(tf.global_variables()[0]).__name__,
        'labels': [first.tolist(), second.tolist()],
        'messages': messages}))
'''


class DropInImportTest(tf.test.TestCase):

  def test_import_changes_nothing_and_the_readme_example_runs(self):
    result = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(_DROP_IN)],
        env=subprocess_env(PYTHONPATH=_ROOT), capture_output=True, text=True,
        timeout=_TIMEOUT, check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-4000:])
    lines = [l for l in result.stdout.splitlines() if l.startswith('DROPIN ')]
    self.assertLen(lines, 1, result.stdout)
    probe = json.loads(lines[0][len('DROPIN '):])
    self.assertTrue(probe['eager_before'])
    self.assertTrue(probe['eager_after_import'])  # no import side effect
    self.assertFalse(probe['eager_after'])
    self.assertEqual(probe['value'], 4)
    self.assertEqual(probe['variable'], 'RefVariable')
    self.assertEqual(probe['labels'], [[0, 1, 2], [3, 4, 5]])
    self.assertEqual(
        probe['messages']['layres'],
        'tf.layres is not provided: TensorFlow 1.x has no such name; did you '
        'mean tf.layers or tf.less?')
    self.assertIn('did you mean tf.estimator',
                  probe['messages']['estimatorr'])
    self.assertIn('slim.conv2dd is not provided: TensorFlow 1.x has no such '
                  'name; did you mean slim.conv2d',
                  probe['messages']['contrib.layers.conv2dd'])


class MissingNameTest(tf.test.TestCase):

  def test_removed_tf1_names_say_so(self):
    for symbol in ('tf.contrib.learn', 'tf.layers.InputSpec',
                   'tf.contrib.layers.optimize_loss', 'slim.learning',
                   'tf.contrib.framework.init_from_checkpoint'):
      message = str(missing.not_provided(symbol))
      self.assertEqual(
          message, f'{symbol} is not provided: TensorFlow 2.21 removed it '
          'and tf1cnn.compat does not implement it')
    self.assertEndsWith(str(missing.not_provided('tf.contrib.rnn', 'a hint')),
                        ' (a hint)')

  def test_misspellings_suggest_the_closest_real_names(self):
    cases = {
        'tf.Sesion': 'tf.Session',
        'tf.placeholdr': 'tf.placeholder',
        'tf.layers.dens': 'tf.layers.dense',
        'tf.layers.max_pooling_2d': 'tf.layers.max_pooling2d',
        'tf.contrib.slimm': 'tf.contrib.slim',
        'tf.contrib.framework.arg_scop': 'tf.contrib.framework.arg_scope',
        'tf.contrib.layers.xavier_initialiser':
            'tf.contrib.layers.xavier_initializer',
        'slim.conv2dd': 'slim.conv2d',
        'slim.fully_conected': 'slim.fully_connected',
    }
    for symbol, best in cases.items():
      error = missing.not_provided(symbol)
      self.assertIsInstance(error, missing.NotProvidedError)
      self.assertIsInstance(error, AttributeError)
      self.assertStartsWith(
          str(error), f'{symbol} is not provided: TensorFlow 1.x has no such '
          f'name; did you mean {best}')

  def test_no_close_name(self):
    self.assertEqual(
        str(missing.not_provided('tf.zzqqxxyy')),
        'tf.zzqqxxyy is not provided: TensorFlow 1.x has no such name')

  def test_suggestions_prefer_the_same_name_in_another_case(self):
    self.assertEqual(missing.suggestions('session', ['Session', 'sessions']),
                     ['Session', 'sessions'])


if __name__ == '__main__':
  tf.test.main()
