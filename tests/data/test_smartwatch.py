import ml_collections
import numpy as np
import pytest

from mlexp.data import DataError, load
from mlexp.data import smartwatch


def write_tree(root, reps=5):
  """Gestures 1..20, users U01 (zero-padded, nested, whitespace) and U02 (plain names, commas)."""
  rng = np.random.default_rng(0)
  expected = {}
  for g in range(1, 21):
    for user, folder, sep in (('U01', f'{g:02d}', ' '), ('U02', str(g), ',')):
      d = root / user / folder
      d.mkdir(parents=True)
      for r in range(reps):
        t = int(rng.integers(3, 9))
        rows = np.zeros((t, 6))
        rows[:, 0] = np.arange(t)
        rows[:, 3:] = g + rng.standard_normal((t, 3)) * 0.01
        (d / f'{r + 1:02d}.txt').write_text('\n'.join(sep.join(f'{v:.5f}' for v in row) for row in rows) + '\n')
        expected[str(d / f'{r + 1:02d}.txt')] = (g - 1, t)
  (root / 'README.txt').write_text('not a gesture file')
  return expected


def test_find_files_and_parse(tmp_path):
  expected = write_tree(tmp_path, reps=2)
  found = smartwatch.find_files(str(tmp_path))
  assert {p: g for p, g in found} == {p: g for p, (g, _) in expected.items()}
  x = smartwatch.parse_recording('time,ns,ev,x,y,z\n1,2,3,4,5,6\n1 2 3 7 8 9\n')
  np.testing.assert_array_equal(x, [[4, 5, 6], [7, 8, 9]])
  with pytest.raises(ValueError, match='columns'):
    smartwatch.parse_recording('1,2,3\n')


def test_load_smartwatch_stratified(tmp_path):
  write_tree(tmp_path, reps=5)  # 10 per gesture
  cfg = ml_collections.ConfigDict({'name': 'smartwatch_gestures', 'path': str(tmp_path), 'test_fraction': 0.2,
                                   'split_seed': 3, 'standardize': False})
  ds = load(cfg)
  assert ds.num_classes == 20 and ds.feature_shape == (3,) and ds.class_names[0] == '1'
  assert np.bincount(ds.train.y, minlength=20).tolist() == [8] * 20
  assert np.bincount(ds.test.y, minlength=20).tolist() == [2] * 20
  for split in (ds.train, ds.test):
    for x, y, t in zip(split.x, split.y, split.lengths):
      np.testing.assert_allclose(x[:t], y + 1, atol=0.1)
      assert np.all(x[t:] == 0)
  again = load(cfg)
  np.testing.assert_array_equal(again.test.x, ds.test.x)


def test_smartwatch_empty_folder(tmp_path):
  with pytest.raises(DataError, match='1..20'):
    load(ml_collections.ConfigDict({'name': 'smartwatch_gestures', 'path': str(tmp_path)}))
