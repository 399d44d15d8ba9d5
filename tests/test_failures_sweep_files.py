"""Failure modes, round two (issue 25; docs/failures.md): a sweep's damaged files (groups/<gid>.json,
results.csv, the best model's checkpoint and best_trial_meta.json), its progress lines on a resume."""
from __future__ import annotations

import glob
import json
import os
import shutil

import pytest

from test_failures import assert_one_line
from test_failures_workdir import DAMAGED_JSON, damage_json, flip_bytes, report

# ---------------------------------------------------------------- a sweep's damaged files


def sweep_config():
  import mlexp
  from mlexp.sweeps.space import grid
  c = mlexp.get_config("sweeps/mlp", smoke=True)
  c.data.max_train, c.data.max_test, c.eval.transforms = 64, 64, ()
  c.model.units, c.batch_size, c.epochs = (8,), 32, 2
  c.sweep.space = (grid("optimizer.learning_rate", 0.003, 0.03),)
  c.sweep.num_trials, c.sweep.max_group_size, c.sweep.mode = 0, 1, "full"
  return c


def run_sweep(config, workdir):
  import io
  from mlexp.sweeps.runner import run_sweep as run
  out = io.StringIO()
  return run(config, str(workdir), stream=out), out.getvalue()


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  wd = tmp_path_factory.mktemp("sweep") / "a sweep"  # (a space: the printed winner command quotes it)
  summary, text = run_sweep(sweep_config(), wd)
  return wd, summary, text


def test_the_printed_winner_command_is_shell_quoted(swept):
  import shlex
  base, _, text = swept
  line = [l for l in text.splitlines() if "winner as a single run" in l][0]
  command = line.split("winner as a single run: ", 1)[1]
  assert shlex.split(command) == ["python", "-m", "mlexp.main", f"--config={base / 'best_config.py'}"], line


@pytest.mark.parametrize("how", list(DAMAGED_JSON))
def test_a_damaged_group_file_runs_that_group_again(swept, tmp_path, how):
  base, summary, _ = swept
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
  base, summary, _ = swept
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


def test_num_trials_0_with_random_fields_names_num_trials():
  from mlexp.config import ConfigError
  from mlexp.sweeps.plan import plan_sweep
  from mlexp.sweeps.space import loguniform
  c = sweep_config()
  c.sweep.space = (loguniform("optimizer.learning_rate", 1e-3, 1e-1),)
  with pytest.raises(ConfigError, match="sweep.num_trials=0"):
    plan_sweep(c)


def test_tpe_progress_counts_within_its_batch_and_a_resume_counts_the_groups_done(tmp_path):
  import re
  from mlexp.sweeps.space import loguniform
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




def test_a_cut_metrics_file_runs_the_groups_that_lost_records_again(swept, tmp_path):
  base, summary, _ = swept
  wd = tmp_path / "w"
  shutil.copytree(base, wd)
  text = (wd / "metrics.jsonl").read_text()
  (wd / "metrics.jsonl").write_text(text[: len(text) // 3])  # the first group's first record is whole
  again, out = run_sweep(sweep_config(), wd)
  said = [l for l in out.splitlines() if " is damaged" in l]
  assert len(said) == 2 and all("that group runs again" in l for l in said), out
  untimed = lambda l: {k: v for k, v in json.loads(l).items() if k not in ("epoch_s", "samples_per_s")}
  key = lambda r: (r["trial"], r["seed"], r["epoch"])
  assert sorted(map(untimed, open(wd / "metrics.jsonl")), key=key) == sorted(map(untimed, text.splitlines()), key=key)
  assert again["best"] == summary["best"]


# ---------------------------------------------------------------- the sweep's best model damaged


def sweep_predict(workdir):
  import mlexp
  sweep = mlexp.load(workdir)
  return sweep.predict(sweep.dataset().test.x[:16])


def garbage_meta(wd):
  damage_json(wd / "checkpoints" / "best_trial_meta.json", "garbage")


def flipped_params(wd):
  d = wd / "checkpoints" / "best_trial"
  flip_bytes(str(d / os.listdir(d)[0]))


def deleted_both(wd):
  shutil.rmtree(wd / "checkpoints" / "best_trial")
  os.remove(wd / "checkpoints" / "best_trial_meta.json")


BEST_DAMAGE = {"garbage_meta": garbage_meta, "flipped_params": flipped_params, "deleted": deleted_both}


@pytest.mark.parametrize("how", list(BEST_DAMAGE))
def test_a_damaged_best_model_is_one_line_on_predict_and_a_rerun_trains_its_group_again(swept, tmp_path, how):
  from mlexp.io.workdir import WorkdirError
  base, summary, _ = swept
  want = sweep_predict(base)
  wd = tmp_path / "w"
  shutil.copytree(base, wd)
  BEST_DAMAGE[how](wd)
  with pytest.raises(WorkdirError) as e:
    sweep_predict(wd)
  msg = str(e.value)
  assert "\n" not in msg and f"run the sweep's command again on {wd}" in msg, msg
  assert ("best_trial_meta.json" if how == "garbage_meta" else str(wd / "checkpoints" / "best_trial")) in msg
  again, text = run_sweep(sweep_config(), wd)
  said = [l for l in text.splitlines() if " is damaged" in l]
  assert len(said) == 1 and "the sweep's best model" in said[0] and "runs again to rebuild them" in said[0], text
  assert "1 group(s) already done" in text
  assert (sweep_predict(wd) == want).all()
  assert again["best"] == summary["best"]
