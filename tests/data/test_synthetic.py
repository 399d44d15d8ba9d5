import ml_collections
import numpy as np

from mlexp.data import load, synthetic


def test_synthetic_images_teacher():
  cfg = ml_collections.ConfigDict({'name': 'synthetic_images', 'synthetic_n_train': 200, 'synthetic_n_test': 50,
                                   'synthetic_classes': 10, 'split_seed': 4})
  ds = load(cfg)
  assert ds.synthetic and ds.name == 'synthetic_images' and 'NOT a real data set' in ds.source
  assert 'SYNTHETIC' in ds.describe()
  assert ds.train.x.shape == (200, 28, 28, 1) and ds.test.x.shape == (50, 28, 28, 1)
  assert ds.train.x.min() >= 0 and ds.train.x.max() <= 1 and ds.train.lengths is None
  rng = np.random.default_rng(4)
  w = rng.standard_normal((784, 10)).astype(np.float32)
  x = np.concatenate([ds.train.x, ds.test.x])
  np.testing.assert_array_equal(np.argmax((x - 0.5).reshape(250, -1) @ w, 1), np.concatenate([ds.train.y, ds.test.y]))
  np.testing.assert_array_equal(load(cfg).train.x, ds.train.x)


def test_synthetic_sequences_teacher():
  cfg = ml_collections.ConfigDict({'name': 'synthetic_sequences', 'synthetic_n_train': 100, 'synthetic_n_test': 30,
                                   'synthetic_length': 12, 'synthetic_channels': 5, 'synthetic_classes': 4,
                                   'standardize': False})
  ds = load(cfg)
  assert ds.synthetic and ds.kind == 'sequence' and 'NOT a real data set' in ds.source
  assert ds.train.x.shape == (100, 12, 5) and ds.feature_shape == (5,) and ds.num_classes == 4
  assert ds.train.lengths.tolist() == [12] * 100 and ds.test.lengths.tolist() == [12] * 30
  x, y = synthetic.sequences(130, 12, 5, 4, 0)
  np.testing.assert_array_equal(ds.train.x, x[:100])
  w = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
  ramp = np.linspace(0.2, 1, 12)[None, :, None]
  np.testing.assert_array_equal(np.argmax((x * ramp).mean(1) @ w, 1), y)


def test_synthetic_defaults_shapes():
  ds = load(ml_collections.ConfigDict({'name': 'synthetic_sequences'}))
  assert len(ds.train) == 6600 and len(ds.test) == 1000 and ds.train.x.shape[1:] == (40, 13) and ds.num_classes == 20
