"""Studies (sweep.algorithm=one_at_a_time): the pure expansion, and a tiny study end to end (knob / value
columns, every variation to its epochs, best_config's epochs)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import sweep_util as u
from mlexp.config import ConfigError, base_config, sweep_block
from mlexp.sweeps.plan import plan_sweep
from mlexp.sweeps.space import grid, knob_value, loguniform, one_at_a_time, sweep_trials, trial_config


def test_baseline_once_then_each_knob_alone():
  c = base_config("mlp", "mnist_5k")
  c.batch_size, c.optimizer.learning_rate, c.model.units = 64, 1e-3, (256, 256)
  space = (grid("batch_size", 16, 64, 128), grid("optimizer.learning_rate", 1e-2, 0.001),
           grid("model.units", (16, 16), [256, 256], (256, 256, 128)))
  trials = one_at_a_time(space, c)
  # the baseline value of each knob (64, 0.001, [256, 256]) is folded into the baseline trial
  assert trials == [{}, {"batch_size": 16}, {"batch_size": 128}, {"optimizer.learning_rate": 1e-2},
                    {"model.units": (16, 16)}, {"model.units": (256, 256, 128)}]
  assert [knob_value(t) for t in trials[:2]] == [{"knob": "baseline", "value": ""},
                                                 {"knob": "batch_size", "value": 16}]
  assert knob_value(trials[-1]) == {"knob": "model.units", "value": "(256,256,128)"}
  cfg = trial_config(c, trials[1])
  assert cfg.batch_size == 16 and cfg.optimizer.learning_rate == 1e-3 and cfg.model.units == (256, 256)
  assert one_at_a_time(space, c) == trials  # pure: the same again
  with pytest.raises(ValueError, match="model.nope"):
    one_at_a_time((grid("model.nope", 1),), c)


def test_study_block_defaults_to_full_and_refuses_random_fields():
  sw = sweep_block((grid("batch_size", 16, 32),), algorithm="one_at_a_time")
  assert sw.mode == "full" and sw.algorithm == "one_at_a_time"
  assert sweep_block((grid("batch_size", 16),), algorithm="one_at_a_time", mode="asha").mode == "asha"
  assert sweep_block((grid("batch_size", 16),)).mode == "asha"
  c = base_config("mlp", "mnist_5k")
  c.sweep = sweep_block((grid("batch_size", 16), loguniform("optimizer.learning_rate", 1e-4, 1e-2)),
                        algorithm="one_at_a_time")
  with pytest.raises(ValueError, match="optimizer.learning_rate"):
    sweep_trials(c.sweep, c)
  with pytest.raises(ConfigError, match="optimizer.learning_rate"):
    plan_sweep(c)


def tiny_study():
  """2 knobs (one value of each the baseline's), 2 seeds, 3 epochs: 5 trials; 1024 training digits, so that
  batch 4 (256 steps an epoch) costs several times batch 32 (32 steps). No hidden layer (units ()) is a program of
  its own: the study has two."""
  c = u.tiny_sweep((grid("model.units", (8,), (16,), (32,), ()), grid("batch_size", 4, 32)),
                   **{"seeds": 2, "epochs": 3, "data.max_train": 1024})
  c.sweep.algorithm = "one_at_a_time"
  return c


@pytest.fixture(scope="module")
def study(_session_compile_cache, tmp_path_factory):
  wd = tmp_path_factory.mktemp("study") / "w"
  cfg = tiny_study()
  summary, text = u.run(cfg, wd)
  return {"config": cfg, "workdir": str(wd), "summary": summary, "rows": u.read_csv(wd / "results.csv")}


def test_tiny_study_end_to_end(study):
  rows = study["rows"]
  assert list(rows[0])[2:6] == ["knob", "value", "model.units", "batch_size"]
  by_trial = {int(r["trial"]): (r["knob"], r["value"], r["model.units"], r["batch_size"]) for r in rows}
  assert by_trial == {0: ("baseline", "", "(8)", "32"), 1: ("model.units", "(16)", "(16)", "32"),
                      2: ("model.units", "(32)", "(32)", "32"), 3: ("model.units", "()", "()", "32"),
                      4: ("batch_size", "4", "(8)", "4")}
  assert len(rows) == 5 * 2 and all(int(r["epochs_run"]) == 3 for r in rows)  # no ASHA cuts
  assert len({r["group"] for r in rows}) == 2


def test_train_s_is_each_models_own_time(study):
  """Batch 4 shares a program with batch 32 (a branch each) yet costs its own 8x the steps: train_s, measured
  inside the program for each model, puts it above the baseline (the programs' equal shares, wall_s, did not)."""
  from mlexp.sweeps.trial_time import BUSY
  rows = study["rows"]
  mean = lambda t: np.mean([float(r["train_s"]) for r in rows if int(r["trial"]) == t])  # noqa: E731
  how = lambda ts: {r["train_s_method"].replace(BUSY, "") for r in rows if r["trial"] in ts}  # noqa: E731
  assert all(float(r["train_s"]) > 0 for r in rows)
  # (8 and 16 units train in the 32-unit program, each in a branch of its own sizes: test_a_study_trains_every_
  # width_at_its_own_sizes; their evaluation runs at the program's sizes, so their seconds are scaled by it)
  assert how("23") == {"measured"} and how("014") == {"measured x own/padded work"}
  # (8x the steps: 3.1-3.8x the baseline's seconds alone; 1.6x once under a whole parallel test run, whose other
  # processes take the cores in turns: a margin that holds under load, still far above the equal shares)
  assert mean(4) > 1.3 * mean(0)
  # Every model has an epoch timed with nothing else on the cores, none rests on a slowdown estimate: the program
  # trained first (the fastest compile) trained beside the other's compile, then its last epoch waited for it.
  assert not [r["trial"] for r in rows if BUSY in r["train_s_method"]]
  assert "measured inside the shared program" in study["summary"]["train_s_method"]


def test_a_study_trains_every_width_at_its_own_sizes():
  """A study times each model: its planner gives every width a branch of its own sizes inside the padded program
  (a search's planner would train 8 and 16 units at the 32 units of the program: one compile less)."""
  from mlexp.training import loop
  cfg, data = tiny_study(), loop.DataCache()
  plan = plan_sweep(cfg, data=lambda c: data.get(c)[0], platform="cpu")
  padded = [m for g in plan.groups for m in g.members if m.dims]
  assert {dict(m.dims)["units"] for m in padded} == {(8,), (16,), (32,)}
  assert all(dict(m.branch or (("units", g_units),))["units"] == dict(m.dims)["units"]
             for g_units, m in [(g.config.model.units, m) for g in plan.groups for m in g.members if m.dims])
  cfg.time_members = "off"  # (the same trials as a search: no branch pays for a compile at these sizes)
  search = plan_sweep(cfg, data=lambda c: data.get(c)[0], platform="cpu")
  assert not [m for g in search.groups for m in g.members if m.branch]


def test_best_config_has_the_best_trials_best_epoch(study):
  wd, rows = study["workdir"], study["rows"]
  best = study["summary"]["best"]["trial"]
  eps = [int(r["best_epoch"]) for r in rows if int(r["trial"]) == best]
  cfg = json.load(open(os.path.join(wd, "best_config.json")))
  assert cfg["epochs"] == int(round(np.median(eps))) and cfg["early_stopping"]["patience"] == 0
  assert "median best epoch" in open(os.path.join(wd, "best_config.py")).read()


@pytest.mark.parametrize("name", ["studies/week1", "studies/week3", "studies/cnn"])
def test_shipped_studies_plan(name):
  import mlexp
  for smoke in (False, True):
    c = mlexp.get_config(name, smoke=smoke)
    assert c.sweep.algorithm == "one_at_a_time" and c.sweep.mode == "full"
    assert int(c.seeds) == (2 if smoke else 3)
    plan = plan_sweep(c)
    assert plan.trials[0] == {} and all(len(t) == 1 for t in plan.trials[1:])
