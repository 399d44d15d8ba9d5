"""What the Ray backend costs on one machine: the GRU sweep of configs/sweeps/gru.py as one process against
the same sweep with `--config.sweep.backend=ray` on a local Ray of 2 CPUs (`sweep.ray_num_cpus=2`), each
a fresh `python -m mlexp.main` with an empty compilation cache, run one after the other in one invocation.

  python benchmarks/ray_overhead.py [--trials 20] [--config configs/sweeps/gru.py] [--timeout 1800]

Prints JSON lines: one per side (wall seconds, groups, summary's compile seconds), then the comparison:
overhead per group = (ray wall - single wall) / groups (it includes starting the local Ray, shipping the
data and each segment's state, and the groups a worker compiles again when their next segment lands on
the other worker), and how many result rows differ (trial, status, epochs, metrics to 1e-5).
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
SAME = ("trial", "seed", "status", "stopped_by", "epochs_run", "best_epoch")
CLOSE = ("best_test_loss", "test_accuracy", "final_test_loss")


def side(name, config, trials, extra, timeout, tmp):
  workdir = os.path.join(tmp, name)
  env = {**os.environ, "MLEXP_COMPILATION_CACHE": os.path.join(tmp, f"cache_{name}")}  # cold, per side
  cmd = [sys.executable, "-m", "mlexp.main", f"--config={config}", f"--workdir={workdir}",
         f"--config.sweep.num_trials={trials}", *extra]
  t = time.perf_counter()
  p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
  wall = time.perf_counter() - t
  if p.returncode != 0:
    raise SystemExit(f"{name} failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  with open(os.path.join(workdir, "results.csv"), newline="") as f:
    rows = sorted(csv.DictReader(f), key=lambda r: (int(r["trial"]), int(r["seed"])))
  out = {"side": name, "wall_s": round(wall, 1), "groups": summary.get("groups"),
         "compile_s": round(float(summary.get("compile_s") or 0.0), 1), "rows": len(rows),
         "best_trial": summary["best"]["trial"], "best_accuracy": summary["best"]["test_accuracy"]}
  print(json.dumps(out), flush=True)
  return out, rows


def differing(a, b) -> int:
  n = abs(len(a) - len(b))
  for x, y in zip(a, b):
    if any(x[c] != y[c] for c in SAME) or any(
        abs(float(x[c]) - float(y[c])) > 1e-5 * max(1.0, abs(float(x[c]))) for c in CLOSE):
      n += 1
  return n


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--config", default="configs/sweeps/gru.py")
  ap.add_argument("--trials", type=int, default=20)
  ap.add_argument("--timeout", type=float, default=1800)
  a = ap.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    single, rows_s = side("single", a.config, a.trials, [], a.timeout, tmp)
    ray, rows_r = side("ray", a.config, a.trials, ["--config.sweep.backend=ray", "--config.sweep.ray_num_cpus=2"],
                       a.timeout, tmp)
  groups = max(int(single["groups"] or 1), 1)
  print(json.dumps({"comparison": f"{a.config} {a.trials} trials", "groups": groups,
                    "single_wall_s": single["wall_s"], "ray_wall_s": ray["wall_s"],
                    "ray_over_single": round(ray["wall_s"] / single["wall_s"], 2),
                    "overhead_per_group_s": round((ray["wall_s"] - single["wall_s"]) / groups, 2),
                    "rows_differing": differing(rows_s, rows_r), "cpus": len(os.sched_getaffinity(0))}), flush=True)


if __name__ == "__main__":
  main()
