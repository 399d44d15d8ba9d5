"""GRU / LSTM classifiers for variable-length sequences, with an optional Conv1d front end.

The recurrent layer is written out (not flax's nn.RNN) for speed on CPU: the input projections of all
steps are one matmul before the time scan, and the scan is unrolled `unroll` steps. Gate equations
follow PyTorch's nn.GRU / nn.LSTM. Padded steps never change the carry, so the carry after the scan is
the one at the last valid step, and padding never changes a prediction.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlexp.models.layers import dropout, masked_mean, time_mask

GATES = {"gru": 3, "lstm": 4}


def _gru_forward(xi, w_h, b_h, valid, h0, unroll):
  """The GRU recurrence over xi [T, B, 3H] (input projections of every step); returns (ys, h_last, residuals)."""
  def step(h, inp):
    x_t, ok = inp
    hh = h @ w_h + b_h
    xr, xz, xn = jnp.split(x_t, 3, axis=-1)
    hr, hz, hn = jnp.split(hh, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h_new = jnp.where(ok, n + z * (h - n), h)
    return h_new, (h_new, (r, z, n, hn))
  h_last, (ys, res) = jax.lax.scan(step, h0, (xi, valid), unroll=unroll)
  return ys, h_last, res


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def gru_scan(xi, w_h, b_h, valid, h0, unroll=1):
  """(ys [T, B, H], h_last [B, H]) of a GRU layer (PyTorch's gate equations) over the input projections
  xi [T, B, 3H], with a step held (carry unchanged) where valid [T, B, 1] is False.

  Its hand-written backward pass runs one matmul per time step (dh @ W^T); the recurrent weight gradient
  is one large matmul over all steps after the loop instead of a small one inside it.
  """
  ys, h_last, _ = _gru_forward(xi, w_h, b_h, valid, h0, unroll)
  return ys, h_last


def _gru_scan_fwd(xi, w_h, b_h, valid, h0, unroll):
  ys, h_last, res = _gru_forward(xi, w_h, b_h, valid, h0, unroll)
  h_prev = jnp.concatenate([h0[None], ys[:-1]], axis=0)
  return (ys, h_last), (w_h, valid, h_prev, res)


def _gru_scan_bwd(unroll, saved, cts):
  w_h, valid, h_prev, (r, z, n, hn) = saved
  g_ys, g_last = cts
  w_t = w_h.T

  def step(dh, inp):
    g_y, ok, h, r, z, n, hn = inp
    dh = dh + g_y
    dhc = jnp.where(ok, dh, 0.0)
    dn = dhc * (1.0 - z) * (1.0 - n * n)
    dz = dhc * (h - n) * z * (1.0 - z)
    dr = dn * hn * r * (1.0 - r)
    dhh = jnp.concatenate([dr, dz, dn * r], axis=-1)
    dxi = jnp.concatenate([dr, dz, dn], axis=-1)
    dh_prev = jnp.where(ok, dhc * z, dh) + dhh @ w_t
    return dh_prev, (dxi, dhh)

  dh0, (dxi, dhh) = jax.lax.scan(step, g_last, (g_ys, valid, h_prev, r, z, n, hn), reverse=True, unroll=unroll)
  dw = jnp.einsum("tbh,tbk->hk", h_prev, dhh)
  db = dhh.sum(axis=(0, 1))
  return dxi, dw, db, None, dh0


gru_scan.defvjp(_gru_scan_fwd, _gru_scan_bwd)


class Recurrent(nn.Module):
  """One recurrent layer over x [B, T, F] -> (outputs [B, T, H], last valid hidden state [B, H])."""
  cell: str
  hidden: int
  unroll: int = 1

  @nn.compact
  def __call__(self, x, lengths):
    h_size, g = int(self.hidden), GATES[self.cell]
    xi = nn.Dense(g * h_size, name="input")(x)  # all steps at once
    # PyTorch's init U(-1/sqrt(H), 1/sqrt(H)); not orthogonal: its QR under vmap hung XLA:CPU (hidden 256,
    # 3 layers, 3 members: reproduced) and costs compile time
    bound = 1.0 / h_size ** 0.5
    init = lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)
    w_h = self.param("recurrent_kernel", init, (h_size, g * h_size))
    b_h = self.param("recurrent_bias", nn.initializers.zeros_init(), (g * h_size,))
    batch, steps = x.shape[0], x.shape[1]
    valid = jnp.swapaxes(time_mask(lengths, steps, jnp.bool_), 0, 1)[..., None]  # [T, B, 1]
    xs = (jnp.swapaxes(xi, 0, 1), valid)
    zeros = jnp.zeros((batch, h_size), xi.dtype)

    if self.cell == "gru":
      ys, h_last = gru_scan(xs[0], w_h, b_h, valid, zeros, int(self.unroll))
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
