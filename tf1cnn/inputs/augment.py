"""Training-time augmentation of single images, per dataset.

Every function works on one `[H, W, C]` image (uint8 or float32) in graph
mode and keeps its shape and dtype. Augmentation happens before
`preprocess.standardize`, so padding is black (0) in pixel units.

Policies (`--augmentation`, resolved by the run set-up into the run's
`preprocess.Preprocessing`, which every array reader applies):

* `none`: nothing. Default for Fashion-MNIST and MNIST.
* `flip`: random left-right flip (refused for MNIST).
* `light`: 2-pixel pad + random crop, and a flip (no flip for MNIST).
* `standard`: 4-pixel pad + random crop, and a flip (no flip for MNIST).
  Default for CIFAR-10 and CIFAR-100.

* *pad + crop*: the image is zero-padded by `p` pixels on every side and a
  random `H x W` window is cut out of the padded image, i.e. a random shift of
  up to `p` pixels in each direction (the classic CIFAR recipe, He et al.
  2016);
* *flip*: a random left-right mirror with probability 1/2.

MNIST digits are never mirrored (a mirrored 2 or 7 is not a digit), so the
MNIST policies leave the flip out and `flip` alone is refused.

`augment_fn(dataset, policy, seed)` turns a policy into a function
`image -> image`, or None when there is nothing to do.
"""

import tensorflow as tf

from tf1cnn import runtime
from tf1cnn.inputs import preprocess

POLICIES = preprocess.AUGMENTATION_POLICIES

# Policy used when the `augmentation` option is not given.
DEFAULT_POLICY = {
    'cifar10': 'standard',
    'cifar100': 'standard',
    'fashion_mnist': 'none',
    'mnist': 'none',
}

# Datasets whose images must not be mirrored.
_NO_FLIP = ('mnist',)

# policy -> (padding in pixels, flip)
_POLICY_PARAMS = {
    'none': (0, False),
    'flip': (0, True),
    'light': (2, True),
    'standard': (4, True),
}


def _sub_seed(seed, offset):
  """A distinct op seed per random op, so flips and crops are independent."""
  return None if seed is None else int(seed) + offset


def pad_and_random_crop(image, padding, seed=None):
  """Zero-pads by `padding` pixels per side, then crops back to the input size.

  Args:
    image: `[H, W, C]` tensor with a static shape, any numeric dtype.
    padding: pixels of zeros added on each side (0 returns `image`).
    seed: op-level seed of the crop position.

  Returns:
    A tensor of the shape and dtype of `image`: the image shifted by up to
    `padding` pixels in each direction, with zeros shifted in.
  """
  if not padding:
    return image
  shape = image.shape.as_list()
  if len(shape) != 3 or None in shape:
    raise ValueError(f'pad_and_random_crop needs a static [H, W, C] shape, '
                     f'got {shape}')
  padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  cropped = tf.image.random_crop(padded, shape, seed=seed)
  cropped.set_shape(shape)
  return cropped


def random_flip(image, seed=None):
  """Random left-right flip with probability 1/2 (keeps shape and dtype)."""
  return preprocess.random_flip(image, seed=seed)


def resolve_policy(dataset, policy=None):
  """The policy a dataset uses: `policy`, or the dataset default when None.

  Args:
    dataset: registry name ('cifar10', 'cifar100', 'fashion_mnist', 'mnist').
    policy: one of `POLICIES`, or None / 'default' for the dataset default.

  Returns:
    The policy name.

  Raises:
    UserInputError: unknown policy, or a flip requested for MNIST digits.
  """
  if policy in (None, '', 'default'):
    return DEFAULT_POLICY.get(dataset, 'none')
  policy = str(policy).lower()
  if policy not in POLICIES:
    raise runtime.UserInputError(
        f'--augmentation={policy!r}: use one of {", ".join(POLICIES)} '
        f'(or default: {DEFAULT_POLICY.get(dataset, "none")} for {dataset})')
  if policy == 'flip' and dataset in _NO_FLIP:
    raise runtime.UserInputError(
        f'--augmentation=flip: {dataset} digits are not mirror-symmetric; use '
        'none, light or standard (shifts only)')
  return policy


def augment_fn(dataset, policy=None, seed=None):
  """Returns the augmentation function of a dataset and policy.

  Args:
    dataset: registry name.
    policy: see `resolve_policy`.
    seed: base op-level seed; the crop uses `seed`, the flip `seed + 1`.

  Returns:
    A function `image -> image` (same shape and dtype), or None for 'none'.
  """
  policy = resolve_policy(dataset, policy)
  padding, flip = _POLICY_PARAMS[policy]
  if dataset in _NO_FLIP:
    flip = False
  if not padding and not flip:
    return None

  def _augment(image):
    with tf.name_scope('augment'):
      image = pad_and_random_crop(image, padding, seed=_sub_seed(seed, 0))
      if flip:
        image = random_flip(image, seed=_sub_seed(seed, 1))
      return image

  return _augment


def cifar_augment(image, seed=None):
  """CIFAR training augmentation: 4-pixel zero pad + random crop + flip."""
  return augment_fn('cifar10', 'standard', seed)(image)

