"""Several devices in one process: the towers of in-graph replication.

As in the CIFAR-10 multi-GPU tutorial: the input batch is split evenly over
`devices`, each device builds one tower of the network under
`name_scope('tower_<i>')` with shared variables (`reuse=True` after the first
tower), computes its gradients, and the gradients are averaged on the
variable device (the CPU) and applied once. The towers' regularisation losses
are counted once per tower scope, and batch-norm moving statistics are
updated from the first tower only (its UPDATE_OPS), so the moving averages
see one batch per step.

Also the `--devices` helpers: `parse_devices`, `check_gpus_visible` (a
`gpu:N` this machine lacks is refused) and `add_cpu_devices` (logical CPU
devices for `cpu:N` towers). Device names are written like TensorFlow's:
`/cpu:0`, `/gpu:1`.
"""

import dataclasses

import tensorflow as tf
from absl import logging

from tf1cnn import runtime

_V1 = tf.compat.v1


def parse_devices(spec):
  """Parses `--devices` ('' / 'cpu:0,cpu:1' / '/gpu:0,/gpu:1') to a list.

  Raises:
    UserInputError: a malformed entry.
  """
  devices = []
  for item in (spec or '').split(','):
    item = item.strip()
    if not item:
      continue
    name = item if item.startswith('/') else '/' + item
    kind = name.rsplit('/', 1)[-1].split(':')[0].lower()
    if kind not in ('cpu', 'gpu', 'device'):
      raise runtime.UserInputError(
          f'--devices: {item!r} is not a device (use cpu:N or gpu:N)')
    devices.append(name)
  return devices


def check_gpus_visible(devices):
  """Refuses `gpu:N` entries of `devices` that this machine does not have.

  Soft placement would otherwise put such a tower on another device without
  a word. CPU entries are always possible (`add_cpu_devices`).

  Raises:
    UserInputError: naming the entry and the GPUs that are visible.
  """
  gpus = len(tf.config.list_physical_devices('GPU'))
  for device in devices:
    kind, _, index = device.rsplit('/', 1)[-1].lower().partition(':')
    if kind != 'gpu' or not index.isdigit() or int(index) < gpus:
      continue
    visible = (f'{gpus} GPU(s) are visible (gpu:0 to gpu:{gpus - 1})' if gpus
               else 'no GPU is visible (a CPU-only TensorFlow, or '
               'CUDA_VISIBLE_DEVICES hides them)')
    raise runtime.UserInputError(f'--devices: {device.lstrip("/")} is not '
                                 f'here: {visible}')


def add_cpu_devices(session_config, devices):
  """Asks for enough logical CPU devices for `/cpu:N` entries of `devices`.

  Several CPU towers on one machine (for testing device logic, or to use
  several NUMA nodes) need `device_count['CPU'] > 1` in the session config.
  """
  indices = [int(d.rsplit(':', 1)[-1]) for d in devices
             if d.rsplit('/', 1)[-1].lower().startswith('cpu:')]
  if indices and max(indices) > 0:
    session_config.device_count['CPU'] = max(indices) + 1
  return session_config


def split_evenly(tensors, num_splits, what='--batch_size'):
  """Splits each tensor along axis 0 into `num_splits` equal parts.

  Raises:
    UserInputError: when the static batch size does not divide evenly.
  """
  batch = tensors[0].shape[0]
  if batch is not None and int(batch) % num_splits:
    raise runtime.UserInputError(
        f'{what}={int(batch)} must be a multiple of the number of devices '
        f'({num_splits})')
  return [tf.split(t, num_splits, axis=0) for t in tensors]


def average_gradients(tower_grads):
  """Averages `[(grad, var)]` lists of several towers, variable by variable.

  Variables without a gradient in every tower are left out.
  """
  averaged = []
  for grads_and_vars in zip(*tower_grads):
    grads = [g for g, _ in grads_and_vars if g is not None]
    variable = grads_and_vars[0][1]
    if not grads:
      continue
    if len(grads) == 1:
      averaged.append((grads[0], variable))
      continue
    averaged.append((tf.add_n(grads) / float(len(grads)), variable))
  return averaged


def _variables_on(variable_device, op_device):
  """Device function: variables on `variable_device`, other ops on `op_device`."""
  variable_ops = {'Variable', 'VariableV2', 'VarHandleOp', 'AutoReloadVariable'}

  def _device(op):
    node = op if isinstance(op, tf.compat.v1.NodeDef) else op.node_def
    return variable_device if node.op in variable_ops else op_device
  return _device


@dataclasses.dataclass
class TowerOutputs:
  """What `build_towers` returns."""
  grads_and_vars: list
  loss: tf.Tensor
  cross_entropy: tf.Tensor
  logits: tf.Tensor
  labels: tf.Tensor
  update_ops: list


def build_towers(network_fn, images, labels, devices, optimizer, loss_fn,
                 variable_device='/cpu:0'):
  """Builds one network tower per device and averages their gradients.

  Args:
    network_fn: `fn(images) -> (logits, end_points)` (training mode).
    images: the whole batch `[N, H, W, C]`; N must divide by len(devices).
    labels: `[N]` int labels.
    devices: device names, one tower each.
    optimizer: a `tf.compat.v1.train.Optimizer` (computes the gradients).
    loss_fn: `fn(logits, labels, regularization_scope) -> (total, xent)`.
    variable_device: where the shared variables live.

  Returns:
    TowerOutputs: averaged gradients, mean losses, concatenated logits and
    labels, and the first tower's update ops.
  """
  runtime.require_graph_mode('build_towers')
  image_parts, label_parts = split_evenly([images, labels], len(devices))
  tower_grads, losses, entropies, all_logits = [], [], [], []
  update_ops = []
  scope = _V1.get_variable_scope()
  for index, device in enumerate(devices):
    with _V1.device(_variables_on(variable_device, device)), \
        tf.name_scope(f'tower_{index}') as tower_scope, \
        _V1.variable_scope(scope, reuse=index > 0 or None):
      logits, _ = network_fn(image_parts[index])
      loss, cross_entropy = loss_fn(logits, label_parts[index], tower_scope)
      tower_grads.append(optimizer.compute_gradients(loss))
      losses.append(loss)
      entropies.append(cross_entropy)
      all_logits.append(logits)
      if index == 0:
        update_ops = _V1.get_collection(_V1.GraphKeys.UPDATE_OPS, tower_scope)
  logging.info('built %d towers on %s', len(devices), ', '.join(devices))
  with tf.device(variable_device):
    grads_and_vars = average_gradients(tower_grads)
    loss = tf.add_n(losses) / float(len(losses))
    cross_entropy = tf.add_n(entropies) / float(len(entropies))
    logits = tf.concat(all_logits, axis=0)
  return TowerOutputs(grads_and_vars, loss, cross_entropy, logits, labels,
                      update_ops)
