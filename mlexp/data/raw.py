"""Data sets from raw files a user already has: IDX folders, Spoken Arabic Digits, Smartwatch Gestures."""
from __future__ import annotations

import dataclasses
import os
import zlib

import numpy as np

from mlexp.data import arabic_digits, smartwatch, splits
from mlexp.data.checks import check_finite, check_labels
from mlexp.data.embedded import sequences_dataset
from mlexp.data.errors import DataError
from mlexp.data.idx_format import parse_idx
from mlexp.data.types import Dataset, Split

CLASS_NAMES = {
    'mnist': tuple(str(d) for d in range(10)),
    'fashion_mnist': ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                      'Ankle boot'),
}
IDX_FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def _find(folder: str, name: str, dataset: str) -> str:
  for candidate in (name, name + '.gz'):
    p = os.path.join(folder, candidate)
    if os.path.isfile(p):
      return p
  raise DataError(f'{dataset}: missing file {os.path.join(folder, name)}[.gz]; '
                  f'--config.data.path must be a folder with {", ".join(IDX_FILES)} (each optionally .gz)')


def _read_idx(path: str, dataset: str) -> np.ndarray:
  with open(path, 'rb') as f:
    try:
      return parse_idx(f.read())
    except (ValueError, OSError, EOFError, zlib.error) as e:  # (a damaged .gz: BadGzipFile, EOFError, zlib)
      raise DataError(f'{dataset}: cannot read {path}: {e}') from None


def images_split(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
  """uint8 images [N, H, W] (or [N, H, W, 1]) and labels -> Split with x float32 [N, H, W, 1] in [0, 1]."""
  if images.ndim == 3:
    images = images[..., None]
  if len(images) != len(labels):
    raise DataError(f'{where}: {len(images)} images but {len(labels)} labels')
  return Split((images / 255.0).astype(np.float32), labels.astype(np.int32))


def idx_folder(name: str, folder: str) -> Dataset:
  """(Fashion-)MNIST from a folder of IDX files."""
  if not os.path.isdir(folder):
    raise DataError(f'{name}: --config.data.path={folder} is not a folder; point it at the folder with the IDX files')
  paths = [_find(folder, f, name) for f in IDX_FILES]
  arrays = [_read_idx(p, name) for p in paths]
  for images, labels, ipath, lpath in ((arrays[0], arrays[1], paths[0], paths[1]),
                                       (arrays[2], arrays[3], paths[2], paths[3])):
    if images.ndim not in (3, 4) or labels.ndim != 1:
      raise DataError(f'{name}: {ipath} holds an array of shape {images.shape} and {lpath} one of shape '
                      f'{labels.shape}; expected images [N, H, W] and labels [N]')
    check_finite(images, f'{name} {ipath}')
    check_labels(labels, len(CLASS_NAMES[name]), f'{name} {lpath}')
  if arrays[0].shape[1:] != arrays[2].shape[1:]:
    raise DataError(f'{name}: the train images ({paths[0]}) are {arrays[0].shape[1:]} but the test images '
                    f'({paths[2]}) are {arrays[2].shape[1:]}; both must have the same size')
  train = images_split(arrays[0], arrays[1], f'{name} {paths[0]}')
  test = images_split(arrays[2], arrays[3], f'{name} {paths[2]}')
  return Dataset(name=name, source=f'IDX files in {os.path.abspath(folder)}', kind='image',
                 num_classes=len(CLASS_NAMES[name]), feature_shape=tuple(train.x.shape[1:]), train=train, test=test,
                 class_names=CLASS_NAMES[name])


def _arabic_file(folder: str, fname: str) -> tuple[list, list]:
  path = os.path.join(folder, fname)
  if not os.path.isfile(path):
    raise DataError(f'spoken_arabic_digits: missing file {path}; --config.data.path must be the folder with '
                    'Train_Arabic_Digit.txt and Test_Arabic_Digit.txt')
  with open(path) as f:
    try:
      blocks = arabic_digits.parse_blocks(f.read())
      labels = arabic_digits.labels(len(blocks))
    except ValueError as e:
      raise DataError(f'spoken_arabic_digits: cannot parse {path}: {e}') from None
  return blocks, [arabic_digits.CLASS_NAMES[l] for l in labels]


def arabic(folder: str) -> Dataset:
  """UCI Spoken Arabic Digit: 13 MFCCs per frame, 20 classes digit x gender."""
  train = _arabic_file(folder, 'Train_Arabic_Digit.txt')
  test = _arabic_file(folder, 'Test_Arabic_Digit.txt')
  ds = sequences_dataset('spoken_arabic_digits', f'UCI Spoken Arabic Digit files in {os.path.abspath(folder)}',
                         train, test)
  return _with_class_order(ds, arabic_digits.CLASS_NAMES)


def _with_class_order(ds: Dataset, names: tuple) -> Dataset:
  """Relabels ds so that label i means names[i] (names must cover ds.class_names)."""
  index = np.array([names.index(n) for n in ds.class_names], np.int32)
  relabel = lambda s: Split(s.x, index[s.y], s.lengths)
  return dataclasses.replace(ds, train=relabel(ds.train), test=relabel(ds.test), class_names=names,
                             num_classes=len(names))


def smartwatch_gestures(folder: str, test_fraction: float, seed: int) -> Dataset:
  """Smartwatch Gestures: accelerometer x, y, z per repetition, 20 gestures, stratified train/test split."""
  if not os.path.isdir(folder):
    raise DataError(f'smartwatch_gestures: --config.data.path={folder} is not a folder; point it at the folder '
                    'with one folder per gesture (1..20)')
  files = smartwatch.find_files(folder)
  if not files:
    raise DataError(f'smartwatch_gestures: no files in gesture folders named 1..20 under {folder}; '
                    'point --config.data.path at the unpacked data set')
  series = []
  for path, _ in files:
    with open(path) as f:
      try:
        series.append(smartwatch.parse_recording(f.read()))
      except ValueError as e:
        raise DataError(f'smartwatch_gestures: cannot parse {path}: {e}') from None
  y = np.array([g for _, g in files], np.int32)
  tr, te = splits.stratified_split(y, test_fraction, seed)
  names = [str(g + 1) for g in y]
  ds = sequences_dataset('smartwatch_gestures', f'Smartwatch Gestures files in {os.path.abspath(folder)}',
                         ([series[i] for i in tr], [names[i] for i in tr]),
                         ([series[i] for i in te], [names[i] for i in te]))
  return _with_class_order(ds, tuple(str(g) for g in range(1, smartwatch.NUM_CLASSES + 1)))
