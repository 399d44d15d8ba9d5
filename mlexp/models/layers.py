"""Small building blocks shared by the models."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "elu": nn.elu,
    "silu": nn.silu,
}


def dropout(module: nn.Module, x, rate, train: bool):
  """Inverted dropout whose rate may be a traced array (so it can be vmapped over trials).

  flax's nn.Dropout branches on the Python value of the rate; here the rate is data.
  """
  if not train:
    return x
  rate = jnp.asarray(rate, x.dtype)
  keep = 1.0 - rate
  mask = jax.random.bernoulli(module.make_rng("dropout"), keep, x.shape)
  return jnp.where(mask, x / jnp.maximum(keep, 1e-6), 0.0)


def time_mask(lengths, steps: int, dtype=jnp.float32):
  """[B, T] 1.0 at valid steps (t < length), 0.0 at padding."""
  return (jnp.arange(steps)[None, :] < lengths[:, None]).astype(dtype)


def masked_mean(x, lengths):
  """Mean over the valid steps of x [B, T, F]; padding never contributes."""
  m = time_mask(lengths, x.shape[1], x.dtype)[..., None]
  return (x * m).sum(axis=1) / jnp.maximum(lengths, 1)[:, None].astype(x.dtype)
