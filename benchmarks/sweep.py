"""Sweep benchmark: the 50-trial GRU search of configs/sweeps/gru.py as mlexp runs it (groups of vmapped
models, ASHA) against the same trials run one model at a time, one process per trial (as the course's
Ray Tune + PyTorch setup does), measured side by side in one invocation on this machine.

  python benchmarks/sweep.py [--sample 8] [--trials 50] [--timeout 1800]

The one-at-a-time side runs a sample of the trials (evenly spread over the trial list), each as its own
`python -m mlexp.main` single run of that trial's config (all epochs, no early stopping), and
extrapolates the mean per-trial time to all trials; it also reports the estimate for one-at-a-time
*with* ASHA (each trial's fixed cost -- process start, data, compile -- plus its mean epoch time times the
epochs ASHA let it run in the sweep). Both sides start
with an empty compilation cache. Prints JSON lines; the last one is the comparison.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def run(cmd, env, timeout):
  t = time.perf_counter()
  p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
  if p.returncode != 0:
    raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
  return time.perf_counter() - t, p.stdout


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--config", default="configs/sweeps/gru.py")
  ap.add_argument("--trials", type=int, default=50)
  ap.add_argument("--sample", type=int, default=8, help="trials run one at a time (extrapolated to all)")
  ap.add_argument("--timeout", type=int, default=1800)
  a = ap.parse_args()
  tmp = tempfile.mkdtemp(prefix="mlexp_sweep_bench_")
  env = dict(os.environ, MLEXP_COMPILATION_CACHE="")  # no compile cache on either side
  wd = os.path.join(tmp, "sweep")
  sweep_s, out = run([sys.executable, "-m", "mlexp.main", f"--config={a.config}", f"--workdir={wd}",
                      f"--config.sweep.num_trials={a.trials}"], env, a.timeout)
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  with open(os.path.join(wd, "results.csv")) as f:
    rows = list(csv.DictReader(f))
  n_trials = len({r["trial"] for r in rows})
  print(json.dumps({"bench": "sweep", "side": "mlexp", "config": a.config, "trials": n_trials,
                    "models": len(rows), "groups": summary["groups"], "wall_s": sweep_s,
                    "trials_per_min": n_trials / sweep_s * 60, "status_counts": summary["status_counts"],
                    "best": summary["best"]}), flush=True)

  with open(os.path.join(wd, "config.json")) as f:
    base = json.load(f)
  from mlexp.sweeps.space import expand, trial_config  # noqa: E402 (after the timed child ran)
  import ml_collections
  cfg = ml_collections.ConfigDict(base)
  trials = expand(cfg.sweep.space, int(cfg.sweep.num_trials), int(cfg.sweep.seed))
  sample = sorted({round(i * (len(trials) - 1) / max(a.sample - 1, 1)) for i in range(a.sample)})
  epochs_run = {int(r["trial"]): int(r["epochs_run"]) for r in rows}
  times, asha_times = [], []
  for t in sample:
    tc = trial_config(cfg, trials[t])
    path = os.path.join(tmp, f"trial_{t}.json")
    with open(path, "w") as f:
      f.write(tc.to_json_best_effort())
    py = os.path.join(tmp, f"trial_{t}.py")
    with open(py, "w") as f:
      f.write("import json, ml_collections\n"
              f"def get_config(arg=None):\n  return ml_collections.ConfigDict(json.load(open({path!r})))\n")
    dt, _ = run([sys.executable, "-m", "mlexp.main", f"--config={py}", f"--workdir={os.path.join(tmp, f'one_{t}')}",
                 "--config.checkpoint.enabled=False"], env, a.timeout)
    times.append(dt)
    with open(os.path.join(tmp, f"one_{t}", "metrics.jsonl")) as f:
      epoch_s = [json.loads(l)["epoch_s"] for l in f if l.strip()]
    fixed = dt - sum(epoch_s)  # process start, data, compile: paid whatever the number of epochs
    asha_times.append(fixed + sum(epoch_s) / len(epoch_s) * epochs_run.get(t, tc.epochs))
    print(json.dumps({"bench": "sweep", "side": "one_at_a_time", "trial": t, "values": trials[t], "wall_s": dt}),
          flush=True)
  per_trial = sum(times) / len(times)
  seq_full = per_trial * n_trials
  seq_asha = sum(asha_times) / len(asha_times) * n_trials
  print(json.dumps({"bench": "sweep_comparison", "trials": n_trials, "mlexp_sweep_s": sweep_s,
                    "one_at_a_time_s_estimated": seq_full, "one_at_a_time_asha_s_estimated": seq_asha,
                    "sampled_trials": len(sample), "mean_s_per_trial_one_at_a_time": per_trial,
                    "fraction_of_one_at_a_time": sweep_s / seq_full,
                    "fraction_of_one_at_a_time_asha": sweep_s / seq_asha,
                    "mlexp_trials_per_min": n_trials / sweep_s * 60,
                    "one_at_a_time_trials_per_min": 60 / per_trial}), flush=True)


if __name__ == "__main__":
  main()
