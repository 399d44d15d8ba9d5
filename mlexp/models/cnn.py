"""Convolutional classifier: conv blocks (conv, activation, optional pooling), then Dense layers."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from mlexp.models.layers import ACTIVATIONS, dropout


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
    k, s = int(self.kernel_size), int(self.strides)
    for i, f in enumerate(self.filters):
      x = act(nn.Conv(int(f), (k, k), strides=(s, s), padding=self.padding, name=f"conv{i}")(x))
      if self.pool > 1 and min(x.shape[1:3]) >= self.pool:
        x = nn.max_pool(x, (self.pool, self.pool), strides=(self.pool, self.pool))
    x = x.reshape((x.shape[0], -1))
    for i, u in enumerate(self.dense):
      x = act(nn.Dense(int(u), name=f"dense{i}")(x))
      x = dropout(self, x, dropout_rate, train)
    return nn.Dense(self.num_classes, name="head")(x)
