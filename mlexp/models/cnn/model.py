"""Convolutional classifier: conv blocks (conv, activation, optional max pooling), then Dense layers.

Convolution is written as im2col (strided slices, one matmul) and max pooling as reshape + max: on
XLA:CPU the gradients of lax.conv and reduce_window are slow (measured 2-4x slower per step, worse
when vmapped over models), while slices and matmuls are fast everywhere. Results equal nn.Conv's
(tested).

Widths are data in a padded group: `dims["filters"]` / `dims["dense"]` hold a member's true widths
inside the padded ones; padded filters and units have zero weights and masked activations. The
number of blocks and dense layers stays static (a group key). So is the kernel size, except where a
smaller kernel is a larger one with a zero border (`paddable_kernel`: 'SAME', odd sizes, at least the
stride): `dims["kernel"]` holds a member's own size, the taps outside its centred k x k window are masked to
zero (in the forward pass too, so their gradients and updates are zero), and kernel values are hashed by
their offset from the centre tap, so a member's k x k kernel is the same inside a larger one.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlexp.models.cnn.geometry import feature_map
from mlexp.models.layers import ACTIVATIONS, derive, dropout, layer_key, param, seeds, stable_kernel, unit_mask


def patches(x, k: int, s: int, padding: str):
  """[N, H, W, C] -> [N, H', W', k*k*C] (ordered kh, kw, C), as lax.conv with 'SAME'/'VALID' padding."""
  n, h, w, c = x.shape
  if padding == "SAME":
    ho, wo = -(-h // s), -(-w // s)
    ph, pw = max((ho - 1) * s + k - h, 0), max((wo - 1) * s + k - w, 0)
    x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
  else:
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
  cols = [x[:, i:i + (ho - 1) * s + 1:s, j:j + (wo - 1) * s + 1:s, :] for i in range(k) for j in range(k)]
  return jnp.concatenate(cols, axis=-1)


def tap_mask(k_true, k: int):
  """[k, k] 1.0 on the centred k_true x k_true window of a k x k kernel (k_true may be traced), else 0.0."""
  lo = (k - 1) // 2 - (k_true - 1) // 2
  t = jnp.arange(k)
  row = ((t >= lo) & (t < lo + k_true)).astype(jnp.float32)
  return row[:, None] * row[None, :]


def max_pool(x, p: int):
  """Non-overlapping p x p max pooling (floor), as nn.max_pool with window = stride = p."""
  n, h, w, c = x.shape
  h2, w2 = h // p, w // p
  return x[:, : h2 * p, : w2 * p].reshape(n, h2, p, w2, p, c).max(axis=(2, 4))


HEAD = 1000  # init key index of the head; dense layer i uses DENSE + i


DENSE = 500


class CNN(nn.Module):
  num_classes: int
  filters: Sequence[int] = (32, 64)
  kernel_size: int = 3
  strides: int = 1
  padding: str = "SAME"
  pool: int = 2  # max-pool window and stride after each block; 0 or 1 = no pooling
  dense: Sequence[int] = (128,)
  activation: str = "relu"

  @nn.compact
  def __call__(self, x, lengths=None, *, train: bool = False, dropout_rate=0.0, dims=None, dropout_seed=None):
    act = ACTIVATIONS[self.activation]
    base, dkey = seeds(self, train, dropout_seed)
    k, s = int(self.kernel_size), int(self.strides)
    feature_map(x.shape[1:3], self.filters, k, s, self.padding, int(self.pool))  # clear error on tiny maps
    k_true = k if dims is None or "kernel" not in dims else dims["kernel"]
    taps = None if k_true is k else tap_mask(k_true, k)[:, :, None, None]
    centre = ((k - 1) // 2, (k - 1) // 2)
    c, c_true, c_mask = x.shape[-1], x.shape[-1], None
    for i, f in enumerate(self.filters):
      f = int(f)
      f_true = f if dims is None else dims["filters"][i]
      f_mask = None if dims is None else unit_mask(f_true, f)
      kern = param(self, f"conv{i}_kernel", lambda: stable_kernel(
          layer_key(base, i), k, (k, c, f), k_true * k_true * c_true, None, f_mask, origin=centre)
          * (1.0 if c_mask is None else c_mask[:, None]) * (1.0 if taps is None else taps))
      if taps is not None:  # a smaller kernel inside this one: its border stays zero (no gradient reaches it)
        kern = kern * taps
      bias = param(self, f"conv{i}_bias", lambda: jnp.zeros((f,), jnp.float32))
      x = act(patches(x, k, s, self.padding) @ kern.reshape(-1, f) + bias)
      if f_mask is not None:
        x = x * f_mask
      if self.pool > 1 and min(x.shape[1:3]) >= self.pool:
        x = max_pool(x, int(self.pool))
      c, c_true, c_mask = f, f_true, f_mask
    positions = x.shape[1] * x.shape[2]
    x = x.reshape((x.shape[0], -1))  # (h, w, c) order: a kernel row per (position, channel)
    in_w, in_true = positions * c, positions * c_true
    in_mask = None if c_mask is None else jnp.tile(c_mask, positions)
    for i, u in enumerate(self.dense):
      u = int(u)
      u_true = u if dims is None else dims["dense"][i]
      u_mask = None if dims is None else unit_mask(u_true, u)
      if i == 0:
        kern = param(self, "dense0_kernel", lambda: stable_kernel(
            layer_key(base, DENSE), positions, (c, u), in_true, None, u_mask).reshape(in_w, u)
            * (1.0 if in_mask is None else in_mask[:, None]))
      else:
        kern = param(self, f"dense{i}_kernel", lambda: stable_kernel(layer_key(base, DENSE + i), in_w, (u,),
                                                                      in_true, in_mask, u_mask))
      bias = param(self, f"dense{i}_bias", lambda: jnp.zeros((u,), jnp.float32))
      x = act(x @ kern + bias)
      if u_mask is not None:
        x = x * u_mask
      x = dropout(x, dropout_rate, None if dkey is None else derive(dkey, i), train)
      in_w, in_true, in_mask = u, u_true, u_mask
    if not self.dense:
      head = lambda: stable_kernel(layer_key(base, HEAD), positions, (c, self.num_classes), in_true).reshape(
          in_w, self.num_classes) * (1.0 if in_mask is None else in_mask[:, None])
    else:
      head = lambda: stable_kernel(layer_key(base, HEAD), in_w, (self.num_classes,), in_true, in_mask)
    head_k = param(self, "head_kernel", head)
    head_b = param(self, "head_bias", lambda: jnp.zeros((self.num_classes,), jnp.float32))
    return x @ head_k + head_b
