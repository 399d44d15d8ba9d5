"""Pure, deterministic index selection: stratified splits and subsamples."""
from __future__ import annotations

import numpy as np

from mlexp.data.types import Split


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(train_idx, test_idx), each sorted; round(n_c * test_fraction) of every class go to test."""
  rng = np.random.default_rng(seed)
  train, test = [], []
  for c in np.unique(y):
    idx = rng.permutation(np.nonzero(y == c)[0])
    k = int(round(len(idx) * test_fraction))
    test.append(idx[:k])
    train.append(idx[k:])
  cat = lambda parts: np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)
  return cat(train), cat(test)


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(train_idx, val_idx), each sorted: round(n_c * fraction) of every class c to validation, at least one
  where the class has two or more examples, and never its last one (a class of one stays in train)."""
  rng = np.random.default_rng(seed)
  train, val = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
  for c in np.unique(y):
    idx = rng.permutation(np.nonzero(y == c)[0])
    k = min(max(int(round(len(idx) * fraction)), 1), len(idx) - 1) if fraction > 0 else 0
    val.append(idx[:k])
    train.append(idx[k:])
  return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(val)).astype(np.int64)


def subsample_indices(y: np.ndarray, k: int, seed: int) -> np.ndarray:
  """Sorted indices of k samples keeping class proportions (seeded); all if k <= 0 or k >= len(y)."""
  n = len(y)
  if k <= 0 or k >= n:
    return np.arange(n)
  perm = np.random.default_rng(seed).permutation(n)
  yp = y[perm]
  rank = np.zeros(n)
  for c in np.unique(yp):
    where = np.nonzero(yp == c)[0]
    rank[where] = (np.arange(len(where)) + 0.5) / len(where)
  return np.sort(perm[np.argsort(rank, kind='stable')[:k]])


def take(split: Split, idx: np.ndarray) -> Split:
  """The samples idx of a split."""
  return Split(split.x[idx], split.y[idx], None if split.lengths is None else split.lengths[idx])


def subsample(split: Split, k: int, seed: int) -> Split:
  """At most k samples, stratified; the split itself when k <= 0 or k >= len."""
  if k <= 0 or k >= len(split):
    return split
  return take(split, subsample_indices(split.y, k, seed))
