"""The TF-Slim wheel's own nets, run on tf1cnn.compat.slim against real TF-Slim.

For each of alexnet, vgg, inception_v1/v2/v3, resnet_v1 and resnet_v2 (with
resnet_utils) the test reads the file shipped in the installed `tf_slim/nets/`
folder, changes only its `from tf_slim ...` / `import tf_slim ...` lines to
`tf1cnn.compat.slim` (and `from tf_slim.nets import resnet_utils` to the
rewritten resnet_utils), execs it as a fresh module and builds the net with
both libraries under the net's own arg_scope. It checks that variable names,
shapes, dtypes and collections, the update ops, the regularization losses and
the end_points keys are identical; saves the real net's variables (random
weights, non-trivial moving statistics) to a checkpoint and restores it with a
Saver into the tf1cnn graph; and compares all end points in eval mode and the
end points plus the updated moving statistics in training mode. Dropout is
given keep_prob 1 in training mode: its random masks depend on graph op
counts, which two libraries cannot share.

Inputs are small (batch 2, 5 classes; the smallest sizes each net accepts
with its default VALID head: 224 for alexnet/vgg/inception_v1, 64 for
inception_v2 and the resnets, 107 for inception_v3 with its aux head).
"""

import os
import sys
import types

import numpy as np
import tensorflow as tf

import reference_libs
from tf1cnn import runtime

runtime.use_graph_mode()
_V1 = tf.compat.v1
_KEYS = _V1.GraphKeys
_PACKAGE = '_tf1cnn_slim_nets_under_test'

# name, builder, arg-scope function, image size, extra builder kwargs.
_NETS = [
    ('alexnet', 'alexnet_v2', 'alexnet_v2_arg_scope', 224, {}),
    ('vgg', 'vgg_a', 'vgg_arg_scope', 224, {}),
    ('inception_v1', 'inception_v1', 'inception_v1_arg_scope', 224, {}),
    ('inception_v2', 'inception_v2', 'inception_v2_arg_scope', 64, {}),
    ('inception_v3', 'inception_v3', 'inception_v3_arg_scope', 107, {}),
    ('resnet_v1', 'resnet_v1_50', 'resnet_arg_scope', 64, {}),
    ('resnet_v2', 'resnet_v2_50', 'resnet_arg_scope', 64, {}),
]


def rewrite_imports(source):
  """Points a Slim net's import lines at tf1cnn.compat.slim, nothing else."""
  lines = []
  for line in source.splitlines():
    stripped = line.lstrip()
    if stripped.startswith('from tf_slim.nets import'):
      line = line.replace('from tf_slim.nets import', f'from {_PACKAGE} import')
    elif stripped.startswith(('from tf_slim', 'import tf_slim')):
      line = line.replace('tf_slim', 'tf1cnn.compat.slim')
    lines.append(line)
  return '\n'.join(lines) + '\n'


def tf1cnn_net(name):
  """The wheel's `nets/<name>.py`, rewritten and executed as a fresh module."""
  package = sys.modules.get(_PACKAGE)
  if package is None:
    package = types.ModuleType(_PACKAGE)
    package.__path__ = []
    sys.modules[_PACKAGE] = package
  full_name = f'{_PACKAGE}.{name}'
  if full_name in sys.modules:
    return sys.modules[full_name]
  source = reference_libs.slim_net_source(name)
  if 'from tf_slim.nets import resnet_utils' in source:
    tf1cnn_net('resnet_utils')
  module = types.ModuleType(full_name)
  module.__file__ = f'<rewritten tf_slim/nets/{name}.py>'
  sys.modules[full_name] = module
  exec(compile(rewrite_imports(source), module.__file__, 'exec'),  # pylint: disable=exec-used
       module.__dict__)
  setattr(package, name, module)
  return module


class _NetGraph:
  """One net built in its own graph with one library."""

  def __init__(self, module, builder, scope_fn, size, is_training, kwargs,
               with_session=True):
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.images = _V1.placeholder(tf.float32, [2, size, size, 3])
      with module.arg_scope(getattr(module, scope_fn)()):
        self.logits, self.end_points = getattr(module, builder)(
            self.images, num_classes=5, is_training=is_training, **kwargs)
      self.variables = _V1.global_variables()
      self.update_ops = _V1.get_collection(_KEYS.UPDATE_OPS)
      self.info = {
          'variables': [(v.op.name, v.shape.as_list(), v.dtype.base_dtype)
                        for v in self.variables],
          'trainable': [v.op.name for v in _V1.trainable_variables()],
          'model': [v.op.name for v in _V1.model_variables()],
          'update_ops': len(self.update_ops),
          'regularization_losses': len(
              _V1.get_collection(_KEYS.REGULARIZATION_LOSSES)),
          'end_points': list(self.end_points),
          'end_point_shapes': [t.shape.as_list()
                               for t in self.end_points.values()],
          'logits_shape': self.logits.shape.as_list(),
      }
      self.saver = _V1.train.Saver() if with_session else None
    self.session = _V1.Session(graph=self.graph) if with_session else None

  def set_values(self, values):
    """Sets every variable in one run by feeding the initializers' inputs."""
    feeds = {v.initial_value: values[v.op.name] for v in self.variables}
    self.session.run([v.initializer for v in self.variables], feeds)


def _random_values(net):
  """Initialised weights plus non-trivial moving statistics."""
  net.session.run([v.initializer for v in net.variables])
  values = dict(zip([v.op.name for v in net.variables],
                    net.session.run(net.variables)))
  rng = np.random.RandomState(3)
  for name, value in values.items():
    if name.endswith('moving_mean'):
      values[name] = rng.uniform(-0.2, 0.2, value.shape).astype(value.dtype)
    elif name.endswith('moving_variance'):
      values[name] = rng.uniform(0.5, 1.5, value.shape).astype(value.dtype)
  return values


class SlimNetsTest(tf.test.TestCase):

  def _compare_end_points(self, real, mine, data, run_updates=False):
    """Runs all end points (and the update ops) in both graphs.

    Returns:
      The largest absolute difference.
    """
    keys = list(real.end_points)
    got_real = real.session.run(
        ([real.end_points[k] for k in keys], real.logits,
         real.update_ops if run_updates else []), {real.images: data})
    got_mine = mine.session.run(
        ([mine.end_points[k] for k in keys], mine.logits,
         mine.update_ops if run_updates else []), {mine.images: data})
    worst = 0.0
    for key, a, b in zip(keys, got_real[0], got_mine[0]):
      scale = max(1.0, float(np.abs(a).max()))
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-5 * scale, msg=key)
      worst = max(worst, float(np.abs(a - b).max()))
    self.assertAllClose(got_real[1], got_mine[1], rtol=1e-5, atol=1e-5)
    return max(worst, float(np.abs(got_real[1] - got_mine[1]).max()))

  def _check_net(self, name, builder, scope_fn, size, kwargs):
    real_module = reference_libs.real_slim_net(name)
    mine_module = tf1cnn_net(name)
    self.assertIn('tf1cnn.compat.slim', mine_module.layers.__name__)
    data = np.random.RandomState(0).uniform(
        -1.0, 1.0, (2, size, size, 3)).astype(np.float32)
    checkpoint = os.path.join(self.get_temp_dir(), f'{name}.ckpt')
    report = {}
    for is_training in (False, True):
      mode_kwargs = dict(kwargs)
      if not name.startswith('resnet'):
        mode_kwargs['dropout_keep_prob'] = 1.0 if is_training else 0.5
      real = _NetGraph(real_module, builder, scope_fn, size, is_training,
                       mode_kwargs)
      mine = _NetGraph(mine_module, builder, scope_fn, size, is_training,
                       mode_kwargs)
      self.addCleanup(real.session.close)
      self.addCleanup(mine.session.close)
      self.assertEqual(real.info, mine.info)
      self.assertEqual(bool(real.update_ops), is_training and
                       'alexnet' != name and 'vgg' != name)
      if not is_training:
        real.set_values(_random_values(real))
        real.saver.save(real.session, checkpoint, write_meta_graph=False)
      else:
        real.saver.restore(real.session, checkpoint)
      mine.saver.restore(mine.session, checkpoint)
      if not is_training:
        report['eval'] = self._compare_end_points(real, mine, data)
        continue
      report['train'] = self._compare_end_points(real, mine, data,
                                                 run_updates=True)
      moving = [v for v in real.variables if 'moving_' in v.op.name]
      if moving:
        after_real = real.session.run(moving)
        mine_vars = {v.op.name: v for v in mine.variables}
        after_mine = mine.session.run([mine_vars[v.op.name] for v in moving])
        for var, a, b in zip(moving, after_real, after_mine):
          self.assertAllClose(a, b, rtol=1e-6, atol=1e-6, msg=var.op.name)
        # The update really moved the statistics.
        before = tf.train.load_checkpoint(checkpoint)
        self.assertNotAllClose(before.get_tensor(moving[0].op.name),
                               after_mine[0])
    print(f'\n{name}: max abs error eval {report["eval"]:.3g}, '
          f'train {report["train"]:.3g}')

  def test_alexnet(self):
    self._check_net(*_NETS[0])

  def test_vgg(self):
    self._check_net(*_NETS[1])

  def test_inception_v1(self):
    self._check_net(*_NETS[2])

  def test_inception_v2(self):
    self._check_net(*_NETS[3])

  def test_inception_v3(self):
    self._check_net(*_NETS[4])

  def test_resnet_v1(self):
    self._check_net(*_NETS[5])

  def test_resnet_v2(self):
    self._check_net(*_NETS[6])

  def test_graph_only_variants(self):
    """Other builders of the same files: names, collections, end points."""
    variants = [
        ('vgg', 'vgg_16', 'vgg_arg_scope', 224, {}),
        ('resnet_v1', 'resnet_v1_50', 'resnet_arg_scope', 64,
         {'output_stride': 16}),
        ('resnet_v2', 'resnet_v2_50', 'resnet_arg_scope', 64,
         {'global_pool': False}),
        ('inception_v3', 'inception_v3', 'inception_v3_arg_scope', 75,
         {'create_aux_logits': False, 'depth_multiplier': 0.5}),
        ('inception_v2', 'inception_v2', 'inception_v2_arg_scope', 64,
         {'depth_multiplier': 0.5}),
    ]
    for name, builder, scope_fn, size, kwargs in variants:
      with self.subTest(builder=builder):
        real = _NetGraph(reference_libs.real_slim_net(name), builder,
                         scope_fn, size, True, kwargs, with_session=False)
        mine = _NetGraph(tf1cnn_net(name), builder, scope_fn, size, True,
                         kwargs, with_session=False)
        self.assertEqual(real.info, mine.info)


if __name__ == '__main__':
  tf.test.main()
