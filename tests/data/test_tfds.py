import sys
import time

import ml_collections
import pytest

from mlexp.data import DataError, load


@pytest.mark.parametrize('name', ['fashion_mnist', 'mnist'])
def test_not_prepared_fails_fast(tmp_path, name):
  cfg = ml_collections.ConfigDict({'name': name, 'path': '', 'tfds_data_dir': str(tmp_path), 'download': False})
  start = time.monotonic()
  with pytest.raises(DataError) as e:
    load(cfg)
  assert time.monotonic() - start < 10
  msg = str(e.value)
  assert name in msg and 'not prepared' in msg and str(tmp_path) in msg
  assert '--config.data.download=True' in msg and '--config.data.path' in msg and 'idx' in msg.lower()
  assert '\n' not in msg


def test_missing_tensorflow_says_install_extra(monkeypatch):
  # TensorFlow made unimportable for this test (a None entry in sys.modules raises ImportError on import),
  # whether or not the [tfds] extra installed it
  monkeypatch.setitem(sys.modules, 'tensorflow', None)
  from mlexp.data.tfds_source import _need_tensorflow
  with pytest.raises(DataError, match=r'pip install -e \.\[tfds\]'):
    _need_tensorflow('mnist')
