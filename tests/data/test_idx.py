import gzip
import os
import struct

import ml_collections
import numpy as np
import pytest

from mlexp.data import DataError, load
from mlexp.data.idx_format import parse_idx


def idx_bytes(arr: np.ndarray) -> bytes:
  """IDX encoding of a uint8 array: magic 0x0000 08 ndim, big-endian dims, data."""
  return struct.pack('>BBBB', 0, 0, 0x08, arr.ndim) + struct.pack(f'>{arr.ndim}I', *arr.shape) + arr.tobytes()


def write_idx_folder(folder, n_train=12, n_test=5, gz=True, seed=0):
  rng = np.random.default_rng(seed)
  arrays = {
      'train-images-idx3-ubyte': rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
      'train-labels-idx1-ubyte': (np.arange(n_train) % 10).astype(np.uint8),
      't10k-images-idx3-ubyte': rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
      't10k-labels-idx1-ubyte': (np.arange(n_test) % 10).astype(np.uint8),
  }
  os.makedirs(folder, exist_ok=True)
  for name, arr in arrays.items():
    data = idx_bytes(arr)
    if gz:
      with gzip.open(os.path.join(folder, name + '.gz'), 'wb') as f:
        f.write(data)
    else:
      with open(os.path.join(folder, name), 'wb') as f:
        f.write(data)
  return arrays


def test_parse_idx_magic_and_shape():
  arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  np.testing.assert_array_equal(parse_idx(idx_bytes(arr)), arr)
  np.testing.assert_array_equal(parse_idx(gzip.compress(idx_bytes(arr))), arr)
  with pytest.raises(ValueError, match='magic'):
    parse_idx(b'\x01\x02\x08\x01' + b'\x00' * 8)
  with pytest.raises(ValueError, match='truncated'):
    parse_idx(idx_bytes(arr)[:-1])


@pytest.mark.parametrize('gz', [True, False])
@pytest.mark.parametrize('name', ['fashion_mnist', 'mnist'])
def test_load_idx_folder(tmp_path, gz, name):
  arrays = write_idx_folder(tmp_path, gz=gz)
  ds = load(ml_collections.ConfigDict({'name': name, 'path': str(tmp_path)}))
  assert ds.kind == 'image' and ds.num_classes == 10 and ds.feature_shape == (28, 28, 1)
  assert ds.train.x.shape == (12, 28, 28, 1) and ds.test.x.shape == (5, 28, 28, 1)
  assert ds.train.x.dtype == np.float32 and 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0
  np.testing.assert_allclose(ds.train.x[..., 0] * 255, arrays['train-images-idx3-ubyte'], atol=1e-3)
  assert ds.train.y.tolist() == arrays['train-labels-idx1-ubyte'].tolist()
  assert ds.train.y.dtype == np.int32 and ds.train.lengths is None
  assert str(tmp_path) in ds.source and not ds.synthetic
  assert ds.class_names == (('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
                             'Bag', 'Ankle boot') if name == 'fashion_mnist' else tuple('0123456789'))


def test_missing_idx_file_is_named(tmp_path):
  write_idx_folder(tmp_path)
  os.remove(tmp_path / 't10k-labels-idx1-ubyte.gz')
  with pytest.raises(DataError, match='t10k-labels-idx1-ubyte'):
    load(ml_collections.ConfigDict({'name': 'mnist', 'path': str(tmp_path)}))
