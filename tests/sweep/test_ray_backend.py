"""sweep.backend=ray (mlexp/sweeps/executors/ray.py, ray_backend.py, segment.py) on a local Ray of 2 CPUs: the same results as
one process row by row (ASHA decisions included), a worker lost mid-group, a driver killed and rerun, the
shared rung board, biggest-first ordering."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import sweep_util as u
from mlexp.sweeps import asha
from mlexp.sweeps.ray_backend import biggest_first

# what must agree between backends (wall and compile seconds are measurements, not results)
SAME = ("trial", "group", "seed", "status", "stopped_by", "epochs_run", "best_epoch", "param_count")
CLOSE = ("final_test_loss", "best_test_loss", "test_accuracy", "final_test_accuracy", "train_loss")


def asha_sweep(**overrides):
  """8 trials (2 widths, not padded together, x 4 learning rates): 2 groups of 4; 3 epochs with a rung at
  epoch 1 where the top 8 // 3 = 2 trials of both groups together continue."""
  from mlexp.sweeps.space import grid
  return u.tiny_sweep((grid("model.units", (8,), (12,)), grid("optimizer.learning_rate", 0.01, 0.03, 0.1, 0.3)),
                      **{"sweep.mode": "asha", "sweep.padding": "none", **overrides})


def full_sweep(**overrides):
  """6 groups of one trial (6 widths), every trial to the end: groups finish one after another."""
  from mlexp.sweeps.space import grid
  return u.tiny_sweep((grid("model.units", *[(w,) for w in (4, 6, 8, 10, 12, 14)]),),
                      **{"sweep.padding": "none", "epochs": 6, **overrides})


def assert_same_rows(rows, ref):
  key = lambda r: (int(r["trial"]), int(r["seed"]))
  rows, ref = sorted(rows, key=key), sorted(ref, key=key)
  assert len(rows) == len(ref) > 0
  for a, b in zip(rows, ref):
    assert [a[c] for c in SAME] == [b[c] for c in SAME]
    for c in CLOSE:
      x, y = float(a[c]), float(b[c])
      assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-5, abs=1e-6), (a["trial"], c, x, y)


def metric_lines(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    recs = [json.loads(l) for l in f if l.strip()]
  return sorted((r["trial"], r["seed"], r["epoch"], r["status"], round(r["test_loss"], 5)) for r in recs)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
  """A local Ray of 2 CPUs for this module; its workers use their own fresh compilation cache, and
  $MLEXP_RAY_FAULT names the file through which a test kills a worker (segment._FaultHook)."""
  ray = pytest.importorskip("ray")
  base = tmp_path_factory.mktemp("ray")
  old = {k: os.environ.get(k) for k in ("MLEXP_RAY_FAULT", "MLEXP_COMPILATION_CACHE")}
  os.environ["MLEXP_RAY_FAULT"] = str(base / "fault")
  os.environ["MLEXP_COMPILATION_CACHE"] = str(base / "jax_cache")
  from mlexp.sweeps.ray_backend import quiet_fork
  with quiet_fork():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
  yield {"ray": ray, "fault": str(base / "fault"), "address": ray.get_runtime_context().gcs_address}
  ray.shutdown()
  for k, v in old.items():
    if v is None:
      os.environ.pop(k, None)
    else:
      os.environ[k] = v


@pytest.fixture(scope="module")
def asha_reference(tmp_path_factory, _session_compile_cache):
  wd = tmp_path_factory.mktemp("asha_ref") / "w"
  _, text = u.run(asha_sweep(), wd)
  return {"workdir": str(wd), "rows": u.read_csv(wd / "results.csv"), "text": text,
          "groups": sorted(os.listdir(wd / "groups"))}


def test_ray_sweep_equals_one_process_row_by_row(ray_cluster, asha_reference, tmp_path):
  wd = tmp_path / "w"
  summary, text = u.run(asha_sweep(**{"sweep.backend": "ray"}), wd)
  ref = asha_reference["rows"]
  rows = u.read_csv(wd / "results.csv")
  assert_same_rows(rows, ref)
  # the rung decision was over both groups: 2 of 8 trials went on, from either group
  assert sum(r["stopped_by"] == "asha" for r in ref) == 6
  assert "ray: 2 group(s), biggest first" in text and "1 CPU(s) per group" in text
  assert metric_lines(wd) == metric_lines(asha_reference["workdir"])
  assert sorted(os.listdir(wd / "groups")) == asha_reference["groups"]
  with open(wd / "checkpoints" / "best_trial_meta.json") as f, \
       open(os.path.join(asha_reference["workdir"], "checkpoints", "best_trial_meta.json")) as g:
    meta, ref_meta = json.load(f), json.load(g)
  assert (meta["trial"], meta["seed"]) == (ref_meta["trial"], ref_meta["seed"]) == (summary["best"]["trial"], 0)
  assert os.listdir(meta["checkpoint"])
  assert sorted(os.listdir(wd / "tensorboard")) == sorted(os.listdir(os.path.join(asha_reference["workdir"],
                                                                            "tensorboard")))
  assert {f"trial_{t:03d}_seed_0" for t in range(8)} <= set(os.listdir(wd / "tensorboard"))


def test_a_worker_lost_mid_group_is_retried_from_the_last_shipped_state(ray_cluster, asha_reference, tmp_path):
  gid = next(r["group"] for r in asha_reference["rows"] if int(r["epochs_run"]) == 3)  # a group past the rung
  fault = ray_cluster["fault"]
  with open(fault, "w") as f:  # the worker training epoch 2 of this group (its second segment) dies
    f.write(f"{gid} 2")
  wd = tmp_path / "w"
  u.run(asha_sweep(**{"sweep.backend": "ray"}), wd)
  assert os.path.exists(fault + ".claimed") and not os.path.exists(fault)  # the worker did die there
  with open(fault + ".pid") as f:
    pid = int(f.read())
  with pytest.raises(ProcessLookupError):
    os.kill(pid, 0)
  assert_same_rows(u.read_csv(wd / "results.csv"), asha_reference["rows"])
  assert metric_lines(wd) == metric_lines(asha_reference["workdir"])  # the lost segment's lines: once


CONFIG_FILE = """import sys
sys.path.insert(0, {tests!r})
import test_ray_backend as t


def get_config(arg=None):
  return t.full_sweep()
"""


def test_a_killed_driver_resumes_without_repeating_finished_groups(ray_cluster, tmp_path, _session_compile_cache):
  ref_wd = tmp_path / "ref"
  u.run(full_sweep(), ref_wd)
  cfg = tmp_path / "cfg.py"
  cfg.write_text(CONFIG_FILE.format(tests=os.path.dirname(os.path.abspath(__file__))))
  wd = tmp_path / "w"
  cmd = [sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={wd}", "--config.sweep.backend=ray",
         f"--config.sweep.ray_address={ray_cluster['address']}"]
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  groups = wd / "groups"
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None and not (groups.exists() and os.listdir(groups)):
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  out = proc.communicate()[0]
  done = sorted(os.listdir(groups))
  assert 1 <= len(done) < 6, out
  before = {g: ((groups / g).stat().st_mtime_ns, (groups / g).read_text()) for g in done}
  rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  assert f"{len(done)} group(s) already done" in rerun.stdout + rerun.stderr
  assert {g: ((groups / g).stat().st_mtime_ns, (groups / g).read_text()) for g in done} == before
  assert len(os.listdir(groups)) == 6
  assert_same_rows(u.read_csv(wd / "results.csv"), u.read_csv(ref_wd / "results.csv"))
  assert metric_lines(wd) == metric_lines(ref_wd)  # the killed driver's unfinished groups' lines: once
  assert os.path.exists(wd / "summary.json") and os.path.exists(wd / "checkpoints" / "best_trial_meta.json")


def test_the_shared_rung_board_decides_as_one_process(ray_cluster):
  """A deterministic sequence of rung reports (groups reaching rungs 1 and 3 in some order, one report
  repeated as a retried task would): the Ray actor answers what one process's history dict answers."""
  from mlexp.sweeps.ray_backend import RayBoard, _RungBoard
  ray = ray_cluster["ray"]
  rng = np.random.default_rng(0)
  reports = [(f"g{k % 5}", epoch, [float(v) for v in rng.normal(size=int(rng.integers(1, 6)))])
             for k, epoch in enumerate([1] * 10 + [3] * 6)]
  reports[4][2][0] = float("nan")
  history: dict = {}  # one process, as AshaHook did it with its dict before there were boards
  expected = []
  for gid, epoch, vals in reports:
    hist = history.setdefault(epoch, [])
    expected.append([bool(k) for k in asha.keep(hist, vals, 3, "min")])
    hist.extend(v for v in vals if math.isfinite(v))
  local = asha.LocalBoard()
  remote = RayBoard(ray.remote(_RungBoard).remote({}))
  seen = set()
  for (gid, epoch, vals), exp in zip(reports, expected):
    key = gid if (gid, epoch) not in seen else f"{gid}-again"
    seen.add((gid, epoch))
    assert local.report_and_keep(epoch, vals, 3, "min", key=key) == exp
    assert remote.report_and_keep(epoch, vals, 3, "min", key=key) == exp
  assert local.history == history
  # a retried group reports its rung again: the same answer, nothing recorded twice
  gid, epoch, vals = reports[2]
  assert remote.report_and_keep(epoch, vals, 3, "min", key=gid) == expected[2]
  assert local.report_and_keep(epoch, vals, 3, "min", key=gid) == expected[2] and local.history == history


def test_biggest_groups_are_submitted_first():
  plans = ["a", "b", "c", "d", "e"]
  secs = {"a": 1.0, "b": 5.0, "c": 3.0, "d": 5.0, "e": 0.5}
  assert biggest_first(plans, secs.get) == ["b", "d", "c", "a", "e"]  # ties keep plan order
  assert biggest_first([], secs.get) == []


def test_backend_is_validated_and_ray_missing_is_one_line(monkeypatch):
  from mlexp.config import ConfigError
  from mlexp.sweeps import ray_backend
  cfg = asha_sweep(**{"sweep.backend": "spark"})
  with pytest.raises(ConfigError, match=r"sweep.backend='spark'.*local, ray"):
    ray_backend.check(cfg.sweep)
  with pytest.raises(ConfigError, match=r"sweep.num_shards=2.*must be 1 with sweep.backend=ray"):
    ray_backend.check(asha_sweep(**{"sweep.backend": "ray", "sweep.num_shards": 2}).sweep)
  from mlexp.sweeps import executors
  monkeypatch.setattr(executors.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(ConfigError, match=r'pip install -e "\.\[ray\]"'):
    ray_backend.check(asha_sweep(**{"sweep.backend": "ray"}).sweep)


def test_asynchronous_asha_on_ray_shares_the_rung_values_across_groups(ray_cluster, tmp_path):
  """asha.sync=False: whole-group tasks that ask the RungBoard actor. Both groups run at once; whichever
  reported its rung first, the other was ranked against its values too: the cuts are those of one board
  fed the two groups in one of the two orders (a group alone would keep floor(4 / 3) = 1 trial)."""
  wd = tmp_path / "w"
  u.run(asha_sweep(**{"sweep.backend": "ray", "sweep.asha.sync": False}), wd)
  rows = u.read_csv(wd / "results.csv")
  groups = {}
  for name in os.listdir(wd / "groups"):
    with open(wd / "groups" / name) as f:
      d = json.load(f)
    trials = sorted({int(r["trial"]) for r in d["rows"]})
    groups[name] = (trials, d["rungs"]["1"])
  assert len(groups) == 2 and len(rows) == 8
  cut = {int(r["trial"]) for r in rows if r["stopped_by"] == "asha"}
  outcomes = []
  for first, second in (list(groups.values()), list(groups.values())[::-1]):
    board = asha.LocalBoard()
    kept = [t for (trials, vals) in (first, second)
            for t, k in zip(trials, board.report_and_keep(1, vals, 3, "min")) if k]
    outcomes.append(set(range(8)) - set(kept))
  assert cut in outcomes


def test_asynchronous_asha_survives_the_loss_of_its_rung_board(ray_cluster, tmp_path):
  """The RungBoard actor killed mid-sweep (asha.sync=False; 2 CPUs per group on 2: one group at a time; the
  second group's rung report kills it: ray_backend._fault): the driver puts up a new board from the values it has
  seen (the first group's, finished), the second group's worker asks it again, and the sweep ends as one process
  feeding the groups to one board in that order would."""
  fault = ray_cluster["fault"]
  with open(fault, "w") as f:
    f.write("board 1")
  wd = tmp_path / "w"
  _, text = u.run(asha_sweep(**{"sweep.backend": "ray", "sweep.asha.sync": False, "sweep.ray_cpus_per_group": 2}),
                  wd)
  assert os.path.exists(fault + ".claimed") and not os.path.exists(fault)  # the board was killed
  assert "the ASHA rung board was lost; put up again" in text
  rows = u.read_csv(wd / "results.csv")
  assert len(rows) == 8 and os.path.exists(wd / "summary.json")
  groups = []
  for name in os.listdir(wd / "groups"):
    with open(wd / "groups" / name) as f:
      d = json.load(f)
    groups.append(((wd / "groups" / name).stat().st_mtime_ns, sorted({int(r["trial"]) for r in d["rows"]}),
                   d["rungs"]["1"]))
  board = asha.LocalBoard()
  kept = [t for _, trials, vals in sorted(groups) for t, k in zip(trials, board.report_and_keep(1, vals, 3, "min"))
          if k]
  assert {int(r["trial"]) for r in rows if r["stopped_by"] == "asha"} == set(range(8)) - set(kept)


def test_a_lost_boards_reports_are_restored_once():
  """asha.LocalBoard.restore: reports given again (a worker's own, a finished group's) count once; an answer
  given before is the answer to the same report repeated."""
  b = asha.LocalBoard()
  first = b.report_and_keep(1, [0.5, 0.9], 3, "min", key="g0")
  again = asha.LocalBoard({1: []})
  again.restore([(1, "g0", [0.5, 0.9], first), (1, "g1", [0.7], None)])
  again.restore([(1, "g0", [0.5, 0.9], first)])
  assert sorted(again.history[1]) == [0.5, 0.7, 0.9]
  assert again.report_and_keep(1, [0.5, 0.9], 3, "min", key="g0") == first


def test_a_group_that_cannot_finish_on_ray_is_one_error_naming_it(ray_cluster, asha_reference, tmp_path):
  """Past sweep.ray_max_retries (0 here) a lost worker ends the sweep with GroupFailed (mlexp.main: one line,
  exit 6) naming the group; the finished groups' files are kept."""
  from mlexp.sweeps.ray_backend import GroupFailed
  gid = next(r["group"] for r in asha_reference["rows"] if int(r["epochs_run"]) == 3)
  with open(ray_cluster["fault"], "w") as f:
    f.write(f"{gid} 2")
  with pytest.raises(GroupFailed) as e:
    u.run(asha_sweep(**{"sweep.backend": "ray", "sweep.ray_max_retries": 0}), tmp_path / "w")
  msg = str(e.value)
  assert "\n" not in msg and gid in msg and "sweep.ray_max_retries=0" in msg and "rerun the same command" in msg


def test_a_worker_error_keeps_its_kind_and_others_name_the_group():
  """failure(): the worker's DataError / ConfigError is raised as it is (its own one line and exit status);
  any other exception becomes GroupFailed with the group and the cause in one line."""
  ray = pytest.importorskip("ray")
  from mlexp.config import ConfigError
  from mlexp.data import DataError
  from mlexp.sweeps.ray_backend import GroupFailed, failure
  sw = {"ray_max_retries": 3}
  bad = DataError("labels out of range in train.csv line 7: 12")
  assert failure(ray, ray.exceptions.RayTaskError("_task", "tb", bad), "g1", sw) is bad
  cfg = ConfigError("model.hidden", 0, "must be >= 1")
  assert failure(ray, ray.exceptions.RayTaskError("_task", "tb", cfg), "g1", sw) is cfg
  other = failure(ray, ray.exceptions.RayTaskError("_task", "tb", RuntimeError("boom")), "g7", sw)
  assert isinstance(other, GroupFailed) and str(other).startswith("group g7 failed on a Ray worker: RuntimeError: boom")
  lost = failure(ray, ray.exceptions.WorkerCrashedError(), "g2", sw)
  assert isinstance(lost, GroupFailed) and "sweep.ray_max_retries=3" in str(lost) and "WorkerCrashedError" in str(lost)
