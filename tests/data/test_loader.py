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


def test_validation_split_is_stratified_deterministic_and_disjoint():
  from mlexp.data.splits import validation_split
  y = np.repeat(np.arange(4), [30, 10, 2, 1]).astype(np.int32)
  tr, va = validation_split(y, 0.2, seed=3)
  assert np.bincount(y[va], minlength=4).tolist() == [6, 2, 1, 0]  # >= 1 where a class has 2; a lone one stays
  assert not set(tr) & set(va) and sorted(np.concatenate([tr, va]).tolist()) == list(range(len(y)))
  np.testing.assert_array_equal(validation_split(y, 0.2, seed=3)[1], va)
  assert not np.array_equal(validation_split(y, 0.2, seed=4)[1], va)
  assert len(validation_split(y, 0.0, seed=3)[1]) == 0


def test_load_takes_validation_from_train_and_standardizes_with_the_rest():
  ds = load(cfg(name='japanese_vowels', validation_fraction=0.2))
  assert len(ds.train) == 216 and len(ds.validation) == 54 and len(ds.test) == 370
  assert np.bincount(ds.validation.y).tolist() == [6] * 9
  rows = lambda s: {r.tobytes() for r in s.x.reshape(len(s), -1)}
  assert not rows(ds.train) & rows(ds.validation)  # disjoint
  from mlexp.data.standardize import channel_stats
  mean, std = channel_stats(ds.train)  # the statistics are the remaining train part's
  np.testing.assert_allclose(mean, 0, atol=1e-4)
  np.testing.assert_allclose(std, 1, atol=1e-4)
  assert load(cfg(name='japanese_vowels', validation_fraction=0.0)).validation is None
