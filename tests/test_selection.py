"""Model selection on the validation split (data.validation_fraction): the best epoch, plateau and early stopping
follow the validation loss, the test set is only reported at the chosen epoch; sweeps rank on val_* metrics;
validation_fraction=0 selects on the test set as before and says so."""
from __future__ import annotations

import json
import math
import os

import jax
import numpy as np
import pytest

import tiny
from mlexp.config import ConfigError
from mlexp.data import Split
from mlexp.summary import best_trial
from mlexp.sweeps import asha
from mlexp.training import optim
from mlexp.training.group import Group, Member, device_splits
from mlexp.training.program import RUNNING, STOPPED_EARLY


def _run(cfg, ds, seeds, epochs):
  train, test, val = device_splits(ds, 1, validation=True)
  hp = optim.hparams_of(cfg)
  group = Group(cfg, train, test, ds.num_classes, [Member(seed=s, hparams=hp) for s in seeds], val=val)
  state, metrics = group.init(), []
  for _ in range(epochs):
    state, m, _ = group.epoch(state)
    metrics.append(m)
  return jax.device_get(state), metrics


@pytest.fixture(scope="module")
def absurd_validation():
  """The validation split holds the training inputs with shifted labels (its loss rises as training goes on),
  the test set the training inputs with their labels (its loss falls): selection must follow validation."""
  cfg = tiny.config("mlp", **{"early_stopping.patience": 2, "optimizer.name": "adam",
                              "optimizer.learning_rate": 0.05})
  ds = tiny.dataset_for("mlp")
  ds = ds.__class__(**{**ds.__dict__, "test": ds.train,
                       "validation": Split(ds.train.x, (ds.train.y + 1) % ds.num_classes)})
  return _run(cfg, ds, [0, 1], 6)


def test_best_epoch_plateau_and_early_stopping_follow_the_validation_loss(absurd_validation):
  state, metrics = absurd_validation
  for i in range(2):
    trained = [m for m in metrics if m["trained"][i]]
    val = [float(m["val_loss"][i]) for m in trained]
    test = [float(m["test_loss"][i]) for m in trained]
    best = int(state.best_epoch[i])
    assert best == 1 + int(np.argmin(val)) and best != 1 + int(np.argmin(test))  # a choice the test set would not make
    assert int(state.status[i]) == STOPPED_EARLY and len(trained) == best + 2  # patience 2 on the validation loss
    np.testing.assert_allclose(state.best_loss[i], val[best - 1], rtol=1e-6)
    np.testing.assert_allclose(state.best_test_loss[i], test[best - 1], rtol=1e-6)  # the test set, reported there
    np.testing.assert_allclose(state.best_accuracy[i], trained[best - 1]["test_accuracy"][i], rtol=1e-6)
    np.testing.assert_allclose(state.best_val_accuracy[i], trained[best - 1]["val_accuracy"][i], rtol=1e-6)


def test_members_with_validation_equal_standalone_runs(absurd_validation):
  state, metrics = absurd_validation
  cfg = tiny.config("mlp", **{"early_stopping.patience": 2, "optimizer.name": "adam",
                              "optimizer.learning_rate": 0.05})
  ds = tiny.dataset_for("mlp")
  ds = ds.__class__(**{**ds.__dict__, "test": ds.train,
                       "validation": Split(ds.train.x, (ds.train.y + 1) % ds.num_classes)})
  alone, alone_m = _run(cfg, ds, [1], 6)
  for k in ("val_loss", "val_accuracy", "test_loss", "best_epoch", "status"):
    np.testing.assert_allclose([m[k][1] for m in metrics], [m[k][0] for m in alone_m], rtol=1e-6, err_msg=k)
  assert int(alone.best_epoch[0]) == int(state.best_epoch[1])


def test_without_validation_the_test_set_selects_as_before():
  cfg = tiny.config("mlp")
  state, metrics = _run(cfg, tiny.dataset_for("mlp"), [0], 3)
  assert "val_loss" not in metrics[0] and int(state.status[0]) == RUNNING
  test = [float(m["test_loss"][0]) for m in metrics]
  assert int(state.best_epoch[0]) == 1 + int(np.argmin(test))
  np.testing.assert_allclose(state.best_loss[0], min(test), rtol=1e-6)


@pytest.mark.parametrize("fraction", [0.0, 0.2])
def test_a_single_run_says_what_selected(fraction, tmp_path):
  from mlexp import results
  from mlexp.report import render
  from mlexp.training.trainer import train_and_evaluate
  cfg = tiny.override(tiny.config("mlp"), **{"data.name": "mnist_5k", "data.max_train": 100, "data.max_test": 50,
                                               "data.validation_fraction": fraction, "epochs": 3, "batch_size": 20})
  wd = str(tmp_path / "run")
  s = train_and_evaluate(cfg, wd, stream=open(os.devnull, "w"))
  records = [json.loads(l) for l in open(os.path.join(wd, "metrics.jsonl"))]
  sel = "val_loss" if fraction else "test_loss"
  best = min(records, key=lambda r: r[sel])
  run = s["runs"][0]
  assert run["best_epoch"] == best["epoch"] and run["test_accuracy"] == pytest.approx(best["test_accuracy"])
  facts = dict(render.header(s, cfg.to_dict(), None, wd)["facts"])
  if fraction:
    assert s["selection"] == "validation (20% of the training data, stratified)"
    assert run["val_accuracy"] == pytest.approx(best["val_accuracy"]) and "val_accuracy" in s["mean"]
    assert results.load(wd)["val_accuracy"].notna().all()
  else:
    assert s["selection"] == "test (data.validation_fraction=0)" and "val_loss" not in records[0]
    assert math.isnan(run["val_accuracy"]) and "optimistic" in facts["Selection"]
  assert s["selection"] in facts["Selection"]


def test_sweep_metric_and_best_trial_use_validation():
  from mlexp.sweeps.plan import check_sweep
  assert asha.metric_key("val_loss", True) == "val_loss" and asha.metric_key("val_accuracy", False) == "test_accuracy"
  assert asha.metric_mode("val_loss") == "min" and asha.metric_mode("val_accuracy") == "max"
  import importlib.util
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "sweeps", "mlp.py")
  spec = importlib.util.spec_from_file_location("mlp_sweep_for_selection", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  c = mod.get_config("smoke")
  assert c.sweep.metric == "val_loss" and c.data.validation_fraction == 0.2
  trials = [{}]
  c.sweep.metric = "test_loss"
  with pytest.raises(ConfigError, match="would select on the test set"):
    check_sweep(c, trials)
  c.data.validation_fraction = 0.0
  check_sweep(c, trials)  # the test set may select when there is no validation split
  row = lambda t, val, test: {"trial": t, "status": "completed", "val_accuracy": val, "best_val_loss": 1 - val,
                              "test_accuracy": test}
  rows = [row(0, 0.9, 0.5), row(1, 0.6, 0.99)]
  best = best_trial(rows, {0: {}, 1: {}})
  assert best["trial"] == 0 and best["test_accuracy"] == 0.5 and best["val_accuracy"] == 0.9
  no_val = [dict(r, val_accuracy=float("nan"), best_val_loss=float("nan")) for r in rows]
  assert best_trial(no_val, {0: {}, 1: {}})["trial"] == 1


def test_the_sweep_line_says_what_chose_the_best_trial_and_when_every_trial_diverged():
  from mlexp.summary import best_words
  row = lambda t, val, test, status="completed": {"trial": t, "status": status, "val_accuracy": val,
                                                  "best_val_loss": 1 - val, "test_accuracy": test}
  trials = {0: {"optimizer.learning_rate": 0.1}, 1: {"optimizer.learning_rate": 1e30}}
  best = best_trial([row(0, 0.9, 0.5), row(1, 0.6, 0.99)], trials)
  assert "chosen on validation accuracy 90.00%" in best_words(best, "validation (20% ...)")
  no_val = best_trial([row(0, float("nan"), 0.5), row(1, float("nan"), 0.99)], trials)
  words = best_words(no_val, "test (data.validation_fraction=0)")
  assert "chosen on the test set: test (data.validation_fraction=0)" in words and "best trial 1" in words
  diverged = best_trial([row(0, 0.1, 0.1, "diverged"), row(1, 0.1, 0.1, "diverged")], trials)
  words = best_words(diverged, "validation (20% ...)")
  assert diverged["all_diverged"] and "every trial diverged" in words and "learning_rate" in words
  assert "nan" not in words.replace("1e+30", "")
