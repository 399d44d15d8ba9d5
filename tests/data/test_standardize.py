import numpy as np

from mlexp.data import Split
from mlexp.data.standardize import standardize


def test_standardize_uses_valid_steps_and_keeps_padding_zero():
  x = np.zeros((2, 4, 2), np.float32)
  x[0, :2] = [[1, 10], [3, 10]]
  x[1, :4] = [[5, 10], [7, 10], [1, 10], [3, 10]]
  train = Split(x, np.zeros(2, np.int32), np.array([2, 4], np.int32))
  test = Split(x[:1, :3] + 1, np.zeros(1, np.int32), np.array([2], np.int32))
  tr, te = standardize(train, test)
  assert np.all(tr.x[0, 2:] == 0) and np.all(te.x[0, 2:] == 0)
  valid = tr.x[np.arange(4)[None] < train.lengths[:, None]]
  np.testing.assert_allclose(valid[:, 0].mean(), 0, atol=1e-6)
  np.testing.assert_allclose(valid[:, 0].std(), 1, atol=1e-6)
  np.testing.assert_array_equal(valid[:, 1], 0)  # constant channel: std treated as 1
  mean, std = np.mean([1, 3, 5, 7, 1, 3]), np.std([1, 3, 5, 7, 1, 3])
  np.testing.assert_allclose(te.x[0, :2, 0], (np.array([2, 4]) - mean) / std, rtol=1e-5)
