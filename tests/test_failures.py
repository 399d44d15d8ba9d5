"""Failure modes (issue 11; docs/failures.md): damaged checkpoints, one-line errors with their exit statuses,
crash-safe writers, reports of unfinished workdirs; the helpers of every tests/test_failures_*.py (tiny_run,
assert_one_line). The workdir lock: test_failures_lock.py; Ctrl-C / SIGTERM: test_failures_signals.py."""
from __future__ import annotations

import concurrent.futures
import glob
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import tiny
from mlexp import main as cli_main
from mlexp.io.lock import WorkdirLock
from mlexp.io.writers import JsonlWriter, TensorBoard
from mlexp.training import trainer
from tiny import read_tensorboard

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = socket.gethostname()


def env():
  return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join([REPO, os.path.join(REPO, "tests")])}


def cli(*args, timeout=300):
  p = subprocess.run([sys.executable, "-m", "mlexp.main", *args], cwd=REPO, env=env(), capture_output=True,
                     text=True, timeout=timeout)
  return p.returncode, p.stdout, p.stderr


# A run of the CLI with the tiny data set of tests/tiny.py (and any patches), so that it takes seconds.
SCRIPT = """
import sys, time, errno, os
import tiny
from mlexp.training import trainer
trainer.load_data = lambda config: tiny.sequence_dataset()
{patch}
sys.argv = ["mlexp", "--config=configs/linear.py:smoke", "--config.batch_size=8", "--config.epochs={epochs}",
            "--workdir={workdir}"]
from mlexp import main
main.run()
"""


def tiny_run(workdir, patch="", epochs=2, signal_at=None, timeout=300):
  """(rc, stdout, stderr) of a tiny CLI run; signal_at=(marker, signum) sends signum once stdout shows marker."""
  code = SCRIPT.format(patch=textwrap.dedent(patch), epochs=epochs, workdir=workdir)
  if signal_at is None:
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env(), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr
  marker, signum = signal_at
  p = subprocess.Popen([sys.executable, "-u", "-c", code], cwd=REPO, env=env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
  out = []
  deadline = time.time() + timeout
  for line in p.stdout:
    out.append(line)
    if marker in line:
      p.send_signal(signum)
      break
    assert time.time() < deadline
  rest, err = p.communicate(timeout=timeout)
  return p.returncode, "".join(out) + rest, err


def assert_one_line(err: str, *words):
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  assert "Traceback" not in err
  for w in words:
    assert w in lines[0], (w, lines[0])
  return lines[0]


# ---------------------------------------------------------------- checkpoints that survive damage


@pytest.fixture(scope="module")
def ckpt_run(tmp_path_factory):
  """A finished 3-epoch run with checkpoints (tiny data): (config, workdir, summary)."""
  config = tiny.config("mlp", **{"epochs": 3, "checkpoint.enabled": True})
  ds = tiny.dataset_for("mlp")
  old = trainer.load_data
  trainer.load_data = lambda c: ds
  try:
    wd = str(tmp_path_factory.mktemp("ckpt") / "run")
    summary = trainer.train_and_evaluate(config, wd, stream=io.StringIO())
  finally:
    trainer.load_data = old
  return config, wd, summary


def truncate_largest(step_dir):
  files = [p for p in glob.glob(os.path.join(step_dir, "**"), recursive=True) if os.path.isfile(p)]
  big = max(files, key=os.path.getsize)
  with open(big, "r+b") as f:
    f.truncate(os.path.getsize(big) // 2)


def garbage_metadata(step_dir):
  with open(os.path.join(step_dir, "default", "_METADATA"), "w") as f:
    f.write("garbage{")


def empty_folder(step_dir):
  shutil.rmtree(step_dir)
  os.mkdir(step_dir)


DAMAGE = {"truncated": truncate_largest, "garbage_metadata": garbage_metadata, "emptied": empty_folder}


def test_the_last_two_checkpoints_are_kept(ckpt_run):
  _, wd, _ = ckpt_run
  assert sorted(os.listdir(os.path.join(wd, "checkpoints", "latest"))) == ["2", "3"]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(ckpt_run, tmp_path, monkeypatch, damage):
  config, wd, summary = ckpt_run
  monkeypatch.setattr(trainer, "load_data", lambda c: tiny.dataset_for("mlp"))
  copy = str(tmp_path / "run")
  shutil.copytree(wd, copy)
  os.remove(os.path.join(copy, "summary.json"))
  DAMAGE[damage](os.path.join(copy, "checkpoints", "latest", "3"))
  out = io.StringIO()
  again = trainer.train_and_evaluate(config, copy, stream=out)
  text = out.getvalue()
  assert "checkpoint of epoch 3 is damaged" in text and "resuming from the checkpoint of epoch 2 instead" in text
  assert "Traceback" not in text
  assert "[epoch 3/3]" in text and "[epoch 2/3]" not in text  # only epoch 3 trained again
  assert untimed(again["runs"]) == untimed(summary["runs"])  # and it got what the undamaged run got
  assert len(glob.glob(os.path.join(copy, "checkpoints", "damaged", "latest_3_*"))) == 1  # kept, aside
  assert sorted(os.listdir(os.path.join(copy, "checkpoints", "latest"))) == ["2", "3"]
  epochs = [json.loads(l)["epoch"] for l in open(os.path.join(copy, "metrics.jsonl"))]
  assert sorted(epochs) == [1, 2, 3]


def untimed(runs):
  return [{k: v for k, v in r.items() if k not in ("wall_s", "compile_s")} for r in runs]


def test_no_good_checkpoint_starts_from_scratch(ckpt_run, tmp_path, monkeypatch):
  config, wd, summary = ckpt_run
  monkeypatch.setattr(trainer, "load_data", lambda c: tiny.dataset_for("mlp"))
  copy = str(tmp_path / "run")
  shutil.copytree(wd, copy)
  empty_folder(os.path.join(copy, "checkpoints", "latest", "3"))
  garbage_metadata(os.path.join(copy, "checkpoints", "latest", "2"))
  out = io.StringIO()
  again = trainer.train_and_evaluate(config, copy, stream=out)
  text = out.getvalue()
  assert "checkpoint of epoch 3 is damaged" in text and "checkpoint of epoch 2 is damaged" in text
  assert "no older checkpoint: starting from scratch" in text and "[epoch 1/3]" in text
  assert untimed(again["runs"]) == untimed(summary["runs"])
  assert sorted(json.loads(l)["epoch"] for l in open(os.path.join(copy, "metrics.jsonl"))) == [1, 2, 3]


# ---------------------------------------------------------------- one line and an exit status


CONFIG_FILES = {
    "raises": ("def get_config(arg=None):\n  raise RuntimeError('boom')\n", ["raised RuntimeError: boom", "line 2"]),
    "syntax": ("def get_config(:\n", ["syntax error at line 1"]),
    "returns_none": ("def get_config(arg=None):\n  return None\n", ["returned None"]),
    "no_get_config": ("x = 1\n", ["has no get_config()"]),
    "raises_on_import": ("import no_such_module_xyz\n", ["ModuleNotFoundError", "no_such_module_xyz"]),
}


@pytest.fixture(scope="module")
def cli_errors(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli_errors")
  jobs = {}
  for name, (text, _) in CONFIG_FILES.items():
    (root / f"{name}.py").write_text(text)
    jobs[name] = [f"--config={root / name}.py", f"--workdir={root / 'wd' / name}"]
  jobs["missing"] = [f"--config={root / 'nope.py'}", f"--workdir={root / 'wd' / 'missing'}"]
  (root / "afile").write_text("x")
  jobs["workdir_is_a_file"] = ["--config=configs/linear.py:smoke", f"--workdir={root / 'afile'}"]
  jobs["workdir_under_a_file"] = ["--config=configs/linear.py:smoke", f"--workdir={root / 'afile' / 'sub'}"]
  jobs["sweep_override"] = ["--config=configs/sweeps/gru.py", "--config.optimizer.learning_rate=1e30",
                            f"--workdir={root / 'wd' / 'sweep_override'}"]
  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    futures = {k: pool.submit(cli, *args) for k, args in jobs.items()}
    return root, {k: f.result() for k, f in futures.items()}


@pytest.mark.parametrize("case", list(CONFIG_FILES) + ["missing"])
def test_bad_config_files_are_one_line_exit_2(cli_errors, case):
  root, runs = cli_errors
  rc, out, err = runs[case]
  assert rc == cli_main.EXIT_CONFIG == 2, err
  words = CONFIG_FILES[case][1] if case in CONFIG_FILES else ["nope.py", "does not exist"]
  line = assert_one_line(err, *words)
  assert "config_config" not in line
  assert not os.path.exists(root / "wd" / case)


@pytest.mark.parametrize("case", ["workdir_is_a_file", "workdir_under_a_file"])
def test_a_workdir_that_is_a_file_is_one_line_exit_2(cli_errors, case):
  root, runs = cli_errors
  rc, out, err = runs[case]
  assert rc == 2, err
  assert_one_line(err, str(root / "afile"), "file")
  assert (root / "afile").read_text() == "x"


def test_overriding_a_searched_field_is_an_error_naming_it(cli_errors):
  root, runs = cli_errors
  rc, out, err = runs["sweep_override"]
  assert rc == 2, err
  assert_one_line(err, "--config.optimizer.learning_rate=1e30", "searched by this sweep")
  assert not os.path.exists(root / "wd" / "sweep_override")


def test_read_only_workdir_is_one_line_exit_5(tmp_path):
  wd = tmp_path / "ro"
  patch = f"""
  real = os.makedirs
  def makedirs(p, *a, **k):
    if str(p).startswith({str(wd)!r}):
      raise OSError(errno.EROFS, "Read-only file system", str(p))
    return real(p, *a, **k)
  os.makedirs = makedirs
  """
  rc, out, err = tiny_run(wd, patch)
  assert rc == cli_main.EXIT_IO == 5, err
  assert_one_line(err, "cannot write", str(wd), "Read-only file system", "writable --workdir")


def test_full_disk_is_one_line_exit_5_and_nothing_half_written(tmp_path):
  wd = tmp_path / "full"
  patch = """
  from mlexp.io import writers
  calls = []
  real = writers.JsonlWriter.write
  def write(self, rec):
    calls.append(1)
    if len(calls) == 2:  # epoch 2: the disk is full
      raise OSError(errno.ENOSPC, "No space left on device", self.path)
    real(self, rec)
  writers.JsonlWriter.write = write
  """
  rc, out, err = tiny_run(wd, patch, epochs=3)
  assert rc == 5, err
  assert_one_line(err, "no space left", "free some space", "run the same command again")
  assert not os.path.exists(wd / "summary.json")
  assert [json.loads(l)["epoch"] for l in open(wd / "metrics.jsonl")] == [1]
  assert not os.path.exists(wd / ".lock")
  rc, out, err = tiny_run(wd, epochs=3)  # space freed: resumes from epoch 1's checkpoint
  assert rc == 0, err
  assert "resuming from the checkpoint of epoch 1" in out
  assert [json.loads(l)["epoch"] for l in open(wd / "metrics.jsonl")] == [1, 2, 3]


def test_a_diverged_run_says_so_and_suggests_a_lower_learning_rate(monkeypatch, tmp_path):
  monkeypatch.setattr(trainer, "load_data", lambda c: tiny.dataset_for("mlp"))
  config = tiny.config("mlp", **{"optimizer.learning_rate": 1e30})
  out = io.StringIO()
  summary = trainer.train_and_evaluate(config, str(tmp_path / "run"), stream=out)
  assert summary["runs"][0]["status"] == "diverged"
  assert "1 of 1 model(s) diverged" in out.getvalue()
  assert "--config.optimizer.learning_rate=1e+29" in out.getvalue()


# ---------------------------------------------------------------- reports of unfinished workdirs


def report(workdir):
  p = subprocess.run([sys.executable, "-m", "mlexp.report", str(workdir)], cwd=REPO, env=env(),
                     capture_output=True, text=True, timeout=120)
  return p.returncode, p.stdout, p.stderr


def test_report_on_an_unfinished_or_running_workdir_says_so(tmp_path):
  wd = tmp_path / "run"
  wd.mkdir()
  (wd / "config.json").write_text(tiny.config("mlp").to_json_best_effort())
  (wd / "metrics.jsonl").write_text("")
  rc, out, err = report(wd)
  assert rc == 2
  line = assert_one_line(err, "has not finished", "run its training command again")
  assert "not an mlexp workdir" not in line and "should be an mlexp workdir" not in line
  (wd / "results.csv").write_text("trial,seed\n")  # a sweep between groups
  (wd / "sweep.json").write_text("{}")
  with WorkdirLock(str(wd), ".lock.shard1"):
    rc, out, err = report(wd)
  assert rc == 2
  assert_one_line(err, "sweep is still running", f"process {os.getpid()} on host {HOST}")


# ---------------------------------------------------------------- crash-safe writers


def test_tensorboard_scalars_are_on_disk_after_each_write(tmp_path):
  tb = TensorBoard(str(tmp_path))
  tb.write_scalars("seed_0", 1, {"loss/train": 1.5})
  tb.write_scalars("seed_0", 2, {"loss/train": 0.5})
  # not closed, not flushed by the caller: what kill -9 would leave
  assert read_tensorboard(str(tmp_path / "seed_0"))["loss/train"] == {1: 1.5, 2: 0.5}
  tb.close()


def test_a_torn_metrics_line_is_dropped_on_resume(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  with open(path, "w") as f:
    f.write('{"epoch": 1, "train_loss": 1.0}\n{"epoch": 2, "train_lo')
  w = JsonlWriter(path, truncate_after_epoch=2)
  w.write({"epoch": 2, "train_loss": 0.5})
  w.close()
  assert [json.loads(l)["epoch"] for l in open(path)] == [1, 2]
