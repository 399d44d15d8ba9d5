"""GRU / LSTM classifiers for variable-length sequences, with an optional Conv1d front end.

The recurrent layer is written out (not flax's nn.RNN) for speed on CPU: the input projections of all
steps are one matmul before the time scan, and the scan is unrolled `unroll` steps. Gate equations
follow PyTorch's nn.GRU / nn.LSTM. Padded steps never change the carry, so the carry after the scan is
the one at the last valid step, and padding never changes a prediction.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlexp.models.layers import dropout, masked_mean, time_mask

GATES = {"gru": 3, "lstm": 4}


class Recurrent(nn.Module):
  """One recurrent layer over x [B, T, F] -> (outputs [B, T, H], last valid hidden state [B, H])."""
  cell: str
  hidden: int
  unroll: int = 1

  @nn.compact
  def __call__(self, x, lengths):
    h_size, g = int(self.hidden), GATES[self.cell]
    xi = nn.Dense(g * h_size, name="input")(x)  # all steps at once
    w_h = self.param("recurrent_kernel", nn.initializers.orthogonal(), (h_size, g * h_size))
    b_h = self.param("recurrent_bias", nn.initializers.zeros_init(), (g * h_size,))
    batch, steps = x.shape[0], x.shape[1]
    valid = jnp.swapaxes(time_mask(lengths, steps, jnp.bool_), 0, 1)[..., None]  # [T, B, 1]
    xs = (jnp.swapaxes(xi, 0, 1), valid)
    zeros = jnp.zeros((batch, h_size), xi.dtype)

    if self.cell == "gru":
      def step(h, inp):
        x_t, ok = inp
        hh = h @ w_h + b_h
        xr, xz, xn = jnp.split(x_t, 3, axis=-1)
        hr, hz, hn = jnp.split(hh, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        h_new = jnp.where(ok, (1.0 - z) * n + z * h, h)
        return h_new, h_new
      h_last, ys = jax.lax.scan(step, zeros, xs, unroll=int(self.unroll))
    else:
      def step(carry, inp):
        h, c = carry
        x_t, ok = inp
        gates = x_t + h @ w_h + b_h
        i, f, gg, o = jnp.split(gates, 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        c_new = jnp.where(ok, c_new, c)
        h_new = jnp.where(ok, h_new, h)
        return (h_new, c_new), h_new
      (h_last, _), ys = jax.lax.scan(step, (zeros, zeros), xs, unroll=int(self.unroll))
    return jnp.swapaxes(ys, 0, 1), h_last


class RNNClassifier(nn.Module):
  num_classes: int
  cell: str = "gru"  # gru | lstm
  hidden: int = 64
  layers: int = 2
  conv_filters: int = 0  # 0 = no Conv1d front end
  conv_kernel: int = 3
  readout: str = "last"  # last valid step | masked mean over time
  unroll: int = 1

  @nn.compact
  def __call__(self, x, lengths, *, train: bool = False, dropout_rate=0.0):
    mask = time_mask(lengths, x.shape[1], x.dtype)[..., None]
    x = x * mask
    if self.conv_filters:
      x = nn.relu(nn.Conv(int(self.conv_filters), (int(self.conv_kernel),), padding="SAME", name="conv")(x))
      x = x * mask  # padding stays zero for the recurrent layers
    h_last = None
    for layer in range(int(self.layers)):
      if layer:
        x = dropout(self, x, dropout_rate, train)
      x, h_last = Recurrent(self.cell, self.hidden, self.unroll, name=f"{self.cell}{layer}")(x, lengths)
    feats = h_last if self.readout == "last" else masked_mean(x, lengths)
    return nn.Dense(self.num_classes, name="head")(feats)
