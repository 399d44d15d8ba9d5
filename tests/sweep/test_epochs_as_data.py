"""Epochs as data: trials that differ only in `epochs` share one program on CPU (where the learning rate does not
depend on the epochs: every schedule but cosine). A member is completed after its own epochs and skips the rest
(training/loop.py complete_own_epochs), so it trains exactly as its config in a program of its own."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import sweep_util as u
import tiny
from mlexp.config import sweep_block
from mlexp.sweeps import widths
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.space import expand, grid

EPOCHS = (1, 2, 3)


def _cost(platform="cpu"):
  return lambda cfg: widths.CostModel(feature_shape=(tiny.HW, tiny.HW, 1), num_classes=tiny.CLASSES,
                                       n_train=1000, epochs=3, platform=platform, compile_s=5.0,
                                       kind=str(cfg.model.kind))


def _plans(schedule="constant", padding="auto", platform="cpu"):
  c = tiny.config("mlp", **{"schedule.name": schedule})
  c.sweep = sweep_block((grid("epochs", *EPOCHS), grid("optimizer.learning_rate", 0.1, 0.01)))
  trials = expand(c.sweep.space, 6, 0)
  return trials, plan_groups(c, trials, 2, 64, padding=padding, cost=_cost(platform))


@pytest.mark.parametrize("schedule", ["constant", "plateau"])
def test_cpu_plans_trials_of_different_epochs_into_one_program(schedule):
  trials, plans = _plans(schedule)
  assert len(plans) == 1
  assert int(plans[0].config.epochs) == max(EPOCHS)  # the program runs to the most epochs
  for m in plans[0].members:
    assert m.epochs == trials[m.trial]["epochs"]


@pytest.mark.parametrize("schedule,padding,platform", [("cosine", "auto", "cpu"), ("constant", "none", "cpu"),
                                                       ("constant", "auto", "gpu")])
def test_one_program_per_epochs_where_they_are_not_data(schedule, padding, platform):
  # cosine: the learning rate follows the epochs; padding none: exact programs; GPU: a completed member would
  # still compute (vmapped)
  trials, plans = _plans(schedule, padding, platform)
  assert len(plans) == len(EPOCHS)
  assert all(m.epochs == 0 for p in plans for m in p.members)
  for p in plans:
    assert {trials[t]["epochs"] for t in p.trials} == {int(p.config.epochs)}


@pytest.fixture(scope="module")
def shared_and_apart(tmp_path_factory):
  base = tmp_path_factory.mktemp("epochs_as_data")
  space = (grid("epochs", *EPOCHS), grid("optimizer.learning_rate", 0.05, 0.2))
  out = {}
  for name, padding in (("shared", "auto"), ("apart", "none")):
    cfg = u.tiny_sweep(space, **{"seeds": 2, "sweep.padding": padding, "schedule.name": "plateau",
                                 "schedule.patience": 1})
    summary, text = u.run(cfg, base / name)
    out[name] = {"rows": u.read_csv(base / name / "results.csv"), "workdir": str(base / name), "text": text}
  return out


def test_a_member_trains_its_own_epochs_as_its_config_alone(shared_and_apart):
  shared, apart = shared_and_apart["shared"], shared_and_apart["apart"]
  assert len({r["group"] for r in shared["rows"]}) == 1
  assert len({r["group"] for r in apart["rows"]}) == len(EPOCHS)
  key = lambda r: (r["epochs"], r["optimizer.learning_rate"], r["seed"])
  a, b = {key(r): r for r in shared["rows"]}, {key(r): r for r in apart["rows"]}
  assert sorted(a) == sorted(b) and len(a) == len(EPOCHS) * 2 * 2
  for k, r in a.items():
    assert r["status"] == b[k]["status"] == "completed"
    assert int(r["epochs_run"]) == int(b[k]["epochs_run"]) == int(k[0])
    assert r["best_epoch"] == b[k]["best_epoch"]
    for col in ("test_accuracy", "best_test_loss", "final_test_loss", "best_val_loss", "train_loss"):
      x, y = float(r[col]), float(b[k][col])
      assert math.isfinite(x)
      np.testing.assert_allclose(x, y, rtol=1e-5, err_msg=f"{k} {col}")


def test_each_member_logs_its_own_epochs_the_last_as_completed(shared_and_apart):
  recs = [json.loads(s) for s in open(os.path.join(shared_and_apart["shared"]["workdir"], "metrics.jsonl"))]
  by_member: dict = {}
  for rec in recs:
    by_member.setdefault((rec["trial"], rec["seed"]), []).append(rec)
  rows = {(int(r["trial"]), int(r["seed"])): int(r["epochs"]) for r in shared_and_apart["shared"]["rows"]}
  assert sorted(by_member) == sorted(rows)
  for m, rs in by_member.items():
    assert [r["epoch"] for r in rs] == list(range(1, rows[m] + 1))
    assert rs[-1]["status"] == "completed" and all(r["status"] == "running" for r in rs[:-1])
