import numpy as np
from hypothesis import given, settings, strategies as st

from mlexp.data import Split, bucketize


def padded(lengths, channels=2, seed=0):
  lengths = np.asarray(lengths, np.int32)
  t = int(lengths.max())
  x = np.random.default_rng(seed).standard_normal((len(lengths), t, channels)).astype(np.float32)
  x[np.arange(t)[None, :] >= lengths[:, None]] = 0
  return Split(x, np.arange(len(lengths), dtype=np.int32), lengths)  # y = sample id


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=60), st.integers(1, 8))
def test_bucketize_partition_and_content(lengths, k):
  split = padded(lengths)
  buckets = bucketize(split, k)
  assert 1 <= len(buckets) <= k and all(len(b) > 0 for b in buckets)
  ids = np.concatenate([b.y for b in buckets])
  assert sorted(ids.tolist()) == list(range(len(lengths)))
  for b in buckets:
    assert b.x.shape[1] == b.lengths.max()
    for x, i, t in zip(b.x, b.y, b.lengths):
      assert t == split.lengths[i] and b.x.shape[1] >= t
      np.testing.assert_array_equal(x[:t], split.x[i, :t])
  maxes = [int(b.lengths.max()) for b in buckets]
  assert maxes == sorted(maxes)


def test_bucketize_roughly_equal_counts_and_images():
  buckets = bucketize(padded(list(range(1, 101))), 4)
  assert [len(b) for b in buckets] == [25] * 4 and [b.x.shape[1] for b in buckets] == [25, 50, 75, 100]
  img = Split(np.zeros((3, 28, 28, 1), np.float32), np.zeros(3, np.int32))
  assert bucketize(img, 4) == [img]
