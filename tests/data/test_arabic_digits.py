import ml_collections
import numpy as np
import pytest

from mlexp.data import DataError, load
from mlexp.data import arabic_digits


def arabic_text(blocks_per_digit: int, seed: int, leading_blank=True):
  """UCI layout: per digit 0..9, half male then half female blocks; frame value 0 encodes the label."""
  rng = np.random.default_rng(seed)
  lines, lengths, labels = [''] if leading_blank else [], [], []
  half = blocks_per_digit // 2
  for digit in range(10):
    for i in range(blocks_per_digit):
      label = digit * 2 + (i >= half)
      t = int(rng.integers(2, 6))
      frames = rng.standard_normal((t, 13))
      frames[:, 0] = label
      lines += [' '.join(f'{v:.6f}' for v in row) for row in frames] + ['']
      lengths.append(t)
      labels.append(label)
  return '\n'.join(lines), lengths, labels


def write_arabic(folder, train_per_digit=4, test_per_digit=2):
  tr, ltr, ytr = arabic_text(train_per_digit, 0)
  te, lte, yte = arabic_text(test_per_digit, 1, leading_blank=False)
  (folder / 'Train_Arabic_Digit.txt').write_text(tr)
  (folder / 'Test_Arabic_Digit.txt').write_text(te)
  return (ltr, ytr), (lte, yte)


def test_parse_blocks_and_labels():
  text, lengths, labels = arabic_text(2, 0)
  blocks = arabic_digits.parse_blocks(text)
  assert [len(b) for b in blocks] == lengths
  assert arabic_digits.labels(len(blocks)).tolist() == labels
  with pytest.raises(ValueError, match='multiple of 20'):
    arabic_digits.labels(30)


def test_load_arabic(tmp_path):
  (ltr, ytr), (lte, yte) = write_arabic(tmp_path)
  cfg = ml_collections.ConfigDict({'name': 'spoken_arabic_digits', 'path': str(tmp_path), 'standardize': False})
  ds = load(cfg)
  assert ds.num_classes == 20 and ds.feature_shape == (13,) and ds.kind == 'sequence'
  assert ds.class_names[:3] == ('0-male', '0-female', '1-male') and ds.class_names[-1] == '9-female'
  assert len(ds.train) == 40 and len(ds.test) == 20
  assert ds.train.y.tolist() == ytr and ds.test.y.tolist() == yte
  assert ds.train.lengths.tolist() == ltr and ds.test.lengths.tolist() == lte
  for split in (ds.train, ds.test):
    for x, y, t in zip(split.x, split.y, split.lengths):
      assert np.all(x[:t, 0] == y) and np.all(x[t:] == 0)
  assert np.bincount(ds.train.y).tolist() == [2] * 20


def test_arabic_missing_file(tmp_path):
  write_arabic(tmp_path)
  (tmp_path / 'Test_Arabic_Digit.txt').unlink()
  with pytest.raises(DataError, match='Test_Arabic_Digit.txt'):
    load(ml_collections.ConfigDict({'name': 'spoken_arabic_digits', 'path': str(tmp_path)}))
