"""Failure modes, round two (issue 25; docs/failures.md): a full disk (exit 5, one line, a real tmpfs where the
machine can mount one) and a resume on another number of devices."""
from __future__ import annotations

import json
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
  from mlexp.training import trainer
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


# ---------------------------------------------------------------- a resume on another number of devices

DEVICES_RUN = """
import io, json, os, sys
import tiny
from mlexp.training import trainer
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
