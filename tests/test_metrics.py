"""mlexp.metrics against a brute-force count, on hand-built cases and random labels (hypothesis)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mlexp import metrics


def brute_force(y_true, y_pred, k):
  """Loops over examples and classes; sklearn's conventions written out (labels=None, zero_division=0)."""
  cm = [[0] * k for _ in range(k)]
  for t, p in zip(y_true, y_pred):
    cm[t][p] += 1
  prec, rec, f1 = [], [], []
  for c in range(k):
    tp = cm[c][c]
    fp = sum(cm[r][c] for r in range(k)) - tp
    fn = sum(cm[c]) - tp
    prec.append(tp / (tp + fp) if tp + fp else 0.0)
    rec.append(tp / (tp + fn) if tp + fn else 0.0)
    f1.append(2 * prec[-1] * rec[-1] / (prec[-1] + rec[-1]) if prec[-1] + rec[-1] else 0.0)
  seen = sorted(set(y_true) | set(y_pred))
  macro = lambda v: sum(v[c] for c in seen) / len(seen) if seen else 0.0
  return cm, prec, rec, f1, macro(prec), macro(rec), macro(f1)


labels = st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60)))


@settings(max_examples=200, deadline=None)
@given(labels)
def test_matches_brute_force(case):
  k, pairs = case
  y_true = [t for t, _ in pairs]
  y_pred = [p for _, p in pairs]
  r = metrics.classification_report(np.array(y_true), np.array(y_pred), k)
  cm, prec, rec, f1, mp, mr, mf = brute_force(y_true, y_pred, k)
  assert r["confusion"] == cm
  np.testing.assert_allclose(r["precision"], prec, atol=1e-12)
  np.testing.assert_allclose(r["recall"], rec, atol=1e-12)
  np.testing.assert_allclose(r["per_class_accuracy"], rec, atol=1e-12)
  np.testing.assert_allclose(r["f1"], f1, atol=1e-12)
  assert r["macro_precision"] == pytest.approx(mp) and r["macro_recall"] == pytest.approx(mr)
  assert r["macro_f1"] == pytest.approx(mf)
  assert r["n"] == len(pairs) == sum(map(sum, r["confusion"]))
  assert r["accuracy"] == pytest.approx(np.mean(np.array(y_true) == np.array(y_pred)))
  assert r["support"] == np.bincount(y_true, minlength=k).tolist()
  assert np.sum(r["confusion"], axis=0).tolist() == np.bincount(y_pred, minlength=k).tolist()
  assert 0.0 <= r["macro_f1"] <= 1.0
  json.dumps(r)  # JSON-ready as it is


@settings(max_examples=100, deadline=None)
@given(labels)
def test_perfect_predictions_give_one(case):
  k, pairs = case
  y = np.array([t for t, _ in pairs])
  r = metrics.classification_report(y, y, k)
  assert r["macro_f1"] == r["macro_precision"] == r["macro_recall"] == r["accuracy"] == 1.0
  assert metrics.most_confused(r["confusion"]) == []
  present = np.bincount(y, minlength=k) > 0
  assert np.all(np.array(r["f1"])[present] == 1.0) and np.all(np.array(r["f1"])[~present] == 0.0)


@settings(max_examples=100, deadline=None)
@given(labels, st.integers(0, 2**31 - 1))
def test_logits_give_argmax(case, seed):
  k, pairs = case
  y = np.array([t for t, _ in pairs])
  logits = np.random.default_rng(seed).normal(size=(len(y), k)).astype(np.float32)
  assert metrics.classification_report(y, logits, k) == metrics.classification_report(y, logits.argmax(-1), k)


@settings(max_examples=100, deadline=None)
@given(labels, st.integers(0, 10))
def test_most_confused_sorted_off_diagonal(case, top):
  k, pairs = case
  cm = metrics.confusion_matrix([t for t, _ in pairs], [p for _, p in pairs], k)
  got = metrics.most_confused(cm, top)
  off = [(cm[i, j], i, j) for i in range(k) for j in range(k) if i != j and cm[i, j] > 0]
  assert len(got) == min(top, len(off))
  assert [g["count"] for g in got] == sorted((c for c, _, _ in off), reverse=True)[:top]
  for g in got:
    assert g["true"] != g["predicted"] and cm[g["true"], g["predicted"]] == g["count"]
    assert g["fraction"] == pytest.approx(g["count"] / cm[g["true"]].sum())


def test_hand_example_and_absent_class():
  # class 3 never occurs and is never predicted: per class 0, left out of the macro averages;
  # class 2 occurs but is never predicted: precision 0/0 -> 0 (sklearn zero_division=0)
  r = metrics.classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 4, ["a", "b", "c", "d"])
  assert r["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
  assert r["precision"] == pytest.approx([0.5, 2 / 3, 0.0, 0.0])
  assert r["recall"] == pytest.approx([0.5, 1.0, 0.0, 0.0])
  assert r["f1"] == pytest.approx([0.5, 0.8, 0.0, 0.0])
  assert r["macro_f1"] == pytest.approx(1.3 / 3)  # = sklearn f1_score(..., average="macro", zero_division=0)
  assert r["macro_precision"] == pytest.approx((0.5 + 2 / 3) / 3)
  assert r["support"] == [2, 2, 1, 0] and r["class_names"] == ["a", "b", "c", "d"]
  top = metrics.most_confused(r["confusion"], 5, r["class_names"])
  assert [(c["true_name"], c["predicted_name"], c["count"], c["fraction"]) for c in top] == [
      ("a", "b", 1, 0.5), ("c", "a", 1, 1.0)]


def test_predicted_class_absent_from_test_set_counts_zero():
  r = metrics.classification_report([0, 0], [0, 1], 3)
  assert r["f1"] == pytest.approx([2 / 3, 0.0, 0.0])
  assert r["macro_f1"] == pytest.approx(1 / 3)  # classes 0 and 1 are averaged, class 2 is not
  assert r["class_names"] == ["0", "1", "2"]


def test_bad_inputs():
  with pytest.raises(ValueError, match=r"in \[0, 3\)"):
    metrics.confusion_matrix([0, 3], [0, 1], 3)
  with pytest.raises(ValueError, match="2 true labels but 3"):
    metrics.confusion_matrix([0, 1], [0, 1, 2], 3)
  with pytest.raises(ValueError, match="2 class names for 3 classes"):
    metrics.classification_report([0], [0], 3, ["a", "b"])
