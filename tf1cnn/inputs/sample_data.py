"""A small synthetic cat/dog image set, drawn procedurally.

`write_sample_dataset(output_dir)` writes the seed layout

    OUTPUT_DIR/train/cat/*.jpg   OUTPUT_DIR/train/dog/*.jpg
    OUTPUT_DIR/test/cat/*.jpg    OUTPUT_DIR/test/dog/*.jpg

so that the cat/dog LeNet-5 can be trained and evaluated on a machine with no
data to download. The images are clearly synthetic cartoon faces, drawn with
Pillow and numpy:

* cats: pointed triangular ears on top of the head, slit pupils, a small
  triangular nose and whiskers;
* dogs: long rounded ears hanging down the sides of the head, round eyes, a
  light muzzle with a big round nose and, often, a tongue.

Everything else is drawn from one distribution for both classes, so that
colour alone gives little away: the background (two-colour gradient, blotches,
a few distractor shapes, pixel noise), the fur and eye colours, the face's
position, size and tilt, the image size and aspect ratio (120-400 px a side)
and the JPEG quality (75-95). The shape cues are enough for a small CNN to
learn the classes in a couple of minutes of CPU training.

The train split also holds a few files in other formats (images 3 and 4 of
each class: two PNGs, one BMP and one grayscale JPEG), so the input pipeline's
format handling is exercised; everything else is RGB JPEG.

The output depends only on the parameters: every image is drawn from its own
random generator seeded with `(seed, split, class, index)`, so two runs with
the same seed write the same bytes. A `sample_manifest.json` records the
parameters and every file's size; a folder that already holds the complete set
for the same parameters is left as it is (`overwrite=True` rewrites it). A
`README.txt` says what the images are.
"""

import json
import math
import os
import re
import time

import numpy as np
from absl import logging
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFilter

from tf1cnn import runtime

CLASS_NAMES = ('cat', 'dog')
SPLITS = ('train', 'test')
MANIFEST_NAME = 'sample_manifest.json'
README_NAME = 'README.txt'

# Bumped whenever the drawing changes, so an older set is rewritten.
GENERATOR_VERSION = 1

MIN_SIDE = 120
MAX_SIDE = 400

# Train-split files in another format, by index within each class:
# index -> (extension, Pillow format, grayscale).
_OTHER_FORMATS = {
    'cat': {3: ('.png', 'PNG', False), 4: ('.jpg', 'JPEG', True)},
    'dog': {3: ('.png', 'PNG', False), 4: ('.bmp', 'BMP', False)},
}

_FILE_PATTERN = re.compile(r'^(cat|dog)_\d{4,}\.(jpg|png|bmp)$')

# Natural-looking fur colours; either class draws from the same list.
_FUR_PALETTE = (
    (214, 140, 60), (160, 100, 55), (110, 70, 40), (60, 45, 35),
    (35, 32, 30), (235, 230, 220), (200, 185, 150), (130, 130, 135),
    (90, 90, 100), (225, 195, 140), (180, 120, 90), (245, 215, 170),
)
_EYE_PALETTE = (
    (90, 160, 60), (200, 170, 40), (70, 120, 190), (120, 80, 40),
    (60, 40, 25), (170, 120, 40),
)

# Supersampling factor of the face layer (cheap anti-aliasing).
_SUPERSAMPLE = 2


def _uniform(rng, low, high):
  return float(rng.uniform(low, high))


def _jitter(rng, colour, amount):
  """`colour` with each channel moved by up to +-`amount`, clipped to 0-255."""
  values = np.asarray(colour, np.float64) + rng.uniform(-amount, amount, 3)
  return tuple(int(v) for v in np.clip(values, 0, 255))


def _mix(colour_a, colour_b, weight):
  """Linear blend: `weight` of `colour_b` into `colour_a`."""
  return tuple(int(round(a + (b - a) * weight))
               for a, b in zip(colour_a, colour_b))


def _random_colour(rng):
  return tuple(int(v) for v in rng.integers(0, 256, 3))


def _fur_colour(rng):
  """A fur colour: mostly natural tones, sometimes any colour."""
  if rng.random() < 0.7:
    return _jitter(rng, _FUR_PALETTE[rng.integers(len(_FUR_PALETTE))], 25)
  return _random_colour(rng)


def _contrast(colour):
  """Black or white, whichever stands out on `colour`."""
  luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
  return (20, 20, 20) if luma > 110 else (235, 235, 235)


def _image_size(rng):
  """A random (width, height), both sides in [MIN_SIDE, MAX_SIDE]."""
  long_side = _uniform(rng, 150, MAX_SIDE)
  aspect = math.exp(_uniform(rng, math.log(0.6), math.log(1.0)))
  short_side = max(MIN_SIDE, long_side * aspect)
  if rng.random() < 0.5:
    return int(long_side), int(short_side)
  return int(short_side), int(long_side)


def _background(rng, width, height):
  """An RGB background image: gradient, blotches, a few shapes, maybe blur."""
  colour_a = np.asarray(_random_colour(rng), np.float32)
  colour_b = np.asarray(_random_colour(rng), np.float32)
  angle = _uniform(rng, 0, 2 * math.pi)
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
  t = (xs * math.cos(angle) + ys * math.sin(angle))
  t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
  pixels = colour_a + t[..., None] * (colour_b - colour_a)

  # Low-frequency blotches: a coarse random grid, upsampled smoothly.
  grid = rng.normal(0, _uniform(rng, 5, 30), (4, 4, 3)).astype(np.float32)
  grid = np.clip(grid + 128, 0, 255).astype(np.uint8)
  blotches = Image.fromarray(grid, 'RGB').resize((width, height),
                                                 Image.BICUBIC)
  pixels += np.asarray(blotches, np.float32) - 128

  image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), 'RGB')
  draw = ImageDraw.Draw(image)
  for _ in range(int(rng.integers(0, 6))):
    colour = _random_colour(rng)
    x0, x1 = sorted(rng.uniform(-0.2, 1.2, 2) * width)
    y0, y1 = sorted(rng.uniform(-0.2, 1.2, 2) * height)
    kind = rng.integers(3)
    if kind == 0:
      draw.ellipse((x0, y0, x1, y1), fill=colour)
    elif kind == 1:
      draw.rectangle((x0, y0, x1, y1), fill=colour)
    else:
      draw.line((x0, y0, x1, y1), fill=colour,
                width=int(rng.integers(2, 10)))
  if rng.random() < 0.7:
    image = image.filter(ImageFilter.GaussianBlur(_uniform(rng, 1, 4)))
  return image


def _ellipse_points(cx, cy, rx, ry, angle=0.0, start=0.0, end=360.0, n=48):
  """Polygon points of a (rotated) ellipse or elliptic arc."""
  cos_a, sin_a = math.cos(math.radians(angle)), math.sin(math.radians(angle))
  points = []
  for k in range(n + 1):
    theta = math.radians(start + (end - start) * k / n)
    x, y = rx * math.cos(theta), ry * math.sin(theta)
    points.append((cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a))
  return points


def _draw_cat(draw, rng, c, r, fur, eye, stroke):
  """Draws a cat face centred at `c` with head radius `r`."""
  cx, cy = c
  rx, ry = r * _uniform(rng, 1.0, 1.1), r * _uniform(rng, 0.85, 0.95)
  inner = _jitter(rng, (235, 160, 170), 20)
  ear_height = _uniform(rng, 1.45, 1.75)
  ear_spread = _uniform(rng, 0.0, 0.15)
  for side in (-1, 1):
    base_outer = (cx + side * 0.95 * rx, cy - 0.25 * ry)
    base_inner = (cx + side * 0.2 * rx, cy - 0.9 * ry)
    tip = (cx + side * (0.75 + ear_spread) * rx, cy - ear_height * r)
    draw.polygon([base_outer, tip, base_inner], fill=fur, outline=stroke)
    # The inner ear: the same triangle shrunk towards its centroid.
    corners = (base_outer, tip, base_inner)
    mid_x = sum(p[0] for p in corners) / 3
    mid_y = sum(p[1] for p in corners) / 3
    draw.polygon([(mid_x + 0.55 * (x - mid_x), mid_y + 0.55 * (y - mid_y))
                  for x, y in corners], fill=inner)
  draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fur, outline=stroke,
               width=max(1, int(r * 0.03)))
  if rng.random() < 0.5:  # Tabby stripes on the forehead.
    stripe = _mix(fur, stroke, 0.45)
    for dx in (-0.22, 0.0, 0.22):
      draw.line((cx + dx * rx, cy - 0.88 * ry, cx + dx * 0.7 * rx,
                 cy - 0.55 * ry), fill=stripe, width=max(2, int(r * 0.06)))
  eye_y = cy - _uniform(rng, 0.05, 0.18) * ry
  eye_dx = _uniform(rng, 0.35, 0.45) * rx
  eye_rx, eye_ry = r * _uniform(rng, 0.17, 0.22), r * _uniform(rng, 0.09, 0.14)
  for side in (-1, 1):
    ex = cx + side * eye_dx
    draw.polygon(_ellipse_points(ex, eye_y, eye_rx, eye_ry,
                                 angle=side * _uniform(rng, 5, 20)),
                 fill=eye, outline=(20, 20, 20))
    pupil_rx = eye_rx * _uniform(rng, 0.12, 0.2)
    draw.ellipse((ex - pupil_rx, eye_y - eye_ry * 0.95, ex + pupil_rx,
                  eye_y + eye_ry * 0.95), fill=(10, 10, 10))
  nose_y = cy + _uniform(rng, 0.15, 0.25) * ry
  nose_w = r * _uniform(rng, 0.09, 0.13)
  draw.polygon([(cx - nose_w, nose_y - nose_w * 0.6),
                (cx + nose_w, nose_y - nose_w * 0.6),
                (cx, nose_y + nose_w * 0.6)],
               fill=_jitter(rng, (225, 130, 145), 20))
  mouth_w = max(1, int(r * 0.03))
  mouth_y = nose_y + nose_w * 0.6
  draw.line((cx, mouth_y - 1, cx, mouth_y + 0.12 * r), fill=stroke,
            width=mouth_w)
  for side in (-1, 1):
    draw.line(_ellipse_points(cx + side * 0.11 * r, mouth_y + 0.1 * r,
                              0.11 * r, 0.07 * r, start=0, end=180, n=12),
              fill=stroke, width=mouth_w)
  whisker = (235, 235, 235) if rng.random() < 0.5 else (25, 25, 25)
  whisker_w = max(1, int(r * 0.025))
  for side in (-1, 1):
    for k, dy in enumerate((-0.12, 0.0, 0.12)):
      x0, y0 = cx + side * 0.22 * r, nose_y + 0.1 * r + dy * 0.3 * r
      x1 = cx + side * _uniform(rng, 1.3, 1.55) * r
      y1 = y0 + (k - 1) * _uniform(rng, 0.15, 0.3) * r
      draw.line((x0, y0, x1, y1), fill=whisker, width=whisker_w)


def _draw_dog(draw, rng, c, r, fur, eye, stroke):
  """Draws a dog face centred at `c` with head radius `r`."""
  cx, cy = c
  rx, ry = r * _uniform(rng, 0.92, 1.02), r * _uniform(rng, 0.95, 1.08)
  shade = (30, 20, 15) if rng.random() < 0.5 else (250, 240, 225)
  ear = _mix(fur, shade, _uniform(rng, 0.2, 0.6))
  if rng.random() < 0.3:
    ear = _fur_colour(rng)
  draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fur, outline=stroke,
               width=max(1, int(r * 0.03)))
  ear_len = _uniform(rng, 0.75, 1.0) * r
  ear_w = _uniform(rng, 0.26, 0.34) * r
  ear_tilt = _uniform(rng, 5, 20)
  for side in (-1, 1):
    top = (cx + side * 0.72 * rx, cy - 0.78 * ry)
    centre = (top[0] + side * 0.28 * r, top[1] + ear_len)
    draw.polygon(_ellipse_points(centre[0], centre[1], ear_w, ear_len,
                                 angle=-side * ear_tilt),
                 fill=ear, outline=stroke)
  if rng.random() < 0.4:  # A patch over one eye.
    side = -1 if rng.random() < 0.5 else 1
    patch = _mix(fur, (30, 20, 15), 0.5)
    px, py = cx + side * 0.38 * rx, cy - 0.2 * ry
    draw.ellipse((px - 0.26 * r, py - 0.24 * r, px + 0.26 * r, py + 0.24 * r),
                 fill=patch)
  muzzle = _mix(fur, (250, 245, 235), _uniform(rng, 0.3, 0.7))
  my = cy + _uniform(rng, 0.3, 0.4) * ry
  mrx, mry = r * _uniform(rng, 0.42, 0.52), r * _uniform(rng, 0.3, 0.38)
  eye_y = cy - _uniform(rng, 0.15, 0.28) * ry
  eye_dx = _uniform(rng, 0.32, 0.42) * rx
  eye_r = r * _uniform(rng, 0.1, 0.14)
  for side in (-1, 1):
    ex = cx + side * eye_dx
    draw.ellipse((ex - eye_r, eye_y - eye_r, ex + eye_r, eye_y + eye_r),
                 fill=eye, outline=(20, 20, 20))
    pupil = eye_r * 0.6
    draw.ellipse((ex - pupil, eye_y - pupil, ex + pupil, eye_y + pupil),
                 fill=(10, 10, 10))
    glint = eye_r * 0.22
    gx, gy = ex - eye_r * 0.3, eye_y - eye_r * 0.3
    draw.ellipse((gx - glint, gy - glint, gx + glint, gy + glint),
                 fill=(250, 250, 250))
  mouth_w = max(1, int(r * 0.035))
  mouth_y = my + mry * 0.35
  if rng.random() < 0.6:  # Tongue, drawn under the muzzle.
    tw, th = r * _uniform(rng, 0.13, 0.18), r * _uniform(rng, 0.2, 0.32)
    draw.rounded_rectangle((cx - tw, mouth_y - 0.05 * r, cx + tw,
                            mouth_y + th), radius=tw * 0.95,
                           fill=_jitter(rng, (225, 95, 115), 20),
                           outline=stroke)
  draw.ellipse((cx - mrx, my - mry, cx + mrx, my + mry), fill=muzzle)
  nose_y = my - mry * _uniform(rng, 0.35, 0.5)
  nose_rx = r * _uniform(rng, 0.17, 0.23)
  nose_ry = r * _uniform(rng, 0.12, 0.16)
  draw.ellipse((cx - nose_rx, nose_y - nose_ry, cx + nose_rx,
                nose_y + nose_ry), fill=_jitter(rng, (30, 25, 25), 15))
  glint = nose_ry * 0.3
  draw.ellipse((cx - nose_rx * 0.4 - glint, nose_y - nose_ry * 0.4 - glint,
                cx - nose_rx * 0.4 + glint, nose_y - nose_ry * 0.4 + glint),
               fill=(200, 200, 200))
  draw.line((cx, nose_y + nose_ry, cx, mouth_y), fill=stroke, width=mouth_w)
  for side in (-1, 1):
    draw.line(_ellipse_points(cx + side * 0.14 * r, mouth_y, 0.14 * r,
                              0.08 * r, start=0, end=180, n=12),
              fill=stroke, width=mouth_w)


def draw_face(class_name, rng):
  """Draws one synthetic image of `class_name` ('cat' or 'dog').

  Args:
    class_name: 'cat' or 'dog'.
    rng: a `numpy.random.Generator`; the image depends only on its state.

  Returns:
    An RGB `PIL.Image.Image` with sides between MIN_SIDE and MAX_SIDE.
  """
  if class_name not in CLASS_NAMES:
    raise ValueError(f'class_name must be one of {CLASS_NAMES}, '
                     f'got {class_name!r}')
  width, height = _image_size(rng)
  image = _background(rng, width, height)

  # Head radius and centre, leaving room for the ears most of the time.
  r = min(width, height) * _uniform(rng, 0.2, 0.3)
  cx = _uniform(rng, min(1.2 * r, width / 2), max(width - 1.2 * r, width / 2))
  cy = _uniform(rng, min(1.5 * r, height / 2),
                max(height - 1.3 * r, height / 2))
  fur = _fur_colour(rng)
  eye = _jitter(rng, _EYE_PALETTE[rng.integers(len(_EYE_PALETTE))], 20)
  stroke = _mix(fur, _contrast(fur), _uniform(rng, 0.5, 0.8))

  # The face is drawn on a transparent layer, supersampled, then shrunk and
  # tilted.
  half = int(math.ceil(2.0 * r))
  scale = _SUPERSAMPLE
  layer = Image.new('RGBA', (2 * half * scale, 2 * half * scale), (0, 0, 0, 0))
  draw = ImageDraw.Draw(layer)
  centre = (half * scale, half * scale)
  draw_fn = _draw_cat if class_name == 'cat' else _draw_dog
  draw_fn(draw, rng, centre, r * scale, fur, eye, stroke)
  layer = layer.resize((2 * half, 2 * half), Image.BOX)
  layer = layer.rotate(_uniform(rng, -15, 15), resample=Image.BILINEAR)
  image.paste(layer, (int(round(cx)) - half, int(round(cy)) - half), layer)

  # Sensor-like noise over everything, then an optional soft blur.
  pixels = np.asarray(image, np.float32)
  pixels += rng.normal(0, _uniform(rng, 3, 14), pixels.shape).astype(np.float32)
  image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), 'RGB')
  if rng.random() < 0.25:
    image = image.filter(ImageFilter.GaussianBlur(_uniform(rng, 0.5, 1.2)))
  return image


def _file_plan(split, class_name, index):
  """(file name, Pillow format, grayscale) of one image."""
  extension, fmt, gray = '.jpg', 'JPEG', False
  if split == 'train':
    extension, fmt, gray = _OTHER_FORMATS[class_name].get(
        index, (extension, fmt, gray))
  return f'{class_name}_{index:04d}{extension}', fmt, gray


def _save(image, path, fmt, gray, rng):
  """Saves `image` as `fmt`; JPEG quality is drawn from `rng`."""
  if gray:
    image = image.convert('L')
  quality = int(rng.integers(75, 96))
  if fmt == 'JPEG':
    image.save(path, format='JPEG', quality=quality)
  elif fmt == 'PNG':
    image.save(path, format='PNG', compress_level=6)
  else:
    image.save(path, format=fmt)


def _check_int(value, name, minimum):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise runtime.UserInputError(f'{name} must be an integer, got {value!r}')
  if value < minimum:
    raise runtime.UserInputError(f'{name} must be >= {minimum}, got {value}')
  return int(value)


def _parameters(num_train_per_class, num_test_per_class, seed):
  return {
      'generator_version': GENERATOR_VERSION,
      'num_train_per_class': num_train_per_class,
      'num_test_per_class': num_test_per_class,
      'seed': seed,
      'class_names': list(CLASS_NAMES),
  }


def _read_manifest(output_dir):
  path = os.path.join(output_dir, MANIFEST_NAME)
  try:
    with open(path, encoding='utf-8') as f:
      manifest = json.load(f)
  except (OSError, ValueError):
    return None
  return manifest if isinstance(manifest, dict) else None


def _image_files(folder):
  """Names of the image files in `folder` (empty when it does not exist)."""
  if not os.path.isdir(folder):
    return []
  return sorted(name for name in os.listdir(folder)
                if not name.startswith('.') and
                name.lower().endswith(('.jpg', '.jpeg', '.png', '.bmp',
                                       '.gif')))


def _is_complete(output_dir, manifest, parameters):
  """True if `manifest` matches `parameters` and every file is on disk."""
  if not manifest or manifest.get('parameters') != parameters:
    return False
  files = manifest.get('files')
  if not isinstance(files, dict):
    return False
  for split in SPLITS:
    for class_name in CLASS_NAMES:
      expected = sorted(os.path.basename(p) for p in files
                        if p.startswith(f'{split}/{class_name}/'))
      if expected != _image_files(os.path.join(output_dir, split, class_name)):
        return False
  for relative, size in files.items():
    path = os.path.join(output_dir, *relative.split('/'))
    if not os.path.isfile(path) or os.path.getsize(path) != size:
      return False
  return True


def _check_folder(output_dir):
  """Refuses an output folder that holds data not written by this module.

  Raises:
    UserInputError: `output_dir` or a folder under it is a file, or a split
      folder holds other classes or foreign image files.
  """
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise runtime.UserInputError(
        f'output_dir {output_dir!r} exists and is not a folder')
  for split in SPLITS:
    split_dir = os.path.join(output_dir, split)
    if not os.path.exists(split_dir):
      continue
    if not os.path.isdir(split_dir):
      raise runtime.UserInputError(f'{split_dir!r} exists and is not a folder')
    for name in sorted(os.listdir(split_dir)):
      path = os.path.join(split_dir, name)
      if name.startswith('.'):
        continue
      if name not in CLASS_NAMES:
        raise runtime.UserInputError(
            f'{path!r} was not written by the sample generator (the sample '
            'has only cat/ and dog/): choose an empty --output_dir')
      if not os.path.isdir(path):
        raise runtime.UserInputError(f'{path!r} exists and is not a folder')
      for image_name in _image_files(path):
        if not _FILE_PATTERN.match(image_name):
          raise runtime.UserInputError(
              f'{os.path.join(path, image_name)!r} was not written by the '
              'sample generator: choose an empty --output_dir')


def _readme_text(parameters, other_formats):
  """The README.txt of a sample set.

  Args:
    parameters: the generation parameters (`_parameters`).
    other_formats: '<relative path> (<format>)' of every file that is not an
      RGB JPEG.
  """
  lines = [
      'Synthetic cat and dog images',
      '============================',
      '',
      'Every image in this folder is synthetic: cartoon cat and dog faces',
      'drawn procedurally (Pillow + numpy) by tf1cnn.inputs.sample_data on',
      'random noisy backgrounds. They are not photographs; they only let the',
      'tf1cnn demo train and evaluate a classifier with no data to download.',
      '',
      f'Generated by tf1cnn (sample generator version '
      f'{parameters["generator_version"]}) with seed {parameters["seed"]}:',
      f'{parameters["num_train_per_class"]} training and '
      f'{parameters["num_test_per_class"]} test images per class.',
      '',
      'Layout: train/cat, train/dog, test/cat, test/dog. The files are RGB',
      'JPEGs' + (', except:' if other_formats else '.'),
  ]
  lines += [f'    {path}' for path in other_formats]
  lines += [
      '',
      'Regenerate with:',
      '    python scripts/make_sample_data.py --output_dir=<this folder> \\',
      f'        --num_train_per_class={parameters["num_train_per_class"]} '
      f'--num_test_per_class={parameters["num_test_per_class"]} '
      f'--seed={parameters["seed"]}',
  ]
  return '\n'.join(lines) + '\n'


def write_sample_dataset(output_dir, num_train_per_class=200,
                         num_test_per_class=50, seed=0, overwrite=False):
  """Writes the synthetic cat/dog set in the seed's folder layout.

  Args:
    output_dir: folder to write; created if needed. It must be empty, or hold
      an earlier sample set.
    num_train_per_class: images per class in `train/`.
    num_test_per_class: images per class in `test/`.
    seed: non-negative integer; the same seed gives the same bytes.
    overwrite: rewrite even when the folder already holds the complete set for
      these parameters.

  Returns:
    The number of images per split and class, e.g.
    `{'train': {'cat': 200, 'dog': 200}, 'test': {'cat': 50, 'dog': 50}}`.

  Raises:
    UserInputError: a bad count or seed, `output_dir` is a file, or it holds
      files that the generator did not write.
  """
  num_train_per_class = _check_int(num_train_per_class, 'num_train_per_class',
                                   1)
  num_test_per_class = _check_int(num_test_per_class, 'num_test_per_class', 1)
  seed = _check_int(seed, 'seed', 0)
  output_dir = os.fspath(output_dir)
  parameters = _parameters(num_train_per_class, num_test_per_class, seed)
  per_split = {'train': num_train_per_class, 'test': num_test_per_class}
  counts = {split: {name: per_split[split] for name in CLASS_NAMES}
            for split in SPLITS}

  _check_folder(output_dir)
  if not overwrite and _is_complete(output_dir, _read_manifest(output_dir),
                                    parameters):
    logging.info('Sample set in %s is complete (seed %d, %d train + %d test '
                 'per class): not rewritten', output_dir, seed,
                 num_train_per_class, num_test_per_class)
    return counts

  start = time.time()
  logging.info('Writing the synthetic cat/dog sample to %s (seed %d, %d train '
               '+ %d test images per class)', output_dir, seed,
               num_train_per_class, num_test_per_class)
  try:
    os.makedirs(output_dir, exist_ok=True)
    # A half-written folder must never look complete.
    manifest_path = os.path.join(output_dir, MANIFEST_NAME)
    if os.path.exists(manifest_path):
      os.remove(manifest_path)

    files = {}
    other_formats = []
    for split_id, split in enumerate(SPLITS):
      for class_id, class_name in enumerate(CLASS_NAMES):
        folder = os.path.join(output_dir, split, class_name)
        os.makedirs(folder, exist_ok=True)
        written = set()
        for index in range(per_split[split]):
          rng = np.random.default_rng([seed, split_id, class_id, index])
          name, fmt, gray = _file_plan(split, class_name, index)
          path = os.path.join(folder, name)
          _save(draw_face(class_name, rng), path, fmt, gray, rng)
          relative = f'{split}/{class_name}/{name}'
          files[relative] = os.path.getsize(path)
          if gray or fmt != 'JPEG':
            other_formats.append(
                f'{relative} ({"grayscale " if gray else ""}{fmt})')
          written.add(name)
        # Files of an earlier, larger or differently made set.
        for name in _image_files(folder):
          if name not in written and _FILE_PATTERN.match(name):
            os.remove(os.path.join(folder, name))
        logging.info('  %s/%s: %d images', split, class_name, len(written))

    with open(os.path.join(output_dir, README_NAME), 'w',
              encoding='utf-8') as f:
      f.write(_readme_text(parameters, other_formats))
    manifest = {'parameters': parameters, 'counts': counts, 'files': files}
    with open(manifest_path, 'w', encoding='utf-8') as f:
      json.dump(manifest, f, indent=1, sort_keys=True)
      f.write('\n')
  except OSError as e:
    raise runtime.UserInputError(
        f'cannot write the sample set to {output_dir!r}: {e}') from e
  logging.info('Wrote %d images to %s in %.1f s',
               sum(sum(c.values()) for c in counts.values()),
               output_dir, time.time() - start)
  return counts
