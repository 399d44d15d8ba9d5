import ml_collections
import numpy as np
import pytest

from mlexp.data import DataError, load, transforms


def images(n=6, seed=0):
  x = np.zeros((n, 28, 28, 1), np.float32)
  x[:, 10:18, 11:17] = np.random.default_rng(seed).random((n, 8, 6, 1))
  return x


def test_shift_zero_fill_no_wrap():
  img = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
  np.testing.assert_array_equal(transforms.shift(img, 0, 0), img)
  out = transforms.shift(img, 1, 0)  # right by one
  np.testing.assert_array_equal(out[:, 0], 0)
  np.testing.assert_array_equal(out[:, 1:], img[:, :-1])
  out = transforms.shift(img, 0, -2)  # up by two
  np.testing.assert_array_equal(out[:2], img[2:])
  np.testing.assert_array_equal(out[2:], 0)
  assert not transforms.shift(img, 4, 0).any()


def test_moved_rotated_shapes_determinism_identity():
  x = images()
  for f, big in ((transforms.moved, 6), (transforms.rotated, 45.0)):
    a, b = f(x, big, 0), f(x, big, 0)
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)
    assert not np.array_equal(f(x, big, 1), a)
  np.testing.assert_array_equal(transforms.moved(x, 0, 0), x)
  np.testing.assert_allclose(transforms.rotated(x, 0.0, 0), x)
  # the digit stays inside for shifts up to 6: pixel mass is preserved
  np.testing.assert_allclose(transforms.moved(x, 6, 0).sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)), rtol=1e-6)


def test_rotate_90_about_centre():
  img = np.zeros((5, 5, 1), np.float32)
  img[0, 2] = 1.0  # top centre
  out = transforms.rotate(img, 90.0)
  assert out.shape == img.shape and out[2, 2] == 0 and out.sum() == pytest.approx(1.0, abs=1e-5)
  assert out[2, 0] == pytest.approx(1.0) or out[2, 4] == pytest.approx(1.0)


def test_extra_tests_from_load():
  data = ml_collections.ConfigDict({'name': 'mnist_5k', 'max_test': 50})
  ev = ml_collections.ConfigDict({'transforms': ('moved', 'rotated'), 'max_shift': 6, 'max_rotation': 45.0,
                                  'transform_seed': 0})
  ds = load(data, ev)
  assert set(ds.extra_tests) == {'moved', 'rotated'}
  for split in ds.extra_tests.values():
    assert split.x.shape == ds.test.x.shape and np.array_equal(split.y, ds.test.y)
    assert split.x.min() >= 0 and split.x.max() <= 1.0 + 1e-6
  np.testing.assert_array_equal(load(data, ev).extra_tests['rotated'].x, ds.extra_tests['rotated'].x)
  assert load(data, None).extra_tests == {}


def test_transforms_on_sequences_rejected():
  ev = ml_collections.ConfigDict({'transforms': ('moved',)})
  with pytest.raises(DataError, match='eval.transforms'):
    load(ml_collections.ConfigDict({'name': 'basic_motions'}), ev)
  with pytest.raises(DataError, match='eval.transforms'):
    load(ml_collections.ConfigDict({'name': 'mnist_5k', 'max_test': 5}),
         ml_collections.ConfigDict({'transforms': ('flipped',)}))
