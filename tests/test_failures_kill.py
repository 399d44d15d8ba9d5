"""Fault injection (issue 25): a sweep killed (SIGKILL) at 20 seeded moments, each time resumed by running it
again, ends with the files of an uninterrupted run: results.csv, summary.json, best_trial_meta.json and every
trial's metrics.jsonl records (timing fields aside).

The moments are writes, not wall-clock times (a loaded CI machine would move those). An uninterrupted run
first lists its writes in order (its timeline): workdir files (`atomic_write`: a temp file and a rename),
metrics.jsonl lines, the best model's checkpoint (`save_params`). 20 moments of that timeline are drawn
(seeded), 10 per sweep over 2 sweeps, in increasing order within a sweep; each run dies at its first write at
or after its moment (a resumed run skips the groups already done), before it, in its middle (the temp file
written but not renamed; half a line flushed) or after it. Every planned kill is asserted to be a real SIGKILL.

To fit CI (it is budgeted at ~60 s), one zygote process imports mlexp and JAX once and
forks a child per run (JAX's backends start in the child, never in the zygote), the data set is read once in
the zygote, and every child shares one persistent compilation cache, so only the first one compiles. The kill
is a real SIGKILL of the child: no finally, no flush, its workdir lock left behind.
"""
from __future__ import annotations

import json
import subprocess
import sys

from test_failures import REPO, env

KILLS = 20
SWEEPS = 2  # the kills are shared among them
SEED = 25

ZYGOTE = r"""
import json, os, random, signal, sys, time, traceback
sys.path[:0] = [os.path.join(os.getcwd(), "tests"), os.path.join(os.getcwd(), "tests", "sweep")]
import jax  # imported, not started: each forked child starts its own backend
import mlexp
import mlexp.api, mlexp.sweeps.runner  # (imported once, here)
from mlexp.io import checkpoints, workdir as wd, writers
from mlexp.training import loop
import sweep_util as u

root, sweeps, kills, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.environ["MLEXP_COMPILATION_CACHE"] = ""
jax.config.update("jax_compilation_cache_dir", os.path.join(root, "jax_cache"))  # every program, however small
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

def config():
  # (member_loop=vmap: a third of the CPU time to build a group's programs from the cache than map's)
  return u.lr_sweep((0.01, 0.05, 0.2), **{"epochs": 2, "sweep.max_group_size": 1, "cpu_devices": 1,
                                          "member_loop": "vmap"})

data = loop.load_data(config())  # read once (numpy only: JAX is not started)
loop.load_data = lambda c: data
from jax._src import xla_bridge
assert not xla_bridge._backends, "the zygote must not start JAX"

def contexts(keys, once):
  # a write's moment: its key (a metrics line: trial, seed, epoch; a file: its name) when the uninterrupted run
  # writes that key once, else the key with the moment of the write before it (results.csv after group g)
  out, prev = [], None
  for k in keys:
    prev = k if k in once else (k, prev)
    out.append(prev)
  return out

def child(workdir, timeline, once, at, how, log_file):
  # Dies (SIGKILL) at its first write at or after moment `at` of the uninterrupted run's timeline; a write that
  # run did not make (a resume's rewrite of metrics.jsonl) comes just after the one before it.
  index = {k: i for i, k in enumerate(timeline)}
  now, prev = [-1.0], [None]
  def event(key):
    with open(log_file, "a") as f:
      f.write(json.dumps(key) + "\n")
    key = tuple(key)
    prev[0] = key if key in once else (key, prev[0])
    now[0] = index[prev[0]] if prev[0] in index else now[0] + 1e-3
    return at is not None and now[0] >= at
  def die():
    os.kill(os.getpid(), signal.SIGKILL)
  def file_key(file):
    return ["file", os.path.relpath(file, workdir)]
  real_atomic, real_wa, real_line, real_save = wd.atomic_write, writers.write_atomic, writers.JsonlWriter.write, \
      checkpoints.save_params
  def atomic(file, text, real):
    if not event(file_key(file)):
      return real(file, text)
    if how == "before":
      die()
    if how == "middle":  # the temp file written, the rename not done
      with open(f"{file}.tmp{os.getpid()}", "w") as f:
        f.write(text)
      die()
    real(file, text)
    die()
  def line(self, record):
    if not event(["line", record["trial"], record["seed"], record["epoch"]]):
      return real_line(self, record)
    if how == "before":
      die()
    if how == "middle":  # half a line flushed
      text = writers.to_json(dict(record)) + "\n"
      self._f.write(text[: len(text) // 2])
      self._f.flush()
      die()
    real_line(self, record)
    die()
  def save(d, params):
    if not event(["params"]):
      return real_save(d, params)
    if how != "after":
      die()
    real_save(d, params)
    die()
  wd.atomic_write = lambda f, t: atomic(f, t, real_atomic)
  writers.write_atomic = lambda f, t: atomic(f, t, real_wa)
  writers.JsonlWriter.write = line
  checkpoints.save_params = save
  import mlexp.sweeps.execute as execute
  execute.save_params = save
  with open(os.devnull, "w") as null:
    os.dup2(null.fileno(), 1)
  mlexp.sweep(config(), workdir=workdir)

def run(workdir, timeline=(), once=(), at=None, how="after"):
  # (exit status or -signal, the keys of its writes, seconds) of one forked run
  log_file = os.path.join(root, "events")
  if os.path.exists(log_file):
    os.remove(log_file)
  t0 = time.perf_counter()
  pid = os.fork()
  if pid == 0:
    try:
      child(workdir, timeline, once, at, how, log_file)
      os._exit(0)
    except BaseException:
      traceback.print_exc()
      os._exit(1)
  _, status = os.waitpid(pid, 0)
  rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
  keys = [tuple(json.loads(l)) for l in open(log_file)] if os.path.exists(log_file) else []
  return rc, keys, round(time.perf_counter() - t0, 2)

rc, keys, _ = run(os.path.join(root, "whole"))
assert rc == 0, rc
once = {k for k in keys if keys.count(k) == 1}
timeline = contexts(keys, once)
assert len(set(timeline)) == len(timeline)
rng = random.Random(seed)
log, dirs = [], []
for s in range(sweeps):
  dirs.append(os.path.join(root, f"killed{s}"))
  for at in sorted(rng.sample(range(len(timeline)), kills // sweeps)):
    how = rng.choice(["before", "middle", "after"])
    rc, seen, dt = run(dirs[-1], timeline, once, at, how)
    log.append([s, at, str(keys[at]), how, rc, len(seen), dt])
  rc, seen, dt = run(dirs[-1])
  log.append([s, None, None, "none", rc, len(seen), dt])
  assert rc == 0, (rc, log)
print("RESULT", json.dumps({"timeline": timeline, "log": log, "sweeps": dirs}))
"""

TIMING = {"wall_s", "compile_s", "times", "trials_per_minute", "epoch_s", "samples_per_s", "train_s", "eval_s",
          "train_s_method",  # (whether a model trained while another program compiled: sweeps/trial_time.py)
          "write_s"}


def untimed(v):
  if isinstance(v, dict):
    return {k: untimed(x) for k, x in v.items() if k not in TIMING}
  if isinstance(v, list):
    return [untimed(x) for x in v]
  return v


def final_files(workdir):
  import csv
  with open(f"{workdir}/results.csv", newline="") as f:
    results = [untimed(r) for r in csv.DictReader(f)]
  summary = untimed(json.load(open(f"{workdir}/summary.json")))
  meta = json.load(open(f"{workdir}/checkpoints/best_trial_meta.json"))
  summary["best_trial_meta"] = {k: v for k, v in meta.items() if k != "checkpoint"}  # (its absolute path)
  metrics: dict = {}
  for line in open(f"{workdir}/metrics.jsonl"):
    r = untimed(json.loads(line))
    metrics.setdefault(r["trial"], []).append(r)
  return results, summary, {t: sorted(rs, key=lambda r: (r["seed"], r["epoch"])) for t, rs in metrics.items()}


def test_a_sweep_killed_at_20_seeded_moments_ends_with_the_files_of_an_uninterrupted_one(tmp_path):
  p = subprocess.run([sys.executable, "-c", ZYGOTE, str(tmp_path), str(SWEEPS), str(KILLS), str(SEED)], cwd=REPO,
                     env=env(), capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, p.stderr[-3000:]
  assert p.stderr == "", p.stderr[-3000:]  # no Orbax / absl / asyncio lines from the resumes after a kill -9
  out = json.loads(p.stdout.split("RESULT ", 1)[1])
  planned = [e for e in out["log"] if e[1] is not None]
  assert len(planned) == KILLS and all(e[4] == -9 for e in planned), out["log"]  # each one a real SIGKILL
  assert {e[3] for e in planned} == {"before", "middle", "after"}  # every kind of moment
  assert len({e[2] for e in planned}) >= KILLS // 2  # spread over the run's writes
  whole = final_files(tmp_path / "whole")
  assert len(whole[2]) == 3 and all(len(rs) == 2 for rs in whole[2].values())  # 3 trials x 2 epochs
  for w in out["sweeps"]:
    got = final_files(w)
    assert got[0] == whole[0], w
    assert got[1] == whole[1], w
    assert got[2] == whole[2], w
