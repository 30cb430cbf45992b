"""The start-up settled before TensorFlow loads: kernel library, quiet import."""

import json
import os
import subprocess
import sys
import tempfile

import tensorflow as tf

from tf1cnn import startup

from fixtures import subprocess_env

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ZEN2 = {'fpu', 'sse2', 'sse4_2', 'avx', 'avx2', 'fma', 'bmi2'}
_ZEN4 = _ZEN2 | {'avx512f', 'avx512_vnni', 'avx512_bf16'}
_NOISE = ('All log messages before absl::InitializeLog()',
          'oneDNN custom operations are on',
          'This TensorFlow binary is optimized to use available CPU')


def _never_measure():
  raise AssertionError('the probe ran although it should not have')


class ChooseKernelsTest(tf.test.TestCase):

  def test_avx2_fma_without_avx512_gets_onednn(self):
    choice = startup.choose_kernels(
        environ={}, cpu=('x86_64', 'AMD EPYC 7B12', _ZEN2),
        measure=_never_measure)
    self.assertEqual(choice.library, 'onednn')
    self.assertEqual(choice.env_value(), '1')
    self.assertEqual(choice.source, 'cpu features')
    self.assertIn('AVX2 and FMA', choice.reason)

  def test_cpu_where_tensorflow_turns_onednn_on_itself(self):
    choice = startup.choose_kernels(
        environ={}, cpu=('x86_64', 'AMD EPYC 9B14', _ZEN4),
        measure=_never_measure)
    self.assertEqual(choice.library, 'onednn')
    self.assertIn('avx512_vnni', choice.reason)

  def test_user_environment_wins(self):
    for value, library in (('0', 'eigen'), ('1', 'onednn'),
                           ('false', 'eigen')):
      choice = startup.choose_kernels(
          environ={'TF_ENABLE_ONEDNN_OPTS': value},
          cpu=('x86_64', 'x', _ZEN2), measure=_never_measure)
      self.assertEqual((choice.library, choice.source),
                       (library, 'environment'), value)

  def test_choice_inherited_from_a_parent_process(self):
    parent = startup.KernelChoice('onednn', 'probe', '100 vs 50')
    choice = startup.choose_kernels(
        environ={'TF_ENABLE_ONEDNN_OPTS': '1',
                 'TF1CNN_KERNELS': parent.encode()},
        cpu=('aarch64', 'x', set()), measure=_never_measure)
    self.assertEqual(choice.to_record(), parent.to_record())
    # A parent's record that the user's value contradicts is not used.
    choice = startup.choose_kernels(
        environ={'TF_ENABLE_ONEDNN_OPTS': '0',
                 'TF1CNN_KERNELS': parent.encode()},
        cpu=('aarch64', 'x', set()), measure=_never_measure)
    self.assertEqual((choice.library, choice.source), ('eigen', 'environment'))

  def test_inconclusive_features_are_probed_once_then_cached(self):
    calls = []

    def eigen_faster():
      calls.append(1)
      return {'onednn': 40.0, 'eigen': 60.0}

    with tempfile.TemporaryDirectory() as tmp:
      cache = os.path.join(tmp, 'kernels.json')
      for cpu in (('aarch64', 'Neoverse-N1', {'asimd', 'fp'}),
                  ('x86_64', 'old', {'sse2', 'sse4_2'})):
        choice = startup.choose_kernels(environ={}, cpu=cpu,
                                        measure=eigen_faster,
                                        cache_path=cache)
        self.assertEqual((choice.library, choice.source), ('eigen', 'probe'))
        again = startup.choose_kernels(environ={}, cpu=cpu,
                                       measure=_never_measure,
                                       cache_path=cache)
        self.assertEqual((again.library, again.source),
                         ('eigen', 'probe (cached)'))
      self.assertLen(calls, 2)
      with open(cache, encoding='utf-8') as f:
        entries = json.load(f)
      self.assertLen(entries, 2)
      self.assertEqual(
          [e['rates'] for e in entries.values()],
          [{'onednn': 40.0, 'eigen': 60.0}] * 2)

  def test_probe_margins_and_failures(self):
    cpu = ('aarch64', 'x', {'asimd'})
    with tempfile.TemporaryDirectory() as tmp:
      cases = [({'onednn': 100.0, 'eigen': 50.0}, 'onednn'),
               ({'onednn': 100.0, 'eigen': 97.0}, 'default'),
               ({'onednn': None, 'eigen': 50.0}, 'eigen'),
               ({'onednn': None, 'eigen': None}, 'default')]
      for i, (rates, library) in enumerate(cases):
        cache = os.path.join(tmp, f'k{i}.json')
        choice = startup.choose_kernels(environ={}, cpu=cpu,
                                        measure=lambda r=rates: r,
                                        cache_path=cache)
        self.assertEqual(choice.library, library, rates)
      # Both runs failing is not cached: the next start probes again.
      self.assertFalse(os.path.exists(os.path.join(tmp, 'k3.json')))

  def test_cpu_info_reads_proc_cpuinfo(self):
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, 'cpuinfo')
      with open(path, 'w', encoding='utf-8') as f:
        f.write('processor\t: 0\nmodel name\t: AMD EPYC 7B12\n'
                'flags\t\t: fpu avx2 fma\n\nprocessor\t: 1\n'
                'model name\t: other\nflags\t\t: fpu\n')
      _, model, features = startup.cpu_info(path)
    self.assertEqual(model, 'AMD EPYC 7B12')
    self.assertEqual(features, {'fpu', 'avx2', 'fma'})


class QuietImportTest(tf.test.TestCase):

  _LOG = (
      'WARNING: All log messages before absl::InitializeLog() is called are '
      'written to STDERR\n'
      'I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You '
      'may see slightly different numerical results\n'
      'I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers on '
      'your machine, GPU will not be used.\n'
      'E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: '
      'INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n'
      'E0000 00:00:1.0 1 some_op.cc:9] a real error\n'
      'I0000 00:00:1.0 1 cpu_feature_guard.cc:227] This TensorFlow binary is '
      'optimized to use available CPU instructions in performance-critical '
      'operations.\n'
      'To enable the following instructions: AVX2 FMA, in other operations, '
      'rebuild TensorFlow with the appropriate compiler flags.\n')

  def test_notices_dropped_real_lines_kept(self):
    kept = startup.filter_noise(self._LOG, gpu_machine=False)
    self.assertEqual(kept, 'E0000 00:00:1.0 1 some_op.cc:9] a real error\n')

  def test_cuda_lines_kept_on_a_gpu_machine(self):
    kept = startup.filter_noise(self._LOG, gpu_machine=True)
    self.assertIn('Could not find cuda drivers', kept)
    self.assertIn('failed call to cuInit', kept)
    self.assertIn('a real error', kept)
    self.assertNotIn('oneDNN custom operations', kept)

  def test_programs_start_without_notices(self):
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL='0')
    for kernels in ('0', '1'):
      env['TF_ENABLE_ONEDNN_OPTS'] = kernels
      done = subprocess.run(
          [sys.executable, os.path.join(_ROOT, 'scripts', 'train.py'),
           '--help'], env=env, capture_output=True, text=True, timeout=120,
          check=False)
      self.assertEqual(done.returncode, 0, done.stderr[-2000:])
      for notice in _NOISE:
        self.assertNotIn(notice, done.stderr)
      if not startup.has_nvidia_device():
        self.assertNotIn('cuda drivers', done.stderr)
        self.assertNotIn('cuInit', done.stderr)

  def test_probe_child_runs_under_each_library(self):
    rates = startup.measure_kernels(
        steps=2, warmup_steps=1, batch_size=2, image_size=16,
        timeout_secs=120, libraries=('default', 'onednn', 'eigen'))
    self.assertEqual(set(rates), {'default', 'onednn', 'eigen'})
    for library, rate in rates.items():
      self.assertIsNotNone(rate, library)
      self.assertGreater(rate, 0.0, library)


if __name__ == '__main__':
  tf.test.main()
