"""Sweeps end to end on a tiny MLP: a trial in a group equals the same config run alone, divergence stays
in its member, ASHA, the files a sweep writes, resuming, and merging sharded runs."""
from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import shutil

import numpy as np
import pytest

import sweep_util as u
from mlexp import results
from mlexp.config import validate
from mlexp.sweeps import asha
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.runner import merge
from mlexp.sweeps.space import expand, trial_config
from mlexp.training.trainer import train_and_evaluate

NUMBERS = ("epochs_run", "best_epoch", "final_test_loss", "best_test_loss", "test_accuracy", "final_test_accuracy",
           "best_val_loss", "val_accuracy", "train_loss", "param_count")
COLUMNS_AFTER_FIELDS = ["seed", "status", "stopped_by", "epochs_run", "best_epoch", "final_test_loss", "best_test_loss",
                        "test_accuracy", "final_test_accuracy", "best_val_loss", "val_accuracy", "final_val_loss",
                        "final_val_accuracy", "train_loss", "wall_s", "compile_s", "param_count",
                        "train_s", "train_s_method", "macro_f1"]
LR = "optimizer.learning_rate"


def by_lr(rows):
  return {float(r[LR]): r for r in rows}


# ---- 4. a member of a group equals the same trial run alone

def test_sweep_members_equal_standalone_runs(lr_sweeps, tmp_path):
  sweep = lr_sweeps["without"]
  rows = sweep["rows"]
  assert len(rows) == 3 and len({r["group"] for r in rows}) == 1  # one group of 3 learning rates
  assert all(r["status"] == "completed" for r in rows)
  for r in rows:
    trial = expand(sweep["config"].sweep.space, 0)[int(r["trial"])]
    cfg = trial_config(sweep["config"], trial)
    assert cfg.optimizer.learning_rate == float(r[LR])
    alone = train_and_evaluate(cfg, str(tmp_path / f"alone_{r['trial']}"), stream=io.StringIO())["runs"][0]
    assert alone["seed"] == int(r["seed"]) and alone["epochs_run"] == int(r["epochs_run"]) == u.EPOCHS
    assert alone["best_epoch"] == int(r["best_epoch"])
    np.testing.assert_allclose(float(r["best_test_loss"]), alone["best_test_loss"], rtol=1e-5)
    np.testing.assert_allclose(float(r["test_accuracy"]), alone["test_accuracy"], rtol=1e-5)
    np.testing.assert_allclose(float(r["train_loss"]), alone["train_loss"], rtol=1e-5)
    assert int(r["param_count"]) == alone["param_count"]
  # the learning rates matter: three different models
  assert len({r["best_test_loss"] for r in rows}) == 3


# ---- 5. a diverging member changes nothing else

def test_divergence_is_isolated_in_a_sweep(lr_sweeps):
  with_d, replaced = by_lr(lr_sweeps["with_diverging"]["rows"]), by_lr(lr_sweeps["replaced"]["rows"])
  without = by_lr(lr_sweeps["without"]["rows"])
  assert sorted(with_d) == sorted(u.LRS + (u.DIVERGING,)) and sorted(without) == sorted(u.LRS)
  assert int(with_d[u.DIVERGING]["trial"]) == int(replaced[u.REPLACEMENT]["trial"]) == 3
  bad = with_d[u.DIVERGING]
  assert bad["status"] == "diverged" and bad["stopped_by"] == ""
  assert not math.isfinite(float(bad["train_loss"] or "nan"))
  assert not math.isfinite(float(bad["best_test_loss"]))
  assert replaced[u.REPLACEMENT]["status"] == "completed"
  for lr in u.LRS:
    a, b, c = with_d[lr], replaced[lr], without[lr]
    assert a["status"] == b["status"] == c["status"] == "completed"
    for col in NUMBERS:
      # bitwise (the csv holds the exact float32 values) against the same group with a normal learning rate
      # in place of the diverging one
      assert a[col] == b[col], (lr, col)
      # the sweep without it is a group of 3, a different compiled program: equal to float tolerance
      np.testing.assert_allclose(float(a[col]), float(c[col]), rtol=1e-5, err_msg=f"{lr} {col}")
  # the diverged trial is not the winner
  summary = lr_sweeps["with_diverging"]["summary"]
  assert summary["best"]["values"][LR] != u.DIVERGING
  assert summary["status_counts"] == {"completed": 3, "diverged": 1}


# ---- 6. ASHA

ASHA_LRS = (0.01, 0.05, 0.2, 0.1, 0.3, 0.02)


@pytest.fixture(scope="module")
def asha_sweeps(lr_sweeps, tmp_path_factory):
  """6 learning rates in 2 groups of 3 (the program of lr_sweeps' 3-member group), mode asha and full."""
  out = {}
  for name, mode, sync in (("asha", "asha", False), ("asha_sync", "asha", True), ("full", "full", True)):
    cfg = u.lr_sweep(ASHA_LRS, **{"sweep.mode": mode, "sweep.max_group_size": 3, "sweep.asha.sync": sync})
    wd = tmp_path_factory.mktemp(f"asha_{name}") / "w"
    _, text = u.run(cfg, wd)
    out[name] = {"config": cfg, "workdir": str(wd), "rows": u.read_csv(wd / "results.csv"), "text": text}
  return out


def test_synchronous_asha_decides_over_all_groups_at_once(asha_sweeps):
  """sweep.asha.sync: both groups train to the rung, then one decision over all 6 trials keeps the top
  third (2), whichever group they are in; those continue exactly as in full mode."""
  sw = asha_sweeps["asha_sync"]
  rows = sw["rows"]
  metrics = [json.loads(l) for l in open(os.path.join(sw["workdir"], "metrics.jsonl"))]
  epoch1 = {m["trial"]: m["val_loss"] for m in metrics if m["epoch"] == 1}  # (sweep.metric val_loss)
  assert sorted(epoch1) == list(range(6))
  keep = asha.keep([], [epoch1[t] for t in range(6)], 3, "min")
  expect = {t for t in range(6) if keep[t]}
  assert len(expect) == 2
  completed = {int(r["trial"]) for r in rows if r["status"] == "completed"}
  assert completed == expect
  assert all(r["stopped_by"] == "asha" and r["epochs_run"] == "1" for r in rows if int(r["trial"]) not in expect)
  full = by_lr(asha_sweeps["full"]["rows"])
  for r in rows:
    if int(r["trial"]) in expect:
      for col in NUMBERS:
        assert r[col] == full[float(r[LR])][col], col
  assert sum(int(r["epochs_run"]) for r in rows) == 6 + 2 * 2  # successive halving's budget exactly
  # progress inside the segments: a line per program and segment, its compile in the first
  parts = re.findall(r"\[rung epoch (\d+) \| group (\d)/2\] (\d+) model-epochs(, compile [\d.]+s)?", sw["text"])
  assert [(e, k, n) for e, k, n, _ in parts[:2]] == [("1", "1", "3"), ("1", "2", "3")]
  assert all(c for e, _, _, c in parts if e == "1") and not any(c for e, _, _, c in parts if e != "1")
  assert sum(int(n) for _, _, n, _ in parts) == 10


def test_asha_stops_the_worst_trials_at_the_rung(asha_sweeps):
  """sweep.asha.sync=False: groups one after another, each ranked against the groups before it."""
  sw = asha_sweeps["asha"]
  cfg, rows = sw["config"], sw["rows"]
  assert (cfg.sweep.asha.grace, cfg.sweep.asha.factor, cfg.epochs) == (1, 3, 3)
  assert asha.rungs(1, 3, 3) == [1]
  assert len(rows) == 6
  stopped = [r for r in rows if r["status"] == "stopped_early"]
  completed = [r for r in rows if r["status"] == "completed"]
  assert stopped and completed and len(stopped) + len(completed) == 6
  assert all(r["stopped_by"] == "asha" and r["epochs_run"] == "1" for r in stopped)
  assert all(r["stopped_by"] == "" and r["epochs_run"] == "3" for r in completed)

  # the decisions are asha.keep on the epoch-1 test losses, group by group, with the earlier groups as history
  plans = plan_groups(cfg, expand(cfg.sweep.space, 0), 1, 3)
  assert len(plans) == 2
  full = by_lr(asha_sweeps["full"]["rows"])
  hist, expect_kept = [], set()
  for p in plans:
    groupfile = json.load(open(os.path.join(sw["workdir"], "groups", f"{p.gid}.json")))
    vals = groupfile["rungs"]["1"]
    metrics = [json.loads(l) for l in open(os.path.join(sw["workdir"], "metrics.jsonl"))]
    epoch1 = {m["trial"]: m["val_loss"] for m in metrics if m["epoch"] == 1}  # (sweep.metric val_loss)
    assert vals == [epoch1[t] for t in p.trials]
    keep = asha.keep(hist, vals, 3, "min")
    expect_kept |= {t for t, k in zip(p.trials, keep) if k}
    hist += vals
  assert {int(r["trial"]) for r in completed} == expect_kept
  # the best trial at the rung continues, and every trial that continued equals its full-mode run
  best_at_rung = min(range(6), key=lambda t: hist[t])
  assert best_at_rung in expect_kept
  for r in completed:
    f = full[float(r[LR])]
    for col in NUMBERS:
      assert r[col] == f[col], col
  # a stopped trial's numbers are those of its first epoch in full mode
  for r in stopped:
    m = [json.loads(l) for l in open(os.path.join(asha_sweeps["full"]["workdir"], "metrics.jsonl"))]
    first = [x for x in m if x["trial"] == int(r["trial"]) and x["epoch"] == 1][0]
    assert float(r["final_test_loss"]) == first["test_loss"]


def test_full_mode_runs_every_trial_to_the_end(asha_sweeps):
  rows = asha_sweeps["full"]["rows"]
  assert len(rows) == 6
  assert all(r["status"] == "completed" and r["epochs_run"] == "3" and r["stopped_by"] == "" for r in rows)


# ---- 7. the files of a sweep

def test_results_csv_columns_and_rows(two_seed_sweep):
  wd, rows = two_seed_sweep["workdir"], two_seed_sweep["rows"]
  header = open(os.path.join(wd, "results.csv")).readline().strip().split(",")
  assert header == ["trial", "group", LR, "model.dropout"] + COLUMNS_AFTER_FIELDS
  assert len(rows) == 4 * 2
  assert sorted((int(r["trial"]), int(r["seed"])) for r in rows) == [(t, s) for t in range(4) for s in (0, 1)]
  trials = expand(two_seed_sweep["config"].sweep.space, 0)
  for r in rows:
    t = trials[int(r["trial"])]
    assert float(r[LR]) == t[LR] and float(r["model.dropout"]) == t["model.dropout"]
    assert r["status"] == "completed" and r["epochs_run"] == "3"
    assert 1 <= int(r["best_epoch"]) <= 3
    assert 0.0 <= float(r["test_accuracy"]) <= 1.0 and float(r["wall_s"]) > 0
    assert int(r["param_count"]) == 28 * 28 * 8 + 8 + 8 * 10 + 10
  assert len({r["group"] for r in rows}) == 2  # 4 models per group: 2 trials x 2 seeds
  # two seeds are two different models
  for t in range(4):
    a, b = [r for r in rows if int(r["trial"]) == t]
    assert a["group"] == b["group"] and a["train_loss"] != b["train_loss"]

  df = results.load(wd)
  assert len(df) == 8
  assert set(["trial", "group", LR, "model.dropout"] + COLUMNS_AFTER_FIELDS) <= set(df.columns)
  assert sorted(zip(df["trial"], df["seed"])) == [(t, s) for t in range(4) for s in (0, 1)]
  np.testing.assert_array_equal(np.sort(df["test_accuracy"].to_numpy()),
                                np.sort([float(r["test_accuracy"]) for r in rows]))

  summary = json.load(open(os.path.join(wd, "summary.json")))
  assert summary["kind"] == "sweep" and summary["num_trials"] == 4 and summary["num_models"] == 8
  assert summary["groups"] == 2 and summary["status_counts"] == {"completed": 8}
  spec = json.load(open(os.path.join(wd, "sweep.json")))
  assert [f["name"] for f in spec["fields"]] == [LR, "model.dropout"]


def test_best_config_is_the_best_trial_as_a_single_run(two_seed_sweep):
  wd, rows = two_seed_sweep["workdir"], two_seed_sweep["rows"]
  mean = lambda t, k: np.mean([float(r[k]) for r in rows if int(r["trial"]) == t])
  mean_acc = {t: mean(t, "test_accuracy") for t in range(4)}
  # chosen on the validation split (mean val accuracy, ties: the lower val loss); its test accuracy reported
  best = max(range(4), key=lambda t: (mean(t, "val_accuracy"), -mean(t, "best_val_loss")))
  summary = two_seed_sweep["summary"]
  assert summary["best"]["trial"] == best
  np.testing.assert_allclose(summary["best"]["test_accuracy"], mean_acc[best])

  spec = importlib.util.spec_from_file_location("best_config_under_test", os.path.join(wd, "best_config.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  cfg = mod.get_config()
  assert "sweep" not in cfg
  validate(cfg)
  values = expand(two_seed_sweep["config"].sweep.space, 0)[best]
  assert cfg.optimizer.learning_rate == values[LR] and cfg.model.dropout == values["model.dropout"]
  expected = trial_config(two_seed_sweep["config"], values)
  # the winner's best epoch (median over its seeds), early stopping off
  expected.epochs = int(round(np.median([int(r["best_epoch"]) for r in rows if int(r["trial"]) == best])))
  expected.early_stopping.patience = 0
  expected.time_members = "auto"  # a single run's time is its own (no per-model clock stamps)
  assert json.loads(cfg.to_json_best_effort()) == json.loads(expected.to_json_best_effort())
  assert f"epochs = {expected.epochs}" in open(os.path.join(wd, "best_config.py")).read()


def test_tensorboard_hparams_per_trial_and_curves_per_seed(two_seed_sweep):
  """One HParams row per trial (mean over its seeds: trial_TTT), the curves of each model apart (trial_TTT_seed_S)."""
  tb = os.path.join(two_seed_sweep["workdir"], "tensorboard")
  runs = sorted(os.listdir(tb))
  assert runs == sorted([f"trial_{t:03d}" for t in range(4)]
                       + [f"trial_{t:03d}_seed_{s}" for t in range(4) for s in (0, 1)])
  trials = expand(two_seed_sweep["config"].sweep.space, 0)
  rows = two_seed_sweep["rows"]
  for t in range(4):
    hp, metrics = u.tensorboard_hparams(os.path.join(tb, f"trial_{t:03d}"))
    assert hp[LR] == pytest.approx(trials[t][LR]) and hp["model.dropout"] == pytest.approx(trials[t]["model.dropout"])
    assert hp["seeds"] == 2 and hp["seed"] == 0
    assert {"hparam/accuracy/test", "hparam/loss/test"} <= metrics
    for s in (0, 1):
      hp, metrics = u.tensorboard_hparams(os.path.join(tb, f"trial_{t:03d}_seed_{s}"))
      assert hp == {} and {"loss/train", "accuracy/train", "accuracy/test"} <= metrics
  assert len(rows) == 8


# ---- 8. resume

def test_resume_reruns_only_the_missing_group(two_seed_sweep, tmp_path):
  wd = str(tmp_path / "w")
  shutil.copytree(two_seed_sweep["workdir"], wd)
  groups = sorted(os.listdir(os.path.join(wd, "groups")))
  assert len(groups) == 2
  os.remove(os.path.join(wd, "results.csv"))
  os.remove(os.path.join(wd, "groups", groups[1]))
  kept = os.path.join(wd, "groups", groups[0])
  before = (os.stat(kept).st_mtime_ns, open(kept).read())
  _, text = u.run(u.two_seed_config(), wd)
  assert "1 group(s) already done" in text
  assert text.count("[group ") == 1 and "[group 1/1] 4 models" in text
  assert (os.stat(kept).st_mtime_ns, open(kept).read()) == before
  assert sorted(os.listdir(os.path.join(wd, "groups"))) == groups
  rows = u.read_csv(os.path.join(wd, "results.csv"))
  orig = two_seed_sweep["rows"]
  assert len(rows) == 8
  for a, b in zip(rows, orig):  # the rerun group gives the same numbers
    assert [a[c] for c in ("trial", "seed", "group", LR) + NUMBERS] == [b[c] for c in ("trial", "seed", "group", LR) + NUMBERS]
  # records written once: the rerun group's old lines (as a killed process leaves them) are replaced
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    recs = [json.loads(l) for l in f if l.strip()]
  keys = [(r["trial"], r["seed"], r["epoch"]) for r in recs]
  assert len(keys) == len(set(keys))
  with open(os.path.join(two_seed_sweep["workdir"], "metrics.jsonl")) as f:
    assert len(keys) == sum(1 for l in f if l.strip())
  # the resumed summary counts the wall time of the earlier process's group too
  with open(kept) as f:
    kept_wall = json.load(f)["wall_s"]
  with open(os.path.join(wd, "summary.json")) as f:
    assert json.load(f)["wall_s"] > kept_wall
  # and a rerun of a finished sweep trains nothing
  _, text = u.run(u.two_seed_config(), wd)
  assert "2 group(s) already done" in text and "[group " not in text


# ---- launch/: two shards into one workdir, then merge

def test_merge_of_two_shards(two_seed_sweep, tmp_path):
  wd = str(tmp_path / "w")
  for i in (0, 1):
    cfg = u.two_seed_config()
    cfg.sweep.shard_index, cfg.sweep.num_shards = i, 2
    summary, text = u.run(cfg, wd, shard=(i, 2))
    assert summary["kind"] == "sweep_shard" and "[group 1/1]" in text
    assert os.path.exists(os.path.join(wd, f"metrics.shard{i}.jsonl"))
  assert not os.path.exists(os.path.join(wd, "summary.json"))  # merge writes it
  assert not os.path.exists(os.path.join(wd, "metrics.jsonl"))
  out = io.StringIO()
  summary = merge(wd, stream=out)
  assert "2/2 group(s), 8 model(s)" in out.getvalue()
  rows, orig = u.read_csv(os.path.join(wd, "results.csv")), two_seed_sweep["rows"]
  cols = ("trial", "seed", "group", LR, "model.dropout") + NUMBERS
  assert [[r[c] for c in cols] for r in rows] == [[r[c] for c in cols] for r in orig]
  assert summary["best"] == two_seed_sweep["summary"]["best"] | {"values": summary["best"]["values"]}
  assert summary["best"]["values"] == two_seed_sweep["summary"]["best"]["values"]
  for name in ("summary.json", "best_config.json", "best_config.py"):
    assert os.path.exists(os.path.join(wd, name))
  assert json.load(open(os.path.join(wd, "best_config.json"))) == json.load(
      open(os.path.join(two_seed_sweep["workdir"], "best_config.json")))
  lines = open(os.path.join(wd, "metrics.jsonl")).read().splitlines()
  assert len(lines) == 8 * 3
  assert sorted((json.loads(l)["trial"], json.loads(l)["seed"], json.loads(l)["epoch"]) for l in lines) == sorted(
      (t, s, e) for t in range(4) for s in (0, 1) for e in (1, 2, 3))
  meta = json.load(open(os.path.join(wd, "checkpoints", "best_trial_meta.json")))
  assert meta["checkpoint"] == os.path.abspath(os.path.join(wd, "checkpoints", "best_trial"))
  assert meta["selection_accuracy"] == max(float(r["val_accuracy"]) for r in rows)
  # merging again changes nothing
  before = {n: open(os.path.join(wd, n)).read() for n in ("results.csv", "metrics.jsonl", "best_config.json")}
  merge(wd, stream=io.StringIO())
  assert {n: open(os.path.join(wd, n)).read() for n in before} == before


# ---- a tuple field of random length (randint_tuple): files and report

def test_randint_tuple_sweep_writes_tuples_as_strings_and_reports(tmp_path):
  from mlexp.report.__main__ import main as report_main
  from mlexp.sweeps.space import randint_tuple
  cfg = u.tiny_sweep((randint_tuple("model.units", 2, 6, 1, 2),), **{"sweep.num_trials": 3, "epochs": 1})
  wd = tmp_path / "w"
  summary, _ = u.run(cfg, wd)
  trials = expand(cfg.sweep.space, 3, int(cfg.sweep.seed))
  rows = u.read_csv(wd / "results.csv")
  assert len(rows) == 3
  for r in rows:
    units = trials[int(r["trial"])]["model.units"]
    assert r["model.units"] == "(" + ",".join(map(str, units)) + ")"
    sizes = (28 * 28,) + units + (10,)
    assert int(r["param_count"]) == sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
  spec = json.load(open(wd / "sweep.json"))
  assert spec["fields"] == [{"name": "model.units", "scale": "categorical"}]
  assert summary["num_trials"] == 3
  assert report_main([str(wd)]) == 0
  assert os.path.exists(wd / "report" / "parallel_coordinates.png")
