"""Tests of tf1cnn.step_profile: step-stats aggregation, FLOP counts, the CPU
peak and scripts/profile_step.py end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tests import fixtures
from tf1cnn import step_profile

_V1 = tf.compat.v1
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _conv_reference_flops(batch, out_h, out_w, k_h, k_w, c_in, c_out):
  """2 FLOPs per multiply-add, counted by enumerating the MAC loop bounds."""
  macs = np.prod(np.array([batch, out_h, out_w, k_h, k_w, c_in, c_out],
                          dtype=np.int64))
  return int(2 * macs)


class FlopCountTest(tf.test.TestCase):

  def test_conv2d_and_backprops_match_the_formula(self):
    with tf.Graph().as_default() as graph:
      images = _V1.placeholder(tf.float32, [4, 17, 19, 3])
      kernel = _V1.get_variable('k', [5, 3, 3, 7])
      out = tf.nn.conv2d(images, kernel, strides=[1, 2, 2, 1],
                         padding='SAME')
      grad_input, grad_kernel = tf.gradients(tf.reduce_sum(out),
                                             [images, kernel])
    self.assertEqual(out.shape.as_list(), [4, 9, 10, 7])
    expected = _conv_reference_flops(4, 9, 10, 5, 3, 3, 7)
    self.assertEqual(step_profile.op_flops(out.op), expected)
    self.assertEqual(grad_input.op.type, 'Conv2DBackpropInput')
    self.assertEqual(grad_kernel.op.type, 'Conv2DBackpropFilter')
    self.assertEqual(step_profile.op_flops(grad_input.op), expected)
    self.assertEqual(step_profile.op_flops(grad_kernel.op), expected)
    counted = step_profile.count_flops(graph, grad_kernel, run_profiler=False)
    # Only the fetch's ancestors count: the kernel gradient (of a sum, whose
    # gradient is ones of a static shape) needs neither the forward conv nor
    # the input gradient.
    self.assertEqual(counted['by_type'], {'Conv2DBackpropFilter': expected})
    everything = step_profile.count_flops(graph, run_profiler=False)
    self.assertEqual(everything['total'], 3 * expected)

  def test_forward_conv_agrees_with_tensorflow_profiler(self):
    with tf.Graph().as_default() as graph:
      images = tf.zeros([2, 12, 12, 4])
      kernel = tf.zeros([3, 3, 4, 8])
      tf.nn.conv2d(images, kernel, strides=[1, 1, 1, 1], padding='VALID')
    counted = step_profile.count_flops(graph)
    self.assertEqual(counted['total'],
                     _conv_reference_flops(2, 10, 10, 3, 3, 4, 8))
    self.assertEqual(counted['profiler_total'], counted['total'])

  def test_matmul_with_transposes(self):
    with tf.Graph().as_default():
      a = tf.zeros([7, 5])
      b = tf.zeros([3, 7])
      plain = tf.matmul(tf.zeros([5, 7]), tf.zeros([7, 3]))
      transposed = tf.matmul(a, b, transpose_a=True, transpose_b=True)
    self.assertEqual(step_profile.op_flops(plain.op), 2 * 5 * 7 * 3)
    self.assertEqual(step_profile.op_flops(transposed.op), 2 * 5 * 7 * 3)

  def test_unknown_shape_is_reported_not_guessed(self):
    with tf.Graph().as_default() as graph:
      x = _V1.placeholder(tf.float32, [None, 6])
      tf.matmul(x, tf.zeros([6, 2]))
    counted = step_profile.count_flops(graph, run_profiler=False)
    self.assertEqual(counted['total'], 0)
    self.assertLen(counted['unknown_shape_ops'], 1)


class PeakTest(tf.test.TestCase):

  def test_flops_per_cycle(self):
    zen4 = {'avx512f', 'avx2', 'fma'}
    self.assertEqual(step_profile.flops_per_cycle(zen4, 'AuthenticAMD', 25)[0],
                     32)
    self.assertEqual(step_profile.flops_per_cycle(zen4, 'GenuineIntel', 6)[0],
                     64)
    self.assertEqual(step_profile.flops_per_cycle({'avx2', 'fma'})[0], 32)
    self.assertEqual(step_profile.flops_per_cycle({'sse2'})[0], 8)

  def test_peak_is_the_product(self):
    peak = step_profile.peak_flops()
    if peak['mhz'] is None:
      self.skipTest('no clock known on this machine')
    self.assertAllClose(peak['peak_gflops'],
                        peak['cores'] * peak['mhz'] * peak['flops_per_cycle']
                        / 1e3)


class CategorizeTest(tf.test.TestCase):

  def test_names_of_a_lenet5_step(self):
    dense, conv = ('local1_scope',), ('conv1_scope', 'conv2_scope')
    cases = {
        ('gradients/local1_scope/MatMul_grad/MatMul', '_MklMatMul'): 'dense',
        ('local1_scope/activation', '_MklNativeFusedMatMul'): 'dense',
        ('local1_scope_flatten', 'Reshape'): 'dense',
        ('conv1_scope/activation', '_MklNativeFusedConv2D'): 'conv',
        ('gradients/conv2_scope/Conv2D_grad/Conv2DBackpropFilter',
         '_MklNativeConv2DBackpropFilter'): 'conv',
        ('gradients/conv2_scope/BiasAdd_grad/BiasAddGrad',
         'BiasAddGrad'): 'conv',
        ('Adam/update_local1_scope/weights/ResourceApplyAdam',
         'ResourceApplyAdam'): 'optimizer',
        ('Adam/Assign', 'AssignVariableOp'): 'optimizer',
        ('ExponentialMovingAverage/AssignMovingAvg/mul', 'Mul'):
            'moving_average',
        ('avg_pooling1', '_MklNativeAvgPool'): 'pool_lrn',
        ('batch/fifo_queue_DequeueMany', 'QueueDequeueManyV2'): 'input',
        ('softmax_linear/softmax_linear', 'AddV2'): 'other',
    }
    for (name, op_type), expected in cases.items():
      self.assertEqual(step_profile.categorize(name, op_type, dense, conv),
                       expected, name)
    self.assertEqual(step_profile.categorize('synthetic_images/read',
                                             'Identity', dense, conv,
                                             {'synthetic_images/read'}),
                     'input')


class AggregationTest(tf.test.TestCase):

  def test_traced_step_of_a_tiny_lenet5(self):
    data_dir = os.path.join(self.get_temp_dir(), 'striped')
    fixtures.make_striped_dataset(data_dir, per_class=4, size=24)
    config = step_profile.StepProfileConfig(
        data_dir=data_dir, image_size=20, batch_size=4, warmup_steps=1,
        timed_steps=2, trace_steps=2, loss_steps=2,
        work_dir=self.get_temp_dir())
    result = step_profile.profile_pipeline(
        config, 'synthetic', 2, step_profile.VARIANTS['default'])
    profile = result['profile']
    self.assertEqual(profile['steps'], 2)
    self.assertGreater(profile['op_micros'], 0)
    by_category = profile['by_category']
    self.assertEqual(set(by_category), set(step_profile.CATEGORIES))
    self.assertAllClose(sum(r['micros'] for r in by_category.values()),
                        profile['op_micros'])
    self.assertAllClose(sum(r['share'] for r in by_category.values()), 1.0)
    self.assertAllClose(sum(r['micros'] for r in profile['by_type'].values()),
                        profile['op_micros'])
    for category in ('dense', 'conv', 'optimizer', 'moving_average'):
      self.assertGreater(by_category[category]['micros'], 0, category)
    self.assertEqual(profile['dense_scopes'], ['local1_scope'])
    # LeNet-5 at 20x20: conv 5x5 3->6 at 20x20, 6->16 at 10x10, 16->120 at
    # 5x5, then 5*5*120 -> 84 -> 2, batch 4; every conv and matmul runs
    # forward + 2 backward (the optimizer's per-op gating of the gradients
    # makes even the first conv's input gradient run).
    convs = [(20, 3, 6), (10, 6, 16), (5, 16, 120)]
    forward = [_conv_reference_flops(4, s, s, 5, 5, i, o) for s, i, o in convs]
    matmuls = [2 * 4 * 3000 * 84, 2 * 4 * 84 * 2]
    expected = 3 * sum(forward) + 3 * sum(matmuls)
    self.assertEqual(result['flops']['total'], expected)


class ScriptTest(tf.test.TestCase):

  def test_script_runs_on_tiny_settings(self):
    data_dir = os.path.join(self.get_temp_dir(), 'striped')
    fixtures.make_striped_dataset(data_dir, per_class=4, size=24)
    done = subprocess.run(
        [sys.executable, os.path.join(_ROOT, 'scripts', 'profile_step.py'),
         f'--data_dir={data_dir}', '--image_size=20', '--batch_size=4',
         '--warmup_steps=1', '--timed_steps=2', '--trace_steps=1',
         '--loss_steps=2', '--repeats=1',
         '--variants=default,intra_cores_inter1',
         f'--cache_dir={os.path.join(self.get_temp_dir(), "cache")}'],
        capture_output=True, text=True, env=fixtures.subprocess_env(),
        timeout=600, check=False)
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    self.assertEqual(set(result['profile']), {'synthetic', 'cached'})
    cached = result['profile']['cached']['profile']['by_category']
    self.assertGreater(cached['input']['micros'], 0)
    row = result['variants']['intra_cores_inter1']['synthetic']
    self.assertIsNotNone(row['vs_default'])
    self.assertIn('share', lines[0] + ' '.join(lines))

  def test_unknown_variant_is_a_one_line_error(self):
    done = subprocess.run(
        [sys.executable, os.path.join(_ROOT, 'scripts', 'profile_step.py'),
         '--variants=default,warp_speed', '--pipelines=synthetic'],
        capture_output=True, text=True, env=fixtures.subprocess_env(),
        timeout=300, check=False)
    self.assertEqual(done.returncode, 2)
    self.assertIn('--variants', done.stderr.strip().splitlines()[-1])


if __name__ == '__main__':
  tf.test.main()
