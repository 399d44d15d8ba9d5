"""load(data_cfg, eval_cfg) -> Dataset: picks the source, then subsamples, standardizes, adds extra tests."""
from __future__ import annotations

import dataclasses

import numpy as np

from mlexp.data import embedded, raw, splits, standardize, synthetic, transforms
from mlexp.data.checks import check_dataset, check_finite
from mlexp.data.errors import DataError
from mlexp.data.tfds_source import load_tfds
from mlexp.data.types import Dataset, Split

DATASETS = ('mnist_5k', 'japanese_vowels', 'basic_motions', 'pickup_gesture_wiimote_z', 'fashion_mnist', 'mnist',
            'spoken_arabic_digits', 'smartwatch_gestures', 'synthetic_images', 'synthetic_sequences')


def _get(cfg, field, default):
  return default if cfg is None else getattr(cfg, field, default)


def read(cfg) -> Dataset:
  """The data set named by cfg.name, before subsampling / standardization / extra tests."""
  name = _get(cfg, 'name', 'mnist_5k')
  path = _get(cfg, 'path', '') or ''
  frac = float(_get(cfg, 'test_fraction', 0.2))
  seed = int(_get(cfg, 'split_seed', 0))
  if name not in DATASETS:
    raise DataError(f'unknown data.name={name!r}; use one of: {", ".join(DATASETS)}')
  if not 0.0 < frac < 1.0:
    raise DataError(f'data.test_fraction={frac} must be between 0 and 1 (exclusive)')
  if name == 'mnist_5k':
    return embedded.mnist_5k(frac, seed)
  if name in embedded.UEA:
    return embedded.uea(name)
  if name in ('fashion_mnist', 'mnist'):
    if path:
      return raw.idx_folder(name, path)
    return load_tfds(name, _get(cfg, 'tfds_data_dir', '') or '', bool(_get(cfg, 'download', False)))
  if name in ('spoken_arabic_digits', 'smartwatch_gestures'):
    if not path:
      raise DataError(f'{name} needs --config.data.path pointing at the folder with its raw files')
    return raw.arabic(path) if name == 'spoken_arabic_digits' else raw.smartwatch_gestures(path, frac, seed)
  return _synthetic(name, cfg, seed)


def _synthetic(name: str, cfg, seed: int) -> Dataset:
  image = name == 'synthetic_images'
  n_train = int(_get(cfg, 'synthetic_n_train', 0) or (60000 if image else 6600))
  n_test = int(_get(cfg, 'synthetic_n_test', 0) or (10000 if image else 1000))
  classes = int(_get(cfg, 'synthetic_classes', 0) or (10 if image else 20))
  if image:
    x, y = synthetic.images(n_train + n_test, classes, seed)
    train_len, test_len = None, None
  else:
    t = int(_get(cfg, 'synthetic_length', 0) or 40)
    c = int(_get(cfg, 'synthetic_channels', 0) or 13)
    x, y = synthetic.sequences(n_train + n_test, t, c, classes, seed)
    train_len, test_len = np.full(n_train, t, np.int32), np.full(n_test, t, np.int32)
  return Dataset(name=name, source=synthetic.SOURCE, kind='image' if image else 'sequence', num_classes=classes,
                 feature_shape=tuple(x.shape[1:]) if image else (x.shape[2],),
                 train=Split(x[:n_train], y[:n_train], train_len), test=Split(x[n_train:], y[n_train:], test_len),
                 synthetic=True, class_names=tuple(str(k) for k in range(classes)))


def extra_tests(test: Split, kind: str, name: str, eval_cfg) -> dict:
  """The transformed test sets named in eval_cfg.transforms ("moved", "rotated")."""
  wanted = tuple(_get(eval_cfg, 'transforms', ()) or ())
  if not wanted:
    return {}
  unknown = [t for t in wanted if t not in transforms.KNOWN]
  if unknown:
    raise DataError(f'eval.transforms has unknown {unknown}; use a subset of {list(transforms.KNOWN)}')
  if kind != 'image':
    raise DataError(f'eval.transforms={list(wanted)} only applies to image data, but {name} is a sequence data set; '
                    'set --config.eval.transforms=() ')
  seed = int(_get(eval_cfg, 'transform_seed', 0))
  out = {}
  if 'moved' in wanted:
    out['moved'] = Split(transforms.moved(test.x, int(_get(eval_cfg, 'max_shift', 6)), seed), test.y)
  if 'rotated' in wanted:
    out['rotated'] = Split(transforms.rotated(test.x, float(_get(eval_cfg, 'max_rotation', 45.0)), seed), test.y)
  return out


def load(data_cfg, eval_cfg=None) -> Dataset:
  """The data set data_cfg names, subsampled (max_train/max_test), standardized, with eval_cfg's extra tests."""
  ds = read(data_cfg)
  check_dataset(ds)  # finite values, labels in range, train and test shapes agree
  seed = int(_get(data_cfg, 'split_seed', 0))
  train = splits.subsample(ds.train, int(_get(data_cfg, 'max_train', 0) or 0), seed)
  test = splits.subsample(ds.test, int(_get(data_cfg, 'max_test', 0) or 0), seed + 1)
  if ds.kind == 'sequence' and bool(_get(data_cfg, 'standardize', True)):
    train, test = standardize.standardize(train, test)
    for name, split in (('train', train), ('test', test)):  # huge finite values can overflow here
      check_finite(split.x, f'{ds.name} {name} data after standardization ({ds.source})')
  extra = extra_tests(test, ds.kind, ds.name, eval_cfg)
  return dataclasses.replace(ds, train=train, test=test, extra_tests=extra)
