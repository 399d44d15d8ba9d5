"""What a recurrent layer skipped by depth as data costs, per cell: the measurement behind
`mlexp.sweeps.trial_time.SKIP_SHARE`.

A member of depth d in a program of depth D (sweep.padding=max: layers are data, the layers past d pass their
input through a `lax.cond`) against the same member in a program of its own depth (padding=none), in one
process each, members timed inside the program (time_members=on: each member's own epochs). Per cell:

  share = (t(d in D) / t(d alone) - 1) * d / (D - d)

the cost of one skipped layer as a share of one of the member's own layers, as trial_time.epoch_seconds
charges it. The full-depth member's ratio (D in the D program against D alone) is printed too: it should be ~1.

  python benchmarks/skip_cost.py [--cells gru lstm] [--hidden 32] [--own 2] [--depth 6] [--epochs 6] [--rounds 2]

Prints JSON lines; the last one per cell and in all (median over rounds).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import emit, timed_run  # noqa: E402


def config_file(tmp: str, cell: str, hidden: int, layers: tuple, padding: str, epochs: int) -> str:
  path = os.path.join(tmp, f"{cell}_{padding}.py")
  with open(path, "w") as f:
    f.write(f"""from mlexp.config import sequence_config, sweep_block
from mlexp.sweeps.space import grid
def get_config(arg=None):
  c = sequence_config({cell!r})
  c.seeds = 3
  c.epochs = {epochs}
  c.model.hidden = {hidden}
  c.early_stopping.patience = 0
  c.time_members = "on"
  c.checkpoint.enabled = False
  c.sweep = sweep_block((grid("model.layers", *{tuple(layers)!r}),), algorithm="grid", mode="full")
  c.sweep.padding = {padding!r}
  c.sweep.compile_ahead = 0  # (no epoch overlaps a compile)
  return c
""")
  return path


def paces(workdir: str) -> dict:
  """layers -> a member's mean seconds per epoch after its first (mean over seeds), from the rows of
  groups/*.json (member_s: measured inside the program; no compile overlaps: compile_ahead 0)."""
  out: dict = {}
  for path in glob.glob(os.path.join(workdir, "groups", "*.json")):
    with open(path) as f:
      for r in json.load(f)["rows"]:
        n = int(r["member_epochs"])
        s = (float(r["member_s"]) - float(r.get("member_first_s") or 0.0)) / max(n - 1, 1)
        out.setdefault(int(r["model.layers"]), []).append(s)
  return {k: statistics.mean(v) for k, v in out.items()}


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cells", nargs="+", default=["gru", "lstm"])
  ap.add_argument("--hidden", type=int, default=32)
  ap.add_argument("--own", type=int, default=2)
  ap.add_argument("--depth", type=int, default=6)
  ap.add_argument("--epochs", type=int, default=6)
  ap.add_argument("--rounds", type=int, default=2)
  ap.add_argument("--timeout", type=int, default=1200)
  a = ap.parse_args()
  tmp = tempfile.mkdtemp(prefix="mlexp_skip_cost_")
  env = dict(os.environ, MLEXP_COMPILATION_CACHE="")
  d, big = a.own, a.depth
  summary = {}
  emit({"bench": "skip_cost_meta", "loadavg": open("/proc/loadavg").read().split()[:3], "hidden": a.hidden,
        "own": d, "depth": big, "epochs": a.epochs})
  for cell in a.cells:
    shares, full = [], []
    for k in range(a.rounds):  # alternating: the padded program, then the exact ones
      t = {}
      for padding in ("max", "none"):
        wd = os.path.join(tmp, f"{cell}_{padding}_{k}")
        cfg = config_file(tmp, cell, a.hidden, (d, big), padding, a.epochs)
        wall = timed_run([sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={wd}"], env, a.timeout)
        t[padding] = paces(wd)
        emit({"bench": "skip_cost", "cell": cell, "round": k, "padding": padding, "wall_s": wall,
              "epoch_s_by_layers": t[padding]})
      r = t["max"][d] / t["none"][d]
      shares.append((r - 1.0) * d / (big - d))
      full.append(t["max"][big] / t["none"][big])
    summary[cell] = {"skip_share": statistics.median(shares), "rounds": shares,
                     "full_depth_ratio": statistics.median(full)}
  emit({"bench": "skip_cost_summary", "hidden": a.hidden, "own": d, "depth": big, "cells": summary,
        "loadavg_after": open("/proc/loadavg").read().split()[:3]})


if __name__ == "__main__":
  main()
