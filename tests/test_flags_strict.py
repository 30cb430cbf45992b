"""Flags that never pass silently: non-finite floats, alias conflicts, empty lists.

Each case is parsed the way a program parses its command line
(`tf1cnn.flags.parse` on a fresh `FlagValues`: one `error:` line, exit 2),
and the library path (`tf1cnn.config.validate`) is checked for the same
values.
"""

import contextlib
import io
import math
import os
import subprocess
import sys

import tensorflow as tf
from absl import flags as absl_flags

from fixtures import subprocess_env
from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags
from tf1cnn import optimizers
from tf1cnn import runtime

runtime.use_graph_mode()

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(args, groups=('common', 'train')):
  """(exit status or None, stderr, FlagValues) of parsing `args`."""
  values = absl_flags.FlagValues()
  tf1cnn_flags.define(groups, flag_values=values)
  err = io.StringIO()
  code = None
  with contextlib.redirect_stderr(err):
    try:
      tf1cnn_flags.parse(['prog'] + list(args), flag_values=values)
    except SystemExit as e:
      code = e.code
  return code, err.getvalue(), values


def float_flags(groups):
  """Names of the float flags (not aliases) defined by `groups`."""
  values = absl_flags.FlagValues()
  tf1cnn_flags.define(groups, flag_values=values)
  aliases = set()
  for names in tf1cnn_flags.SLIM_ALIASES.values():
    aliases.update(names)
  return sorted(name for name in values
                if name not in aliases
                and isinstance(values[name].parser, absl_flags.FloatParser))


class NonFiniteTest(tf.test.TestCase):

  def test_every_float_flag_of_every_group_refuses_nan_and_inf(self):
    checked = set()
    for groups in (('common', 'train'), ('common', 'eval'),
                   ('common', 'export'), ('predict',), ('sample',),
                   ('benchmark',)):
      names = float_flags(groups)
      for name in names:
        for text in ('nan', 'inf', '-inf', 'NaN'):
          code, err, _ = parse([f'--{name}={text}'], groups)
          self.assertEqual(code, 2, f'--{name}={text} was accepted')
          self.assertIn(f'--{name}', err)
          self.assertEqual(len(err.strip().splitlines()), 1, err)
        checked.add(name)
    # The flags of the report, at least.
    self.assertContainsSubset(
        {'label_smoothing', 'clip_gradient_norm', 'end_learning_rate',
         'adam_beta2', 'adadelta_rho', 'weight_decay', 'opt_epsilon',
         'learning_rate', 'lr_decay_epochs'}, checked)

  def test_finite_values_still_parse(self):
    code, err, values = parse(['--label_smoothing=0.1', '--opt_epsilon=1.0',
                               '--weight_decay=1e-4'])
    self.assertIsNone(code, err)
    self.assertEqual(values.label_smoothing, 0.1)
    self.assertEqual(values.opt_epsilon, 1.0)

  def test_library_configs_refuse_nan_and_inf(self):
    for name in ('label_smoothing', 'clip_gradient_norm', 'end_learning_rate',
                 'adam_beta2', 'adadelta_rho', 'weight_decay', 'opt_epsilon',
                 'learning_rate', 'num_epochs', 'momentum', 'lr_decay_rate',
                 'warmup_epochs'):
      for value in (math.nan, math.inf):
        with self.assertRaisesRegex(
            config_lib.ConfigError,
            rf'^--{name}=(nan|inf): must be a finite number$'):
          config_lib.training_config(**{name: value})
    config_lib.training_config(opt_epsilon=None, label_smoothing=0.1)


class AliasConflictTest(tf.test.TestCase):

  def test_different_values_name_both_flags(self):
    cases = [
        (('common', 'train'), ['--max_steps=3', '--max_number_of_steps=5'],
         'max_number_of_steps', 'max_steps'),
        (('common', 'train'), ['--model=lenet5', '--model_name=bn_cnn'],
         'model_name', 'model'),
        (('common', 'eval'), ['--eval_split=test',
                              '--dataset_split_name=train'],
         'dataset_split_name', 'eval_split'),
        (('common', 'train'), ['--num_epochs_per_decay', '2',
                               '--lr_decay_epochs=3'],
         'num_epochs_per_decay', 'lr_decay_epochs'),
    ]
    for groups, args, alias, name in cases:
      code, err, _ = parse(args, groups)
      self.assertEqual(code, 2, args)
      self.assertRegex(err, rf'^error: --{alias}=\S+ and --{name}=\S+ ')
      self.assertEqual(len(err.strip().splitlines()), 1, err)

  def test_the_same_value_twice_is_fine(self):
    code, err, values = parse(['--max_steps=3', '--max_number_of_steps=3',
                               '--lr_decay_epochs=2',
                               '--num_epochs_per_decay=2.0'])
    self.assertIsNone(code, err)
    self.assertEqual(values.max_steps, 3)
    self.assertEqual(values.lr_decay_epochs, 2.0)

  def test_a_conflict_inside_one_flagfile_names_the_file(self):
    path = os.path.join(self.get_temp_dir(), 'run.flags')
    with open(path, 'w') as f:
      f.write('--max_steps=3\n--max_number_of_steps=5\n')
    code, err, _ = parse([f'--flagfile={path}'])
    self.assertEqual(code, 2)
    self.assertIn(path, err)
    self.assertIn('--max_number_of_steps=5 and --max_steps=3', err)

  def test_the_command_line_overrides_a_flagfile_under_either_name(self):
    path = os.path.join(self.get_temp_dir(), 'base.flags')
    with open(path, 'w') as f:
      f.write('--max_steps=3\n')
    code, err, values = parse([f'--flagfile={path}',
                               '--max_number_of_steps=5'])
    self.assertIsNone(code, err)
    self.assertEqual(values.max_steps, 5)

  def test_a_program_exits_2_with_one_line(self):
    result = subprocess.run(
        [sys.executable, os.path.join(_ROOT, 'scripts', 'train.py'),
         '--max_steps=3', '--max_number_of_steps=5',
         f'--train_dir={self.get_temp_dir()}/never'],
        env=subprocess_env(), capture_output=True, text=True, timeout=120,
        check=False, cwd=_ROOT)
    self.assertEqual(result.returncode, 2, result.stderr)
    lines = [line for line in result.stderr.splitlines()
             if line.startswith('error:')]
    self.assertEqual(len(lines), 1, result.stderr)
    self.assertIn('--max_number_of_steps=5 and --max_steps=3', lines[0])
    self.assertNotIn('Traceback', result.stderr)
    self.assertFalse(os.path.exists(f'{self.get_temp_dir()}/never'))


class ScheduleAndFormatsTest(tf.test.TestCase):

  def test_exponential_or_polynomial_with_zero_decay_epochs(self):
    for schedule in ('exponential', 'polynomial'):
      for args in (['--lr_decay_epochs=0'], ['--num_epochs_per_decay=0']):
        code, err, _ = parse([f'--lr_schedule={schedule}'] + args)
        self.assertEqual(code, 2)
        self.assertIn('--lr_decay_epochs must be > 0', err)
      with self.assertRaisesRegex(config_lib.ConfigError,
                                  r'^--lr_decay_epochs=0\.0: must be > 0 '
                                  rf'with --lr_schedule={schedule}'):
        config_lib.training_config(lr_schedule=schedule, lr_decay_epochs=0.0)
    # A schedule that does not use the period does not care.
    code, err, _ = parse(['--lr_schedule=cosine', '--lr_decay_epochs=0'])
    self.assertIsNone(code, err)

  def test_the_schedule_itself_refuses_a_zero_period(self):
    optim = config_lib.make(config_lib.TrainingConfig, lr_schedule='exponential',
                            lr_decay_epochs=0.0).optim
    with tf.Graph().as_default():
      step = tf.compat.v1.train.get_or_create_global_step()
      with self.assertRaisesRegex(ValueError, '--lr_decay_epochs=0.0'):
        optimizers.learning_rate_schedule(optim, step, 10.0, 100)
      optim = config_lib.make(config_lib.TrainingConfig,
                              lr_schedule='exponential', lr_decay_epochs=2.0,
                              lr_decay_rate=0.5, learning_rate=1.0).optim
      rate = optimizers.learning_rate_schedule(optim, step, 10.0, 100)
      assign = tf.compat.v1.assign(step, 25)
      with self.cached_session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        self.assertAllClose(sess.run(rate), 1.0)
        sess.run(assign)
        # 25 steps of 10 per epoch, decays every 20 steps: one decay.
        self.assertAllClose(sess.run(rate), 0.5)

  def test_empty_formats_are_refused(self):
    for text in ('--formats=', '--formats=,,', '--formats= '):
      code, err, _ = parse([text], ('common', 'export'))
      self.assertEqual(code, 2, text)
      self.assertIn('--formats', err)
    code, err, values = parse(['--formats=saved_model,frozen'],
                              ('common', 'export'))
    self.assertIsNone(code, err)
    self.assertEqual(values.formats, ['saved_model', 'frozen'])
    with self.assertRaisesRegex(config_lib.ConfigError, '^--formats is empty'):
      config_lib.export_config(formats=[])
    with self.assertRaisesRegex(config_lib.ConfigError, '^--formats is empty'):
      config_lib.export_config(formats=['', ''])


if __name__ == '__main__':
  tf.test.main()
