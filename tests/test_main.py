"""The single-run path end to end: `python -m mlexp.main` errors, :smoke runs of every config and the
files they write, resuming."""
from __future__ import annotations

import concurrent.futures
import importlib.util
import io
import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from mlexp.config import validate
from mlexp.training import trainer
from mlexp.training.group import Group
from tiny import override, read_tensorboard

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRIC_KEYS = {"trial", "seed", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "learning_rate",
               "epoch_s", "samples_per_s", "status"}
TB_TAGS = {"loss/train", "accuracy/train", "loss/test", "accuracy/test", "learning_rate"}


def load_config(name: str, arg: str = "smoke"):
  spec = importlib.util.spec_from_file_location(f"_mlexp_config_{name}", os.path.join(REPO, "configs", f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg)


def cli(*args, timeout=300):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  p = subprocess.run([sys.executable, "-m", "mlexp.main", *args], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=timeout)
  return p.returncode, p.stdout, p.stderr


# name -> (arguments, words the one-line error must contain)
CONFIG_ERRORS = {
    "wrong_key": (["--config=configs/mlp.py:smoke", "--config.model.hiden=3"], ["model.hiden", "3"]),
    "wrong_type": (["--config=configs/gru.py:smoke", "--config.model.hidden=abc"], ["model.hidden", "abc"]),
    "units_zero": (["--config=configs/mlp.py", "--config.model.units=(0,32)"], ["model.units", "0"]),
    "dropout": (["--config=configs/mlp.py:smoke", "--config.model.dropout=1.5"], ["model.dropout", "1.5"]),
    "optimizer": (["--config=configs/mlp.py:smoke", "--config.optimizer.name=nesterov"],
                  ["optimizer.name", "nesterov"]),
    "batch_too_big": (["--config=configs/mlp.py:smoke", "--config.batch_size=100000"], ["batch_size", "100000"]),
    "unknown_data": (["--config=configs/gru.py:smoke", "--config.data.name=imagenet"], ["data.name", "imagenet"]),
    "image_model_on_sequences": (["--config=configs/cnn.py:smoke", "--config.data.name=japanese_vowels"],
                                 ["data.name", "japanese_vowels", "cnn"]),
    "config_argument": (["--config=configs/mlp.py:smok"], ["smok", "smoke"]),
    "cnn_map_too_small": (["--config=configs/cnn.py:smoke", "--config.model.padding=VALID",
                           "--config.model.kernel_size=7", "--config.model.filters=(4,4,4)"],
                          ["model.filters", "kernel_size 7", "SAME padding"]),
    "other_config_in_workdir": (["--config=configs/mlp.py:smoke"], ["workdir", "different config"]),
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
  """Every CLI case of this module, run as subprocesses three at a time: name -> (rc, stdout, stderr, workdir)."""
  root = tmp_path_factory.mktemp("cli")
  other = root / "other_config_in_workdir"
  other.mkdir()
  c = load_config("mlp")
  c.epochs = 3
  (other / "config.json").write_text(c.to_json_best_effort())
  jobs = {"help": ["--help"], "linear_smoke": ["--config=configs/linear.py:smoke"]}
  jobs.update({k: args for k, (args, _) in CONFIG_ERRORS.items()})
  workdirs = {k: str(root / k) for k in jobs}
  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    futures = {k: pool.submit(cli, *args, f"--workdir={workdirs[k]}") for k, args in jobs.items()}
    return {k: (*f.result(), workdirs[k]) for k, f in futures.items()}


def test_help(cli_runs):
  rc, out, err, _ = cli_runs["help"]
  assert rc == 0, err
  assert "--config" in out + err and "--workdir" in out + err


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_errors_are_one_line_exit_2_and_write_nothing(cli_runs, case):
  rc, out, err, workdir = cli_runs[case]
  assert rc == 2, (out, err)
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  assert "Traceback" not in err and lines[0].startswith("mlexp: error:")
  for word in CONFIG_ERRORS[case][1]:
    assert word in lines[0], (word, lines[0])
  if case == "other_config_in_workdir":  # the workdir of the other run is left as it was
    assert os.listdir(workdir) == ["config.json"]
    assert json.load(open(os.path.join(workdir, "config.json")))["epochs"] == 3
  else:
    assert not os.path.exists(workdir)


def strict_json(line: str):
  def no_constants(name):
    raise ValueError(f"{name} is not JSON")
  return json.loads(line, parse_constant=no_constants)


def check_workdir(workdir: str, config, summary: dict | None = None):
  """The files every single run writes, and that they agree with each other."""
  seeds = [int(config.seed) + i for i in range(int(config.seeds))]
  epochs = int(config.epochs)
  assert json.load(open(os.path.join(workdir, "config.json"))) == json.loads(config.to_json_best_effort())

  lines = open(os.path.join(workdir, "metrics.jsonl")).read().splitlines()
  records = [strict_json(l) for l in lines]
  assert len(records) == epochs * len(seeds)
  assert sorted((r["seed"], r["epoch"]) for r in records) == sorted((s, e) for s in seeds for e in range(1, epochs + 1))
  val = "val_loss" in records[0]  # a validation split selects (data.validation_fraction > 0 on loaded data)
  sel = "val_loss" if val else "test_loss"
  for r in records:
    assert set(r) == METRIC_KEYS | ({"val_loss", "val_accuracy"} if val else set())
    assert r["trial"] == 0
    assert math.isfinite(r["train_loss"]) and math.isfinite(r["test_loss"])
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert r["learning_rate"] > 0 and r["epoch_s"] > 0 and r["samples_per_s"] > 0
    assert r["status"] == ("completed" if r["epoch"] == epochs else "running")

  for s in seeds:
    tb = read_tensorboard(os.path.join(workdir, "tensorboard", f"seed_{s}"))
    assert TB_TAGS <= set(tb)
    mine = {r["epoch"]: r for r in records if r["seed"] == s}
    for tag, key in (("loss/train", "train_loss"), ("loss/test", "test_loss"), ("accuracy/test", "test_accuracy"),
                     ("learning_rate", "learning_rate")):
      assert sorted(tb[tag]) == list(range(1, epochs + 1))
      for e, v in tb[tag].items():
        assert v == pytest.approx(mine[e][key], rel=1e-6)

  summary_file = strict_json(open(os.path.join(workdir, "summary.json")).read())
  if summary is not None:
    assert summary_file["runs"] == json.loads(json.dumps(summary["runs"]))
  s = summary_file
  assert s["selection"].startswith("validation (" if val else "test (data.validation_fraction=0)")
  assert s["dataset"] and s["source"] and s["epochs_run"] == epochs and s["wall_s"] > 0
  assert [r["seed"] for r in s["runs"]] == seeds
  for r in s["runs"]:
    assert 1 <= r["best_epoch"] <= epochs and r["status"] == "completed"
    best = [x for x in records if x["seed"] == r["seed"] and x["epoch"] == r["best_epoch"]][0]
    assert r["best_test_loss"] == pytest.approx(best["test_loss"], rel=1e-6)
    assert r["test_accuracy"] == pytest.approx(best["test_accuracy"], rel=1e-6)
    # the best epoch is the argmin of the selection loss; the test set's numbers are reported at it
    assert best[sel] == pytest.approx(min(x[sel] for x in records if x["seed"] == r["seed"]), rel=1e-6)
    if val:
      assert r["best_val_loss"] == pytest.approx(best["val_loss"], rel=1e-6)
      assert r["val_accuracy"] == pytest.approx(best["val_accuracy"], rel=1e-6)
    last = max((x for x in records if x["seed"] == r["seed"]), key=lambda x: x["epoch"])
    if "train_loss" in r:  # the train loss of the last epoch (also after resuming a finished run)
      assert r["train_loss"] == pytest.approx(last["train_loss"], rel=1e-6)
    transforms = tuple(config.eval.transforms)
    assert sorted(r["extra_tests"]) == sorted(transforms)
    for t in transforms:
      assert 0.0 <= r["extra_tests"][t]["test_accuracy"] <= 1.0 and math.isfinite(r["extra_tests"][t]["test_loss"])
  for t in config.eval.transforms:
    assert f"test_accuracy/{t}" in s["mean"]

  ck = os.path.join(workdir, "checkpoints")
  assert sorted(os.listdir(os.path.join(ck, "latest")), key=int) == [str(e) for e in range(max(1, epochs - 1),
                                                                                        epochs + 1)]  # the last two
  best_steps = os.listdir(os.path.join(ck, "best"))
  assert best_steps == [str(max(r["best_epoch"] for r in s["runs"]))]
  return records, s


# Smoke runs in process (one interpreter, so JAX starts once). mlp also trains two seeds at once. The
# recurrent smoke configs compile for a minute at the default unroll=4 on a 2-core CPU; unroll=1 gives
# the same results (tests/test_models.py::test_unroll_does_not_change_results) and compiles 3x faster.
SMOKE = {"mlp": {"seeds": 2}, "cnn": {}, "gru": {"model.unroll": 1}, "lstm": {"model.unroll": 1}}


def smoke_config(name):
  return override(load_config(name), **SMOKE[name])


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
  done = {}

  def get(name):
    if name not in done:
      config = smoke_config(name)
      workdir = str(tmp_path_factory.mktemp(f"smoke_{name}") / "run")
      out = io.StringIO()
      summary = trainer.train_and_evaluate(config, workdir, stream=out)
      done[name] = (config, workdir, summary, out.getvalue())
    return done[name]
  return get


@pytest.mark.parametrize("name", list(SMOKE))
def test_smoke_run_writes_every_file(smoke_runs, name):
  config, workdir, summary, out = smoke_runs(name)
  records, s = check_workdir(workdir, config, summary)
  assert f"wrote {workdir}/summary.json" in out
  expected = {"mlp": "mnist_5k", "cnn": "mnist_5k", "gru": "JapaneseVowels", "lstm": "JapaneseVowels"}[name]
  assert s["dataset"] == expected and not s["synthetic"]
  if name in ("mlp", "cnn"):
    assert sorted(s["runs"][0]["extra_tests"]) == ["moved", "rotated"]


def test_linear_smoke_through_the_cli(cli_runs):
  rc, out, err, workdir = cli_runs["linear_smoke"]
  assert rc == 0, err
  config = load_config("linear")
  _, s = check_workdir(workdir, config)
  assert s["dataset"] == "JapaneseVowels"
  assert "test accuracy" in out


def test_two_seeds_are_two_different_models(smoke_runs):
  config, workdir, summary, _ = smoke_runs("mlp")
  runs = summary["runs"]
  assert len(runs) == 2 and [r["seed"] for r in runs] == [0, 1]
  assert (runs[0]["test_accuracy"], runs[0]["best_test_loss"]) != (runs[1]["test_accuracy"], runs[1]["best_test_loss"])
  assert summary["std"]["best_test_loss"] > 0
  assert sorted(os.listdir(os.path.join(workdir, "tensorboard"))) == ["hparams", "seed_0", "seed_1"]


def test_rerunning_a_finished_run_resumes_without_training(smoke_runs, tmp_path):
  config, workdir, summary, _ = smoke_runs("mlp")
  copy = str(tmp_path / "run")
  shutil.copytree(workdir, copy)
  metrics_before = open(os.path.join(copy, "metrics.jsonl")).read()
  os.remove(os.path.join(copy, "summary.json"))
  out = io.StringIO()
  again = trainer.train_and_evaluate(config, copy, stream=out)
  assert f"resuming from the checkpoint of epoch {config.epochs}" in out.getvalue()
  assert "[epoch" not in out.getvalue()  # no epoch trained
  assert open(os.path.join(copy, "metrics.jsonl")).read() == metrics_before
  untimed = lambda runs: [{k: v for k, v in r.items() if k not in ("wall_s", "compile_s")} for r in runs]
  assert untimed(again["runs"]) == untimed(summary["runs"])
  check_workdir(copy, config, again)


def test_an_interrupted_run_resumes_where_it_stopped(smoke_runs, tmp_path, monkeypatch):
  """Interrupted in epoch 2 (after epoch 1's checkpoint), the rerun trains epoch 2 only, and gets what
  the uninterrupted run got; metric lines written after the last checkpoint are dropped, not doubled."""
  config, full_dir, _, _ = smoke_runs("mlp")
  full = [strict_json(l) for l in open(os.path.join(full_dir, "metrics.jsonl"))]
  workdir = str(tmp_path / "run")
  real_epoch = Group.epoch
  calls = []

  def interrupted(self, state):
    calls.append(1)
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real_epoch(self, state)

  monkeypatch.setattr(Group, "epoch", interrupted)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(config, workdir, stream=io.StringIO())
  monkeypatch.setattr(Group, "epoch", real_epoch)
  assert os.listdir(os.path.join(workdir, "checkpoints", "latest")) == ["1"]
  assert not os.path.exists(os.path.join(workdir, "summary.json"))
  with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:  # as if it died after writing epoch 2's lines
    for r in full:
      if r["epoch"] == 2:
        f.write(json.dumps(r) + "\n")

  out = io.StringIO()
  summary = trainer.train_and_evaluate(config, workdir, stream=out)
  assert "resuming from the checkpoint of epoch 1" in out.getvalue()
  assert "[epoch 2/2]" in out.getvalue() and "[epoch 1/2]" not in out.getvalue()  # only epoch 2 is trained
  records, _ = check_workdir(workdir, config, summary)
  key = lambda r: (r["seed"], r["epoch"])
  for got, want in zip(sorted(records, key=key), sorted(full, key=key)):
    assert key(got) == key(want)
    for k in ("train_loss", "test_loss", "test_accuracy", "learning_rate"):
      assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), (key(got), k)
