"""Tests of the fast input paths: reduced-scale decode, cache, tf.data, staging.

Every pipeline must yield the same images and labels, in the same order, as
the plain queue pipeline (`image_folder.build_input`) in evaluation mode; the
cache must never be used when it is stale, truncated, corrupt or of another
image size, and an interrupted build must resume; the precision flag must set
the right graph rewrite and refuse what the machine cannot do.
"""

import os
import tempfile
import threading
import time
from unittest import mock

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow.core.protobuf import rewriter_config_pb2

from tf1cnn import evaluation
from tf1cnn import config as config_lib
from tf1cnn import precision
from tf1cnn import runtime
from tf1cnn import training
from tf1cnn.inputs import cache
from tf1cnn.inputs import device
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import preprocess
from tf1cnn.inputs import tfdata

from fixtures import run_batches

runtime.use_graph_mode()
_V1 = tf.compat.v1

SIZE = 24
# (width, height) of the generated photos: small ones decode at ratio 1, the
# large one at ratio 4 for SIZE=24 (ceil(160 / 8) = 20 < 24 <= 40).
PHOTO_SIZES = ((40, 30), (37, 52), (200, 160))


def smooth_image(rng, width, height):
  """A smooth random RGB image (JPEG-friendly, so decoders agree closely)."""
  coarse = rng.randint(0, 256, (height // 8 + 2, width // 8 + 2, 3), np.uint8)
  image = Image.fromarray(coarse).resize((width, height), Image.BILINEAR)
  return image


def make_photo_folder(root, per_class=4, seed=0):
  """`root/test/{cat,dog}/`: JPEGs of several sizes and one PNG per class."""
  rng = np.random.RandomState(seed)
  for name in ('cat', 'dog'):
    folder = os.path.join(root, 'test', name)
    os.makedirs(folder, exist_ok=True)
    for i in range(per_class):
      width, height = PHOTO_SIZES[i % len(PHOTO_SIZES)]
      smooth_image(rng, width, height).save(
          os.path.join(folder, f'{i:02d}.jpg'), quality=90)
    smooth_image(rng, 30, 30).save(os.path.join(folder, 'png.png'))
  return root


def eval_pipeline(module, root, decode=None, **options):
  if decode is not None:
    options['preprocessing'] = preprocess.Preprocessing(decode=decode)
  with tf.Graph().as_default():
    batch = module.build_input('image_folder', root, 'test', batch_size=3,
                               is_training=False, image_size=SIZE,
                               num_epochs=1, **options)
    return run_batches(batch)


def reduced_reference(path):
  """The reduced-scale decode computed outside the pipeline: pick the ratio
  from Pillow's size, `decode_jpeg(ratio)`, resize, standardise."""
  with Image.open(path) as image:
    width, height = image.size
    is_jpeg = image.format == 'JPEG'
  ratio = (preprocess.RATIOS[preprocess.pick_ratio(height, width, SIZE)]
           if is_jpeg else 1)
  with tf.Graph().as_default(), _V1.Session() as sess:
    contents = tf.io.read_file(path)
    decoded = (tf.io.decode_jpeg(contents, channels=3, ratio=ratio) if is_jpeg
               else preprocess.decode_image(contents))
    return sess.run(tf.image.per_image_standardization(
        tf.image.resize(decoded, [SIZE, SIZE])))


class SamePixelsTest(tf.test.TestCase):
  """Every pipeline against the plain queue pipeline, in evaluation mode."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = make_photo_folder(tempfile.mkdtemp())
    cls.cache_dir = tempfile.mkdtemp()
    cls.files, cls.labels, _ = image_folder.scan_split(cls.root, 'test')
    cls.plain = eval_pipeline(image_folder, cls.root)
    cls.reduced = np.stack([reduced_reference(f) for f in cls.files])

  def test_plain_is_in_file_order(self):
    self.assertEqual(list(self.plain[1]), self.labels)

  def test_pick_ratio(self):
    ratio = lambda *args: preprocess.RATIOS[preprocess.pick_ratio(*args)]
    self.assertEqual(ratio(2000, 1500, 150), 8)
    self.assertEqual(ratio(450, 370, 150), 2)
    self.assertEqual(ratio(297, 1000, 150), 1)
    self.assertEqual(ratio(299, 1000, 150), 2)
    self.assertEqual(ratio(160, 200, 24), 4)
    with tf.Graph().as_default(), _V1.Session() as sess:
      index = preprocess.pick_ratio(tf.constant(2000), tf.constant(1500), 150)
      self.assertEqual(sess.run(index), 3)

  def test_full_decode_queue_and_tfdata_match_exactly(self):
    for module in (image_folder, tfdata):
      images, labels = eval_pipeline(module, self.root, decode='full')
      self.assertEqual(list(labels), self.labels, module.__name__)
      self.assertAllClose(images, self.plain[0], atol=1e-5,
                          msg=module.__name__)

  def test_reduced_decode_queue_and_tfdata(self):
    for module in (image_folder, tfdata):
      images, labels = eval_pipeline(module, self.root, decode='reduced')
      self.assertEqual(list(labels), self.labels)
      # Same ratio and resize as the reference: identical pixels.
      self.assertAllClose(images, self.reduced, atol=1e-5, msg=module.__name__)
    # Small sources decode at ratio 1: identical to the plain pipeline. The
    # 200x160 photos decode at 1/4 scale (DCT down-scaling, no aliasing), so
    # they differ from "full decode, bilinear resize" by resampling only.
    for i, path in enumerate(self.files):
      with Image.open(path) as image:
        large = image.size == PHOTO_SIZES[2]
      if large:
        diff = np.abs(images[i] - self.plain[0][i])
        self.assertLess(diff.mean(), 0.15, path)
      else:
        self.assertAllClose(images[i], self.plain[0][i], atol=1e-5, msg=path)

  def test_cached_matches(self):
    for decode, want in (('full', self.plain[0]), ('reduced', self.reduced)):
      cache_dir = os.path.join(self.cache_dir, decode)
      for _ in range(2):  # built, then read from the existing cache
        images, labels = eval_pipeline(cache, self.root, decode=decode,
                                       cache_dir=cache_dir)
        self.assertEqual(list(labels), self.labels)
        # The cache stores the resized image rounded to uint8: at most 0.5
        # grey levels off, which standardisation divides by the image's
        # standard deviation (> 25 grey levels for these images).
        self.assertAllClose(images, want, atol=0.5 / 25, msg=decode)

  def test_training_batches_have_static_shapes_and_valid_labels(self):
    for module, options in ((cache, dict(cache_dir=self.cache_dir)),
                            (tfdata, {}), (image_folder, {})):
      with tf.Graph().as_default():
        batch = module.build_input('image_folder', self.root, 'test',
                                   batch_size=4, is_training=True,
                                   image_size=SIZE, seed=1, num_threads=2,
                                   **options)
        self.assertEqual(batch.images.shape.as_list(), [4, SIZE, SIZE, 3])
        with _V1.train.MonitoredSession() as sess:
          for _ in range(3):
            images, labels = sess.run([batch.images, batch.labels])
            self.assertTrue(set(labels) <= {0, 1})
            self.assertTrue(np.all(np.isfinite(images)))


class CacheTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = make_photo_folder(tempfile.mkdtemp(dir=self.get_temp_dir()),
                                  per_class=5, seed=3)
    self.cache_dir = tempfile.mkdtemp(dir=self.get_temp_dir())

  def _ensure(self, size=SIZE, **options):
    with mock.patch.object(cache, 'build_cache',
                           wraps=cache.build_cache) as build:
      directory, manifest = cache.ensure_cache(
          self.root, 'test', size, cache_dir=self.cache_dir, shard_size=4,
          **options)
    return directory, manifest, build.call_count

  def _shard(self, directory, index=0):
    return os.path.join(directory, f'shard-{index:05d}.bin')

  def test_built_once_then_reused(self):
    directory, manifest, builds = self._ensure()
    self.assertEqual(builds, 1)
    self.assertEqual(manifest['num_examples'], 12)
    self.assertEqual(manifest['num_shards'], 3)
    _, _, builds = self._ensure()
    self.assertEqual(builds, 0)
    images, labels = cache.read_shard(self._shard(directory, 2))
    self.assertEqual(images.shape, (4, SIZE, SIZE, 3))
    self.assertEqual(list(labels), [1, 1, 1, 1])

  def test_concurrent_users_build_once(self):
    # Two workers asking for the same cache at once: one builds, the other
    # waits on the folder's lock and then uses the finished cache.
    real_build = cache.build_cache
    started = threading.Event()

    def slow_build(*args, **kwargs):
      started.set()
      time.sleep(1.0)  # The other caller arrives while this one builds.
      return real_build(*args, **kwargs)

    results = []

    def worker():
      results.append(cache.ensure_cache(self.root, 'test', SIZE,
                                        cache_dir=self.cache_dir,
                                        shard_size=4))

    with mock.patch.object(cache, 'build_cache',
                           side_effect=slow_build) as build:
      first = threading.Thread(target=worker)
      first.start()
      self.assertTrue(started.wait(30))
      second = threading.Thread(target=worker)
      second.start()
      first.join(60)
      second.join(60)
    self.assertEqual(build.call_count, 1)
    self.assertEqual(len(results), 2)
    self.assertEqual(results[0], results[1])
    self.assertTrue(results[1][1]['complete'])

  def test_training_cache_is_permuted_and_order_is_part_of_the_plan(self):
    directory, _, builds = self._ensure(order='shuffled')
    self.assertEqual(builds, 1)
    labels = np.concatenate([cache.read_shard(self._shard(directory, i))[1]
                             for i in range(3)])
    scanned = image_folder.scan_split(self.root, 'test')[1]
    self.assertEqual(sorted(labels), scanned)  # same examples...
    self.assertNotEqual(list(labels), scanned)  # ...in another order
    _, _, builds = self._ensure(order='shuffled')
    self.assertEqual(builds, 0)
    directory, _, builds = self._ensure(order='scan')
    self.assertEqual(builds, 1)
    labels = np.concatenate([cache.read_shard(self._shard(directory, i))[1]
                             for i in range(3)])
    self.assertEqual(list(labels), scanned)

  def test_touched_or_modified_source_rebuilds(self):
    self._ensure()
    source = image_folder.scan_split(self.root, 'test')[0][0]
    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _, _, builds = self._ensure()
    self.assertEqual(builds, 1)
    directory, _, _ = self._ensure()
    before, _ = cache.read_shard(self._shard(directory))
    before = np.array(before[0])
    Image.new('RGB', (40, 30), (255, 0, 0)).save(source, quality=95)
    directory, _, builds = self._ensure()
    self.assertEqual(builds, 1)
    after, _ = cache.read_shard(self._shard(directory))
    self.assertFalse(np.array_equal(before, after[0]))
    self.assertGreater(after[0][..., 0].mean(), 200)  # the new red image

  def test_other_size_rebuilds(self):
    self._ensure(size=SIZE)
    directory, manifest, builds = self._ensure(size=SIZE + 8)
    self.assertEqual(builds, 1)
    self.assertEqual(manifest['image_size'], SIZE + 8)
    images, _ = cache.read_shard(self._shard(directory))
    self.assertEqual(images.shape[1:], (SIZE + 8, SIZE + 8, 3))

  def test_truncated_or_corrupt_shard_is_never_used(self):
    directory, _, _ = self._ensure()
    shard = self._shard(directory, 1)
    size = os.path.getsize(shard)
    with open(shard, 'r+b') as f:
      f.truncate(size - 100)
    with self.assertRaisesRegex(cache.CacheError, 'truncated'):
      cache.check_cache(directory, cache._expected_manifest(
          *image_folder.scan_split(self.root, 'test'), SIZE, 3, 'reduced',
          'fail', 4))
    _, _, builds = self._ensure()
    self.assertEqual(builds, 1)
    self.assertEqual(os.path.getsize(shard), size)
    with open(shard, 'r+b') as f:  # same size, one byte flipped
      f.seek(size // 2)
      byte = f.read(1)
      f.seek(size // 2)
      f.write(bytes([byte[0] ^ 0xFF]))
    _, _, builds = self._ensure()
    self.assertEqual(builds, 1)
    _, _, builds = self._ensure()
    self.assertEqual(builds, 0)

  def test_random_crops_and_flips_are_exact_crops(self):
    rng = np.random.RandomState(4)
    images = rng.randint(0, 256, (16, 9, 9, 3)).astype(np.uint8)
    with tf.Graph().as_default(), _V1.Session() as sess:
      crops = sess.run(preprocess.random_crops_and_flips(tf.constant(images), 6,
                                                    seed=3))
    self.assertEqual(crops.dtype, np.uint8)
    crops = crops.astype(np.int32)
    images = images.astype(np.int32)
    seen = set()
    for image, crop in zip(images, crops):
      matches = [(y, x, flip) for y in range(4) for x in range(4)
                 for flip in (False, True)
                 if np.abs((image[y:y + 6, x:x + 6, :][:, ::-1] if flip
                            else image[y:y + 6, x:x + 6, :]) - crop).max()
                 == 0]
      self.assertLen(matches, 1)
      seen.add(matches[0])
    self.assertGreater(len(seen), 4)  # independent per image
    self.assertEqual({m[2] for m in seen}, {False, True})

  def test_interrupted_build_resumes(self):
    calls = []
    real_write = cache._write_shard

    def flaky_write(*args, **kwargs):
      calls.append(args[1])
      if len(calls) == 2:
        raise KeyboardInterrupt
      return real_write(*args, **kwargs)

    with mock.patch.object(cache, '_write_shard', side_effect=flaky_write):
      with self.assertRaises(KeyboardInterrupt):
        self._ensure()
    self.assertEqual(calls, ['shard-00000.bin', 'shard-00001.bin'])
    calls.clear()
    with mock.patch.object(cache, '_write_shard', side_effect=real_write) as w:
      directory, manifest, builds = self._ensure()
    self.assertEqual(builds, 1)
    self.assertEqual([c.args[1] for c in w.call_args_list],
                     ['shard-00001.bin', 'shard-00002.bin'])
    self.assertTrue(manifest['complete'])
    # Same bytes as a build from scratch.
    fresh_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    fresh, _ = cache.ensure_cache(self.root, 'test', SIZE, cache_dir=fresh_dir,
                                  shard_size=4)
    for index in range(3):
      with open(self._shard(directory, index), 'rb') as a, open(
          self._shard(fresh, index), 'rb') as b:
        self.assertEqual(a.read(), b.read())


class PrecisionTest(tf.test.TestCase):

  def _cpuinfo(self, flags):
    path = os.path.join(self.get_temp_dir(), 'cpuinfo')
    with open(path, 'w') as f:
      f.write(f'processor\t: 0\nflags\t\t: fpu sse2 {flags}\n')
    return path

  def test_bf16_sets_the_onednn_rewrite(self):
    config = precision.apply_to_config(runtime.session_config(), 'bf16')
    rewrite = config.graph_options.rewrite_options
    on = rewriter_config_pb2.RewriterConfig.ON
    self.assertEqual(rewrite.auto_mixed_precision_onednn_bfloat16, on)
    self.assertNotEqual(rewrite.auto_mixed_precision, on)
    config = precision.apply_to_config(runtime.session_config(), 'fp16')
    self.assertEqual(config.graph_options.rewrite_options.auto_mixed_precision,
                     on)
    config = precision.apply_to_config(runtime.session_config(), 'fp32')
    self.assertNotEqual(
        config.graph_options.rewrite_options
        .auto_mixed_precision_onednn_bfloat16, on)

  def test_unsupported_precision_raises_unless_fallback(self):
    no_bf16 = self._cpuinfo('avx2 avx512f')
    with self.assertRaisesRegex(runtime.UserInputError,
                                r'--precision=bf16 is not supported.*'
                                r'--precision_fallback'):
      precision.resolve('bf16', cpuinfo=no_bf16)
    self.assertEqual(precision.resolve('bf16', fallback=True, cpuinfo=no_bf16),
                     'fp32')
    if precision.onednn_enabled():
      self.assertEqual(
          precision.resolve('bf16', cpuinfo=self._cpuinfo('avx512_bf16')),
          'bf16')
    if not precision.gpu_available():
      with self.assertRaisesRegex(runtime.UserInputError, 'no GPU'):
        precision.resolve('fp16')
      self.assertEqual(precision.resolve('fp16', fallback=True), 'fp32')
    with self.assertRaisesRegex(runtime.UserInputError, '--precision'):
      precision.resolve('int8')

  def test_fp16_wraps_the_optimizer_with_loss_scaling(self):
    with tf.Graph().as_default():
      plain = _V1.train.GradientDescentOptimizer(0.1)
      self.assertIs(precision.wrap_optimizer(plain, 'bf16'), plain)
      wrapped = precision.wrap_optimizer(plain, 'fp16')
      self.assertIsNot(wrapped, plain)
      weight = _V1.get_variable('w', initializer=tf.constant([1.0, 2.0]))
      train_op = wrapped.minimize(tf.reduce_sum(weight * weight))
      with _V1.Session() as sess:
        sess.run(_V1.global_variables_initializer())
        sess.run(train_op)
        self.assertAllClose(sess.run(weight), [0.8, 1.6])


class StagingTest(tf.test.TestCase):

  def test_staged_batches_arrive_in_order(self):
    with tf.Graph().as_default():
      index = _V1.train.range_input_producer(100, shuffle=False).dequeue()
      images = tf.fill([2, 3], tf.cast(index, tf.float32))
      labels = tf.fill([2], index)
      batch = image_folder.pipeline.InputBatch(images, labels, 100, ['a'])
      staged, hook = device.stage_to_device(batch, '/cpu:0')
      self.assertEqual(staged.images.shape.as_list(), [2, 3])
      config = _V1.ConfigProto(operation_timeout_in_ms=20000)
      # The hook primes the area with batch 0 and refills it every step.
      with _V1.train.SingularMonitoredSession(hooks=[hook],
                                              config=config) as sess:
        got = [sess.run(staged.labels)[0] for _ in range(4)]
      self.assertEqual(got, [0, 1, 2, 3])


class InputWaitHookTest(tf.test.TestCase):
  """The hook reads the batch queues' fill and warns when input is short."""

  def _checks(self, queue_fn, fill, batch_size=4, steps=8):
    """Runs `steps` steps with the queue holding `fill` elements.

    Returns:
      `(hook, summary names)`.
    """
    with tf.Graph().as_default():
      with tf.name_scope('images/batch'):
        queue = queue_fn()
      # Not a batching queue: neither watched nor summarised.
      tf.queue.FIFOQueue(8, [tf.float32], shapes=[[]], name='filenames')
      enqueue = queue.enqueue_many([tf.zeros([fill])])
      step = tf.no_op()  # A training step that never dequeues.
      hook = device.InputWaitHook(batch_size, every_n_steps=2, window=2)
      with _V1.train.SingularMonitoredSession(hooks=[hook]) as sess:
        sess.raw_session().run(enqueue)
        for _ in range(steps):
          sess.run(step)
      summaries = [op.name for op in tf.compat.v1.get_default_graph()
                   .get_operations() if op.type == 'ScalarSummary']
    return hook, summaries

  def _fifo(self):
    return tf.queue.FIFOQueue(32, [tf.float32], shapes=[[]])

  def _shuffle(self):
    return tf.queue.RandomShuffleQueue(32, 10, [tf.float32], shapes=[[]])

  def test_empty_batch_queue_warns(self):
    with self.assertLogs('absl', 'WARNING') as logs:
      hook, summaries = self._checks(self._fifo, fill=3)
    self.assertEqual((hook.checks, hook.short), (4, 4))
    self.assertEqual(hook.waiting_fraction(), 1.0)
    self.assertEqual(len(logs.records), 2)  # once per window of 2 checks
    self.assertIn('the model waits on its input: images/batch/fifo_queue',
                  logs.output[0])
    self.assertEqual(summaries,
                     ['queue/images_batch_fifo_queue/fraction_of_32_full'])

  def test_full_batch_queue_is_quiet(self):
    with self.assertNoLogs('absl', 'WARNING'):
      hook, _ = self._checks(self._fifo, fill=4)
    self.assertEqual((hook.checks, hook.short), (4, 0))

  def test_shuffle_queue_counts_only_above_its_floor(self):
    # min_after_dequeue=10 stays in the queue: 13 is less than a batch above.
    hook, _ = self._checks(self._shuffle, fill=13)
    self.assertEqual(hook.waiting_fraction(), 1.0)
    hook, _ = self._checks(self._shuffle, fill=14)
    self.assertEqual(hook.waiting_fraction(), 0.0)


class TrainEvalPipelinesTest(tf.test.TestCase):

  def test_train_and_evaluate_with_each_pipeline(self):
    root = make_photo_folder(tempfile.mkdtemp(dir=self.get_temp_dir()))
    os.rename(os.path.join(root, 'test'), os.path.join(root, 'train'))
    make_photo_folder(root, seed=5)
    for pipeline_name in ('cached', 'tfdata'):
      train_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
      common = dict(model='lenet5', dataset='image_folder', data_dir=root,
                    train_dir=train_dir, image_size=32,
                    pipeline=pipeline_name,
                    cache_dir=os.path.join(train_dir, 'cache'))
      config = config_lib.training_config(
          batch_size=4, max_steps=6, seed=1, log_every_n_steps=2,
          save_checkpoint_steps=6, input_threads=2, **common)
      result = training.train(config)
      self.assertEqual(result.global_step, 6)
      metrics = evaluation.evaluate(config_lib.eval_config(
          eval_batch_size=3, **common))
      self.assertEqual(metrics['num_examples'], 10)


if __name__ == '__main__':
  tf.test.main()
