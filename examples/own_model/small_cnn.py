"""A student's own CNN in plain Flax: two conv blocks and a dense head, with dropout before the head.

Written to mlexp's contract (README "Your own model"): an image model's `__call__` takes (x [batch, H, W, C],
*, train) and returns logits [batch, num_classes]. Here dropout is a field (`dropout`), so it is a static
setting: trials with other values compile other programs (compare attn_gru.py's `dropout_rate` keyword).
"""
from typing import Sequence

import flax.linen as nn


class SmallCNN(nn.Module):
  num_classes: int  # filled in by mlexp from the data
  filters: Sequence[int] = (16, 32)
  kernel_size: int = 3
  dense: int = 64
  dropout: float = 0.1

  @nn.compact
  def __call__(self, x, *, train):
    for f in self.filters:
      x = nn.relu(nn.Conv(f, (self.kernel_size, self.kernel_size), padding="SAME")(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.dense)(x))
    x = nn.Dropout(self.dropout)(x, deterministic=not train)
    return nn.Dense(self.num_classes)(x)
