"""The flags and the config objects say the same: names, defaults, ranges.

Option metadata lives in `tf1cnn.config` (fields, defaults, `RANGES`,
choice lists) and in `tf1cnn.flags` (absl definitions with their own
defaults and bounds). This test fails on any drift between the two: a
config field a program's flags leave out, a flag default other than the
field's, a range one side enforces and the other does not.
"""

import dataclasses
import math

from absl import flags as absl_flags
import tensorflow as tf

from tf1cnn import config as config_lib
from tf1cnn import flags as tf1cnn_flags

# Each program's config class and flag groups.
PROGRAMS = {
    'train': (config_lib.TrainingConfig, ('common', 'train')),
    'eval': (config_lib.EvalConfig, ('common', 'eval')),
    'export': (config_lib.ExportConfig, ('common', 'export')),
}
# Fields that no flag of that name carries, and why.
NO_FLAG = {
    'model_options': 'parsed from the repeatable --model_option=NAME=VALUE',
}
_TRAINING_PIXELS = ('the training pixels only: evaluation and export read '
                    'the recorded policy from run_config.json')
NO_FLAG_IN = {
    'eval': {'augment': _TRAINING_PIXELS, 'augmentation': _TRAINING_PIXELS},
    'export': {'augment': _TRAINING_PIXELS, 'augmentation': _TRAINING_PIXELS},
}


def _defined(groups):
  flag_values = absl_flags.FlagValues()
  tf1cnn_flags.define(groups, flag_values=flag_values)
  return flag_values


def _field_defaults(cls):
  return config_lib.flat_values(cls())


def _outside(low, high, integer):
  """Values just outside `[low, high]` (None: no bound)."""
  step = 1 if integer else max(1e-3, 0.5 * abs(low or high or 1.0))
  values = []
  if low is not None:
    values.append(low - step)
  if high is not None:
    values.append(high + step)
  return values


class FlagsConfigParityTest(tf.test.TestCase):

  def test_every_field_has_a_flag_with_the_same_default(self):
    for program, (cls, groups) in PROGRAMS.items():
      flag_values = _defined(groups)
      for name, default in _field_defaults(cls).items():
        if name in NO_FLAG or name in NO_FLAG_IN.get(program, {}):
          continue
        with self.subTest(program=program, field=name):
          self.assertIn(name, flag_values, f'{program}: no --{name} flag')
          flag_default = flag_values[name].default
          if isinstance(default, (list, tuple)):
            self.assertEqual(list(flag_default or []), list(default))
          elif isinstance(default, float) and math.isnan(default):
            self.assertTrue(math.isnan(flag_default))
          else:
            self.assertEqual(flag_default, default)

  def test_ranges_are_enforced_on_both_sides(self):
    checked = 0
    for program, (cls, groups) in PROGRAMS.items():
      flag_values = _defined(groups)
      fields = _field_defaults(cls)
      for name, (low, high) in config_lib.RANGES.items():
        if name not in fields or name not in flag_values:
          continue
        integer = isinstance(fields[name], int) and not isinstance(
            fields[name], bool)
        for bad in _outside(low, high, integer):
          with self.subTest(program=program, flag=name, value=bad):
            checked += 1
            with self.assertRaises(absl_flags.IllegalFlagValueError):
              flag_values[name].value = bad
              flag_values.validate_all_flags()
            with self.assertRaises(config_lib.ConfigError):
              config_lib.validate(config_lib.make(cls, **{name: bad}))
          flag_values[name].value = flag_values[name].default
        for edge in (low, high):
          if edge is None:
            continue
          with self.subTest(program=program, flag=name, value=edge):
            flag_values[name].value = edge
            flag_values.validate_all_flags()  # the bound itself is valid
            config_lib.validate(config_lib.make(cls, **{name: edge}))
            flag_values[name].value = flag_values[name].default
    self.assertGreater(checked, 30)

  def test_choices_are_the_configs(self):
    choices = {
        'optimizer': config_lib.OPTIMIZERS,
        'lr_schedule': config_lib.LR_SCHEDULES,
        'bad_images': config_lib.BAD_IMAGE_POLICIES,
        'pipeline': config_lib.PIPELINES,
        'precision': config_lib.PRECISIONS,
        'jpeg_decode': config_lib.JPEG_DECODES,
    }
    flag_values = _defined(('common', 'train'))
    for name, allowed in choices.items():
      with self.subTest(flag=name):
        parser = flag_values[name].parser
        self.assertCountEqual(parser.enum_values, allowed)

  def test_pipeline_choices_are_the_input_registry(self):
    # `config` sits below `inputs` and cannot ask the registry itself: every
    # pipeline registered for any dataset is a --pipeline choice, and every
    # choice is registered for image folders.
    from tf1cnn import inputs  # pylint: disable=g-import-not-at-top
    registered = {name for dataset in inputs.list_datasets()
                  for name in inputs.list_pipelines(dataset)}
    self.assertCountEqual(config_lib.PIPELINES,
                          inputs.list_pipelines('image_folder'))
    self.assertLessEqual(registered, set(config_lib.PIPELINES))

  def test_every_config_field_is_a_dataclass_field(self):
    # flat_values and make are inverses (the parity above relies on it).
    for cls, _ in PROGRAMS.values():
      values = _field_defaults(cls)
      rebuilt = config_lib.make(cls, **values)
      self.assertEqual(dataclasses.asdict(rebuilt), dataclasses.asdict(cls()))


if __name__ == '__main__':
  tf.test.main()
