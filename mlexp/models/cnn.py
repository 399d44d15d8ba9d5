"""Convolutional classifier: conv blocks (conv, activation, optional max pooling), then Dense layers.

Convolution is written as im2col (strided slices, one matmul) and max pooling as reshape + max: on
XLA:CPU the gradients of lax.conv and reduce_window are slow (measured 2-4x slower per step, worse
when vmapped over models), while slices and matmuls are fast everywhere. Results equal nn.Conv's
(tested); parameters have nn.Conv's shapes and names.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from mlexp.models.layers import ACTIVATIONS, dropout


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


def max_pool(x, p: int):
  """Non-overlapping p x p max pooling (floor), as nn.max_pool with window = stride = p."""
  n, h, w, c = x.shape
  h2, w2 = h // p, w // p
  return x[:, : h2 * p, : w2 * p].reshape(n, h2, p, w2, p, c).max(axis=(2, 4))


class Conv2D(nn.Module):
  features: int
  kernel_size: int
  strides: int = 1
  padding: str = "SAME"

  @nn.compact
  def __call__(self, x):
    k, c = int(self.kernel_size), x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, c, int(self.features)))
    bias = self.param("bias", nn.initializers.zeros_init(), (int(self.features),))
    return patches(x, k, int(self.strides), self.padding) @ kernel.reshape(-1, int(self.features)) + bias


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
  def __call__(self, x, lengths=None, *, train: bool = False, dropout_rate=0.0):
    act = ACTIVATIONS[self.activation]
    for i, f in enumerate(self.filters):
      if min(x.shape[1:3]) < (self.kernel_size if self.padding == "VALID" else 1):
        raise ValueError(f"model.filters: block {i} gets a {x.shape[1]}x{x.shape[2]} map, smaller than "
                         f"kernel_size {self.kernel_size} with VALID padding; use fewer blocks or SAME padding")
      x = act(Conv2D(int(f), self.kernel_size, self.strides, self.padding, name=f"conv{i}")(x))
      if self.pool > 1 and min(x.shape[1:3]) >= self.pool:
        x = max_pool(x, self.pool)
    x = x.reshape((x.shape[0], -1))
    for i, u in enumerate(self.dense):
      x = act(nn.Dense(int(u), name=f"dense{i}")(x))
      x = dropout(self, x, dropout_rate, train)
    return nn.Dense(self.num_classes, name="head")(x)
