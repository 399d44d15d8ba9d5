"""Multilayer perceptron: flatten, then one Dense layer per entry of `units`, then a linear head.

`stacked=True` (a padded sweep group): the layers after the first share one padded width (the first layer
has a width of its own), every member's widths (`dims["units"]`) and depth (`dims["layers"]`) are data, and
a layer past a member's depth passes its input through (a `lax.cond` per layer: skipped work when members
run one after another), so MLPs of any depth and widths up to the bucket share one compiled program.
The layers are written out, one parameter pair each (dense{l}_kernel / dense{l}_bias), not a `lax.scan`
over stacked parameters: on XLA:CPU a layer's matmuls inside a rolled loop ran ~2x slower, and separate
arrays let the optimizer skip a layer a member does not have (mlexp.training.optim.by_layer; measurements in
docs/sweeps.md, "Width buckets and depth as data").
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mlexp.models.layers import ACTIVATIONS, derive, dropout, layer_key, param, seeds, stable_kernel, unit_mask

HEAD = 1000  # the head's init key index: the same whatever the depth


def _fit(x, width: int):
  """x [B, F] zero-padded or cut to [B, width]."""
  f = x.shape[-1]
  return jnp.pad(x, ((0, 0), (0, width - f))) if f < width else x[:, :width]


class MLP(nn.Module):
  num_classes: int
  units: Sequence[int] = (256, 256)
  activation: str = "relu"
  stacked: bool = False

  @nn.compact
  def __call__(self, x, lengths=None, *, train: bool = False, dropout_rate=0.0, dims=None, dropout_seed=None):
    x = x.reshape((x.shape[0], -1))
    act = ACTIVATIONS[self.activation]
    base, dkey = seeds(self, train, dropout_seed)
    units = tuple(int(u) for u in self.units)
    true = None if dims is None else dims["units"]
    depth = len(units) if dims is None else dims["layers"]

    def width(l):
      return units[l] if true is None else true[l]

    def mask(l):
      return None if true is None else unit_mask(true[l], units[l])

    def dense(name, l, x, n_in, in_true, in_mask, n_out, out_mask):
      k = param(self, f"{name}_kernel", lambda: stable_kernel(layer_key(base, l), n_in, (n_out,), in_true,
                                                               in_mask, out_mask))
      b = param(self, f"{name}_bias", lambda: jnp.zeros((n_out,), jnp.float32))
      return x @ k + b

    def hidden(y, l, m):
      y = act(y)
      if m is not None:
        y = y * m
      return dropout(y, dropout_rate, None if dkey is None else derive(dkey, l), train)

    n_first = len(units) if not self.stacked else min(1, len(units))
    in_w, in_true, in_mask = x.shape[-1], x.shape[-1], None
    for l in range(n_first):
      x = hidden(dense(f"dense{l}", l, x, in_w, in_true, in_mask, units[l], mask(l)), l, mask(l))
      in_w, in_true, in_mask = units[l], width(l), mask(l)
    if self.stacked and len(units) > 1:
      # the first layer has its own padded width w0, the later ones share the stack width ws; the first
      # layer's output is zero-padded (or cut: members that go on have a first width <= ws) to ws
      w0, ws = units[0], units[1]
      if any(u != ws for u in units[1:]):
        raise ValueError(f"a stacked MLP needs one width after the first layer, got units={units}")
      t = jnp.asarray(units, jnp.int32) if true is None else jnp.asarray(true, jnp.int32)
      first = x
      x = _fit(first, ws)
      for l in range(1, len(units)):
        k = param(self, f"dense{l}_kernel", lambda l=l: stable_kernel(
            derive(base, l), ws, (ws,), jnp.maximum(t[l - 1], 1), unit_mask(t[l - 1], ws), unit_mask(t[l], ws)))
        b = param(self, f"dense{l}_bias", lambda: jnp.zeros((ws,), jnp.float32))

        def run(h, k, b, l=l):
          y = act(h @ k + b) * unit_mask(t[l], ws)
          return dropout(y, dropout_rate, derive(dkey, l), train) if train else y
        x = jax.lax.cond(l < depth, run, lambda h, k, b: h, x, k, b)
      # the head reads the last layer a member has: the stack's output, or the first layer's (depth 1)
      in_w = max(w0, ws)
      x = jnp.where(depth > 1, _fit(x, in_w), _fit(first, in_w))
      last = jnp.maximum(depth, 1) - 1
      in_true, in_mask = t[last], unit_mask(t[last], in_w)
    head_k = param(self, "head_kernel", lambda: stable_kernel(layer_key(base, HEAD), in_w, (self.num_classes,),
                                                               in_true, in_mask))
    head_b = param(self, "head_bias", lambda: jnp.zeros((self.num_classes,), jnp.float32))
    return x @ head_k + head_b
