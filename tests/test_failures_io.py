"""Failure modes, round two (issue 25): a full disk (exit 5, one line), verified checkpoints, quiet fallbacks,
damaged workdir files, strict variant values."""
from __future__ import annotations

import glob
import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from test_failures import REPO, assert_one_line, env, tiny_run

ORBAX_FULL = ("ValueError: RESOURCE_EXHAUSTED: Error writing \"x\" in OCDBT database: Failed to write 882 bytes: "
              "No space left on device [os_error_code='28']")


@pytest.fixture
def small_fs(tmp_path):
  """A 100 KiB tmpfs (a real full disk); skipped, with the reason, where this machine cannot mount one."""
  d = tmp_path / "small"
  d.mkdir()
  p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(d)], capture_output=True, text=True)
  if p.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs for a real disk-full test (needs root): {p.stderr.strip()[:120]}")
  yield d
  subprocess.run(["umount", "-l", str(d)], capture_output=True)


# ---------------------------------------------------------------- a full disk: one line, exit 5


def test_a_real_full_disk_is_one_line_exit_5(small_fs):
  rc, out, err = tiny_run(small_fs / "w", epochs=30)
  assert rc == 5, err
  assert_one_line(err, "no space left", str(small_fs / "w"), "run the same command again")
  assert not os.path.exists(small_fs / "w" / ".lock")


def test_a_real_full_disk_in_a_sweep_is_one_line_exit_5(small_fs):
  p = subprocess.run([sys.executable, "-m", "mlexp.main", "--config=configs/sweeps/mlp.py:smoke",
                      "--config.data.max_train=64", "--config.data.max_test=64", "--config.eval.transforms=()",
                      "--config.batch_size=32", "--config.epochs=20", "--config.checkpoint.enabled=True",
                      f"--workdir={small_fs / 's'}"], cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
  assert p.returncode == 5, p.stderr
  assert_one_line(p.stderr, "no space left", "run the same command again")


def test_orbax_out_of_space_valueerror_is_one_line_exit_5(tmp_path):
  """Orbax's ValueError of a full disk (not an OSError), raised from its writer thread: as any full disk."""
  patch = f"""
  from mlexp.io import checkpoints
  def save(self, *a, **k):
    raise ValueError({ORBAX_FULL!r})
  checkpoints.Checkpoints.save = save
  """
  rc, out, err = tiny_run(tmp_path / "w", patch, epochs=2)
  assert rc == 5, err
  assert_one_line(err, "no space left on the device of", "free some space")


def test_api_out_of_space_is_an_oserror_of_one_line(tmp_path, monkeypatch):
  import errno
  import tiny
  import mlexp
  from mlexp.io import checkpoints
  from mlexp.train import trainer
  monkeypatch.setattr(trainer, "load_data", lambda c: tiny.sequence_dataset())
  monkeypatch.setenv("MLEXP_COMPILATION_CACHE", "")

  def save(self, *a, **k):
    raise ValueError(ORBAX_FULL)
  monkeypatch.setattr(checkpoints.Checkpoints, "save", save)
  c = mlexp.get_config("linear", smoke=True)
  c.batch_size, c.epochs = 8, 2
  with pytest.raises(OSError) as e:
    mlexp.train(c, workdir=tmp_path / "w")
  assert e.value.errno == errno.ENOSPC
  assert "no space left on the device of" in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- verified checkpoints, quiet fallbacks


def flip_bytes(step_dir):
  """64 bytes of the step's largest data file inverted, its size kept (as a bit rot would)."""
  files = [p for p in glob.glob(os.path.join(step_dir, "**"), recursive=True) if os.path.isfile(p)]
  big = max(files, key=os.path.getsize)
  with open(big, "r+b") as f:
    f.seek(os.path.getsize(big) // 3)
    chunk = f.read(64)
    f.seek(os.path.getsize(big) // 3)
    f.write(bytes(b ^ 0xFF for b in chunk))


def delete_manifest(step_dir):
  for p in glob.glob(os.path.join(step_dir, "**", "manifest.ocdbt"), recursive=True):
    os.remove(p)


def truncate_largest(step_dir):
  files = [p for p in glob.glob(os.path.join(step_dir, "**"), recursive=True) if os.path.isfile(p)]
  big = max(files, key=os.path.getsize)
  with open(big, "r+b") as f:
    f.truncate(os.path.getsize(big) // 2)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  wd = tmp_path_factory.mktemp("ckpt") / "run"
  rc, out, err = tiny_run(wd, epochs=3)
  assert rc == 0, err
  return wd


CASES = [(flip_bytes, True), (delete_manifest, True), (truncate_largest, True),
         (delete_manifest, False), (truncate_largest, False)]  # (a flip without the checksum goes unseen)


@pytest.mark.parametrize("damage,checked", CASES, ids=lambda v: getattr(v, "__name__", "checksum" if v else "none"))
def test_a_damaged_checkpoint_falls_back_with_exactly_one_line(finished, tmp_path, damage, checked):
  """With its checksum (caught before Orbax reads it) or without (a step of an older mlexp: Orbax fails, and
  its log lines and asyncio tracebacks are silenced)."""
  from mlexp.io.checkpoints import CHECKSUM
  wd = tmp_path / "run"
  shutil.copytree(finished, wd)
  os.remove(wd / "summary.json")
  step = wd / "checkpoints" / "latest" / "3"
  if not checked:
    os.remove(step / CHECKSUM)
  damage(str(step))
  rc, out, err = tiny_run(wd, epochs=3)
  assert rc == 0, err
  assert err == "", err  # no Orbax / absl / asyncio lines
  said = [l for l in out.splitlines() if " is damaged" in l]
  assert len(said) == 1 and "checkpoint of epoch 3 is damaged" in said[0], out
  assert "resuming from the checkpoint of epoch 2 instead" in said[0]
  summary = json.loads((wd / "summary.json").read_text())
  good = json.loads((finished / "summary.json").read_text())
  assert summary["runs"][0]["status"] == "completed"
  assert math.isfinite(summary["mean"]["test_accuracy"])
  assert summary["mean"]["test_accuracy"] == good["mean"]["test_accuracy"]
  assert sorted(json.loads(l)["epoch"] for l in open(wd / "metrics.jsonl")) == [1, 2, 3]


def test_a_checksum_mismatch_is_damage(tmp_path):
  from mlexp.io import checkpoints
  step = tmp_path / "7"
  (step / "d").mkdir(parents=True)
  (step / "d" / "data").write_bytes(b"abc" * 100)
  checkpoints.write_checksum(str(step))
  checkpoints.verify_checksum(str(step))
  (step / "d" / "data").write_bytes(b"abd" * 100)
  with pytest.raises(ValueError, match="checksum mismatch"):
    checkpoints.verify_checksum(str(step))
  os.remove(step / checkpoints.CHECKSUM)  # a step saved before checksums: restored unchecked
  checkpoints.verify_checksum(str(step))


# ---------------------------------------------------------------- damaged workdir files

DAMAGED_JSON = {"garbage": "garbage{", "truncated": None, "empty": ""}


def damage_json(file, how):
  text = open(file).read()
  with open(file, "w") as f:
    f.write(text[: len(text) // 2] if DAMAGED_JSON[how] is None else DAMAGED_JSON[how])


def report(*args):
  p = subprocess.run([sys.executable, "-m", "mlexp.report", *map(str, args)], cwd=REPO, env=env(),
                     capture_output=True, text=True, timeout=120)
  return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("how", list(DAMAGED_JSON))
def test_a_damaged_config_json_is_one_line_exit_2(finished, tmp_path, how):
  wd = tmp_path / "run"
  shutil.copytree(finished, wd)
  damage_json(wd / "config.json", how)
  rc, out, err = tiny_run(wd, epochs=3)
  assert rc == 2, err
  assert_one_line(err, str(wd / "config.json"), "is damaged", "delete it")


@pytest.mark.parametrize("name", ["summary.json", "config.json"])
def test_report_on_a_damaged_json_file_names_it(finished, tmp_path, name):
  wd = tmp_path / "run"
  shutil.copytree(finished, wd)
  damage_json(wd / name, "garbage")
  rc, out, err = report(wd)
  assert rc == 2, err
  assert_one_line(err, str(wd / name), "is damaged", "run the training command again")


def test_report_out_dir_and_a_read_only_workdir(finished, tmp_path):
  rc, out, err = report(finished, "--out", tmp_path / "elsewhere")
  assert rc == 0, err
  assert os.path.isfile(tmp_path / "elsewhere" / "report.html") and not os.path.exists(finished / "report")
  ro = tmp_path / "ro"
  ro.mkdir()
  if subprocess.run(["mount", "--bind", str(finished), str(ro)], capture_output=True).returncode != 0:
    pytest.skip("cannot bind-mount a read-only workdir (needs root); --out was checked")
  try:
    subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True, capture_output=True)
    rc, out, err = report(ro)
  finally:
    subprocess.run(["umount", "-l", str(ro)], capture_output=True)
  assert rc == 5, err
  assert_one_line(err, "cannot write the report", "--out DIR")


def test_a_torn_line_in_the_middle_of_metrics_is_dropped_with_one_line(tmp_path):
  from mlexp.io.writers import JsonlWriter
  path = str(tmp_path / "metrics.jsonl")
  with open(path, "w") as f:
    f.write('{"epoch": 1}\n{"epo\n{"epoch": 3}\n{"epoch": 4, "x')
  said = []
  JsonlWriter(path, truncate_after_epoch=4, say=said.append).close()
  assert [json.loads(l)["epoch"] for l in open(path)] == [1, 3]
  assert len(said) == 1 and "dropped 1 damaged line(s) (line 2 of 4)" in said[0], said  # (a torn last line: silent)


# ---------------------------------------------------------------- a sweep's damaged files


def sweep_config():
  import mlexp
  from mlexp.sweep.space import grid
  c = mlexp.get_config("sweeps/mlp", smoke=True)
  c.data.max_train, c.data.max_test, c.eval.transforms = 64, 64, ()
  c.model.units, c.batch_size, c.epochs = (8,), 32, 2
  c.sweep.space = (grid("optimizer.learning_rate", 0.003, 0.03),)
  c.sweep.num_trials, c.sweep.max_group_size, c.sweep.mode = 0, 1, "full"
  return c


def run_sweep(config, workdir):
  import io
  from mlexp.sweep.runner import run_sweep as run
  out = io.StringIO()
  return run(config, str(workdir), stream=out), out.getvalue()


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  wd = tmp_path_factory.mktemp("sweep") / "w"
  summary, text = run_sweep(sweep_config(), wd)
  return wd, summary


@pytest.mark.parametrize("how", list(DAMAGED_JSON))
def test_a_damaged_group_file_runs_that_group_again(swept, tmp_path, how):
  base, summary = swept
  wd = tmp_path / "w"
  shutil.copytree(base, wd)
  group = sorted(glob.glob(str(wd / "groups" / "*.json")))[0]
  damage_json(group, how)
  again, text = run_sweep(sweep_config(), wd)
  said = [l for l in text.splitlines() if "is damaged" in l]
  assert len(said) == 1 and group in said[0] and "that group runs again" in said[0], text
  assert "1 group(s) already done" in text
  assert json.loads(open(group).read())["rows"]  # written again
  assert sorted(r["trial"] for r in again["runs"]) == sorted(r["trial"] for r in summary["runs"])
  assert again["best"]["trial"] == summary["best"]["trial"]


def test_a_truncated_results_csv_is_warned_by_the_report_and_rebuilt_by_a_rerun(swept, tmp_path):
  base, summary = swept
  wd = tmp_path / "w"
  shutil.copytree(base, wd)
  full = (wd / "results.csv").read_text()
  (wd / "results.csv").write_text("\n".join(full.splitlines()[:2]) + "\n")  # the header and one trial
  rc, out, err = report(wd, "--out", tmp_path / "report")
  assert rc == 0, err
  assert_one_line(err, "warning:", "results.csv disagrees with summary.json", "1 of the 2 models")
  run_sweep(sweep_config(), wd)  # every group done: results.csv written again from groups/
  assert (wd / "results.csv").read_text() == full
  rc, out, err = report(wd, "--out", tmp_path / "report")
  assert rc == 0 and err == "", err


# ---------------------------------------------------------------- strictly typed config arguments and files


@pytest.mark.parametrize("value", ["ture", "maybe"])
def test_a_misspelt_bool_variant_value_is_an_error(value):
  from mlexp.config.defaults import parse_arg
  with pytest.raises(ValueError, match=f"smoke='{value}': not a bool; allowed: true, false, 1, 0, yes, no"):
    parse_arg(f"smoke={value}", smoke=False)
  assert parse_arg("smoke=no,n=3", smoke=True, n=1).to_dict() == {"smoke": False, "n": 3}
  with pytest.raises(ValueError, match="n='x': expected a value of type int"):
    parse_arg("n=x", n=1)


BAD_FILES = {
    "returns_dict": ("def get_config(arg=None):\n  return {'epochs': 1}\n", "returned a dict"),
    "exits": ("import sys\ndef get_config(arg=None):\n  sys.exit(3)\n", "sys.exit(3)"),
    "exits_on_import": ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_config_file_returning_a_dict_or_exiting_is_one_line_exit_2(tmp_path, case):
  import mlexp
  from mlexp.config import ConfigError
  text, words = BAD_FILES[case]
  (tmp_path / "c.py").write_text(text)
  p = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={tmp_path / 'c.py'}",
                      f"--workdir={tmp_path / 'w'}"], cwd=REPO, env=env(), capture_output=True, text=True, timeout=60)
  assert p.returncode == 2, p.stderr
  assert_one_line(p.stderr, str(tmp_path / "c.py"), words)
  with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
    mlexp.get_config(str(tmp_path / "c.py"))


def test_cli_field_typo_is_one_clean_line_with_the_suggestion(tmp_path):
  p = subprocess.run([sys.executable, "-m", "mlexp.main", "--config=configs/linear.py:smoke",
                      "--config.optimizer.learning_rat=0.1", f"--workdir={tmp_path / 'w'}"], cwd=REPO, env=env(),
                     capture_output=True, text=True, timeout=60)
  assert p.returncode == 2, p.stderr
  line = assert_one_line(p.stderr, "--config.optimizer.learning_rat=0.1", 'did you mean "learning_rate"')
  assert "\\n" not in line and "\\'" not in line


def test_num_trials_0_with_random_fields_names_num_trials():
  from mlexp.config import ConfigError
  from mlexp.sweep.plan import plan_sweep
  from mlexp.sweep.space import loguniform
  c = sweep_config()
  c.sweep.space = (loguniform("optimizer.learning_rate", 1e-3, 1e-1),)
  with pytest.raises(ConfigError, match="sweep.num_trials=0"):
    plan_sweep(c)


def test_tpe_progress_counts_within_its_batch_and_a_resume_counts_the_groups_done(tmp_path):
  import re
  from mlexp.sweep.space import loguniform
  c = sweep_config()
  c.sweep.space = (loguniform("optimizer.learning_rate", 1e-3, 1e-1),)
  c.sweep.algorithm, c.sweep.num_trials, c.sweep.tpe_batch, c.sweep.padding = "tpe", 4, 2, "none"
  summary, text = run_sweep(c, tmp_path / "w")
  counts = [tuple(map(int, m)) for m in re.findall(r"\[group (\d+)/(\d+)\]", text)]
  assert counts and all(k <= n for k, n in counts), text
  groups = sorted(glob.glob(str(tmp_path / "w" / "groups" / "*.json")), key=os.path.getmtime)
  os.remove(groups[-1])
  summary, text = run_sweep(c, tmp_path / "w")
  assert f"{len(groups) - 1} group(s) already done" in text, text


# ---------------------------------------------------------------- a resume on another number of devices

DEVICES_RUN = """
import io, json, os, sys
import tiny
from mlexp.train import trainer
config = tiny.config("mlp", **{"epochs": 3, "checkpoint.enabled": True, "seeds": 3})
trainer.load_data = lambda c: tiny.dataset_for("mlp")
s = trainer.train_and_evaluate(config, sys.argv[1], stream=sys.stdout)
print("ACC", json.dumps([r["test_accuracy"] for r in s["runs"]]))
"""


def devices_run(workdir, n):
  p = subprocess.run([sys.executable, "-c", DEVICES_RUN, str(workdir)], cwd=REPO, capture_output=True, text=True,
                     env={**env(), "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}, timeout=300)
  assert p.returncode == 0, p.stderr
  return p.stdout, p.stderr


@pytest.mark.parametrize("before,after", [(2, 1), (1, 2)])
def test_a_resume_on_another_device_count_keeps_the_checkpoint(tmp_path, before, after):
  """seeds=3 on 2 devices stores 4 member slots, on 1 device 3: the checkpoint is restored into the new layout."""
  wd = tmp_path / "run"
  out, _ = devices_run(wd, before)
  want = out.split("ACC ")[1]
  if before > after:  # predict in a process of fewer devices than the checkpoint was saved on
    code = ("import sys, tiny, mlexp; print('PRED', mlexp.load(sys.argv[1]).predict(tiny.dataset_for('mlp').test.x[:4])"
            ".shape)")
    p = subprocess.run([sys.executable, "-c", code, str(wd)], cwd=REPO, env=env(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and "PRED (4,)" in p.stdout, p.stderr
  os.remove(wd / "summary.json")
  shutil.rmtree(wd / "checkpoints" / "latest" / "3")
  out, err = devices_run(wd, after)
  assert err == "", err
  assert "resuming from the checkpoint of epoch 2" in out and " is damaged" not in out, out
  assert "[epoch 2/3]" not in out and "[epoch 3/3]" in out
  assert json.loads(out.split("ACC ")[1]) == json.loads(want)
