"""Every loader's data is checked: finite values, labels in range, train/test shapes agree; damaged files
give a one-line DataError naming the file, the line or index and the value. A hypothesis fuzz test feeds
random bytes and mutated valid files to every reader: each input loads or raises DataError, nothing else."""
from __future__ import annotations

import os
import shutil
import tempfile

import ml_collections
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mlexp.data import DataError, Dataset, Split, load, loader
from mlexp.data.checks import check_dataset
from mlexp.data.embedded import read_ts, sequences_dataset
from test_arabic_digits import write_arabic
from test_idx import idx_bytes, write_idx_folder

TS_TEXT = """# a tiny .ts file
@problemName tiny
@univariate false
@dimensions 2
@classLabel true a b
@data
1.0,2.0,3.0:4.0,5.0,6.0:a
2.0,1.0:0.5,?:b
0.1,0.2,0.3:0.4,0.5,0.6:a
"""


def cfg(**kw):
  return ml_collections.ConfigDict({'standardize': False, **kw})


def one_line(e: DataError) -> str:
  msg = str(e)
  assert '\n' not in msg
  return msg


# ---------------------------------------------------------------- values, labels, shapes


def fake(x_train, y_train, x_test=None, y_test=None, kind='image', classes=3):
  x_test = x_train if x_test is None else x_test
  y_test = y_train if y_test is None else y_test
  return Dataset(name='fake', source='file /data/fake.bin', kind=kind, num_classes=classes,
                 feature_shape=x_train.shape[1:], train=Split(x_train, y_train), test=Split(x_test, y_test))


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_a_data_error_naming_the_index_and_value(monkeypatch, bad):
  x = np.zeros((4, 2, 2, 1), np.float32)
  x[2, 1, 0, 0] = bad
  monkeypatch.setattr(loader, 'read', lambda c: fake(x, np.zeros(4, np.int32)))
  with pytest.raises(DataError) as e:
    load(cfg())
  msg = one_line(e.value)
  assert '/data/fake.bin' in msg and 'example 2' in msg and str(bad) in msg


@pytest.mark.parametrize('label', [200, -1, 3])
def test_labels_outside_the_classes_are_a_data_error(monkeypatch, label):
  x = np.zeros((4, 2, 2, 1), np.float32)
  y_test = np.array([0, 1, label, 2], np.int32)
  monkeypatch.setattr(loader, 'read', lambda c: fake(x, np.zeros(4, np.int32), y_test=y_test))
  with pytest.raises(DataError) as e:
    load(cfg())
  msg = one_line(e.value)
  assert 'test' in msg and f'label {label} at index 2' in msg and '[0, 3)' in msg


def test_train_and_test_images_of_different_sizes_are_a_data_error(monkeypatch):
  monkeypatch.setattr(loader, 'read', lambda c: fake(np.zeros((4, 2, 2, 1), np.float32), np.zeros(4, np.int32),
                                                     np.zeros((4, 3, 3, 1), np.float32)))
  with pytest.raises(DataError, match=r'train examples have shape \(2, 2, 1\) but test examples \(3, 3, 1\)'):
    load(cfg())


def test_idx_labels_out_of_range_and_image_sizes_name_the_file(tmp_path):
  write_idx_folder(tmp_path, gz=False)
  labels = np.array([0, 1, 200, 3, 4], np.uint8)
  (tmp_path / 't10k-labels-idx1-ubyte').write_bytes(idx_bytes(labels))
  with pytest.raises(DataError) as e:
    load(cfg(name='fashion_mnist', path=str(tmp_path)))
  msg = one_line(e.value)
  assert 't10k-labels-idx1-ubyte' in msg and 'label 200 at index 2' in msg
  write_idx_folder(tmp_path, gz=False)
  (tmp_path / 't10k-images-idx3-ubyte').write_bytes(idx_bytes(np.zeros((5, 20, 20), np.uint8)))
  with pytest.raises(DataError) as e:
    load(cfg(name='fashion_mnist', path=str(tmp_path)))
  msg = one_line(e.value)
  assert 'train-images-idx3-ubyte' in msg and 't10k-images-idx3-ubyte' in msg and '(20, 20)' in msg


def test_ts_infinite_value_and_channel_mismatch_name_file_and_line(tmp_path):
  p = tmp_path / 'x.ts'
  p.write_text(TS_TEXT.replace('0.5,?', '0.5,inf'))
  with pytest.raises(DataError, match=r"x\.ts: line 8: value 'inf' is not a finite"):
    read_ts(str(p), 'tiny')
  p.write_text(TS_TEXT.replace('2.0,1.0:0.5,?:b', '2.0,1.0:b'))
  with pytest.raises(DataError, match=r'x\.ts: line 8: 1 channels, but the first series has 2'):
    read_ts(str(p), 'tiny')
  p.write_text(TS_TEXT)
  series, labels = read_ts(str(p), 'tiny')  # '?' is a missing value, not an error
  assert labels == ['a', 'b', 'a'] and series[1].shape == (2, 2)


def test_smartwatch_non_numeric_line_is_a_data_error_with_file_and_line(tmp_path):
  from test_smartwatch import write_tree
  write_tree(tmp_path, reps=5)
  bad = tmp_path / 'U01' / '07' / '03.txt'
  lines = bad.read_text().splitlines()
  lines.insert(2, '1 2 3 oops 5 6')
  bad.write_text('\n'.join(lines) + '\n')
  with pytest.raises(DataError) as e:
    load(cfg(name='smartwatch_gestures', path=str(tmp_path)))
  msg = one_line(e.value)
  assert str(bad) in msg and 'line 3' in msg and "'oops'" in msg
  lines[2] = '1 2 3 nan 5 6'
  bad.write_text('\n'.join(lines) + '\n')
  with pytest.raises(DataError, match=r"line 3: value 'nan' is not a finite"):
    load(cfg(name='smartwatch_gestures', path=str(tmp_path)))


def test_arabic_non_numeric_token_names_the_line(tmp_path):
  write_arabic(tmp_path)
  path = tmp_path / 'Test_Arabic_Digit.txt'
  lines = path.read_text().splitlines()
  lines[3] = ' '.join(['0.5'] * 12 + ['x1'])
  path.write_text('\n'.join(lines))
  with pytest.raises(DataError) as e:
    load(cfg(name='spoken_arabic_digits', path=str(tmp_path)))
  msg = one_line(e.value)
  assert str(path) in msg and 'line 4' in msg and "'x1'" in msg


# ---------------------------------------------------------------- fuzz: loads or DataError, nothing else


def mutate(data: bytes, edits) -> bytes:
  """Applies (kind, position, byte) edits: replace, insert, delete, truncate."""
  b = bytearray(data)
  for kind, pos, byte in edits:
    if not b:
      b.append(byte)
      continue
    i = pos % len(b)
    if kind == 0:
      b[i] = byte
    elif kind == 1:
      b.insert(i, byte)
    elif kind == 2:
      del b[i]
    else:
      del b[i:]
  return bytes(b)


EDITS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.sampled_from(
    list(b'0123456789.,:-+e ?\n\t@#aNnIf') + [0, 255])), min_size=1, max_size=6)
CONTENT = st.one_of(st.binary(max_size=400).map(lambda b: ('bytes', b)), EDITS.map(lambda e: ('mutate', e)))
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_N", 40)), deadline=None, derandomize=not os.environ.get("FUZZ_N"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope='module')
def trees():
  """One valid tree per reader, built once; each example overwrites one file and puts it back."""
  from test_smartwatch import write_tree
  import pathlib
  root = pathlib.Path(tempfile.mkdtemp(prefix='mlexp_fuzz_'))
  write_idx_folder(root / 'idx', n_train=6, n_test=4, gz=False)
  (root / 'idx_gz').mkdir()
  write_idx_folder(root / 'idx_gz', n_train=6, n_test=4, gz=True)
  (root / 'arabic').mkdir()
  write_arabic(root / 'arabic', train_per_digit=2, test_per_digit=2)
  (root / 'sw').mkdir()
  write_tree(root / 'sw', reps=1)
  (root / 'ts').mkdir()
  (root / 'ts' / 'TRAIN.ts').write_text(TS_TEXT)
  (root / 'ts' / 'TEST.ts').write_text(TS_TEXT)
  yield root
  shutil.rmtree(root, ignore_errors=True)


def loads_or_data_error(path, content, run):
  original = open(path, 'rb').read()
  kind, value = content
  data = value if kind == 'bytes' else mutate(original, value)
  with open(path, 'wb') as f:
    f.write(data)
  try:
    run()
  except DataError as e:
    assert '\n' not in str(e)
  finally:
    with open(path, 'wb') as f:
      f.write(original)


@FUZZ
@given(content=CONTENT, which=st.sampled_from(['train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
                                               't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']),
       gz=st.booleans())
def test_fuzz_idx(trees, content, which, gz):
  folder = trees / ('idx_gz' if gz else 'idx')
  path = folder / (which + ('.gz' if gz else ''))
  loads_or_data_error(path, content, lambda: load(cfg(name='fashion_mnist', path=str(folder))))


@FUZZ
@given(content=CONTENT, which=st.sampled_from(['TRAIN.ts', 'TEST.ts']))
def test_fuzz_ts(trees, content, which):
  folder = trees / 'ts'

  def run():
    train = read_ts(str(folder / 'TRAIN.ts'), 'tiny')
    test = read_ts(str(folder / 'TEST.ts'), 'tiny')
    check_dataset(sequences_dataset('tiny', str(folder), train, test))
  loads_or_data_error(folder / which, content, run)


@FUZZ
@given(content=CONTENT, which=st.sampled_from(['Train_Arabic_Digit.txt', 'Test_Arabic_Digit.txt']))
def test_fuzz_arabic_digits(trees, content, which):
  folder = trees / 'arabic'
  loads_or_data_error(folder / which, content,
                      lambda: load(ml_collections.ConfigDict({'name': 'spoken_arabic_digits', 'path': str(folder)})))


@FUZZ
@given(content=CONTENT, gesture=st.integers(1, 20))
def test_fuzz_smartwatch(trees, content, gesture):
  folder = trees / 'sw'
  path = sorted((folder / 'U02' / str(gesture)).iterdir())[0]
  loads_or_data_error(path, content, lambda: load(ml_collections.ConfigDict(
      {'name': 'smartwatch_gestures', 'path': str(folder), 'test_fraction': 0.5})))
