"""Fine-tuning: start a run from another run's weights, train some scopes.

TF-Slim's `train_image_classifier` recipe in graph mode:

* `--warm_start_from=CKPT` (a checkpoint prefix or a training directory)
  initialises the model's variables from that checkpoint when `--train_dir`
  has no checkpoint of its own yet; a run that resumes ignores it. Weights
  come from their `ExponentialMovingAverage` shadows when the source has them
  (the weights evaluation measured), batch-norm moving statistics as stored.
  Optimizer slots, the global step and the learning-rate schedule start
  afresh.
* `--warm_start_exclude=softmax_linear,...` leaves variable scopes out of the
  warm start (typically the classifier, to re-learn it for other classes);
  they are initialised as usual.
* `--trainable_scopes=softmax_linear,...` trains only the variables under
  those scopes; the others keep their values (batch-norm statistics of
  frozen layers still follow the new data in training mode, as in TF-Slim).

Scopes are variable-name prefixes at a `/` boundary (`conv1_scope` matches
`conv1_scope/weights`, not `conv10_scope/...`). A scope that matches no
variable is an error listing the model's scopes, so a typo cannot silently
train or restore everything.
"""

import tensorflow as tf
from absl import logging

from tf1cnn import checkpoints
from tf1cnn import runtime

_V1 = tf.compat.v1
def _in_scope(name, scope):
  return name == scope or name.startswith(scope + '/')


def select(variables, scopes, flag):
  """The variables under any of `scopes`.

  Args:
    variables: tf.Variables.
    scopes: variable-scope prefixes (a trailing '/' is ignored).
    flag: the flag name for messages, e.g. '--trainable_scopes'.

  Raises:
    UserInputError: a scope that matches none of `variables`.
  """
  scopes = [scope.strip().rstrip('/') for scope in scopes if scope.strip()]
  for scope in scopes:
    if not any(_in_scope(v.op.name, scope) for v in variables):
      available = sorted({v.op.name.split('/')[0] for v in variables})
      raise runtime.UserInputError(
          f'{flag}: no variable under {scope!r}; the model\'s scopes are '
          f'{", ".join(available)}')
  return [v for v in variables
          if any(_in_scope(v.op.name, scope) for scope in scopes)]


def trainable_variables(scopes):
  """The trainable variables to train: all, or those under `scopes`."""
  variables = _V1.trainable_variables()
  if not scopes:
    return variables
  chosen = select(variables, scopes, '--trainable_scopes')
  logging.info('training %d of %d trainable variables (%s)', len(chosen),
               len(variables), ', '.join(scopes))
  return chosen


def warm_start_init_fn(source, model_variables, exclude=(), name_rules=(),
                       ignore_missing_vars=False):
  """Builds the restore of `model_variables` from `source` (graph time).

  Args:
    source: checkpoint prefix or a directory (its latest checkpoint).
    model_variables: the variables the network created.
    exclude: scopes left out (initialised as usual).
    name_rules: `--checkpoint_var_map` rules for the source's names (a
      checkpoint another program wrote, a model-zoo checkpoint).
    ignore_missing_vars: variables the source lacks keep their initial
      values (logged) instead of being an error (TF-Slim's flag).

  Returns:
    `init_fn(scaffold, session)` for `tf.compat.v1.train.Scaffold`.

  Raises:
    UserInputError: no checkpoint at `source`, a bad scope, or a checkpoint
      whose variables do not fit (the message suggests the exclusion).
  """
  prefix = checkpoints.resolve_checkpoint(checkpoint_path=source,
                                          flag='--warm_start_from')
  left_out = {v.ref() for v in select(model_variables, exclude,
                                      '--warm_start_exclude')}
  var_map, _ = checkpoints.restore_var_map(
      prefix, [v for v in model_variables if v.ref() not in left_out],
      name_rules=name_rules)
  if ignore_missing_vars:
    stored = checkpoints.checkpoint_variables(prefix)
    lacking = sorted(name for name in var_map if name not in stored)
    for name in lacking:
      del var_map[name]
    if lacking:
      logging.warning('--ignore_missing_vars: %d variable(s) not in %s keep '
                      'their initial values: %s', len(lacking), prefix,
                      ', '.join(lacking[:5]) + (' ...' if len(lacking) > 5
                                                else ''))
  checkpoints.check_compatible(
      prefix, var_map, name_rules=name_rules,
      what='this model (leave such layers out with --warm_start_exclude)')
  saver = _V1.train.Saver(var_map, name='warm_start_saver')
  logging.info('warm start from %s: %d variables (%d left out)', prefix,
               len(var_map), len(left_out))

  def init_fn(unused_scaffold, session):
    logging.info('initialising from %s (--warm_start_from)', prefix)
    saver.restore(session, prefix)
  return init_fn
