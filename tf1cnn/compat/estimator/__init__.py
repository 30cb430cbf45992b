"""`tf.estimator` of TF 1.15, rebuilt on `tf.compat.v1` graph mode.

TensorFlow 2.16 removed `tf.estimator`. This package provides its core
with TF 1.15's names and behaviour, on `MonitoredTrainingSession`,
session-run hooks, `Saver` and `SavedModelBuilder`:

* `Estimator` (`train`, `evaluate`, `predict`, `export_saved_model` /
  `export_savedmodel`, `latest_checkpoint`, `get_variable_names`,
  `get_variable_value`, `eval_dir`, `model_dir`, `config`, `params`),
  `EstimatorSpec`, `ModeKeys`, `RunConfig` (with the `TF_CONFIG` cluster),
  `WarmStartSettings`, `VocabInfo`;
* `inputs.numpy_input_fn` (queue-fed, as TF 1.15);
* `export`: `ServingInputReceiver`, `TensorServingInputReceiver`,
  `build_raw_serving_input_receiver_fn`,
  `build_parsing_serving_input_receiver_fn`, `PredictOutput`,
  `ClassificationOutput`, `RegressionOutput`;
* `experimental`: `stop_if_no_decrease_hook`, `stop_if_no_increase_hook`,
  `stop_if_higher_hook`, `stop_if_lower_hook`, `make_early_stopping_hook`,
  `read_eval_metrics`;
* the session-run hooks TF 2.x's `tf.estimator` re-exported
  (`LoggingTensorHook`, `CheckpointSaverHook`, `SessionRunHook`, ...), from
  `tf.compat.v1.train`;
* `train_and_evaluate`, `TrainSpec`, `EvalSpec` and the exporters
  (`Exporter`, `LatestExporter`, `FinalExporter`, `BestExporter`) from
  `.training`, imported on first use.

Distributed training (between-graph replication, as TF 1.15). When
`RunConfig.cluster_spec` (read from `TF_CONFIG`) has ps tasks, `train`
builds the graph under `tf.compat.v1.train.replica_device_setter(
ps_tasks=num_ps_replicas, worker_device='/job:<task_type>/task:<task_id>',
merge_devices=True, cluster=cluster_spec)`, so variables live on the ps
tasks and the other ops on this task; a `device_fn` in the RunConfig
replaces it. The session is `MonitoredTrainingSession(
master=config.master, is_chief=config.is_chief, checkpoint_dir=model_dir)`:
the chief initialises or restores the variables and runs the checkpoint,
summary and step-counter hooks; other workers wait for it. The default
session config lets a task see only the ps tasks and itself
(`device_filters`). `train` refuses an `evaluator` or `ps` task (that is
`train_and_evaluate`'s job). For a runner that starts the servers itself,
`Estimator._train_model(input_fn, hooks, saving_listeners, master=None,
session_creator=None, is_chief=None, steps=None, max_steps=None)` and
`Estimator._evaluate(input_fn, hooks, checkpoint_path, name=None,
master=None, session_creator=None)` take another master, or a session
creator (or a function of the model_fn's Scaffold returning one).
Distribution strategies (`train_distribute`) are not provided.

Each call builds its own graph, so an Estimator works in a graph-mode
process and in an eager one alike.

Left out, with `tf1cnn.compat.missing.NotProvidedError` naming them: the
canned estimators (`DNNClassifier`, `LinearClassifier`, `BoostedTrees*`,
heads, ...), `inputs.pandas_input_fn`, Keras model conversion
(`model_to_estimator`) and TPU estimators.
"""

import importlib

import tensorflow as _tf

from tf1cnn.compat import missing as _missing
from tf1cnn.compat.estimator import experimental
from tf1cnn.compat.estimator import export
from tf1cnn.compat.estimator import inputs
from tf1cnn.compat.estimator.estimator import Estimator
from tf1cnn.compat.estimator.estimator import WarmStartSettings
from tf1cnn.compat.estimator.model_fn import EstimatorSpec
from tf1cnn.compat.estimator.model_fn import ModeKeys
from tf1cnn.compat.estimator.run_config import RunConfig

VocabInfo = _tf.compat.v1.train.VocabInfo

# Session-run hooks and helpers TF 2.x's tf.estimator re-exported.
_HOOKS = (
    'CheckpointSaverHook', 'CheckpointSaverListener', 'FeedFnHook',
    'FinalOpsHook', 'GlobalStepWaiterHook', 'LoggingTensorHook',
    'NanLossDuringTrainingError', 'NanTensorHook', 'ProfilerHook',
    'SecondOrStepTimer', 'SessionRunArgs', 'SessionRunContext',
    'SessionRunHook', 'SessionRunValues', 'StepCounterHook',
    'StopAtStepHook', 'SummarySaverHook',
)
for _name in _HOOKS:
  globals()[_name] = getattr(_tf.compat.v1.train, _name)
del _name

# From training.py, imported when first used.
_TRAINING_NAMES = ('train_and_evaluate', 'TrainSpec', 'EvalSpec', 'Exporter',
                   'LatestExporter', 'FinalExporter', 'BestExporter')

_LEFT_OUT = frozenset([
    'BaselineClassifier', 'BaselineEstimator', 'BaselineRegressor',
    'BoostedTreesClassifier', 'BoostedTreesEstimator',
    'BoostedTreesRegressor', 'DNNClassifier', 'DNNEstimator',
    'DNNLinearCombinedClassifier', 'DNNLinearCombinedEstimator',
    'DNNLinearCombinedRegressor', 'DNNRegressor', 'LinearClassifier',
    'LinearEstimator', 'LinearRegressor', 'Head', 'MultiHead',
    'BinaryClassHead', 'MultiClassHead', 'MultiLabelHead', 'RegressionHead',
    'PoissonRegressionHead', 'LogisticRegressionHead',
    'classifier_parse_example_spec', 'regressor_parse_example_spec',
    'add_metrics', 'tpu',
])

__all__ = sorted(
    ['Estimator', 'EstimatorSpec', 'ModeKeys', 'RunConfig',
     'WarmStartSettings', 'VocabInfo', 'experimental', 'export', 'inputs'] +
    list(_HOOKS) + list(_TRAINING_NAMES))


def __getattr__(name):
  if name in _TRAINING_NAMES:
    try:
      training = importlib.import_module(__name__ + '.training')
    except ModuleNotFoundError as e:
      if e.name != __name__ + '.training':
        raise
      raise _missing.not_provided(
          f'tf.estimator.{name}',
          'tf1cnn.compat.estimator.training is not installed') from None
    return getattr(training, name)
  if name in _LEFT_OUT:
    raise _missing.not_provided(
        f'tf.estimator.{name}',
        'canned estimators are left out of tf1cnn.compat.estimator; write a '
        'model_fn and use tf.estimator.Estimator')
  if name.startswith('__'):
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  raise _missing.not_provided(f'tf.estimator.{name}')


def __dir__():
  return sorted(set(globals()) | set(_TRAINING_NAMES))
