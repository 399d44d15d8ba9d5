"""z-scoring with train statistics: per channel for padded sequences, per feature for tabular data."""
from __future__ import annotations

import numpy as np

from mlexp.data.types import Split


def valid_mask(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """Bool [N, T]: True on the unpadded steps."""
  return np.arange(x.shape[1])[None, :] < lengths[:, None]


def channel_stats(split: Split) -> tuple[np.ndarray, np.ndarray]:
  """Mean and std [C] over valid steps only; std 1 where a channel is constant."""
  steps = split.x[valid_mask(split.x, split.lengths)].astype(np.float64)  # [steps, C]
  mean, std = steps.mean(axis=0), steps.std(axis=0)
  return mean, np.where(std > 1e-8, std, 1.0)


def apply(split: Split, mean: np.ndarray, std: np.ndarray) -> Split:
  """(x - mean) / std on valid steps; padded steps stay exactly 0."""
  m = valid_mask(split.x, split.lengths)[..., None]
  x = np.where(m, (split.x - mean) / std, 0.0).astype(np.float32)
  return Split(x, split.y, split.lengths)


def standardize(train: Split, *others: Split) -> tuple[Split, ...]:
  """Standardizes train and the other splits with the train statistics."""
  mean, std = channel_stats(train)
  return tuple(apply(s, mean, std) for s in (train, *others))


def features(train: Split, *others: Split) -> tuple[Split, ...]:
  """Tabular splits (x [N, D]) z-scored per feature with the train mean and std (std 1 where a feature is
  constant)."""
  x = train.x.astype(np.float64)
  mean, std = x.mean(axis=0), x.std(axis=0)
  std = np.where(std > 1e-8, std, 1.0)
  return tuple(Split(((s.x - mean) / std).astype(np.float32), s.y, s.lengths) for s in (train, *others))
