"""The Python API (mlexp/api.py): get_config, train, sweep, load, compare; Run / Sweep / trial views; errors
as ConfigError / DataError (never SystemExit); progress as one bar."""
from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest

import mlexp
from mlexp.config import ConfigError, validate
from mlexp.data import DataError
from mlexp.io import progress
from mlexp.sweeps.space import grid
from mlexp.sweeps.space import set_field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _keep_session_cache(monkeypatch):
  monkeypatch.setenv("MLEXP_COMPILATION_CACHE", "")  # the API keeps the session's cache (tests/conftest.py)


def tiny(name: str = "mlp", **fields):
  """configs/<name>.py:smoke shrunk to seconds: 8 units, 64 + 64 digits, 2 epochs."""
  c = mlexp.get_config(name, smoke=True)
  c.data.max_train, c.data.max_test, c.eval.transforms = 64, 64, ()
  c.model.units, c.batch_size, c.epochs = (8,), 32, 2
  for key, value in fields.items():
    set_field(c, key, value)
  return c


# ---------------------------------------------------------------- get_config

def test_get_config_by_name_path_and_variant():
  by_name = mlexp.get_config("gru", smoke=True)
  by_path = mlexp.get_config(os.path.join(REPO, "configs", "gru.py"), smoke=True)
  by_colon = mlexp.get_config("configs/gru.py:smoke")
  assert by_name.to_dict() == by_path.to_dict() == by_colon.to_dict()
  assert by_name.epochs == 2 and mlexp.get_config("gru").epochs != 2
  assert mlexp.get_config("gru", smoke=False).epochs == mlexp.get_config("gru").epochs
  assert mlexp.get_config("sweeps/gru", smoke=True, lstm=True).model.kind == "lstm"


def test_get_config_errors_are_config_errors_naming_the_problem():
  with pytest.raises(ConfigError, match="smok.*allowed: smoke"):
    mlexp.get_config("gru", smok=True)
  with pytest.raises(ConfigError, match="no config 'nope'.*sweeps/gru"):
    mlexp.get_config("nope")
  with pytest.raises(AttributeError, match="hiden"):  # locked, as --config.x=y
    mlexp.get_config("gru").model.hiden = 3
  assert mlexp.ConfigError is ConfigError and mlexp.DataError is DataError


def test_train_and_sweep_raise_config_and_data_errors_not_systemexit(tmp_path):
  bad = tiny(**{"model.dropout": 1.5})
  with pytest.raises(ConfigError) as e:
    mlexp.train(bad, tmp_path / "a")
  with pytest.raises(ConfigError) as cli_e:
    validate(bad)
  assert str(e.value) == str(cli_e.value) and "model.dropout" in str(e.value)
  assert not (tmp_path / "a").exists()
  with pytest.raises(ConfigError, match="mlexp.sweep"):
    mlexp.train(mlexp.get_config("sweeps/mlp", smoke=True), tmp_path / "b")
  with pytest.raises(ConfigError, match="mlexp.train"):
    mlexp.sweep(tiny(), tmp_path / "c")
  missing = mlexp.get_config("gru", smoke=True)
  missing.data.name, missing.data.path = "spoken_arabic_digits", str(tmp_path / "no_such_folder")
  with pytest.raises(DataError):
    mlexp.train(missing, tmp_path / "d")
  with pytest.raises(FileNotFoundError, match="mlexp workdir"):
    mlexp.load(tmp_path / "nothing")


# ---------------------------------------------------------------- a single run

class Terminal(io.StringIO):
  """Captured output that says it is a terminal (a file or a pipe gets lines, not the bar)."""

  def isatty(self):
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  out = Terminal()
  with contextlib.redirect_stdout(out), pytest.MonkeyPatch.context() as mp:
    mp.setenv("MLEXP_COMPILATION_CACHE", "")
    r = mlexp.train(tiny(seeds=2), tmp_path_factory.mktemp("api") / "run")
  return r, out.getvalue()


def test_run_object(run):
  r, _ = run
  assert isinstance(r, mlexp.Run) and not isinstance(r, mlexp.Sweep)
  assert r.config.model.units == (8,) and r.config.seeds == 2
  s = r.summary
  assert s["kind"] == "single" and len(s["runs"]) == 2
  m = r.metrics
  assert len(m) == 2 * 2 and set(m["seed"]) == {0, 1} and set(m["epoch"]) == {1, 2}  # epoch x model
  assert {"train_loss", "test_loss", "test_accuracy"} <= set(m.columns)
  assert len(r.results) == 2
  loaded = mlexp.load(r.workdir)
  assert type(loaded) is mlexp.Run and loaded.summary == s
  assert "test accuracy" in repr(r)
  df = mlexp.compare(r, loaded)
  assert list(df["test_accuracy"]) == [s["mean"]["test_accuracy"]] * 2


def test_run_progress_is_one_bar(run):
  _, text = run
  assert "epoch 2/2 |" in text and "left ~" in text and "test_acc" in text
  assert "[epoch 1/2]" not in text  # no line per epoch


def test_run_predict_from_best_checkpoint(run):
  r, _ = run
  ds = r.dataset()
  by_seed = {e["seed"]: e for e in r.summary["runs"]}
  for seed, entry in by_seed.items():
    pred = r.predict(ds.test.x, seed=seed)
    assert pred.shape == (len(ds.test.y),)
    assert np.mean(pred == ds.test.y) == pytest.approx(entry["test_accuracy"], abs=1e-6)
    conf = np.zeros_like(np.asarray(entry["classification"]["confusion"]))
    np.add.at(conf, (ds.test.y, pred), 1)
    assert conf.tolist() == entry["classification"]["confusion"]
  sel = "best_val_loss" if r.summary["selection"].startswith("validation") else "best_test_loss"
  best = min(by_seed.values(), key=lambda e: e[sel])  # (the model the selection loss picks)
  assert np.mean(r.predict(ds.test.x) == ds.test.y) == pytest.approx(best["test_accuracy"], abs=1e-6)
  logits = r.predict(ds.test.x[:5], logits=True)
  assert logits.shape == (5, ds.num_classes)
  with pytest.raises(ValueError, match="seeds 0..1"):
    r.predict(ds.test.x, seed=7)


def test_run_report(run):
  r, _ = run
  html = r.report()
  assert html == os.path.join(r.workdir, "report", "report.html") and os.path.isfile(html)


# ---------------------------------------------------------------- a sweep

@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
  c = mlexp.get_config("sweeps/mlp", smoke=True)
  c.data.max_train, c.data.max_test, c.eval.transforms = 64, 64, ()
  c.model.units, c.batch_size, c.epochs = (8,), 32, 2
  c.sweep.space = (grid("optimizer.learning_rate", 0.003, 0.03),)
  c.sweep.num_trials = 0
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("MLEXP_COMPILATION_CACHE", "")
    return mlexp.sweep(c, tmp_path_factory.mktemp("api") / "sweep")


def test_sweep_object(sweep):
  s = sweep
  assert isinstance(s, mlexp.Sweep) and type(mlexp.load(s.workdir)) is mlexp.Sweep
  assert len(s.results) == 2 and s.trials == [{"optimizer.learning_rate": 0.003}, {"optimizer.learning_rate": 0.03}]
  best = s.best
  assert set(best) >= {"trial", "values", "test_accuracy", "test_accuracy_std"}
  assert s.best_config.optimizer.learning_rate == best["values"]["optimizer.learning_rate"]
  assert "sweep" not in s.best_config
  t = s.trial(best["trial"])
  assert t.config.optimizer.learning_rate == best["values"]["optimizer.learning_rate"]
  assert t.summary["mean"]["test_accuracy"] == pytest.approx(best["test_accuracy"])
  assert set(t.metrics["trial"]) == {best["trial"]} and len(t.metrics) == 2
  assert len(t.results) == 1
  with pytest.raises(IndexError):
    s.trial(5)


def test_sweep_trial_predict_and_report(sweep):
  s = sweep
  k = s.best["trial"]
  ds = s.trial(k).dataset()
  pred = s.predict(ds.test.x)
  assert np.mean(pred == ds.test.y) == pytest.approx(s.best["test_accuracy"], abs=1e-6)
  assert np.array_equal(s.trial(k).predict(ds.test.x), pred)
  with pytest.raises(ValueError, match=r"best model only.*mlexp.train\(sweep.trial\(%d\).config\)" % (1 - k)):
    s.trial(1 - k).predict(ds.test.x)
  html = s.trial(k).report()
  assert os.path.isfile(html) and f"trial_{k}" in html
  summary = json.load(open(os.path.join(s.workdir, "trials", f"trial_{k}", "summary.json")))
  assert summary["kind"] == "single" and summary["mean"]["test_accuracy"] == pytest.approx(s.best["test_accuracy"])
  assert os.path.isfile(s.report())


# ---------------------------------------------------------------- progress modes

def test_progress_modes():
  out = io.StringIO()
  p = progress.Progress(3, stream=out)
  p.update(1, "loss 1", 0.5)
  assert out.getvalue().startswith("[epoch 1/3] loss 1 | 0.5s/epoch")
  out = Terminal()
  with progress.use("bar"):
    p = progress.Progress(3, stream=out)
  p.update(1, "train_loss 0.5 | test_acc 90%", 0.5)
  p.update(2, "train_loss 0.4 | test_acc 91%", 0.5)
  p.line("stopped early")  # closes the bar at epoch 2 (not as a failure)
  text = out.getvalue()
  assert "epoch 2/3 |" in text and "test_acc 91%" in text and "left ~0.5s" in text and "[epoch" not in text
  assert text.rstrip().endswith("stopped early") and p.bar is None
  with pytest.raises(ValueError):
    with progress.use("dots"):
      pass
