"""The report of a study (mlexp/report/study.py): pure tables and findings on hand-made rows, and
python -m mlexp.report on a tiny study's workdir."""
from __future__ import annotations

import csv
import os
import sys

import pandas as pd
import pytest

from mlexp.report import study as S
from mlexp.report.__main__ import main

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sweep"))


def rows():
  """Baseline (units 256, lr 1e-3) and two knobs, 2 seeds each."""
  out = []
  for t, knob, units, lr, accs, time in ((0, "baseline", 256, 1e-3, (0.90, 0.92), 1.0),
                                        (1, "model.units", 16, 1e-3, (0.80, 0.82), 0.5),
                                        (2, "model.units", 1024, 1e-3, (0.93, 0.95), 2.8),
                                        (3, "optimizer.learning_rate", 256, 1e-2, (0.91, 0.91), 1.0)):
    for seed, a in enumerate(accs):
      out.append({"trial": t, "knob": knob, "model.units": units, "optimizer.learning_rate": lr, "seed": seed,
                  "status": "completed", "test_accuracy": a, "wall_s": time, "param_count": 10 * units,
                  "best_epoch": 3 + seed})
  return pd.DataFrame(out)


def test_knob_table_holds_the_baseline_and_compares_with_it():
  r = rows()
  assert S.knobs(r) == ["model.units", "optimizer.learning_rate"]
  t = S.knob_table(r, "model.units")
  assert list(t["value"]) == [16, 256, 1024] and list(t["baseline"]) == [False, True, False]
  assert t["acc_vs_baseline_pp"].round(6).tolist() == [-10.0, 0.0, 3.0]
  assert t["time_vs_baseline"].tolist() == [0.5, 1.0, 2.8] and t["best_epoch"].tolist() == [3.5] * 3
  assert S.log_scale(list(t["value"])) and not S.log_scale([16, 64]) and not S.log_scale(["sgd", "adam"])
  week = S.study_table(r)
  assert list(week["knob"]) == ["baseline", "model.units", "model.units", "optimizer.learning_rate"]
  assert S.head(week) == S.HEAD and len(S.display_rows(week)[0]) == len(S.HEAD)
  val = S.study_table(r.assign(val_accuracy=0.5))  # validation accuracy beside test accuracy where rows have it
  assert S.head(val)[3] == "validation accuracy (%)" and S.display_rows(val)[0][3] == "50.00"


def test_findings_compare_with_the_baseline_only():
  found = S.knob_findings(rows())
  text = " ".join(f.text for f in found)
  assert "model.units vs the baseline (256: 91.0%" in text
  assert "1024: +3.0 pp for 2.8x the time" in text and "16: -10.0 pp for 0.5x the time" in text
  assert "0.01: +0.0 pp for 1.0x the time (within the seed spread)" in text
  for word in ("because", "causes", "matters", "keeps growing"):
    assert word not in text


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
  import sweep_util as u
  from mlexp.sweeps.space import grid
  c = u.tiny_sweep((grid("model.units", (8,), (16,)), grid("optimizer.learning_rate", 0.05, 0.2)),
                   **{"seeds": 2, "epochs": 2})
  c.sweep.algorithm = "one_at_a_time"
  wd = tmp_path_factory.mktemp("study") / "w"
  u.run(c, wd)
  return str(wd)


def test_report_of_a_tiny_study(study_dir, capsys):
  assert main([study_dir]) == 0
  rep = os.path.join(study_dir, "report")
  for name in ("study.md", "study.csv", "study_model_units.png", "study_optimizer_learning_rate.png"):
    assert os.path.exists(os.path.join(rep, name)), name
  with open(os.path.join(rep, "study.csv")) as f:
    week = list(csv.DictReader(f))
  assert [w["knob"] for w in week] == ["baseline", "model.units", "optimizer.learning_rate"]
  md = open(os.path.join(rep, "report.md")).read()
  assert md.startswith("# Study: mlp") and "## Knob: model.units" in md and "vs the baseline" in md
  assert "accuracy_vs_model_units.png" not in md and "](study_model_units.png)" in md
  assert "| baseline |" in open(os.path.join(rep, "study.md")).read()
