"""Small building blocks shared by the models: activations, width-stable initialisers, unit masks, dropout.

Width padding (mlexp.sweep.buckets): a group may hold members of different widths, padded to one bucket
width. Three rules make a padded member train exactly the model its config names:

* parameters of padded units are initialised to exactly zero (`unit_mask` rows and columns), and
  padded activations are multiplied by the unit mask, so their gradients, optimizer updates (weight
  decay included) and values stay exactly zero and never reach an active unit;
* initialisation is prefix-stable: element (i, j) of a kernel is drawn from the key of its input row i
  (`fold_in(key, i)`) at position j of a 1-D draw (threefry is partitionable: element j of a 1-D draw
  does not depend on the draw's length), with the scale of the true fan-in;
* dropout masks are drawn with the padded unit axis first, so a unit's mask does not depend on the
  padding either.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
}
_TRUNC = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def unit_mask(true_width, padded_width: int, dtype=jnp.float32):
  """[padded_width] 1.0 for the first `true_width` units (None = all), 0.0 for padding."""
  if true_width is None:
    return jnp.ones((padded_width,), dtype)
  return (jnp.arange(padded_width) < true_width).astype(dtype)


def stable_kernel(key, rows: int, inner: tuple, fan_in, row_mask=None, col_mask=None, kind: str = "normal"):
  """A kernel [rows, *inner] whose element (i, ..., j) does not depend on how far rows or the last axis
  are padded. kind 'normal': lecun normal (truncated, std 1/sqrt(fan_in)); 'uniform': U(+-1/sqrt(fan_in))
  (PyTorch's recurrent init). fan_in may be traced (a member's true width)."""
  scale = jax.lax.rsqrt(jnp.asarray(fan_in, jnp.float32))
  lead, last = tuple(inner[:-1]), int(inner[-1])

  def row(i):
    k = jax.random.fold_in(key, i)
    if not lead:
      return _draw(k, last, kind)
    n = 1
    for d in lead:
      n *= d
    return jax.vmap(lambda g: _draw(jax.random.fold_in(k, g), last, kind))(jnp.arange(n)).reshape(lead + (last,))

  w = jax.vmap(row)(jnp.arange(rows)) * scale
  if row_mask is not None:
    w = w * row_mask.reshape((rows,) + (1,) * len(inner))
  if col_mask is not None:
    w = w * col_mask
  return w


def _draw(key, n: int, kind: str):
  if kind == "uniform":
    return jax.random.uniform(key, (n,), jnp.float32, -1.0, 1.0)
  return jax.random.truncated_normal(key, -2.0, 2.0, (n,), jnp.float32) / _TRUNC


def dropout(x, rate, key, train: bool):
  """Inverted dropout whose rate may be a traced array (vmapped over trials). The mask is drawn with the
  last (unit) axis first, so a unit's mask does not depend on how far its layer is padded."""
  if not train:
    return x
  rate = jnp.asarray(rate, x.dtype)
  keep = 1.0 - rate
  shape = (x.shape[-1],) + x.shape[:-1]
  mask = jnp.moveaxis(jax.random.bernoulli(key, keep, shape), 0, -1)
  return jnp.where(mask, x / jnp.maximum(keep, 1e-6), 0.0)


def time_mask(lengths, steps: int, dtype=jnp.float32):
  """[B, T] 1.0 at valid steps (t < length), 0.0 at padding."""
  return (jnp.arange(steps)[None, :] < lengths[:, None]).astype(dtype)


def masked_mean(x, lengths):
  """Mean over the valid steps of x [B, T, F]; padding never contributes."""
  m = time_mask(lengths, x.shape[1], x.dtype)[..., None]
  return (x * m).sum(axis=1) / jnp.maximum(lengths, 1)[:, None].astype(x.dtype)


def layer_key(key, index: int):
  """The init key of layer `index` (a fixed derivation: the same layer gets the same key whatever the
  depth or padding of the model around it)."""
  return None if key is None else jax.random.fold_in(key, index)


def param(module, name: str, init):
  """module's parameter `name`, made by init() (no arguments: the keys are explicit) when initialising.
  (Linen's `self.param` re-traces the initialiser at every apply to check shapes: not wanted here.)"""
  if module.is_initializing():
    return module.param(name, lambda _: init())
  return module.get_variable("params", name)
