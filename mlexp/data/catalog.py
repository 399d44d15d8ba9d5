"""The one table of data sets: name -> kind (image / sequence; "any" for npz, whose kind is the rank of its x),
whether it needs data.path, and its reader.

config/validate.py checks data.name and the model / data pairing against this table (for kind "any" the
pairing is checked once the data is loaded: validate.validate_dataset); data/loader.py reads
through it. Readers take the complete data block (defaults from config/defaults.py filled in) and return
a Dataset before subsampling / standardization. Adding a data set: a reader module in mlexp/data/ and one
entry here.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from mlexp.data import embedded, npz, raw, synthetic
from mlexp.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class DataSpec:
  kind: str  # "image" (x [N, H, W, C]), "sequence" (x [N, T, C] + lengths), or "any" (decided when read)
  read: Callable  # read(data_cfg) -> Dataset
  needs_path: bool = False  # read from files the user has (data.path)
  path_is: str = 'FOLDER'  # what data.path names, in messages


def _idx_or_tfds(name):
  def read(cfg):
    if cfg.path:
      return raw.idx_folder(name, cfg.path)
    from mlexp.data.tfds_source import load_tfds
    return load_tfds(name, cfg.tfds_data_dir or '', bool(cfg.download))
  return read


def _needs_path(name, read, what='the folder with its raw files'):
  def checked(cfg):
    if not cfg.path:
      raise DataError(f'{name} needs --config.data.path pointing at {what}')
    return read(cfg)
  return checked


DATASETS = {
    'mnist_5k': DataSpec('image', lambda cfg: embedded.mnist_5k(float(cfg.test_fraction), int(cfg.split_seed))),
    **{name: DataSpec('sequence', lambda cfg, name=name: embedded.uea(name)) for name in embedded.UEA},
    'fashion_mnist': DataSpec('image', _idx_or_tfds('fashion_mnist')),
    'mnist': DataSpec('image', _idx_or_tfds('mnist')),
    'spoken_arabic_digits': DataSpec('sequence', _needs_path('spoken_arabic_digits', lambda cfg: raw.arabic(cfg.path)),
                                     needs_path=True),
    'smartwatch_gestures': DataSpec('sequence', _needs_path('smartwatch_gestures', lambda cfg: raw.smartwatch_gestures(
        cfg.path, float(cfg.test_fraction), int(cfg.split_seed))), needs_path=True),
    'synthetic_images': DataSpec('image', lambda cfg: synthetic.dataset('synthetic_images', cfg)),
    'synthetic_sequences': DataSpec('sequence', lambda cfg: synthetic.dataset('synthetic_sequences', cfg)),
    'npz': DataSpec('any', _needs_path('npz', lambda cfg: npz.read(cfg.path), 'an .npz file (x_train, y_train, '
                                       'x_test, y_test)'), needs_path=True, path_is='FILE.npz'),
}
NAMES = tuple(DATASETS)
IMAGE_DATA = tuple(n for n, s in DATASETS.items() if s.kind == 'image')
SEQUENCE_DATA = tuple(n for n, s in DATASETS.items() if s.kind == 'sequence')
NEEDS_PATH = tuple(n for n, s in DATASETS.items() if s.needs_path)
