"""Members that ran alone (training/member_clock.py alone_seconds, contention; loop.Records.member_seconds): a
member whose device was the only one busy runs faster (XLA:CPU splits its loops over the free core), so its
seconds are converted to the pace of members sharing the machine, with the speed-up its program measured on
seeds of one trial. Pure functions on stamps; no timing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexp.training import member_clock as C
from mlexp.training.loop import Records

US = 1_000_000


def test_alone_seconds_of_overlapping_disjoint_and_nested_epochs():
  # 0: [0, 2], 1: [0, 2] (side by side); 2: [2, 3] alone; 3: not trained
  t0 = np.array([0, 0, 2 * US, 0])
  np.testing.assert_allclose(C.alone_seconds(t0, [2.0, 2.0, 1.0, 0.0], [1, 1, 1, 0]), [0, 0, 1, 0])
  # nested: [0, 4] around [1, 2] and [1.5, 3]: the outer one is alone for 1 s + 1 s, the others never
  t0 = np.array([0, US, int(1.5 * US)])
  np.testing.assert_allclose(C.alone_seconds(t0, [4.0, 1.0, 1.5], [1, 1, 1]), [2.0, 0.0, 0.0], atol=1e-9)
  # stamps that wrap (mod 2**30 us) in the middle of the call
  top = 2**30 - US // 2
  np.testing.assert_allclose(C.alone_seconds(np.array([top, US // 2]), [1.0, 1.0], [1, 1]), [1.0, 1.0])
  np.testing.assert_allclose(C.alone_seconds(np.array([top, top]), [1.0, 1.0], [1, 1]), [0.0, 0.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5 * US), st.floats(0.0, 3.0)), min_size=1, max_size=8))
def test_alone_seconds_lie_within_the_epoch_and_a_lone_member_is_alone(spans):
  t0 = np.array([s for s, _ in spans])
  dur = np.array([d for _, d in spans])
  out = C.alone_seconds(t0, dur, np.ones(len(spans), bool))
  assert (out >= 0).all() and (out <= dur + 1e-9).all()
  assert C.alone_seconds(t0[:1], dur[:1], [True])[0] == pytest.approx(dur[0])
  # the alone parts of different members never overlap: together at most the union of all epochs
  union = _union_length([(s * 1e-6, s * 1e-6 + d) for s, d in zip(t0, dur)])
  assert out.sum() <= union + 1e-6


def _union_length(spans):
  total, reach = 0.0, -np.inf
  for a, b in sorted(spans):
    a = max(a, reach)
    if b > a:
      total, reach = total + b - a, b
  return total


def test_contention_from_the_seeds_of_one_trial():
  # trial 7's seeds: two side by side for 10 s, one alone for 5 s: the same work, so alone is 2x as fast
  assert C.contention([7, 7, 7], [10.0, 10.0, 5.0], [0.0, 0.0, 5.0], [1, 1, 1]) == {7: pytest.approx(2.0)}
  # a member alone for less than half its epoch is not one of the alone ones
  assert C.contention([7, 7, 7], [10.0, 10.0, 5.0], [0.0, 0.0, 2.0], [1, 1, 1]) == {}
  # 2 s shared + 4 s alone = 10 s shared: c = (10 - 2) / 4
  assert C.contention([7, 7], [10.0, 6.0], [0.0, 4.0], [1, 1]) == {7: pytest.approx(2.0)}
  # no trial with both kinds, or a member not trained: no estimate; never below 1 nor above 4
  assert C.contention([1, 2], [10.0, 5.0], [0.0, 5.0], [1, 1]) == {}
  assert C.contention([7, 7], [10.0, 5.0], [0.0, 5.0], [1, 0]) == {}
  assert C.contention([7, 7], [10.0, 10.0], [0.0, 10.0], [1, 1]) == {7: 1.0}
  assert C.contention([7, 7], [10.0, 1.0], [0.0, 1.0], [1, 1]) == {7: 4.0}
  # each trial its own: a wide model gains more from a free core than a narrow one
  assert C.contention([1, 1, 2, 2], [10.0, 5.0, 10.0, 8.0], [0.0, 5.0, 0.0, 8.0], [1] * 4) == {
      1: pytest.approx(2.0), 2: pytest.approx(1.25)}


def test_records_convert_the_alone_seconds_to_the_shared_pace():
  # 3 seeds of one trial on 2 devices (slots 0 | 1, 2): seeds 0 and 1 side by side (2 s), seed 2 alone after
  # them (1 s: twice as fast); every epoch the same. Converted, the three seeds measure the same.
  r = Records(3)
  for e in range(4):
    base = e * 3 * US
    m = {"trained": np.ones(3, bool), "status": np.zeros(3, int), "epoch": np.full(3, e + 1),
         **{k: np.zeros(3) for k in ("best_epoch", "best_loss", "best_accuracy", "best_test_loss", "test_loss",
                                     "test_accuracy", "train_loss")},
         "member_s": np.array([2.0, 2.0, 1.0]), "member_busy": np.zeros(3, bool),
         "member_overlap_s": np.zeros(3), "member_t0": np.array([base, base, base + 2 * US])}
    r.update([0, 1, 2], m, 3.0, trials=[5, 5, 5])
  assert r.contention == {5: [pytest.approx(2.0)] * 3}  # (the first call, a program's first run, is not used)
  secs = [r.member_seconds(i) for i in range(3)]
  assert [s["member_s"] for s in secs] == pytest.approx([8.0, 8.0, 8.0])
  assert [s["member_first_s"] for s in secs] == pytest.approx([2.0, 2.0, 2.0])
  assert secs[2]["member_alone_s"] == pytest.approx(4.0) and secs[2]["member_contention"] == pytest.approx(2.0)
  # a member's own trial's contention where it has one (another trial's model gained nothing alone), else the
  # program's median
  r.contention[9] = [1.0, 1.0]
  assert r.member_seconds(2, trial=5)["member_contention"] == pytest.approx(2.0)
  assert r.member_seconds(2, trial=9)["member_s"] == pytest.approx(4.0)  # (its raw seconds: alone is no faster)
  assert r.member_seconds(2, trial=4)["member_contention"] == pytest.approx(2.0)  # (median of 2, 2, 2, 1, 1)
  # without stamps (GPU, an older program) nothing changes
  plain = Records(1)
  m.pop("member_t0")
  plain.update([0], {k: v[:1] for k, v in m.items()}, 1.0, trials=[5])
  assert plain.member_seconds(0)["member_s"] == pytest.approx(2.0) and plain.member_seconds(0)["member_contention"] == 1.0
