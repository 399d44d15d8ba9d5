"""Side-by-side benchmark against the peers (issue 10, item 8), in one invocation:

  1. the MADS course's GRU search (configs/sweeps/course_gru.py) through mlexp, cold compile cache;
  2. the same search through ../shared/bench/ray_hypertune: Ray Tune + HyperOpt + ASHA (`hypertune.py`) and
     a plain torch loop, every trial to the end (`sequential.py`), in their own venv benchmarks/.ray-venv;
  3. an MLP search on mnist_5k where every trial has its own shape (configs/sweeps/mlp_course.py) through
     mlexp, against the same trials run one model at a time (one `python -m mlexp.main` per trial).

  python benchmarks/peers.py                      # full (roughly 12-20 min on 2 idle cores: an estimate from
                                                  # issue 10's figures, not yet measured)
  python benchmarks/peers.py --quick              # smoke sizes: checks the harness end to end
  python benchmarks/peers.py --gru-only --skip-ray
  python benchmarks/peers.py --mlp-only --mlp-sample 30   # every trial one at a time, nothing extrapolated

Every child is a subprocess with a timeout (its process group is killed past it) and its own log file.
One JSON line per measurement on stdout (`--out FILE` appends them to a file too), progress on stderr,
and a final {"bench": "peers_summary", ...} line with the ratios and the issue's targets, each marked
met / missed (null where a side did not run). The harness drives the CLIs and reads the files they write
(summary.json, results.csv, sweep.json, config.json, metrics.jsonl, RESULT lines); see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from common import emit, kill_group

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RAY_VENV = os.path.join(HERE, ".ray-venv")
RAY_PY = os.path.join(RAY_VENV, "bin", "python")
GRU_CONFIG = "configs/sweeps/course_gru.py"
MLP_CONFIG = "configs/sweeps/mlp_course.py"

# issue 10's targets (2-core machine, idle, cold compile cache)
TARGETS = {
    "course_mlexp_over_ray": ("<=", 1 / 5),
    "course_mlexp_over_torch_loop": ("<=", 1 / 2),
    "course_best_test_accuracy": (">=", 0.97),
    "mlp_one_at_a_time_over_sweep": (">=", 3.0),
}


def log(msg: str) -> None:
  print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)




def loadavg():
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except OSError:
    return None


def run_child(cmd, log_path: str, timeout: float, env=None, cwd=REPO) -> dict:
  """Runs cmd in its own process group, stdout+stderr to log_path. Returns {"wall_s", "rc", "log"} and
  "error" when it failed or ran past timeout (then its whole process group is killed)."""
  log(f"run: {' '.join(cmd)}  (log {log_path}, timeout {timeout:.0f} s)")
  load = loadavg()
  t = time.perf_counter()
  with open(log_path, "w") as f:
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
      rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      kill_group(proc)
      proc.wait()
      return {"wall_s": time.perf_counter() - t, "rc": None, "log": log_path, "loadavg_before": load,
              "error": f"timeout after {timeout:.0f} s"}
  res = {"wall_s": time.perf_counter() - t, "rc": rc, "log": log_path, "loadavg_before": load}
  if rc != 0:
    res["error"] = f"exit status {rc}: {tail(log_path)}"
  return res


def tail(path: str, n: int = 1500) -> str:
  try:
    with open(path, errors="replace") as f:
      return f.read()[-n:]
  except OSError:
    return ""


def result_line(path: str):
  """The dict of the last `RESULT {...}` line of a peer script's log, or None."""
  found = None
  with open(path, errors="replace") as f:
    for line in f:
      if line.startswith("RESULT "):
        found = json.loads(line[len("RESULT "):])
  return found


# ---- the peers' venv

def ray_dir(arg: str | None) -> str:
  cands = [arg] if arg else []
  cands += [os.environ.get("MLEXP_RAY_HYPERTUNE", "")]
  cands += [os.path.join(REPO, *([".."] * up), "shared", "bench", "ray_hypertune") for up in (1, 2)]
  for c in cands:
    if c and os.path.exists(os.path.join(c, "hypertune.py")):
      return os.path.normpath(c)
  raise SystemExit("ray_hypertune not found: expected ../shared/bench/ray_hypertune next to the repo (or its "
                   "worktree folder), --ray-dir DIR or MLEXP_RAY_HYPERTUNE=DIR (or use --skip-ray --skip-torch)")


def ray_venv_ok() -> bool:
  if not os.path.exists(RAY_PY):
    return False
  probe = "import importlib.util, ray, hyperopt, torch, numpy; assert importlib.util.find_spec('aeon')"
  return subprocess.run([RAY_PY, "-c", probe], capture_output=True, timeout=300).returncode == 0


def ensure_ray_venv() -> bool:
  """benchmarks/.ray-venv (the peers' own, never the project's venv). Returns True when created now."""
  if ray_venv_ok():
    return False
  log(f"creating {RAY_VENV}: torch 2.13.0 (CPU build from local disk), ray[tune] 2.60.0, hyperopt 0.3.0, "
      "numpy, aeon (no deps; only its data folder)")
  pip = [RAY_PY, "-m", "pip", "install", "-q"]
  steps = [[sys.executable, "-m", "venv", "--clear", RAY_VENV], pip + ["torch==2.13.0"],
           pip + ["ray[tune]==2.60.0", "hyperopt==0.3.0", "numpy"],
           pip + ["--no-deps", "aeon"]]
  for cmd in steps:
    subprocess.run(cmd, check=True, timeout=3600)
  if not ray_venv_ok():
    raise SystemExit(f"{RAY_VENV} was created but cannot import ray, hyperopt, torch, numpy and aeon")
  return True


# ---- mlexp

def mlexp_env() -> dict:
  env = dict(os.environ, MLEXP_COMPILATION_CACHE="")  # cold: no persistent compile cache
  env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
  return env


def read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def read_rows(path: str) -> list:
  try:
    with open(path, newline="") as f:
      return list(csv.DictReader(f))
  except OSError:
    return []


def num(v):
  try:
    return float(v)
  except (TypeError, ValueError):
    return None


def sweep_record(wd: str, res: dict) -> dict:
  """What an mlexp sweep workdir says: trials, groups, best accuracy, epochs trained, padding."""
  summary = read_json(os.path.join(wd, "summary.json")) or {}
  spec = read_json(os.path.join(wd, "sweep.json")) or {}
  config = read_json(os.path.join(wd, "config.json")) or {}
  rows = read_rows(os.path.join(wd, "results.csv"))
  rec = {"wall_s": res["wall_s"], "loadavg_before": res.get("loadavg_before"), "workdir": wd,
         "trials": summary.get("num_trials", spec.get("num_trials")), "models": summary.get("num_models", len(rows)),
         "groups": spec.get("groups", summary.get("groups")), "mode": spec.get("mode"),
         "seeds": spec.get("seeds"), "padding": (config.get("sweep") or {}).get("padding"),
         "epochs_max": config.get("epochs"), "status_counts": summary.get("status_counts"),
         "sweep_wall_s": summary.get("wall_s"),  # the runner's own clock (no interpreter start, imports)
         "epochs_trained": int(sum(num(r.get("epochs_run")) or 0 for r in rows)) if rows else None}
  best = summary.get("best") or {}
  rec["best_test_accuracy"] = best.get("test_accuracy")  # mlexp's pick: best test accuracy (at its best epoch)
  rec["best_values"] = best.get("values")
  # Ray's pick, for a like-for-like figure: the model with the lowest *last* test loss, its last accuracy
  last = [r for r in rows if num(r.get("final_test_loss")) is not None and num(r.get("final_test_accuracy")) is not None]
  if last:
    r = min(last, key=lambda r: num(r["final_test_loss"]))
    rec["best_by_last_test_loss"] = {"trial": int(r["trial"]), "test_loss": num(r["final_test_loss"]),
                                     "test_accuracy": num(r["final_test_accuracy"])}
  for k in ("time_split", "compile_s", "train_s", "eval_s", "write_s"):  # wall-time split, where summary has it
    if k in summary:
      rec[f"summary_{k}"] = summary[k]
  if "error" in res:
    rec["error"] = res["error"]
  elif not summary:
    rec["error"] = f"no summary.json in {wd}"
  return rec


def run_sweep(config: str, wd: str, overrides: list, timeout: float, logdir: str, name: str) -> dict:
  cmd = [sys.executable, "-m", "mlexp.main", f"--config={config}", f"--workdir={wd}"] + overrides
  res = run_child(cmd, os.path.join(logdir, f"{name}.log"), timeout, mlexp_env())
  rec = sweep_record(wd, res)
  rec.update(config=config, overrides=overrides, log=res["log"])
  return rec


def trial_config_file(base: dict, values: dict, path: str) -> None:
  """A config file of one trial as a single run: the sweep's config.json with the trial's values."""
  sys.path.insert(0, REPO)
  import ml_collections
  from mlexp.sweeps.space import trial_config
  tc = trial_config(ml_collections.ConfigDict(base), values).to_dict()
  tc = json.loads(json.dumps(tc))  # plain types
  # JSON turns tuples into lists; the config file gives lists back as tuples (model.units, eval.transforms)
  with open(path, "w") as f:
    f.write("import ml_collections\n\n"
            "def _tuples(x):\n"
            "  if isinstance(x, dict):\n    return {k: _tuples(v) for k, v in x.items()}\n"
            "  return tuple(_tuples(v) for v in x) if isinstance(x, list) else x\n\n"
            f"CONFIG = {tc!r}\n\n"
            "def get_config(arg=None):\n  return ml_collections.ConfigDict(_tuples(CONFIG))\n")


def one_at_a_time(sweep_wd: str, sample: int, timeout: float, logdir: str, tmp: str, out_file) -> dict:
  """The sweep's trials (a sample of them, evenly spread over the trial list), each as its own
  `python -m mlexp.main` single run of that trial's config, every epoch; extrapolated to all trials."""
  sys.path.insert(0, REPO)
  import ml_collections
  from mlexp.sweeps.space import expand
  base = read_json(os.path.join(sweep_wd, "config.json"))
  sw = base["sweep"]
  trials = expand(ml_collections.ConfigDict(base).sweep.space, int(sw["num_trials"]), int(sw["seed"]))
  n = len(trials)
  k = n if sample <= 0 else min(sample, n)
  picks = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})
  rows = read_rows(os.path.join(sweep_wd, "results.csv"))
  epochs_run = {}
  sweep_acc = {int(r["trial"]): num(r.get("test_accuracy")) for r in rows}
  for r in rows:
    if num(r.get("epochs_run")) is not None:
      epochs_run[int(r["trial"])] = max(epochs_run.get(int(r["trial"]), 0), int(num(r["epochs_run"])))
  full_s, asha_s, errors = [], [], []
  for t in picks:
    cfg_path = os.path.join(tmp, f"trial_{t}.py")
    trial_config_file(base, trials[t], cfg_path)
    wd = os.path.join(tmp, f"one_at_a_time_{t}")
    res = run_child([sys.executable, "-m", "mlexp.main", f"--config={cfg_path}", f"--workdir={wd}",
                     "--config.checkpoint.enabled=False"], os.path.join(logdir, f"one_at_a_time_{t}.log"), timeout,
                    mlexp_env())
    rec = {"bench": "peers", "search": "mlp_course", "side": "one_at_a_time", "trial": t,
           "values": {k_: list(v) if isinstance(v, tuple) else v for k_, v in trials[t].items()},
           "wall_s": res["wall_s"], "loadavg_before": res.get("loadavg_before"), "log": res["log"]}
    epoch_s = []
    try:
      with open(os.path.join(wd, "metrics.jsonl")) as f:
        epoch_s = [json.loads(l)["epoch_s"] for l in f if l.strip()]
    except (OSError, KeyError, ValueError):
      pass
    summary = read_json(os.path.join(wd, "summary.json")) or {}
    rec["test_accuracy"] = (summary.get("mean") or {}).get("test_accuracy")  # all epochs, best epoch's
    rec["sweep_test_accuracy"] = sweep_acc.get(t)  # the same trial in the sweep (ASHA may have cut it)
    if "error" in res:
      rec["error"] = res["error"]
      errors.append(t)
    else:
      full_s.append(res["wall_s"])
      rec["epochs"] = len(epoch_s)
      if epoch_s:
        # process start, data, compile: paid whatever the number of epochs
        fixed = res["wall_s"] - sum(epoch_s)
        ran = epochs_run.get(t, len(epoch_s))
        rec["fixed_s"] = fixed
        rec["mean_epoch_s"] = sum(epoch_s) / len(epoch_s)
        rec["sweep_epochs_run"] = ran
        rec["asha_s_estimated"] = fixed + rec["mean_epoch_s"] * ran
        asha_s.append(rec["asha_s_estimated"])
    emit(rec, out_file)
  out = {"bench": "peers", "search": "mlp_course", "side": "one_at_a_time_total", "trials": n,
         "sampled_trials": picks, "extrapolated": len(full_s) < n,
         "method": ("each sampled trial run alone as `python -m mlexp.main` (checkpoints off, cold compile cache), "
                    "every epoch; the mean wall per trial times the number of trials. 'asha': each sampled "
                    "trial's fixed cost (wall minus its epochs) plus its mean epoch time times the epochs ASHA "
                    "let it run in the sweep, i.e. the same ASHA decisions made one model at a time"),
         "errors": errors}
  if full_s:
    out["mean_s_per_trial"] = sum(full_s) / len(full_s)
    out["every_trial_to_the_end_s"] = out["mean_s_per_trial"] * n
  if asha_s and len(asha_s) == len(full_s):
    out["same_asha_decisions_s"] = sum(asha_s) / len(asha_s) * n
  if errors:
    out["error"] = f"{len(errors)} of {len(picks)} trials failed: {errors}"
  return out


# ---- summary

def ratio(a, b):
  return a / b if a is not None and b else None


def judge(key: str, value) -> dict:
  op, bound = TARGETS[key]
  if value is None:
    return {"value": None, "target": f"{op} {bound:.4g}", "status": "not measured"}
  met = value <= bound if op == "<=" else value >= bound
  return {"value": value, "target": f"{op} {bound:.4g}", "status": "met" if met else "missed"}


def git_commit() -> str | None:
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          timeout=30).stdout.strip() or None
  except (OSError, subprocess.SubprocessError):
    return None


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true",
                  help="smoke sizes (4 trials, 2 epochs; 2 MLP trials one at a time): checks the harness, not speed")
  ap.add_argument("--skip-ray", action="store_true", help="no Ray Tune run")
  ap.add_argument("--skip-torch", action="store_true", help="no plain torch loop run")
  ap.add_argument("--gru-only", action="store_true", help="only the course's GRU search (mlexp, Ray, torch)")
  ap.add_argument("--mlp-only", action="store_true", help="only the MLP search (mlexp sweep vs one at a time)")
  ap.add_argument("--no-ray-warmup", dest="ray_warmup", action="store_false",
                  help="skip the uncounted warm-up Ray run (--samples 4 --epochs 2) before the timed one")
  ap.add_argument("--trials", type=int, default=None, help="GRU search trials (default 50; quick 4)")
  ap.add_argument("--epochs", type=int, default=None, help="GRU search max epochs (default 10; quick 2)")
  ap.add_argument("--mlp-trials", type=int, default=None, help="MLP search trials (default 30; quick 4)")
  ap.add_argument("--mlp-epochs", type=int, default=None, help="MLP search max epochs (default: the config's 10; "
                  "quick 2)")
  ap.add_argument("--mlp-sample", type=int, default=None,
                  help="MLP trials run one at a time, extrapolated to all (default 8; quick 2; 0 = every trial)")
  ap.add_argument("--ray-seed", type=int, default=0, help="hypertune.py --seed (HyperOptSearch) and "
                  "sequential.py --seed")
  ap.add_argument("--ray-dir", default=None, help="the ray_hypertune folder (default ../shared/bench/ray_hypertune)")
  ap.add_argument("--timeout", type=float, default=None, help="seconds per child process (default 1800; quick 600)")
  ap.add_argument("--out", default="", help="also append the JSON lines to this file")
  ap.add_argument("--keep", action="store_true", help="keep the temporary workdirs and logs (their path is printed)")
  a = ap.parse_args(argv)
  if a.gru_only and a.mlp_only:
    ap.error("--gru-only and --mlp-only exclude each other")

  q = a.quick
  trials = a.trials or (4 if q else 50)
  epochs = a.epochs or (2 if q else 10)
  mlp_trials = a.mlp_trials or (4 if q else 30)
  mlp_epochs = a.mlp_epochs or (2 if q else None)
  mlp_sample = a.mlp_sample if a.mlp_sample is not None else (2 if q else 8)
  timeout = a.timeout or (600.0 if q else 1800.0)
  do_gru, do_mlp = not a.mlp_only, not a.gru_only
  do_ray, do_torch = do_gru and not a.skip_ray, do_gru and not a.skip_torch

  out_file = open(a.out, "a") if a.out else None
  tmp = tempfile.mkdtemp(prefix="mlexp_peers_")
  logdir = os.path.join(tmp, "logs")
  os.makedirs(logdir)
  log(f"workdirs and logs in {tmp}" + ("" if a.keep else " (removed at the end; --keep keeps them)"))
  t_start = time.perf_counter()
  emit({"bench": "peers_meta", "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(), "commit": git_commit(),
        "quick": q, "loadavg": loadavg(), "gru": {"trials": trials, "epochs": epochs} if do_gru else None,
        "mlp": {"trials": mlp_trials, "epochs": mlp_epochs, "sample": mlp_sample} if do_mlp else None,
        "ray": do_ray, "torch_loop": do_torch, "tmp": tmp if a.keep else None}, out_file)

  peers = None
  venv_fresh = False
  if do_ray or do_torch:
    peers = ray_dir(a.ray_dir)
    venv_fresh = ensure_ray_venv()

  # uncounted: bring mlexp's imports (jax, flax, optax, orbax) into the disk cache, as the warm-up Ray run
  # does for ray and torch. No compilation happens here, so the compile cache stays cold.
  run_child([sys.executable, "-c", "import mlexp.sweeps.runner, mlexp.main"], os.path.join(logdir, "import_warmup.log"),
            timeout, mlexp_env())

  figures = {}
  if do_gru:
    log(f"course GRU search through mlexp: {trials} trials, <= {epochs} epochs, cold compile cache")
    over = [f"--config.sweep.num_trials={trials}", f"--config.epochs={epochs}"]
    rec = run_sweep(GRU_CONFIG, os.path.join(tmp, "course_gru"), over, timeout, logdir, "mlexp_course_gru")
    figures["gru_mlexp"] = rec
    emit({"bench": "peers", "search": "course_gru", "side": "mlexp", **rec}, out_file)

    if do_ray:
      if a.ray_warmup:
        log("uncounted warm-up Ray run (--samples 4 --epochs 2)")
        w = run_child([RAY_PY, "hypertune.py", "--samples", "4", "--epochs", "2", "--cpus-per-trial", "1",
                       "--storage", os.path.join(tmp, "ray_warmup")], os.path.join(logdir, "ray_warmup.log"),
                      timeout, cwd=peers)
        emit({"bench": "peers", "search": "course_gru", "side": "ray_tune_warmup", "counted": False,
              "venv_created_now": venv_fresh, "wall_s": w["wall_s"], **({"error": w["error"]} if "error" in w else {})},
             out_file)
      log(f"course GRU search through Ray Tune: --samples {trials} --epochs {epochs} --cpus-per-trial 1")
      res = run_child([RAY_PY, "hypertune.py", "--samples", str(trials), "--epochs", str(epochs), "--cpus-per-trial",
                       "1", "--seed", str(a.ray_seed), "--storage", os.path.join(tmp, "ray")],
                      os.path.join(logdir, "ray_tune.log"), timeout, cwd=peers)
      figures["gru_ray"] = peer_record(res)
      emit({"bench": "peers", "search": "course_gru", "side": "ray_tune", **figures["gru_ray"]}, out_file)

    if do_torch:
      log(f"course GRU search as a plain torch loop: --samples {trials} --epochs {epochs}")
      res = run_child([RAY_PY, "sequential.py", "--samples", str(trials), "--epochs", str(epochs), "--seed",
                       str(a.ray_seed), "--quiet"], os.path.join(logdir, "torch_loop.log"), timeout, cwd=peers)
      figures["gru_torch"] = peer_record(res)
      emit({"bench": "peers", "search": "course_gru", "side": "torch_loop", **figures["gru_torch"]}, out_file)

  if do_mlp:
    log(f"MLP search through mlexp: {mlp_trials} trials, cold compile cache")
    over = [f"--config.sweep.num_trials={mlp_trials}"] + ([f"--config.epochs={mlp_epochs}"] if mlp_epochs else [])
    mwd = os.path.join(tmp, "mlp_course")
    rec = run_sweep(MLP_CONFIG, mwd, over, timeout, logdir, "mlexp_mlp_course")
    figures["mlp_mlexp"] = rec
    emit({"bench": "peers", "search": "mlp_course", "side": "mlexp", **rec}, out_file)
    if "error" not in rec:
      log(f"MLP search one model at a time ({'all' if mlp_sample <= 0 else mlp_sample} of {mlp_trials} trials)")
      figures["mlp_one"] = one_at_a_time(mwd, mlp_sample, timeout, logdir, tmp, out_file)
      emit(figures["mlp_one"], out_file)

  summary = make_summary(figures, q, time.perf_counter() - t_start)
  emit(summary, out_file)
  if out_file:
    out_file.close()
  if not a.keep:
    shutil.rmtree(tmp, ignore_errors=True)
  return 1 if summary["errors"] else 0


def peer_record(res: dict) -> dict:
  rec = {"wall_s": res["wall_s"], "loadavg_before": res.get("loadavg_before"), "log": res["log"]}
  r = result_line(res["log"]) if os.path.exists(res["log"]) else None
  if r is None:
    rec["error"] = res.get("error") or f"no RESULT line: {tail(res['log'])}"
    return rec
  rec.update(r)  # total_s (the script's own clock, from its first line), trials, best_accuracy, ...
  if "error" in res:
    rec["error"] = res["error"]
  return rec


def make_summary(f: dict, quick: bool, total_s: float) -> dict:
  def ok(k):
    return k in f and "error" not in f[k]

  def wall(k):
    return f[k]["wall_s"] if ok(k) else None

  s = {"bench": "peers_summary", "quick": quick, "harness_wall_s": total_s,
       "errors": {k: v["error"] for k, v in f.items() if "error" in v}}
  if quick:
    s["note"] = "quick: smoke sizes; the ratios check the harness only and say nothing about the targets"
  if "gru_mlexp" in f:
    g = f["gru_mlexp"]
    s["course_gru"] = {
        "mlexp_wall_s": wall("gru_mlexp"), "ray_wall_s": wall("gru_ray"), "torch_loop_wall_s": wall("gru_torch"),
        "mlexp_over_ray": ratio(wall("gru_mlexp"), wall("gru_ray")),
        "mlexp_over_torch_loop": ratio(wall("gru_mlexp"), wall("gru_torch")),
        "mlexp_trials": g.get("trials"), "mlexp_groups": g.get("groups"), "padding": g.get("padding"),
        "best_test_accuracy": {"mlexp": g.get("best_test_accuracy"),
                               "mlexp_by_last_test_loss": (g.get("best_by_last_test_loss") or {}).get("test_accuracy"),
                               "ray": f["gru_ray"].get("best_accuracy") if ok("gru_ray") else None,
                               "torch_loop": f["gru_torch"].get("best_accuracy") if ok("gru_torch") else None},
        "epochs_trained": {"mlexp": g.get("epochs_trained"),
                           "ray": f["gru_ray"].get("epochs_trained") if ok("gru_ray") else None,
                           "torch_loop": f["gru_torch"].get("epochs_trained") if ok("gru_torch") else None},
        "walls": "each side's process wall time, measured by this harness (imports and start-up included)",
        "accuracy": ("mlexp: the best trial's test accuracy at its best epoch (summary.json); "
                     "mlexp_by_last_test_loss, ray and torch_loop: the trial with the lowest last test loss, "
                     "its last accuracy (Tune's get_best_trial(scope='last'))"),
    }
  if "mlp_mlexp" in f:
    m, o = f["mlp_mlexp"], f.get("mlp_one", {})
    sw = wall("mlp_mlexp")
    s["mlp_course"] = {
        "mlexp_sweep_wall_s": sw, "mlexp_trials": m.get("trials"), "mlexp_groups": m.get("groups"),
        "padding": m.get("padding"), "best_test_accuracy": m.get("best_test_accuracy"),
        "one_at_a_time_s": o.get("every_trial_to_the_end_s"),
        "one_at_a_time_same_asha_s": o.get("same_asha_decisions_s"),
        "one_at_a_time_over_sweep": ratio(o.get("every_trial_to_the_end_s"), sw),
        "one_at_a_time_same_asha_over_sweep": ratio(o.get("same_asha_decisions_s"), sw),
        "one_at_a_time_sampled": o.get("sampled_trials"), "one_at_a_time_extrapolated": o.get("extrapolated"),
    }
  cg, mc = s.get("course_gru", {}), s.get("mlp_course", {})
  s["targets"] = {
      "course_mlexp_over_ray": judge("course_mlexp_over_ray", cg.get("mlexp_over_ray")),
      "course_mlexp_over_torch_loop": judge("course_mlexp_over_torch_loop", cg.get("mlexp_over_torch_loop")),
      "course_best_test_accuracy": judge("course_best_test_accuracy",
                                         (cg.get("best_test_accuracy") or {}).get("mlexp")),
      # against the same ASHA decisions made one model at a time: the stricter of the two comparisons
      "mlp_one_at_a_time_over_sweep": judge("mlp_one_at_a_time_over_sweep",
                                            mc.get("one_at_a_time_same_asha_over_sweep")),
  }
  return s


if __name__ == "__main__":
  sys.exit(main())
