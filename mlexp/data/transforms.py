"""Pure, seeded image transforms for the extra test sets ("moved", "rotated")."""
from __future__ import annotations

import numpy as np

KNOWN = ('moved', 'rotated')


def shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
  """Image [H, W, C] moved right by dx and down by dy pixels, zero fill, no wrap-around."""
  h, w = image.shape[:2]
  out = np.zeros_like(image)
  if abs(dx) >= w or abs(dy) >= h:
    return out
  out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
      image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
  return out


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
  """Image [H, W, C] rotated about its centre (bilinear, zero fill, same shape)."""
  if degrees == 0:
    return image.copy()
  from scipy import ndimage  # (imported where used: 0.16 s of every start otherwise)
  return ndimage.rotate(image, degrees, axes=(1, 0), reshape=False, order=1, cval=0.0).astype(image.dtype)


def moved(x: np.ndarray, max_shift: int, seed: int) -> np.ndarray:
  """Every image [N, H, W, C] shifted by its own integer (dx, dy) uniform in [-max_shift, max_shift]."""
  d = np.random.default_rng(seed).integers(-max_shift, max_shift + 1, size=(len(x), 2))
  return np.stack([shift(img, int(dx), int(dy)) for img, (dx, dy) in zip(x, d)]) if len(x) else x.copy()


def rotated(x: np.ndarray, max_rotation: float, seed: int) -> np.ndarray:
  """Every image [N, H, W, C] rotated by its own angle uniform in [-max_rotation, max_rotation] degrees."""
  a = np.random.default_rng(seed).uniform(-max_rotation, max_rotation, size=len(x))
  return np.stack([rotate(img, float(t)) for img, t in zip(x, a)]) if len(x) else x.copy()
