"""The baseline for sequences: masked mean over time, then one linear layer."""
from __future__ import annotations

import flax.linen as nn

from mlexp.models.layers import masked_mean


class MeanLinear(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x, lengths, *, train: bool = False, dropout_rate=0.0, dims=None, dropout_seed=None):
    return nn.Dense(self.num_classes, name="head")(masked_mean(x, lengths))
