"""Length bucketing of padded sequence splits."""
from __future__ import annotations

import numpy as np

from mlexp.data.types import Split


def bucketize(split: Split, num_buckets: int) -> list[Split]:
  """At most num_buckets nonempty splits of roughly equal count by length quantile, each trimmed to its max length.

  Inside a bucket samples are in ascending length order; a split without lengths
  (images) comes back as [split].
  """
  if split.lengths is None or len(split) == 0:
    return [split]
  order = np.argsort(split.lengths, kind='stable')
  out = []
  for idx in np.array_split(order, max(1, min(int(num_buckets), len(split)))):
    if len(idx) == 0:
      continue
    t = int(split.lengths[idx].max())
    out.append(Split(split.x[idx, :t], split.y[idx], split.lengths[idx]))
  return out
