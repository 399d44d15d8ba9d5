"""Multilayer perceptron: flatten, then one Dense layer per entry of `units`."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from mlexp.models.layers import ACTIVATIONS, dropout


class MLP(nn.Module):
  num_classes: int
  units: Sequence[int] = (256, 256)
  activation: str = "relu"

  @nn.compact
  def __call__(self, x, lengths=None, *, train: bool = False, dropout_rate=0.0):
    x = x.reshape((x.shape[0], -1))
    act = ACTIVATIONS[self.activation]
    for i, u in enumerate(self.units):
      x = act(nn.Dense(int(u), name=f"dense{i}")(x))
      x = dropout(self, x, dropout_rate, train)
    return nn.Dense(self.num_classes, name="head")(x)
