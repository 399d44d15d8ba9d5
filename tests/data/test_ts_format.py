import numpy as np
import pytest

from mlexp.data import ts_format

TEXT = """# a comment
@problemName Toy
@univariate false
@classLabel true 1 2 10
@data
1,2,3:4,5,6:10
7,8:9,10:2
1,?,3,NaN:4,5,6,NaN:1
0.5:0.25:2
"""


def test_parse_ts_series_labels_header():
  series, labels, header = ts_format.parse_ts(TEXT)
  assert header['problemname'] == 'Toy'
  assert labels == ['10', '2', '1', '2']
  assert [s.shape for s in series] == [(3, 2), (2, 2), (3, 2), (1, 2)]
  np.testing.assert_array_equal(series[0], [[1, 4], [2, 5], [3, 6]])
  np.testing.assert_array_equal(series[2], [[1, 4], [0, 5], [3, 6]])  # inner '?' -> 0, trailing NaN step dropped
  assert series[0].dtype == np.float32


def test_parse_ts_requires_data_section():
  with pytest.raises(ValueError, match='@data'):
    ts_format.parse_ts('@problemName x\n')


def test_encode_labels_numeric_order_shared():
  (a, b), names = ts_format.encode_labels(['10', '2', '1'], ['2', '9'])
  assert names == ('1', '2', '9', '10')
  assert a.tolist() == [3, 1, 0] and b.tolist() == [1, 2]
  (c,), names = ts_format.encode_labels(['walk', 'run', 'walk'])
  assert names == ('run', 'walk') and c.tolist() == [1, 0, 1]


def test_pad_zero_pads_and_keeps_lengths():
  x, lengths = ts_format.pad([np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)], 5)
  assert x.shape == (2, 5, 3) and lengths.tolist() == [2, 4]
  assert np.all(x[0, 2:] == 0) and np.all(x[1, 4:] == 0) and np.all(x[0, :2] == 1)
