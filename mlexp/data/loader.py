"""load(data_cfg, eval_cfg) -> Dataset: picks the source, then subsamples, standardizes, adds extra tests."""
from __future__ import annotations

import dataclasses

from mlexp.data import catalog, splits, standardize, transforms
from mlexp.data.checks import check_dataset, check_finite
from mlexp.data.errors import DataError
from mlexp.data.types import Dataset, Split


def complete(data_cfg, eval_cfg=None):
  """The data and eval blocks with every field config/defaults.py defines for them filled in (tests and
  tools may pass a partial block, e.g. just a name)."""
  from mlexp.config.defaults import data_config, eval_config  # (config imports this package)
  name = 'mnist_5k' if data_cfg is None else data_cfg.get('name', 'mnist_5k')
  d = data_config(name)
  d.update(dict(data_cfg or {}))
  e = eval_config()
  e.update(dict(eval_cfg or {}))
  return d, e


def read(cfg) -> Dataset:
  """The data set cfg.name names (cfg complete), before subsampling / standardization / extra tests."""
  if cfg.name not in catalog.DATASETS:
    raise DataError(f'unknown data.name={cfg.name!r}; use one of: {", ".join(catalog.NAMES)}')
  if not 0.0 < float(cfg.test_fraction) < 1.0:
    raise DataError(f'data.test_fraction={cfg.test_fraction} must be between 0 and 1 (exclusive)')
  return catalog.DATASETS[cfg.name].read(cfg)


def extra_tests(test: Split, kind: str, name: str, eval_cfg) -> dict:
  """The transformed test sets named in eval_cfg.transforms ("moved", "rotated"); eval_cfg complete."""
  wanted = tuple(eval_cfg.transforms or ())
  if not wanted:
    return {}
  unknown = [t for t in wanted if t not in transforms.KNOWN]
  if unknown:
    raise DataError(f'eval.transforms has unknown {unknown}; use a subset of {list(transforms.KNOWN)}')
  if kind != 'image':
    raise DataError(f'eval.transforms={list(wanted)} only applies to image data, but {name} is {kind} data; '
                    'set --config.eval.transforms=() ')
  seed = int(eval_cfg.transform_seed)
  out = {}
  if 'moved' in wanted:
    out['moved'] = Split(transforms.moved(test.x, int(eval_cfg.max_shift), seed), test.y)
  if 'rotated' in wanted:
    out['rotated'] = Split(transforms.rotated(test.x, float(eval_cfg.max_rotation), seed), test.y)
  return out


def load(data_cfg, eval_cfg=None) -> Dataset:
  """The data set data_cfg names, subsampled (max_train/max_test), standardized, with eval_cfg's extra tests."""
  data_cfg, eval_cfg = complete(data_cfg, eval_cfg)
  ds = read(data_cfg)
  check_dataset(ds)  # finite values, labels in range, train and test shapes agree
  seed = int(data_cfg.split_seed)
  train = splits.subsample(ds.train, int(data_cfg.max_train or 0), seed)
  test = splits.subsample(ds.test, int(data_cfg.max_test or 0), seed + 1)
  fraction = float(data_cfg.get('validation_fraction', 0.0) or 0.0)
  val = None
  if fraction > 0:  # after subsampling, before the standardization statistics (the rest of train only)
    train_idx, val_idx = splits.validation_split(train.y, fraction, seed + 2)
    if len(val_idx):  # (none when every class has a single example: the test set selects then)
      train, val = splits.take(train, train_idx), splits.take(train, val_idx)
  if ds.kind in ('sequence', 'tabular') and bool(data_cfg.standardize):  # images are left as given
    z = standardize.standardize if ds.kind == 'sequence' else standardize.features
    train, test, *rest = z(train, test, *([val] if val is not None else []))
    val = rest[0] if rest else None
    for name, split in (('train', train), ('test', test), ('validation', val)):  # huge finite values can overflow
      if split is not None:
        check_finite(split.x, f'{ds.name} {name} data after standardization ({ds.source})')
  extra = extra_tests(test, ds.kind, ds.name, eval_cfg)
  return dataclasses.replace(ds, train=train, test=test, validation=val, extra_tests=extra)
