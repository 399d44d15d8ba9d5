"""Findings that hold: Optuna's parameter importance for random / TPE searches, marginal effects worded as
associations with their caveat, and controlled comparisons (one field, a full grid) left as they were."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexp.report import findings as F
from mlexp.report.importance import importance_finding, importances

FIELDS = [dict(name="optimizer.learning_rate", scale="log"), dict(name="model.dropout", scale="linear"),
          dict(name="model.act", scale="categorical")]


def random_search(n=24, seeds=2):
  """Accuracy driven by the learning rate (peak at 1e-2), not by dropout or the activation."""
  rng = np.random.default_rng(0)
  rows = []
  for t in range(n):
    lr, do, act = 10 ** rng.uniform(-5, -1), rng.uniform(0, 0.5), ["relu", "tanh"][t % 2]
    for s in range(seeds):
      acc = 0.95 - 0.08 * (np.log10(lr) + 2) ** 2 + rng.normal(0, 0.003)
      rows.append({"trial": t, "seed": s, "optimizer.learning_rate": lr, "model.dropout": do, "model.act": act,
                   "test_accuracy": acc, "val_accuracy": acc + rng.normal(0, 0.003), "status": "completed",
                   "wall_s": 1.0, "train_s": 1.0 + do})
  return pd.DataFrame(rows)


def test_importance_ranks_the_field_that_drives_accuracy_first():
  got = importances(random_search(), FIELDS)
  imp = got["importance"]
  assert list(imp)[0] == "optimizer.learning_rate" and imp["optimizer.learning_rate"] > 0.5
  assert abs(sum(imp.values()) - 1) < 1e-6
  assert got["trials"] == 24 and got["target"] == "validation accuracy"
  f = importance_finding(random_search(), FIELDS, "random")
  assert f.kind == "importance" and "an association, not what changing that field alone would do" in f.text
  assert got["evaluator"] in f.text


def test_no_importance_from_too_few_trials_or_for_a_study():
  assert importances(random_search(n=5), FIELDS) is None
  assert importance_finding(random_search(), FIELDS, "one_at_a_time") is None


def test_confounded_trials_get_no_causal_wording():
  r = random_search()
  assert F.is_confounded(r, FIELDS, {"algorithm": "random", "mode": "full"})
  fs = F.field_effects(r, FIELDS, confounded=True)
  text = " ".join(f.text for f in fs)
  assert "matters" not in text and "keeps growing" not in text
  assert "not the effect of changing optimizer.learning_rate alone" in text
  assert all(f.numbers["confounded"] for f in fs)


def test_controlled_comparisons_are_not_confounded():
  grid = pd.DataFrame([{"trial": i * 2 + j, "seed": 0, "a": a, "b": b, "test_accuracy": 0.9}
                       for i, a in enumerate((1, 2)) for j, b in enumerate((3, 4))])
  fields = [dict(name="a"), dict(name="b")]
  assert not F.is_confounded(grid, fields, {"algorithm": "grid", "mode": "full"})
  assert not F.is_confounded(grid.iloc[:3], [dict(name="a")], {"algorithm": "random", "mode": "full"})
  assert F.is_confounded(grid.iloc[:3], fields, {"mode": "full"})  # a grid with a hole: not every combination
  assert F.is_confounded(grid, fields, {"algorithm": "grid", "mode": "asha"})  # ASHA kept some trials longer
  assert not F.is_confounded(grid, fields, {"algorithm": "one_at_a_time", "mode": "full"})
