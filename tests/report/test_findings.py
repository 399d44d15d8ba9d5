"""Findings on constructed DataFrames."""
import math

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from mlexp.report import findings as F


def results_frame(values, accs, walls=None, field="model.hidden", statuses=None):
  """One row per (trial, seed): values[i] is trial i's field value, accs[i] its accuracies over seeds."""
  rows = []
  for t, (v, a) in enumerate(zip(values, accs)):
    for s, acc in enumerate(a):
      rows.append({"trial": t, field: v, "seed": s, "test_accuracy": acc,
                   "status": statuses[t] if statuses else "completed",
                   "wall_s": walls[t] if walls else 10.0, "param_count": 100, "epochs_run": 10})
  return pd.DataFrame(rows)


def curve(train, test, trial=0, seeds=2):
  rows = []
  for s in range(seeds):
    for e, (tr, te) in enumerate(zip(train, test), 1):
      rows.append(dict(trial=trial, seed=s, epoch=e, train_loss=tr + 0.001 * s, test_loss=te + 0.001 * s,
                       test_accuracy=0.9))
  return pd.DataFrame(rows)


EPOCHS = np.arange(1, 31)
TRAIN = 1.0 * np.exp(-EPOCHS / 5) + 0.02


def test_overfitting_curve_is_called_overfitting():
  test = np.where(EPOCHS <= 23, 1.2 * np.exp(-EPOCHS / 5) + 0.15, 0.15 + 1.2 * math.exp(-23 / 5) + 0.03 * (EPOCHS - 23))
  m = curve(TRAIN, test)
  o = F.overfitting(F.mean_curves(m))
  assert o is not None and o["epoch"] == 23
  f = F.overfitting_finding(m, pd.DataFrame({"trial": [0], "test_accuracy": [0.9], "seed": [0], "wall_s": [1.0]}))
  assert f.kind == "overfitting" and "Overfitting after epoch 23" in f.text
  assert f.figure == F.LEARNING_CURVES


def test_both_decreasing_is_not_overfitting():
  test = 1.2 * np.exp(-EPOCHS / 5) + 0.15
  m = curve(TRAIN, test)
  assert F.overfitting(F.mean_curves(m)) is None
  res = pd.DataFrame({"trial": [0], "test_accuracy": [0.9], "seed": [0], "wall_s": [1.0]})
  assert F.overfitting_finding(m, res) is None
  ep = F.epochs_finding(m, res)
  assert ep.numbers["min_epoch"] == 30 and "still falling" in ep.text


def test_small_wiggle_after_minimum_is_not_overfitting():
  test = 1.2 * np.exp(-EPOCHS / 5) + 0.15
  test[-1] = test[-2] + 0.001  # minimum at 29, tiny rise: noise, not overfitting
  assert F.overfitting(F.mean_curves(curve(TRAIN, test))) is None


def test_epochs_finding_names_minimum_before_last_epoch():
  test = np.concatenate([np.linspace(1.0, 0.3, 10), np.linspace(0.31, 0.5, 20)])
  f = F.epochs_finding(curve(TRAIN, test), pd.DataFrame({"trial": [0], "test_accuracy": [0.9], "seed": [0],
                                                          "wall_s": [1.0]}))
  assert f.numbers["min_epoch"] == 10 and f.numbers["last_epoch"] == 30
  assert "stopped helping after epoch 10 of 30" in f.text


def test_flat_field_is_called_flat():
  # seed spread ~1 pp, effect of the field 0.3 pp
  r = results_frame([1, 2, 3], [[0.90, 0.92, 0.91], [0.905, 0.915, 0.92], [0.91, 0.90, 0.925]],
                    field="model.depth")
  f = F.field_effect(r, dict(name="model.depth", scale="linear"))
  assert f.numbers["flat"] and f.text.startswith("Flat")
  assert f.numbers["effect"] < f.numbers["spread"]
  assert "smaller than the seed-to-seed spread" in f.text


def test_strong_field_is_not_flat():
  r = results_frame([16, 64, 256], [[0.80, 0.81], [0.88, 0.89], [0.95, 0.94]])
  f = F.field_effect(r, dict(name="model.hidden", scale="log"))
  assert not f.numbers["flat"] and "Flat" not in f.text
  assert f.numbers["best_value"] == 256
  assert abs(f.numbers["effect"] - 0.14) < 1e-9
  assert "still rising" in f.text


def test_saturating_field_stops_improving_and_time_grows():
  values = [16, 64, 256, 512, 1024]
  accs = [[0.80, 0.81], [0.90, 0.905], [0.950, 0.96], [0.955, 0.96], [0.956, 0.957]]
  r = results_frame(values, accs, walls=[10, 20, 40, 80, 160])
  f = F.field_effect(r, dict(name="model.hidden", scale="log"))
  assert f.numbers["saturates_above"] == 256
  assert "stops improving above 256" in f.text
  assert f.numbers["time_grows"] and "Training time keeps growing" in f.text


def test_categorical_field_reports_best_value():
  r = results_frame(["relu", "tanh", "gelu"], [[0.9, 0.91], [0.8, 0.81], [0.92, 0.925]], field="model.act")
  f = F.field_effect(r, dict(name="model.act", scale="categorical"))
  assert f.numbers["best_value"] == "gelu" and "gelu" in f.text


def test_single_value_field_gives_no_finding():
  r = results_frame([4, 4], [[0.9, 0.91], [0.8, 0.81]])
  assert F.field_effect(r, dict(name="model.hidden")) is None


def test_matched_comparison_ignores_grid_holes():
  # hidden x lr grid where (1024, 0.1) diverged: hidden's comparison uses lr in {0.001, 0.01} only.
  rows = []
  t = 0
  for h in (256, 1024):
    for lr in (0.001, 0.01, 0.1):
      for s in range(2):
        div = h == 1024 and lr == 0.1
        acc = 0.95 - (0.05 if lr == 0.1 else 0) + 0.001 * s
        rows.append({"trial": t, "h": h, "lr": lr, "seed": s, "test_accuracy": 0.1 if div else acc,
                     "status": "diverged" if div else "completed", "wall_s": 1.0})
      t += 1
  r = pd.DataFrame(rows)
  by, restricted = F.value_means(r, dict(name="h"), others=["lr"])
  assert restricted and abs(by.loc[256, "acc"] - by.loc[1024, "acc"]) < 1e-9


def test_best_config_mean_and_std_over_seeds():
  r = results_frame([16, 64], [[0.80, 0.82], [0.90, 0.94]], walls=[5, 7])
  f = F.best_config(r, ["model.hidden"])
  assert f.numbers["trial"] == 1 and abs(f.numbers["acc_mean"] - 0.92) < 1e-9
  assert abs(f.numbers["acc_std"] - np.std([0.90, 0.94], ddof=1)) < 1e-9
  assert "92.0% ± 2.8 pp" in f.text and "model.hidden=64" in f.text


def test_diverged_trials_listed_with_settings():
  r = results_frame([0.001, 0.01, 1.0], [[0.9, 0.9], [0.92, 0.93], [0.1, 0.1]], field="optimizer.learning_rate",
                    statuses=["completed", "completed", "diverged"])
  f = F.diverged_finding(r, ["optimizer.learning_rate"])
  assert "trial 2" in f.text and "optimizer.learning_rate=1" in f.text and "2 of 2 seeds" in f.text
  assert f.numbers["diverged"][0]["trial"] == 2
  assert F.diverged_finding(r[r["status"] != "diverged"], ["optimizer.learning_rate"]) is None


def test_pareto_hand_built_example():
  #            A     B     C     D     E
  time = [10.0, 20.0, 15.0, 40.0, 40.0]
  acc = [0.80, 0.90, 0.85, 0.95, 0.93]
  assert list(F.pareto_mask(time, acc)) == [True, True, True, True, False]
  assert list(F.pareto_mask([1.0, 1.0], [0.5, 0.5])) == [True, True]  # equal points do not dominate
  assert list(F.pareto_mask([1.0, np.nan], [0.5, 0.9])) == [True, False]


def test_pareto_finding_names_fastest_within_one_pp():
  r = results_frame([16, 64, 256, 1024], [[0.90, 0.90], [0.945, 0.945], [0.95, 0.95], [0.952, 0.952]],
                    walls=[5, 10, 30, 100])
  f = F.pareto_finding(r, ["model.hidden"])
  assert f.numbers["fastest_near_best"] == 1 and f.numbers["best_trial"] == 3
  assert f.numbers["front_trials"] == [0, 1, 2, 3]
  assert "Trial 1 (model.hidden=64) reaches 94.5% in 10 s, within 1.0 pp of the best" in f.text
  assert abs(f.numbers["speedup"] - 10) < 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_pareto_property(points):
  t = np.array([p[0] for p in points], float)
  a = np.array([p[1] for p in points], float)
  mask = F.pareto_mask(t, a)

  def dominates(j, i):
    return t[j] <= t[i] and a[j] >= a[i] and (t[j] < t[i] or a[j] > a[i])

  n = len(points)
  for i in range(n):
    dominated = any(dominates(j, i) for j in range(n))
    assert mask[i] == (not dominated)
  assert mask.any()


def test_test_sets_finding_reports_drops():
  r = pd.DataFrame({"trial": [0, 0], "seed": [0, 1], "test_accuracy": [0.9, 0.9], "wall_s": [1.0, 1.0],
                    "test_accuracy/moved": [0.7, 0.72], "test_accuracy/rotated": [0.5, 0.5]})
  f = F.test_sets_finding(r)
  assert "moved 71.0% (-19.0 pp)" in f.text and f.numbers["rotated"] == 0.5


def test_all_findings_single_seed_has_no_spread():
  r = results_frame([16, 64], [[0.8], [0.9]])
  fs = F.all_findings(r, None, [dict(name="model.hidden", scale="log")])
  kinds = [f.kind for f in fs]
  assert kinds[0] == "best" and "field_effect" in kinds
  eff = fs[kinds.index("field_effect")]
  assert "1 seed" in eff.text and not eff.numbers["flat"]


def test_when_every_model_diverged_the_findings_say_so_and_nothing_else():
  r = results_frame([1e3, 1e4], [[0.1, 0.1], [0.1, 0.1]], field="optimizer.learning_rate",
                    statuses=["diverged", "diverged"])
  fs = F.all_findings(r, curve([1.0, 0.9], [1.0, 0.9]), ["optimizer.learning_rate"])
  assert [f.kind for f in fs] == ["best", "diverged"]
  assert "Every model diverged (4 of 4" in fs[0].text and "learning_rate" in fs[0].text
  assert not any("more epochs" in f.text or "Test accuracy" in f.text for f in fs)
