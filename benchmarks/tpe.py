"""TPE against random search: on the GRU and MLP search spaces of configs/sweeps/ (gru.py, mlp.py), the best
test accuracy (and the best trial's best test loss) after N trials of `sweep.algorithm=tpe` and of
`sweep.algorithm=random`, as mean ± std over search seeds (`sweep.seed`), with the wall time of each.

  python benchmarks/tpe.py                 # N=30 trials (TPE batches of 10), 5 search seeds, the configs' data
  python benchmarks/tpe.py --quick         # N=6 (batches of 3), 2 search seeds, 256 / 128 examples, ~10 min on 2 cores
  python benchmarks/tpe.py --spaces gru --trials 20 --seeds 3 --batch 5

Each sweep is its own `python -m mlexp.main` process with the space's config as it is (ASHA included: TPE is
told ASHA's cuts as pruned trials), `--config.sweep.algorithm=...`, `--config.sweep.seed=s`, no compilation
cache (so neither side reuses the other's compiled programs). Same N, so wall times are similar: TPE plans
its trials batch by batch (fewer trials share a program) and asks Optuna between batches. Prints one JSON
line per sweep, one per space x algorithm (mean ± std over the seeds) and a last comparison line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SPACES = {"gru": "configs/sweeps/gru.py", "mlp": "configs/sweeps/mlp.py"}


def mean_std(xs):
  xs = [float(x) for x in xs]
  return (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0) if xs else (float("nan"),) * 2


def run_sweep(config, algorithm, seed, a, workdir) -> dict:
  cmd = [sys.executable, "-m", "mlexp.main", f"--config={config}", f"--workdir={workdir}",
         f"--config.sweep.algorithm={algorithm}", f"--config.sweep.seed={seed}",
         f"--config.sweep.num_trials={a.trials}", f"--config.sweep.tpe_batch={a.batch}", *a.set]
  env = dict(os.environ, MLEXP_COMPILATION_CACHE="")
  t = time.perf_counter()
  p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=a.timeout)
  wall = time.perf_counter() - t
  if p.returncode != 0:
    return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"}
  with open(os.path.join(workdir, "summary.json")) as f:
    s = json.load(f)
  return {"best_accuracy": s["best"]["test_accuracy"], "best_test_loss": s["mean"]["best_test_loss"],
          "best_values": s["best"]["values"], "wall_s": wall, "sweep_wall_s": s["wall_s"],
          "compile_s": s["compile_s"], "groups": s["groups"], "status_counts": s["status_counts"]}


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true")
  ap.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
  ap.add_argument("--trials", type=int, default=None, help="N trials per sweep (default 30, quick 6)")
  ap.add_argument("--batch", type=int, default=None, help="TPE batch (default 10, quick 3)")
  ap.add_argument("--seeds", type=int, default=None, help="search seeds (default 5, quick 2)")
  ap.add_argument("--set", nargs="*", default=None, help="more --config.x=y overrides for every sweep")
  ap.add_argument("--timeout", type=int, default=3600)
  a = ap.parse_args()
  a.trials = a.trials or (6 if a.quick else 30)
  a.batch = a.batch or (3 if a.quick else 10)
  a.seeds = a.seeds or (2 if a.quick else 5)
  if a.set is None:
    a.set = (["--config.data.max_train=256", "--config.data.max_test=128"]
             if a.quick else [])
  tmp = tempfile.mkdtemp(prefix="mlexp_tpe_bench_")
  table = {}
  for space in a.spaces:
    for algorithm in ("random", "tpe"):
      runs = []
      for seed in range(a.seeds):
        r = run_sweep(SPACES[space], algorithm, seed, a, os.path.join(tmp, f"{space}-{algorithm}-{seed}"))
        r.update({"bench": "tpe", "space": space, "algorithm": algorithm, "seed": seed, "trials": a.trials})
        print(json.dumps(r), flush=True)
        runs.append(r)
      ok = [r for r in runs if "error" not in r]
      acc, loss, wall = (mean_std([r[k] for r in ok]) for k in ("best_accuracy", "best_test_loss", "wall_s"))
      row = {"bench": "tpe_summary", "space": space, "algorithm": algorithm, "trials": a.trials,
             "seeds": len(ok), "errors": len(runs) - len(ok), "best_accuracy_mean": acc[0],
             "best_accuracy_std": acc[1], "best_test_loss_mean": loss[0], "best_test_loss_std": loss[1],
             "wall_s_mean": wall[0], "wall_s_std": wall[1]}
      table[(space, algorithm)] = row
      print(json.dumps(row), flush=True)
  cmp = {}
  for space in a.spaces:
    r, t = table[(space, "random")], table[(space, "tpe")]
    cmp[space] = {"accuracy_tpe_minus_random": t["best_accuracy_mean"] - r["best_accuracy_mean"],
                  "std_random": r["best_accuracy_std"], "std_tpe": t["best_accuracy_std"],
                  "wall_ratio_tpe_over_random": t["wall_s_mean"] / r["wall_s_mean"] if r["wall_s_mean"] else None}
  print(json.dumps({"bench": "tpe_vs_random", "trials": a.trials, "tpe_batch": a.batch, "seeds": a.seeds,
                    "quick": a.quick, "overrides": a.set, "spaces": cmp, "workdirs": tmp}), flush=True)


if __name__ == "__main__":
  main()
