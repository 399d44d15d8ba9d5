"""ASHA rung decisions (pure)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from mlexp.sweeps import asha


def test_rungs():
  assert asha.rungs(1, 3, 9) == [1, 3]
  assert asha.rungs(1, 3, 10) == [1, 3, 9]
  assert asha.rungs(1, 3, 3) == [1]
  assert asha.rungs(2, 2, 9) == [2, 4, 8]
  assert asha.rungs(5, 3, 5) == []  # no rung at the last epoch


def test_keeps_the_top_third_of_losses():
  vals = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2]
  assert asha.keep([], vals, 3, "min").tolist() == [False, True, False, False, False, True]


def test_keeps_the_top_third_of_accuracies():
  vals = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2]
  assert asha.keep([], vals, 3, "max").tolist() == [True, False, False, False, True, False]


def test_factor_two_keeps_half():
  vals = [4.0, 1.0, 3.0, 2.0]
  assert asha.keep([], vals, 2).tolist() == [False, True, False, True]


def test_non_finite_values_are_never_kept():
  vals = [np.nan, np.inf, 0.5, -np.inf]
  assert asha.keep([], vals, 3, "min").tolist() == [False, False, True, False]
  assert asha.keep([], vals, 3, "max").tolist() == [False, False, True, False]
  assert asha.keep([], [np.nan, np.inf], 3).tolist() == [False, False]


def test_history_is_used():
  # 0.5 is the best of this group, but 9 earlier values at the rung were all better: the top third of the
  # 10 values (3) are all history, so it is cut
  hist = [0.1, 0.2, 0.3, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16]
  assert asha.keep(hist, [0.5, 0.6], 3, "min").tolist() == [False, False]
  # without history the better one continues
  assert asha.keep([], [0.5, 0.6], 3, "min").tolist() == [True, False]
  # a value better than the history's cutoff continues
  assert asha.keep(hist, [0.05, 0.6], 3, "min").tolist() == [True, False]
  # non-finite history does not count
  assert asha.keep([np.nan] * 9, [0.5, 0.6], 3, "min").tolist() == [True, False]


def test_ties_at_the_cutoff_all_continue():
  assert asha.keep([], [1.0, 1.0, 1.0], 3).tolist() == [True, True, True]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hist=st.lists(st.floats(-10, 10), max_size=12), vals=st.lists(st.floats(-10, 10), min_size=1, max_size=12),
       factor=st.integers(2, 5), mode=st.sampled_from(["min", "max"]))
def test_keep_properties(hist, vals, factor, mode):
  kept = asha.keep(hist, vals, factor, mode)
  assert kept.shape == (len(vals),) and kept.dtype == bool
  allv = np.asarray(hist + vals)
  sign = 1.0 if mode == "min" else -1.0
  n_keep = max(1, len(allv) // factor)
  cutoff = np.sort(sign * allv)[n_keep - 1]
  # exactly the values at least as good as the n_keep-th best of history + values continue
  assert kept.tolist() == [bool(sign * v <= cutoff) for v in vals]
  if not hist:  # at least one continues, and no more than the top 1/factor (up to ties)
    assert kept.any()
    n_distinct_kept = len({v for v, k in zip(vals, kept) if k})
    assert n_distinct_kept <= n_keep
  # the best value of this group continues whenever it is as good as the history's best
  best = min(vals, key=lambda v: sign * v)
  if not hist or sign * best <= min(sign * h for h in hist):
    assert kept[vals.index(best)]
