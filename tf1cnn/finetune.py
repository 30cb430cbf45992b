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
  they are initialised as usual. Left empty, it defaults to the model's
  classifier scopes (the registry's `logits_scopes`) when the checkpoint's
  classifier has another shape (other classes), with a warning naming them;
  with the same shapes everything is restored.
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


def default_exclude(prefix, model_variables, classifier_scopes,
                    name_rules=()):
  """The classifier scopes to leave out when their shapes differ from `prefix`.

  Args:
    prefix: the source checkpoint.
    model_variables: the variables the network created.
    classifier_scopes: the model's `logits_scopes`.
    name_rules: `--checkpoint_var_map` rules.

  Returns:
    The scopes (those that hold a variable) when any classifier variable
    has another shape in the checkpoint (logged as a warning); else ().
  """
  scopes = [s.strip().rstrip('/') for s in classifier_scopes if s.strip()]
  scopes = [s for s in scopes
            if any(_in_scope(v.op.name, s) for v in model_variables)]
  heads = [v for v in model_variables
           if any(_in_scope(v.op.name, s) for s in scopes)]
  if not heads:
    return ()
  var_map, _ = checkpoints.restore_var_map(prefix, heads,
                                           name_rules=name_rules)
  stored = checkpoints.checkpoint_variables(prefix)
  for name, variable in sorted(var_map.items()):
    want = tuple(variable.shape.as_list())
    if name in stored and tuple(stored[name]) != want:
      logging.warning(
          '--warm_start_from=%s: the classifier differs (%s is %s there, %s '
          'here): leaving out %s, as --warm_start_exclude=%s would (set '
          '--warm_start_exclude to choose otherwise)', prefix, name,
          list(stored[name]), list(want), ', '.join(scopes), ','.join(scopes))
      return tuple(scopes)
  return ()


def warm_start_init_fn(source, model_variables, exclude=(), name_rules=(),
                       ignore_missing_vars=False, classifier_scopes=()):
  """Builds the restore of `model_variables` from `source` (graph time).

  Args:
    source: checkpoint prefix or a directory (its latest checkpoint).
    model_variables: the variables the network created.
    exclude: scopes left out (initialised as usual).
    name_rules: `--checkpoint_var_map` rules for the source's names (a
      checkpoint another program wrote, a model-zoo checkpoint).
    ignore_missing_vars: variables the source lacks keep their initial
      values (logged) instead of being an error (TF-Slim's flag).
    classifier_scopes: the model's `logits_scopes`; with `exclude` empty
      they are left out when their shapes differ (`default_exclude`).

  Returns:
    `init_fn(scaffold, session)` for `tf.compat.v1.train.Scaffold`.

  Raises:
    UserInputError: no checkpoint at `source`, a bad scope, or a checkpoint
      whose variables do not fit (the message suggests the exclusion).
  """
  prefix = checkpoints.resolve_checkpoint(checkpoint_path=source,
                                          flag='--warm_start_from')
  if not exclude and classifier_scopes:
    exclude = default_exclude(prefix, model_variables, classifier_scopes,
                              name_rules)
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
