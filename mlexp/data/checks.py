"""Checks every loader's arrays pass before training: finite values, labels in [0, classes), and train and
test examples of the same shape. A failure is a DataError naming where, the index and the value."""
from __future__ import annotations

import numpy as np

from mlexp.data.errors import DataError
from mlexp.data.types import Dataset


def check_finite(x: np.ndarray, where: str) -> None:
  """DataError naming the first example of x (axis 0) with a NaN or infinite value."""
  x = np.asarray(x)
  if not np.issubdtype(x.dtype, np.floating) or x.size == 0:
    return
  ok = np.isfinite(x)
  if ok.all():
    return
  bad = np.nonzero(~ok.reshape(len(x), -1).all(axis=1))[0]
  i = int(bad[0])
  value = x[i][~ok[i]].flat[0]
  raise DataError(f'{where}: example {i} has the value {value} ({len(bad)} example(s) with NaN or infinite '
                  'values); fix or remove them')


def check_labels(y: np.ndarray, num_classes: int, where: str) -> None:
  """DataError naming the first label outside [0, num_classes)."""
  y = np.asarray(y)
  bad = np.nonzero((y < 0) | (y >= num_classes))[0]
  if bad.size:
    i = int(bad[0])
    raise DataError(f'{where}: label {y[i]} at index {i} is outside [0, {num_classes}) ({bad.size} such '
                    'label(s)); fix the labels')


def check_dataset(ds: Dataset) -> None:
  """Finite inputs, labels in range, and the same example shape (images) or channels (sequences) in train
  and test: DataError otherwise."""
  for name, split in (('train', ds.train), ('test', ds.test), *ds.extra_tests.items()):
    where = f'{ds.name} {name} data ({ds.source})'
    if len(split.y) != len(split.x):
      raise DataError(f'{where}: {len(split.x)} examples but {len(split.y)} labels')
    check_finite(split.x, where)
    check_labels(split.y, ds.num_classes, where)
  tr, te = ds.train.x.shape[1:], ds.test.x.shape[1:]
  if ds.kind == 'sequence':
    tr, te = tr[1:], te[1:]  # lengths may differ; channels may not
  if tr != te:
    raise DataError(f'{ds.name} ({ds.source}): train examples have shape {tr} but test examples {te}; both '
                    'splits must have the same shape')
