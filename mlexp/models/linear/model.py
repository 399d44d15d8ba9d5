"""The baseline for sequences: masked mean over time, then linear layers (`units`: hidden Dense layers with
an activation, none by default: one linear layer, a linear model of the mean)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from mlexp.models.layers import ACTIVATIONS, derive, dropout, masked_mean, seeds


class MeanLinear(nn.Module):
  num_classes: int
  units: Sequence[int] = ()  # hidden Dense layers after the mean, one entry each (as the MLP's units)
  activation: str = "relu"

  @nn.compact
  def __call__(self, x, lengths, *, train: bool = False, dropout_rate=0.0, dims=None, dropout_seed=None):
    h = masked_mean(x, lengths)
    if self.units:
      _, dkey = seeds(self, train, dropout_seed)
      for l, u in enumerate(self.units):
        h = ACTIVATIONS[self.activation](nn.Dense(int(u), name=f"dense{l}")(h))
        h = dropout(h, dropout_rate, None if dkey is None else derive(dkey, l), train)
    return nn.Dense(self.num_classes, name="head")(h)
