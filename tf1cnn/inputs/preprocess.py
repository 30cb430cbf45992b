"""Image preprocessing: one module for every pipeline, evaluation and export.

A photo goes through three stages, the same in the queue, cached and tf.data
pipelines and inside an exported SavedModel:

1. **decode** (`decode`): `full` (`tf.io.decode_image`: JPEG, PNG, BMP, GIF)
   or `reduced`: a JPEG much larger than needed is decoded at 1/2, 1/4 or
   1/8 scale in the DCT domain (`tf.io.decode_jpeg(ratio=r)`, the largest
   ratio that keeps both sides at least the size needed; the header is read
   in the graph with `extract_jpeg_shape`, and `tf.switch_case` runs one of
   the four decoders). Other formats are decoded at full size.
2. **geometry** of a named recipe (`Recipe.eval_pixels` / `train_pixels`):
   the float32 0-255 square the network sees. Training adds the random
   crop and flip; `train_source_size` is the side a training image is
   brought to before the crop, which is also what the decoded cache stores
   (its per-step crops are the exact batched `random_crops_and_flips`).
3. **normalisation** (`Recipe.normalize`), per image.

The recipes (`--preprocessing`, recorded in `run_config.json` with the
decode mode and the augmentation as one `Preprocessing`, so evaluation,
export and prediction see the pixels training saw; array datasets may train
with a policy of `augment.py` instead of the recipe's training column):

| name | eval geometry | training | normalisation |
|---|---|---|---|
| `standardize` (default of tf1cnn's nets) | bilinear resize | resize to 1.15x, random crop, flip | `per_image_standardization` |
| `crop_or_pad` (the classic cat/dog tutorial) | `resize_image_with_crop_or_pad` | the same, flip | `per_image_standardization` |
| `central_crop` | central 87.5%, resize | resize to 1.15x, random crop, flip | `per_image_standardization` |
| `cifar10_tutorial` (TensorFlow's CIFAR-10 tutorial; `--image_size=24`) | central crop (`resize_image_with_crop_or_pad`) | random crop, flip, random brightness (63) and contrast (0.2-1.8) | `per_image_standardization` |
| `vgg` (TF-Slim's VGG/ResNet-v1) | aspect-preserving resize to 256/224 x size, central crop | aspect resize to a random side in [size*256/224, size*512/224], random crop, flip | subtract the ImageNet RGB means (123.68, 116.78, 103.94) |
| `inception` (TF-Slim's Inception/ResNet-v2/MobileNet) | central 87.5%, bilinear resize | resize to 1.15x, random crop, flip | scale to [-1, 1] |
"""

import dataclasses
from typing import Callable, Optional

import tensorflow as tf

from tf1cnn import runtime

DECODE_MODES = ('reduced', 'full')
RATIOS = (1, 2, 4, 8)
# Training crops are taken from the image resized this much larger.
CROP_MARGIN = 1.15
_VGG_MEANS = (123.68, 116.78, 103.94)
_VGG_RESIZE_SIDE = 256.0 / 224.0
_VGG_RESIZE_SIDE_MAX = 512.0 / 224.0
_CENTRAL_FRACTION = 0.875


# --- decoding -------------------------------------------------------------


def decode_image(contents, channels=3):
  """Decodes JPEG/PNG/BMP/GIF bytes to a uint8 `[H, W, channels]` tensor."""
  image = tf.io.decode_image(contents, channels=channels,
                             expand_animations=False, dtype=tf.uint8)
  image.set_shape([None, None, channels])
  return image


def pick_ratio(height, width, image_size):
  """Index into RATIOS of the largest ratio keeping both sides >= image_size.

  libjpeg decodes at ratio r to `ceil(side / r)` pixels.

  Args:
    height: int or int tensor, source height.
    width: int or int tensor, source width.
    image_size: target side (Python int).

  Returns:
    An int32 tensor when the inputs are tensors, else an int.
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


def decode_reduced(contents, min_size, channels=3):
  """Decodes at the smallest scale whose sides stay >= `min_size`.

  JPEGs are decoded at ratio 1, 2, 4 or 8; other formats at full size.
  """
  runtime.require_graph_mode('preprocess.decode_reduced')
  min_size = int(min_size)

  def _jpeg():
    shape = tf.image.extract_jpeg_shape(contents)
    index = pick_ratio(shape[0], shape[1], min_size)
    branches = [(lambda r=ratio: decode_jpeg_at_ratio(contents, r, channels))
                for ratio in RATIOS]
    return tf.switch_case(index, branches)

  image = tf.cond(tf.io.is_jpeg(contents), _jpeg,
                  lambda: decode_image(contents, channels))
  image.set_shape([None, None, channels])
  return image


def decode(contents, mode, min_size, channels=3):
  """`decode_image` (mode 'full') or `decode_reduced` (mode 'reduced')."""
  if mode == 'full':
    return decode_image(contents, channels)
  if mode == 'reduced':
    return decode_reduced(contents, min_size, channels)
  raise runtime.UserInputError(
      f'--jpeg_decode={mode!r}: use {" or ".join(DECODE_MODES)}')


# --- geometry ---------------------------------------------------------------


def resize(image, image_size):
  """Bilinear resize to `image_size` x `image_size`, float32 0-255.

  An image whose static shape is already that size is only cast.
  """
  if (image.shape.rank == 3
      and image.shape[:2].as_list() == [image_size, image_size]):
    return tf.cast(image, tf.float32)
  resized = tf.image.resize(image, [image_size, image_size],
                            method=tf.image.ResizeMethod.BILINEAR)
  resized.set_shape([image_size, image_size, image.shape[-1]])
  return resized


def random_flip(image, seed=None):
  """Random left-right flip (training augmentation)."""
  return tf.image.random_flip_left_right(image, seed=seed)


def crop_source_size(image_size):
  """Side a training image is resized to before its random crop."""
  return int(round(image_size * CROP_MARGIN))


def augment_photo(image, image_size, seed=None):
  """Resize to `crop_source_size`, random `image_size` crop, random flip.

  Returns:
    float32 `[image_size, image_size, C]` in 0-255.
  """
  image = resize(image, crop_source_size(image_size))
  image = tf.image.random_crop(
      image, [image_size, image_size, image.shape[-1]], seed=seed)
  return random_flip(image, seed=seed)


def _sub_seed(seed, offset):
  return None if seed is None else int(seed) + offset


def random_crops_and_flips(images, image_size, seed=None):
  """An independent random square crop and flip of every image of a batch.

  Two batched gathers do it for the whole uint8 batch: the rows of each
  image's window, then its columns, reversed for a flipped image. The
  pixels are copied exactly (no resampling).

  Args:
    images: uint8 `[N, S, S, C]` with a static S >= image_size.
    image_size: crop side.
    seed: op seed (offsets and flips use sub-seeds derived from it).

  Returns:
    uint8 `[N, image_size, image_size, C]`.
  """
  stored = int(images.shape[1])
  count = tf.shape(images)[0]
  limit = stored - image_size + 1
  offset_y = tf.random.uniform([count], 0, limit, tf.int32,
                               seed=_sub_seed(seed, 11))
  offset_x = tf.random.uniform([count], 0, limit, tf.int32,
                               seed=_sub_seed(seed, 12))
  flip = tf.random.uniform([count], 0, 2, tf.int32,
                           seed=_sub_seed(seed, 13)) > 0
  steps = tf.range(image_size)
  rows = offset_y[:, None] + steps[None, :]
  cols = offset_x[:, None] + tf.where(flip[:, None],
                                      (image_size - 1) - steps[None, :],
                                      steps[None, :])
  window = tf.gather(images, rows, axis=1, batch_dims=1)
  return tf.gather(window, cols, axis=2, batch_dims=1)


def _crop_or_pad(image, image_size):
  image = tf.image.resize_with_crop_or_pad(image, image_size, image_size)
  image = tf.cast(image, tf.float32)
  image.set_shape([image_size, image_size, image.shape[-1]])
  return image


def _central_then_resize(image, image_size):
  image = tf.image.central_crop(image, _CENTRAL_FRACTION)
  return resize(image, image_size)


def _aspect_resize(image, smallest_side):
  """Resizes so the smaller side is `smallest_side` (scalar tensor or int)."""
  shape = tf.shape(image)
  height = tf.cast(shape[0], tf.float32)
  width = tf.cast(shape[1], tf.float32)
  smallest = tf.cast(smallest_side, tf.float32)
  scale = smallest / tf.minimum(height, width)
  new_size = tf.cast(tf.round(tf.stack([height, width]) * scale), tf.int32)
  resized = tf.image.resize(image, new_size,
                            method=tf.image.ResizeMethod.BILINEAR)
  resized.set_shape([None, None, image.shape[-1]])
  return resized


def _central_square(image, image_size):
  shape = tf.shape(image)
  top = (shape[0] - image_size) // 2
  left = (shape[1] - image_size) // 2
  crop = tf.slice(image, [top, left, 0], [image_size, image_size, -1])
  crop.set_shape([image_size, image_size, image.shape[-1]])
  return crop


def _cifar_tutorial_train(image, image_size, seed=None):
  """The CIFAR-10 tutorial's distortions: crop, flip, brightness, contrast."""
  image = tf.cast(image, tf.float32)
  image = tf.image.random_crop(
      image, [image_size, image_size, image.shape[-1]], seed=seed)
  image = random_flip(image, seed=seed)
  image = tf.image.random_brightness(image, max_delta=63, seed=seed)
  return tf.image.random_contrast(image, lower=0.2, upper=1.8, seed=seed)


def _vgg_eval(image, image_size):
  side = int(round(image_size * _VGG_RESIZE_SIDE))
  return _central_square(_aspect_resize(image, side), image_size)


def _vgg_train(image, image_size, seed=None):
  low = int(round(image_size * _VGG_RESIZE_SIDE))
  high = int(round(image_size * _VGG_RESIZE_SIDE_MAX))
  side = tf.random.uniform([], low, high + 1, tf.int32, seed=seed)
  image = _aspect_resize(image, side)
  image = tf.image.random_crop(
      image, [image_size, image_size, image.shape[-1]], seed=seed)
  return random_flip(image, seed=seed)


# --- normalisation ------------------------------------------------------------


def standardize(image):
  """`per_image_standardization` of a float image (or a batch of them)."""
  return tf.image.per_image_standardization(image)


def _vgg_normalize(image):
  means = tf.constant(_VGG_MEANS[:image.shape[-1]], tf.float32)
  return tf.cast(image, tf.float32) - means


def _inception_normalize(image):
  return tf.cast(image, tf.float32) * (2.0 / 255.0) - 1.0


# --- recipes -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A named preprocessing (see the module table).

  Attributes:
    name: the `--preprocessing` name.
    eval_pixels: `fn(decoded, image_size) -> float32 [S, S, C]` (0-255).
    train_pixels: `fn(decoded, image_size, seed) -> float32 [S, S, C]`.
    normalize: `fn(float image or batch) -> float32`, per image.
    train_source_size: `fn(image_size) -> side` the training crop is taken
      from after a bilinear resize (the decoded cache stores that size), or
      None when training has no such fixed source (vgg's random scale).
    cacheable: the decoded cache can serve it (train and eval geometry are
      "resize to a square", then exact crops).
  """
  name: str
  eval_pixels: Callable
  train_pixels: Callable
  normalize: Callable
  train_source_size: Optional[Callable] = crop_source_size
  cacheable: bool = True


def _flip_after(pixels_fn):
  def _train(image, image_size, seed=None):
    return random_flip(pixels_fn(image, image_size), seed=seed)
  return _train


_RECIPES = {
    'standardize': Recipe('standardize', resize, augment_photo, standardize),
    'crop_or_pad': Recipe('crop_or_pad', _crop_or_pad,
                          _flip_after(_crop_or_pad), standardize,
                          train_source_size=None, cacheable=False),
    'central_crop': Recipe('central_crop', _central_then_resize,
                           augment_photo, standardize, cacheable=False),
    'cifar10_tutorial': Recipe('cifar10_tutorial', _crop_or_pad,
                               _cifar_tutorial_train, standardize,
                               train_source_size=None, cacheable=False),
    'vgg': Recipe('vgg', _vgg_eval, _vgg_train, _vgg_normalize,
                  train_source_size=None, cacheable=False),
    'inception': Recipe('inception', _central_then_resize, augment_photo,
                        _inception_normalize, cacheable=False),
}


def list_preprocessings():
  """The recipe names."""
  return sorted(_RECIPES)


def get_recipe(name):
  """The Recipe called `name`.

  Raises:
    UserInputError: an unknown name, listing the valid ones.
  """
  if name not in _RECIPES:
    raise runtime.UserInputError(
        f'--preprocessing={name!r}: use one of '
        f'{", ".join(list_preprocessings())}')
  return _RECIPES[name]


# Augmentation policies of array datasets (`augment.py` defines what each
# does); `RECIPE_AUGMENTATION` is the recipe's own training geometry.
AUGMENTATION_POLICIES = ('none', 'flip', 'light', 'standard')
RECIPE_AUGMENTATION = 'recipe'
AUGMENTATIONS = (RECIPE_AUGMENTATION,) + AUGMENTATION_POLICIES


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """The complete description of a run's pixels.

  Written to `run_config.json` (`to_record`) and read back by evaluation,
  export and prediction (`from_record`; a record without `augmentation`,
  written before it existed, reads as `recipe`).

  Attributes:
    recipe: the `--preprocessing` recipe (evaluation geometry and
      normalisation; training geometry when `augmentation` is `recipe`).
    decode: JPEG decode mode of photos (`full`, `reduced`).
    augmentation: what training does to the pixels: `recipe` (the recipe's
      own training geometry: photos, or an array dataset with an explicit
      `--preprocessing`), or a policy of the array datasets (`none`,
      `flip`, `light`, `standard`; `augment.py`), applied to the stored
      pixels before the recipe's evaluation geometry. `none` is also a
      photo run with `--noaugment`.
  """
  recipe: str = 'standardize'
  decode: str = 'full'
  augmentation: str = RECIPE_AUGMENTATION

  def augments(self, is_training, augment=True):
    """Whether a pipeline applies training augmentation."""
    return bool(is_training and augment and self.augmentation != 'none')

  def to_record(self):
    """A JSON-able dict."""
    return dict(recipe=self.recipe, decode=self.decode,
                augmentation=self.augmentation)

  @classmethod
  def from_record(cls, record):
    """From `to_record`'s dict; None or {} gives the default."""
    record = dict(record or {})
    unknown = set(record) - {'recipe', 'decode', 'augmentation'}
    if unknown:
      raise runtime.UserInputError(
          f'run_config.json: unknown preprocessing field(s) '
          f'{", ".join(sorted(unknown))}')
    result = cls(**record)
    get_recipe(result.recipe)
    if result.decode not in DECODE_MODES:
      raise runtime.UserInputError(
          f'run_config.json: preprocessing decode {result.decode!r} is not '
          f'one of {", ".join(DECODE_MODES)}')
    if result.augmentation not in AUGMENTATIONS:
      raise runtime.UserInputError(
          f'run_config.json: preprocessing augmentation '
          f'{result.augmentation!r} is not one of {", ".join(AUGMENTATIONS)}')
    return result


def photo_pixels(contents, image_size, preprocessing, is_training=False,
                 augment=True, seed=None, channels=3):
  """Encoded bytes -> float32 `[S, S, C]` 0-255 (stages 1 and 2).

  The reduced-scale decode keeps at least the size the geometry needs (the
  crop source side when training with augmentation).
  """
  recipe = get_recipe(preprocessing.recipe)
  training = preprocessing.augments(is_training, augment)
  need = image_size
  if training and recipe.train_source_size is not None:
    need = recipe.train_source_size(image_size)
  image = decode(contents, preprocessing.decode, need, channels)
  if training:
    return recipe.train_pixels(image, image_size, seed)
  return recipe.eval_pixels(image, image_size)


def photo(contents, image_size, preprocessing, is_training=False,
          augment=True, seed=None, channels=3):
  """Encoded bytes -> the network's float32 input (all three stages)."""
  recipe = get_recipe(preprocessing.recipe)
  return recipe.normalize(photo_pixels(contents, image_size, preprocessing,
                                       is_training, augment, seed, channels))

