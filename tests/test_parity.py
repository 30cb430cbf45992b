"""Parity: TF 1.x programs give the same numbers on tf1cnn as on the originals.

Each program in `scripts/tf1_examples/parity/` is an unmodified TF 1.x style
script (flags `--train_dir`, `--batches`, `--init_from`, `--max_steps`,
`--learning_rate`) that trains its network on fixed batches with its own
loop and writes `results.npz` (the loss of every step, every global variable
after the last step, the eval-mode logits of its restored checkpoint on
`eval_images`) and a checkpoint. Every program is run three ways, each in
its own process, on the same 20 batches (random 0-255 pixels, batch 8) from
the same initial variables:

1. the original, on the real libraries. A program whose only TensorFlow
   import is `tensorflow.compat.v1` runs with plain `python` on TensorFlow
   2.21. The others say `import tensorflow as tf` and use `tf.contrib`,
   `tf.layers` or `tf_slim`, which TensorFlow 2.21 cannot import under those
   names; `parity_original.py` runs the same file with those imports
   answered by the real `tf.compat.v1`, the real Keras-2 `tf.compat.v1.layers`
   and the real TF-Slim wheel (the TF 1.15 contrib code under its modern
   name; see `reference_libs.py`). The original writes the initial variables
   (`init.npz`) that the other two runs start from.
2. `python -m tf1cnn.run PROGRAM.py --init_from=init.npz ...`: the unmodified
   file on tf1cnn's TF1 bridge.
3. `--model=PROGRAM.py:FUNCTION` through tf1cnn's own training functions
   (`parity_model_side.py`): tf1cnn builds the loss (cross-entropy plus the
   model's `'losses'`, `tf.losses` and regularisation collections), the
   optimizer, the batch-norm updates and the weight averages; the only
   test-side parts are the input (`build_train_graph(batch_fn=...)` feeding
   batch `i` at step `i`, normalised by the run's preprocessing recipe
   instead of the program's own) and the start (a Scaffold `init_fn`
   loading `init.npz` by name). The same process evaluates the original's
   checkpoint with `evaluation.evaluate` and exports it with
   `export.export_saved_model`; the export's `predict_images` logits on the
   eval pixels are compared with the original's own eval-mode logits.

Measures (all must be <= 1e-5): the loss, `max_i |a_i - b_i| / |b_i|` over
the 20 steps; each variable (weights, batch-norm moving statistics,
`ExponentialMovingAverage` shadows, optimizer slots, the global step),
`max |a - b| / max |b|` over its elements, the difference relative to the
variable's scale (an element-wise ratio is meaningless for entries that pass
through zero); the export's logits, the same ratio over the eval batch. The
two sides run the same kernels but not always in the same order (tf1cnn adds
the regularisation terms as `cross_entropy + add_n(regularization)`, the
programs as they wrote it; TF-Slim's `(x / 255 - 0.5) * 2` against the
recipe's `x * 2 / 255 - 1`), so float32 rounding differs at ~1e-7; 20 steps
do not amplify that past 1e-5. Every run gets the same CPU kernel library
(`TF_ENABLE_ONEDNN_OPTS`, see `_env`). In the runs measured so far the
variables and logits agreed bit for bit and the losses to <= 1.2e-7 (the
programs that sum their own total loss);
`test_measured_differences_are_reported` (`pytest -s`) prints every number.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tf1cnn.inputs import image_folder

from fixtures import make_striped_dataset, subprocess_env

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TESTS = os.path.join(_ROOT, 'tests')
_PARITY = os.path.join(_ROOT, 'scripts', 'tf1_examples', 'parity')
STEPS = 20
BATCH = 8
EVAL_IMAGES = 6
TOLERANCE = 1e-5
_RUN_MODULE = os.path.join(_ROOT, 'tf1cnn', 'run.py')


@dataclasses.dataclass(frozen=True)
class Program:
  """A parity program and how tf1cnn's `--model` run is set up to match it."""
  file: str
  function: str
  image_size: int
  optimizer: str
  learning_rate: float
  weight_decay: float = 0.0
  moving_average_decay: float = 0.0
  preprocessing: str = 'standardize'
  plain_tf: bool = False  # runs with plain python on TensorFlow 2.21

  @property
  def path(self):
    return os.path.join(_PARITY, self.file)


PROGRAMS = {
    'blog_lenet5': Program('blog_lenet5.py', 'inference', 16, 'adam', 1e-3,
                           plain_tf=True),
    'seed002_bn_cnn': Program('seed002_bn_cnn.py', 'bn_cnn', 32, 'adam',
                              1e-3),
    'layers_contrib': Program('layers_contrib.py', 'cnn', 16, 'sgd', 0.05,
                              weight_decay=0.01),
    'tutorial_ema': Program('tutorial_ema.py', 'inference', 16, 'sgd', 0.05,
                            moving_average_decay=0.99),
    'slim_resnet': Program('slim_resnet.py', 'tiny_resnet', 16, 'adam', 1e-3,
                           weight_decay=1e-3, preprocessing='inception'),
}

# name -> {measure: value}; filled as the tests run, printed at the end.
MEASURED = {}


def _env():
  """The child's environment: one CPU kernel library for every side.

  tf1cnn's entry points choose `TF_ENABLE_ONEDNN_OPTS` by themselves when it
  is unset (`tf1cnn.startup`), a plain `python` keeps TensorFlow's default;
  the comparison is of the programs, so all runs get the same value (the
  caller's, else oneDNN on).
  """
  env = subprocess_env()
  env.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
  return env


def _run(args, what):
  done = subprocess.run(args, cwd=_ROOT, env=_env(),
                        capture_output=True, text=True, timeout=600,
                        check=False)
  if done.returncode != 0:
    raise AssertionError(f'{what} failed (exit {done.returncode}):\n'
                         f'{done.stderr[-6000:]}')
  return done


def _variables(results):
  return {k[len('var/'):]: results[k] for k in results.files
          if k.startswith('var/')}


def loss_difference(got, want):
  """`max_i |got_i - want_i| / |want_i|`; inf when the lengths differ."""
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  if got.shape != want.shape:
    return float('inf')
  return float(np.max(np.abs(got - want) / np.abs(want)))


def scaled_difference(got, want):
  """`max |got - want| / max |want|` (0 when both are all zero)."""
  got = np.asarray(got, np.float64)
  want = np.asarray(want, np.float64)
  if got.shape != want.shape:
    return float('inf')
  scale = np.max(np.abs(want)) if want.size else 0.0
  diff = np.max(np.abs(got - want)) if want.size else 0.0
  return float(diff / scale) if scale else float(diff)


def variable_differences(got, want):
  """`{name: scaled difference}` for every variable of `want`.

  A name `got` lacks is looked up by its last component: the training
  loop's own variables (the global step, Adam's `beta1_power`) may sit in
  the program's name scope (`optimizer/global_step`) and at the top in
  tf1cnn's graph.
  """
  differences = {}
  for name, value in want.items():
    other = name if name in got else name.rsplit('/', 1)[-1]
    differences[name] = (scaled_difference(got[other], value) if other in got
                         else float('inf'))
  return differences


class MeasuresTest(tf.test.TestCase):
  """The comparison measures against hand-computed values."""

  def test_loss_difference_is_the_worst_step(self):
    self.assertAllClose(loss_difference([1.0, 2.0, 4.0], [1.0, 2.5, 4.0]),
                        0.2)
    self.assertEqual(loss_difference([1.0], [1.0, 2.0]), float('inf'))

  def test_scaled_difference_is_relative_to_the_variable(self):
    want = np.array([[-4.0, 0.0], [2.0, 1e-9]])
    got = want + np.array([[0.0, 2e-5], [0.0, 0.0]])
    self.assertAllClose(scaled_difference(got, want), 5e-6)
    self.assertEqual(scaled_difference(np.zeros(3), np.zeros(3)), 0.0)
    self.assertEqual(scaled_difference(np.zeros(3), np.zeros(2)),
                     float('inf'))

  def test_variable_differences_match_loop_variables_by_last_name(self):
    want = {'conv/w': np.ones(2), 'optimizer/global_step': np.array(20),
            'extra': np.ones(1)}
    got = {'conv/w': np.array([1.0, 1.5]), 'global_step': np.array(20)}
    self.assertEqual(variable_differences(got, want),
                     {'conv/w': 0.5, 'optimizer/global_step': 0.0,
                      'extra': float('inf')})


class ParityTestBase(tf.test.TestCase):
  """The three runs of one program; subclasses name it."""

  NAME = None

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.program = PROGRAMS[cls.NAME]
    cls.tmp = tempfile.TemporaryDirectory()
    cls.root = cls.tmp.name
    size = cls.program.image_size
    rng = np.random.RandomState(sum(map(ord, cls.NAME)))
    cls.batches = os.path.join(cls.root, 'batches.npz')
    np.savez(cls.batches,
             images=rng.uniform(0, 255, (STEPS, BATCH, size, size, 3)).astype(
                 np.float32),
             labels=rng.randint(0, 2, (STEPS, BATCH)).astype(np.int32),
             eval_images=rng.uniform(
                 0, 255, (EVAL_IMAGES, size, size, 3)).astype(np.float32))
    cls.original_dir = os.path.join(cls.root, 'original')
    runner = [] if cls.program.plain_tf else [
        os.path.join(_TESTS, 'parity_original.py')]
    _run([sys.executable] + runner + [
        cls.program.path, f'--train_dir={cls.original_dir}',
        f'--batches={cls.batches}', f'--max_steps={STEPS}'],
         f'the original {cls.program.file}')
    cls.original = np.load(os.path.join(cls.original_dir, 'results.npz'))
    cls.init = os.path.join(cls.original_dir, 'init.npz')
    cls.checkpoint = tf.train.latest_checkpoint(cls.original_dir)
    cls._model_side = None
    MEASURED.setdefault(cls.NAME, {})

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def model_side(self):
    """The `--model` run, evaluation and export (once per class)."""
    cls = type(self)
    if isinstance(cls._model_side, AssertionError):
      raise cls._model_side  # the run failed: once per class is enough
    if cls._model_side is None:
      program = self.program
      data_dir = os.path.join(self.root, 'data')
      make_striped_dataset(data_dir, per_class=2, size=program.image_size)
      _, _, class_names = image_folder.scan_split(data_dir, 'test')
      out_dir = os.path.join(self.root, 'model_side')
      os.makedirs(out_dir)
      settings = dict(
          model=f'{program.path}:{program.function}', batches=self.batches,
          init=self.init, out_dir=out_dir, data_dir=data_dir,
          image_size=program.image_size, optimizer=program.optimizer,
          learning_rate=program.learning_rate,
          weight_decay=program.weight_decay,
          moving_average_decay=program.moving_average_decay,
          preprocessing=program.preprocessing, checkpoint=self.checkpoint,
          class_names=class_names, steps=STEPS)
      settings_path = os.path.join(out_dir, 'settings.json')
      with open(settings_path, 'w', encoding='utf-8') as f:
        json.dump(settings, f)
      try:
        _run([sys.executable, os.path.join(_TESTS, 'parity_model_side.py'),
              settings_path], f'--model={program.file}:{program.function}')
      except AssertionError as e:
        cls._model_side = e
        raise
      with open(os.path.join(out_dir, 'eval_metrics.json')) as f:
        metrics = json.load(f)
      cls._model_side = (np.load(os.path.join(out_dir, 'model_side.npz')),
                         metrics)
    return cls._model_side

  def assert_same_training(self, results, what):
    losses = loss_difference(results['losses'], self.original['losses'])
    variables = variable_differences(_variables(results),
                                     _variables(self.original))
    worst = max(variables, key=variables.get)
    MEASURED[self.NAME][f'{what} loss'] = losses
    MEASURED[self.NAME][f'{what} variables'] = variables[worst]
    self.assertLen(results['losses'], STEPS)
    self.assertLessEqual(losses, TOLERANCE,
                         f'{what}: losses {results["losses"]} vs '
                         f'{self.original["losses"]}')
    self.assertLessEqual(
        variables[worst], TOLERANCE,
        f'{what}: {worst} differs by {variables[worst]:.3g}; all over '
        f'{TOLERANCE}: {[n for n, d in variables.items() if d > TOLERANCE]}')

  def test_original_trains_away_from_its_start(self):
    # The reference itself: 20 finite losses, and training moved the weights
    # away from the start the other runs load.
    self.assertLen(self.original['losses'], STEPS)
    self.assertTrue(np.all(np.isfinite(self.original['losses'])))
    init = np.load(self.init)
    moved = [n for n, v in _variables(self.original).items()
             if n in init.files and v.dtype.kind == 'f'
             and scaled_difference(v, init[n]) > 1e-3]
    self.assertNotEmpty(moved)

  def test_tf1cnn_run_on_the_unmodified_file(self):
    if not os.path.exists(_RUN_MODULE):
      self.skipTest('tf1cnn/run.py (tf1cnn-run) has not landed yet')
    train_dir = os.path.join(self.root, 'tf1cnn_run')
    _run([sys.executable, '-m', 'tf1cnn.run', self.program.path,
          f'--train_dir={train_dir}', f'--batches={self.batches}',
          f'--init_from={self.init}', f'--max_steps={STEPS}'],
         f'tf1cnn-run {self.program.file}')
    results = np.load(os.path.join(train_dir, 'results.npz'))
    self.assert_same_training(results, 'tf1cnn-run')
    logits = scaled_difference(results['eval_logits'],
                               self.original['eval_logits'])
    MEASURED[self.NAME]['tf1cnn-run eval logits'] = logits
    self.assertLessEqual(logits, TOLERANCE)

  def test_model_flag_trains_the_same(self):
    results, _ = self.model_side()
    self.assert_same_training(results, '--model')

  def test_checkpoint_restores_in_eval_and_export_matches(self):
    results, metrics = self.model_side()
    self.assertEqual(metrics['global_step'], STEPS)
    self.assertGreater(metrics['num_examples'], 0)
    logits = scaled_difference(results['export_logits'],
                               self.original['eval_logits'])
    MEASURED[self.NAME]['export logits'] = logits
    self.assertLessEqual(logits, TOLERANCE)


class BlogLeNet5ParityTest(ParityTestBase):
  NAME = 'blog_lenet5'


class Seed002BatchNormParityTest(ParityTestBase):
  NAME = 'seed002_bn_cnn'


class LayersContribParityTest(ParityTestBase):
  NAME = 'layers_contrib'


class TutorialEmaParityTest(ParityTestBase):
  NAME = 'tutorial_ema'


class SlimResnetParityTest(ParityTestBase):
  NAME = 'slim_resnet'


class ZReportTest(tf.test.TestCase):
  """Runs last (pytest keeps file order): prints what the others measured."""

  def test_measured_differences_are_reported(self):
    for name, measures in sorted(MEASURED.items()):
      for measure, value in sorted(measures.items()):
        print(f'parity {name:16s} {measure:28s} {value:.3g}')
    for measures in MEASURED.values():
      for value in measures.values():
        self.assertLessEqual(value, TOLERANCE)


del ParityTestBase  # not a test case by itself

if __name__ == '__main__':
  tf.test.main()
