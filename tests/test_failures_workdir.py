"""Failure modes, round two (issue 25; docs/failures.md): verified checkpoints and quiet fallbacks, damaged
files of a single run's workdir (config.json, summary.json, metrics.jsonl, best/), reports of them."""
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




@pytest.mark.parametrize("cut", ["middle", "last_line"])
def test_metrics_cut_in_the_middle_are_trained_again_and_written_anew(finished, tmp_path, cut):
  """The issue's case: metrics.jsonl of a finished run cut in the middle (a rerun kept half the epochs, exit 0,
  silently). Now the epochs whose records are lost are trained again, from the last checkpoint before them (or
  from scratch), and written anew: the records and the summary of the undamaged run."""
  wd = tmp_path / "run"
  shutil.copytree(finished, wd)
  text = (wd / "metrics.jsonl").read_text()
  lines = text.splitlines(keepends=True)
  keep = len(text) // 2 if cut == "middle" else len(text) - len(lines[-1]) // 2
  (wd / "metrics.jsonl").write_text(text[:keep])
  gap = 2 if cut == "middle" else 3
  rc, out, err = tiny_run(wd, epochs=3)
  assert rc == 0 and err == "", err
  said = [l for l in out.splitlines() if " is damaged" in l]
  assert len(said) == 1 and f"it lacks the records of epoch {gap}" in said[0], out
  assert ("training again from scratch" if gap == 2 else "from the checkpoint of epoch 2") in said[0]
  untimed = lambda r: {k: v for k, v in r.items() if k not in ("epoch_s", "samples_per_s", "wall_s", "compile_s")}
  assert [untimed(json.loads(l)) for l in open(wd / "metrics.jsonl")] == [untimed(json.loads(l)) for l in lines]
  runs = lambda w: [untimed(r) for r in json.loads((w / "summary.json").read_text())["runs"]]
  assert runs(wd) == runs(finished)


# ---------------------------------------------------------------- a damaged best/ checkpoint


def predict(workdir):
  import tiny
  import mlexp
  return mlexp.load(workdir).predict(tiny.sequence_dataset().test.x, tiny.sequence_dataset().test.lengths)


def delete_best(step_dir):
  shutil.rmtree(os.path.dirname(step_dir))


BEST_DAMAGE = {"flipped": flip_bytes, "truncated_unchecked": truncate_largest}  # (delete_best: as a missing one)


@pytest.mark.parametrize("how", list(BEST_DAMAGE))
def test_a_damaged_best_checkpoint_is_one_line_on_predict_and_a_rerun_rebuilds_it(finished, tmp_path, how):
  """predict names best/ and the fix in one line; the same command again rebuilds best/ from the latest
  checkpoint (its best_params are the best epoch's), giving the predictions of the undamaged run."""
  from mlexp.io.checkpoints import CHECKSUM
  from mlexp.io.workdir import WorkdirError
  want = predict(finished)
  wd = tmp_path / "run"
  shutil.copytree(finished, wd)
  best = wd / "checkpoints" / "best"
  step = best / os.listdir(best)[0]
  if how == "truncated_unchecked":  # a step without its checksum (killed before it, or an older mlexp)
    os.remove(step / CHECKSUM)
  BEST_DAMAGE[how](str(step))
  with pytest.raises(WorkdirError) as e:
    predict(wd)
  msg = str(e.value)
  assert "\n" not in msg and str(best) in msg and f"run its training command again on {wd}" in msg, msg
  assert ("is missing" if how == "deleted" else "is damaged") in msg
  rc, out, err = tiny_run(wd, epochs=3)
  assert rc == 0 and err == "", err
  said = [l for l in out.splitlines() if " is damaged" in l]
  if how == "deleted":
    assert said == [], out
  else:
    assert len(said) == 1 and "best checkpoint" in said[0] and "rebuilt it from the checkpoint of epoch 3" in said[0]
  assert (predict(wd) == want).all()
