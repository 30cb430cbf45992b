"""Reduced-scale JPEG decoding and a queue pipeline that uses it.

A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size directly in the DCT
domain (`tf.io.decode_jpeg(..., ratio=r)`), which skips most of the inverse
DCT and colour conversion work. When the source is much larger than the
training size (a 2000-pixel photo for a 150x150 network) that is several times
cheaper than decoding at full size and resizing.

`decode_reduced(contents, image_size)` reads the header size in the graph
(`tf.image.extract_jpeg_shape`, no decoding), picks the largest ratio in
{1, 2, 4, 8} that keeps both sides at least `image_size`, and decodes with it.
`ratio` is a static attribute of `DecodeJpeg`, so the four decoders are built
once and `tf.switch_case` runs one of them. PNG, BMP and GIF bytes fall back
to `image_folder.decode_image`. The result is then resized as usual.

Reduced-scale decoding is a box-like down-sampling inside libjpeg, so the
pixels differ slightly from "full decode, then bilinear resize" (they alias
less); at ratio 1 (small sources) the result is identical.

`preprocess` applies the plain pipeline's steps after decoding (resize, or
for training the random crop and flip of `image_folder.augment_photo`, whose
source is decoded at the crop source size). `build_input` is the image-folder
queue pipeline of `image_folder.build_input` with the decoder as a choice
(`decode='reduced'` or `'full'`).
"""

import functools

import tensorflow as tf
from absl import logging

from tf1cnn import runtime
from tf1cnn.inputs import image_folder
from tf1cnn.inputs import pipeline

_V1 = tf.compat.v1

RATIOS = (1, 2, 4, 8)
DECODE_MODES = ('reduced', 'full')


def pick_ratio(height, width, image_size):
  """Largest ratio in RATIOS whose decoded size keeps both sides >= image_size.

  libjpeg decodes at ratio r to `ceil(side / r)` pixels.

  Args:
    height: int or int tensor, source height.
    width: int or int tensor, source width.
    image_size: target side (Python int).

  Returns:
    The ratio index into RATIOS (an int32 tensor when inputs are tensors, else
    an int).
  """
  if isinstance(height, int) and isinstance(width, int):
    index = 0
    for i, ratio in enumerate(RATIOS):
      if min(-(-height // ratio), -(-width // ratio)) >= image_size:
        index = i
    return index
  smaller = tf.minimum(tf.cast(height, tf.int32), tf.cast(width, tf.int32))
  index = tf.constant(0, tf.int32)
  for i, ratio in enumerate(RATIOS[1:], start=1):
    fits = (smaller + ratio - 1) // ratio >= image_size
    index = tf.where(fits, tf.constant(i, tf.int32), index)
  return index


def decode_jpeg_at_ratio(contents, ratio, channels=3):
  """`decode_jpeg` at a fixed static `ratio`, uint8 `[H, W, channels]`."""
  image = tf.io.decode_jpeg(contents, channels=channels, ratio=ratio)
  image.set_shape([None, None, channels])
  return image


def decode_reduced(contents, image_size, channels=3):
  """Decodes image bytes at the smallest scale that still covers image_size.

  Args:
    contents: scalar string tensor with the file bytes.
    image_size: the square size the image is resized to afterwards.
    channels: output channels (3).

  Returns:
    uint8 `[H, W, channels]`; JPEGs are decoded at ratio 1, 2, 4 or 8, other
    formats at full size.
  """
  runtime.require_graph_mode('jpeg.decode_reduced')
  image_size = int(image_size)

  def _jpeg():
    shape = tf.image.extract_jpeg_shape(contents)
    index = pick_ratio(shape[0], shape[1], image_size)
    branches = [
        (lambda r=ratio: decode_jpeg_at_ratio(contents, r, channels))
        for ratio in RATIOS]
    return tf.switch_case(index, branches)

  def _other():
    return image_folder.decode_image(contents, channels)

  image = tf.cond(tf.io.is_jpeg(contents), _jpeg, _other)
  image.set_shape([None, None, channels])
  return image


def decode_and_resize(contents, image_size, decode='reduced', channels=3):
  """Decodes (reduced or full scale) and resizes to a float32 square image."""
  if decode not in DECODE_MODES:
    raise runtime.UserInputError(
        f'--jpeg_decode={decode!r}: use {" or ".join(DECODE_MODES)}')
  if decode == 'reduced':
    image = decode_reduced(contents, image_size, channels)
  else:
    image = image_folder.decode_image(contents, channels)
  return image_folder.resize(image, image_size)


def crop_source_size(image_size):
  """Side a training image is resized to before `augment_photo` crops it."""
  return int(round(image_size * image_folder.CROP_MARGIN))


def preprocess(contents, image_size, is_training=False, augment=True,
               seed=None, decode='reduced'):
  """File bytes -> float32 `[S, S, 3]` in 0-255, as the plain pipeline does.

  `decode='full'` is `image_folder.preprocess_file`; 'reduced' decodes large
  JPEGs at reduced scale first (for the crop source size when training with
  `augment`, then `image_folder.augment_photo`). `per_image_standardization`
  is left to the caller.
  """
  if decode == 'full':
    return image_folder.preprocess_file(contents, image_size, is_training,
                                        augment, seed)
  if decode != 'reduced':
    raise runtime.UserInputError(
        f'--jpeg_decode={decode!r}: use {" or ".join(DECODE_MODES)}')
  if is_training and augment:
    image = decode_reduced(contents, crop_source_size(image_size))
    return image_folder.augment_photo(image, image_size, seed=seed)
  return decode_and_resize(contents, image_size, decode)


def build_input(name, data_dir, split, batch_size, is_training,
                image_size=150, num_epochs=None, augment=True, seed=None,
                class_names=None, bad_images='fail', num_threads=None,
                decode='reduced', **unused_options):
  """The image-folder queue pipeline with a choice of JPEG decoder.

  Arguments as `image_folder.build_input`, plus:
    decode: 'reduced' (DCT-domain down-scaling, see `decode_reduced`) or
      'full' (decode at full size, then resize: the plain pipeline).

  Returns:
    pipeline.InputBatch.
  """
  del unused_options
  logging.info('%s/%s: %s JPEG decode', data_dir, split, decode)
  return image_folder.build_input(
      name, data_dir, split, batch_size, is_training, image_size=image_size,
      num_epochs=num_epochs, augment=augment, seed=seed,
      class_names=class_names, bad_images=bad_images, num_threads=num_threads,
      preprocess_fn=functools.partial(preprocess, decode=decode))
