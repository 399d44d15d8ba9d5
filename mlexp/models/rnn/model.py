"""GRU / LSTM classifiers for variable-length sequences, with an optional Conv1d front end.

The recurrent layer is written out (not flax's nn.RNN) for speed on CPU: the layers run time-major, the
input projections of all steps are computed before the time scan (one matmul per gate, each gate its own
array: see gru_scan), and the scan is unrolled `unroll` steps. Gate equations
follow PyTorch's nn.GRU / nn.LSTM. Padded steps never change the carry, so the carry after the scan is
the one at the last valid step, and padding never changes a prediction.

Depth and width are data in a padded group (`dims` given): the layers run as one `lax.scan` over stacked
parameters (the first layer too when its input is narrower than the hidden state: one copy of the
recurrence in the program, whatever the depth), a member's `dims["layers"]` decides which of them run (a
`lax.cond`; the others pass their input through), and `dims["hidden"]` / `dims["conv_filters"]` its true
widths inside the padded ones (padded units have zero weights and stay exactly zero: a GRU/LSTM unit with
zero pre-activations keeps h = c = 0). A model of its own sizes (`dims=None`) runs every layer, without the
conds; with `first_apart` its first layer runs before the scan, reading its input at its own width (12
features instead of the hidden width): the same parameters, faster epochs, a second copy of the recurrence.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlexp.models.layers import derive, dropout, layer_key, masked_mean, param, seeds, stable_kernel, time_mask, unit_mask

GATES = {"gru": 3, "lstm": 4}


def _gru_forward(xi, w_h, b_h, valid, h0, unroll):
  """The GRU recurrence over xi = (xr, xz, xn), each [T, B, H] (the input projections of every step, one
  array per gate); returns (ys, h_last, residuals)."""
  def step(h, inp):
    xr, xz, xn, ok = inp
    hh = h @ w_h + b_h
    hr, hz, hn = jnp.split(hh, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h_new = jnp.where(ok, n + z * (h - n), h)
    return h_new, (h_new, (r, z, n, hn))
  h_last, (ys, res) = jax.lax.scan(step, h0, (*xi, valid), unroll=unroll)
  return ys, h_last, res


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def gru_scan(xi, w_h, b_h, valid, h0, unroll=1):
  """(ys [T, B, H], h_last [B, H]) of a GRU layer (PyTorch's gate equations) over the input projections
  xi = (xr, xz, xn), each [T, B, H], with a step held (carry unchanged) where valid [T, B, 1] is False.

  The gates come as separate arrays, not one [T, B, 3H] array split inside the loop: XLA:CPU emits slow
  scalar code for a fusion that slices the step's dynamic slice (measured 3.5x slower per step,
  docs/program.md). Its hand-written backward pass runs one matmul per time step (dh @ W^T); the
  recurrent weight gradient is one large matmul over all steps after the loop instead of a small one
  inside it.
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
    dh_prev = jnp.where(ok, dhc * z, dh) + dhh @ w_t
    return dh_prev, (dr, dz, dn, dhh)

  dh0, (dr, dz, dn, dhh) = jax.lax.scan(step, g_last, (g_ys, valid, h_prev, r, z, n, hn), reverse=True,
                                        unroll=unroll)
  dw = jnp.einsum("tbh,tbk->hk", h_prev, dhh)
  db = dhh.sum(axis=(0, 1))
  return (dr, dz, dn), dw, db, None, dh0


gru_scan.defvjp(_gru_scan_fwd, _gru_scan_bwd)


def recurrent(cell: str, xt, valid, w_in, b_in, w_h, b_h, unroll: int):
  """One recurrent layer over time-major xt [T, B, F] with kernels w_in [F, g, H], w_h [H, g, H], biases
  [g, H], a step held where valid [T, B, 1] is False -> (outputs [T, B, H], last valid hidden state [B, H])."""
  h_size, g = w_h.shape[0], GATES[cell]
  # the input projections of all steps at once, one array per gate (see gru_scan)
  xs = tuple(xt @ w_in[:, k] + b_in[k] for k in range(g))
  w_h, b_h = w_h.reshape(h_size, g * h_size), b_h.reshape(-1)
  zeros = jnp.zeros((xt.shape[1], h_size), xt.dtype)
  if cell == "gru":
    return gru_scan(xs, w_h, b_h, valid, zeros, int(unroll))

  def step(carry, inp):
    h, c = carry
    xi_t, xf_t, xg_t, xo_t, ok = inp
    hi, hf, hg, ho = jnp.split(h @ w_h + b_h, 4, axis=-1)
    c_new = jax.nn.sigmoid(xf_t + hf) * c + jax.nn.sigmoid(xi_t + hi) * jnp.tanh(xg_t + hg)
    h_new = jax.nn.sigmoid(xo_t + ho) * jnp.tanh(c_new)
    c_new = jnp.where(ok, c_new, c)
    h_new = jnp.where(ok, h_new, h)
    return (h_new, c_new), h_new
  (h_last, _), ys = jax.lax.scan(step, (zeros, zeros), (*xs, valid), unroll=int(unroll))
  return ys, h_last


def conv1d_same(x, kernel, bias):
  """x [B, T, F] (zero beyond each length) convolved with kernel [k, F, C] and 'SAME' padding, as im2col."""
  k, steps = kernel.shape[0], x.shape[1]
  left = (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
  cols = jnp.concatenate([xp[:, i:i + steps] for i in range(k)], axis=-1)
  return cols @ kernel.reshape(-1, kernel.shape[-1]) + bias


HEAD = 1000  # init key index of the head; the conv front end uses CONV: the same whatever the depth
CONV = 1001


class RNNClassifier(nn.Module):
  num_classes: int
  cell: str = "gru"  # gru | lstm
  hidden: int = 64
  layers: int = 2
  conv_filters: int = 0  # 0 = no Conv1d front end
  conv_kernel: int = 3
  readout: str = "last"  # last valid step | masked mean over time
  unroll: int = 1
  # compute only (the parameters are the same): run layer 0 apart at its input's width, a second copy of the
  # recurrence in the program for cheaper epochs (mlexp.training.program decides, for long enough runs)
  first_apart: bool = False

  @nn.compact
  def __call__(self, x, lengths, *, train: bool = False, dropout_rate=0.0, dims=None, dropout_seed=None):
    g, w, n_layers = GATES[self.cell], int(self.hidden), int(self.layers)
    base, dkey = seeds(self, train, dropout_seed)
    h_true = w if dims is None else dims["hidden"]
    depth = n_layers if dims is None else dims["layers"]
    h_mask = None if dims is None else unit_mask(h_true, w)
    mask = time_mask(lengths, x.shape[1], x.dtype)[..., None]
    x = x * mask
    in_w, in_true, in_mask = x.shape[-1], x.shape[-1], None
    if self.conv_filters:
      cf, k = int(self.conv_filters), int(self.conv_kernel)
      cf_true = cf if dims is None else dims["conv_filters"]
      cf_mask = None if dims is None else unit_mask(cf_true, cf)
      kern = param(self, "conv_kernel", lambda: stable_kernel(layer_key(base, CONV), k, (in_w, cf), k * in_w,
                                                               col_mask=cf_mask))
      bias = param(self, "conv_bias", lambda: jnp.zeros((cf,), jnp.float32))
      x = jax.nn.relu(conv1d_same(x, kern, bias)) * mask  # padding stays zero for the recurrent layers
      in_w, in_true, in_mask = cf, cf_true, cf_mask

    def layer_params(key, n_in, fan_in, row_mask):
      k_in, k_h = (None, None) if key is None else (derive(key, 0), derive(key, 1))
      return (stable_kernel(k_in, n_in, (g, w), fan_in, row_mask, h_mask),
              jnp.zeros((g, w), jnp.float32),
              stable_kernel(k_h, w, (g, w), h_true, h_mask, h_mask, kind="uniform"),
              jnp.zeros((g, w), jnp.float32))

    # time-major from here on: the recurrent layers scan over time, and every layer reads its input's steps
    # as contiguous [B, F] slices (one transpose here instead of one per layer)
    x = jnp.swapaxes(x, 0, 1)
    valid = jnp.swapaxes(time_mask(lengths, x.shape[0], jnp.bool_), 0, 1)[..., None]  # [T, B, 1]
    if in_w <= w:
      # every layer's parameters stacked (the input is zero-padded to the hidden width: layer 0's kernel rows
      # past the true input are zero)
      in_mask_w = unit_mask(in_true, w)
      hm = unit_mask(h_true, w)

      def stacked(l):  # layers past the member's depth are never used: all zero
        p = layer_params(derive(base, l), w, jnp.where(l == 0, in_true, h_true), jnp.where(l == 0, in_mask_w, hm))
        return jax.tree.map(lambda a: a * (l < depth), p)
      stack = param(self, "rnn", lambda: jax.vmap(stacked)(jnp.arange(n_layers)))
      if self.first_apart:  # layer 0 run apart, reading its input at its own width (the same parameters)
        p0 = jax.tree.map(lambda a: a[0], stack)
        x, h_last = recurrent(self.cell, x, valid, p0[0][:in_w], *p0[1:], self.unroll)
        first_layer, stack = 1, jax.tree.map(lambda a: a[1:], stack)
      else:  # every layer in one scan (one copy of the recurrence in the compiled program)
        x = jnp.pad(x, ((0, 0), (0, 0), (0, w - in_w)))
        first_layer, h_last = 0, jnp.zeros((x.shape[1], w), x.dtype)
    else:  # inputs wider than the hidden state: the first layer apart
      first = param(self, "rnn0", lambda: layer_params(layer_key(base, 0), in_w, in_true, in_mask))
      x, h_last = recurrent(self.cell, x, valid, *first, self.unroll)
      first_layer = 1
      if n_layers > 1:
        stack = param(self, "rnn_stack", lambda: jax.vmap(
            lambda l: jax.tree.map(lambda a: a * (l < depth), layer_params(derive(base, l), w, h_true, h_mask))
        )(jnp.arange(1, n_layers)))

    def run(y, l, p):
      if train:  # dropout between layers (as torch.nn.GRU's), not before the first; the mask is drawn
        # over (batch, time, unit) indices as for a batch-major array
        dropped = jnp.swapaxes(dropout(jnp.swapaxes(y, 0, 1), dropout_rate, derive(dkey, l), train), 0, 1)
        y = jnp.where(l > 0, dropped, y)
      return recurrent(self.cell, y, valid, *p, self.unroll)
    if n_layers > first_layer:
      def layer(carry, inp):
        l, p = inp
        if dims is None:  # a model of its own sizes: every layer runs
          return run(carry[0], l, p), None
        # depth as data: layers past the member's depth pass their input through
        return jax.lax.cond(l < depth, lambda c: run(c[0], l, p), lambda c: c, carry), None
      (x, h_last), _ = jax.lax.scan(layer, (x, h_last), (jnp.arange(first_layer, n_layers), stack))
    feats = h_last if self.readout == "last" else masked_mean(jnp.swapaxes(x, 0, 1), lengths)
    head_k = param(self, "head_kernel", lambda: stable_kernel(layer_key(base, HEAD), w, (self.num_classes,),
                                                               h_true, h_mask))
    head_b = param(self, "head_bias", lambda: jnp.zeros((self.num_classes,), jnp.float32))
    return feats @ head_k + head_b
