"""Proof of no change: the same runs in two checkouts give the same metrics.jsonl, results.csv and summary.json
values (timing fields aside).

  python benchmarks/equivalence.py run CHECKOUT OUT        the cases below, run in CHECKOUT, workdirs in OUT/<case>
  python benchmarks/equivalence.py compare OUT_A OUT_B     field by field; exit 1 on a difference
  python benchmarks/equivalence.py both BASE NEW OUT       run both (OUT/base, OUT/new), then compare

Cases: the smoke single run, the smoke sweep (rung-synchronous ASHA, the default), the same sweep with
asynchronous ASHA (groups one after another), a small course search, a TPE sweep, and Ray sweeps
(rung-synchronous ASHA and mode=full); the sweeps again with two groups (no width padding). Ray's asynchronous
ASHA is left out: its decisions depend on which group reaches a rung first. Each runs as `python -m mlexp.main`
with the checkout first on PYTHONPATH (Ray's workers inherit it). Timing fields (`*_s`, `time`, `elapsed`,
`trials_per_minute`) and paths are not compared; rows are matched by (trial, seed[, epoch]), not by their order
(the order groups finish in on Ray varies); a column or field present on one side only is reported by name
(another change may add one).

Issue 27's refactor (executors/, plan_types.py) against its parent e2060fb: every case identical.
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time

SWEEP = "configs/sweeps/gru.py:smoke"
NO_PAD = "--config.sweep.padding=none"
CASES = {
    "single": ["configs/gru.py:smoke"],
    "sweep_sync": [SWEEP],
    "sweep_async": [SWEEP, "--config.sweep.asha.sync=False"],
    "course": ["configs/sweeps/course_gru.py", "--config.sweep.num_trials=4", "--config.epochs=3"],
    "tpe": [SWEEP, "--config.sweep.algorithm=tpe", "--config.sweep.tpe_batch=3"],
    "ray_sync": [SWEEP, "--config.sweep.backend=ray", "--config.sweep.ray_num_cpus=2"],
    "ray_full": [SWEEP, "--config.sweep.backend=ray", "--config.sweep.ray_num_cpus=2", "--config.sweep.mode=full"],
    # two groups (hidden 8 and 16 not padded together): decisions across groups
    "sweep_sync_2g": [SWEEP, NO_PAD],
    "sweep_async_2g": [SWEEP, NO_PAD, "--config.sweep.asha.sync=False"],
    "tpe_2g": [SWEEP, NO_PAD, "--config.sweep.algorithm=tpe", "--config.sweep.tpe_batch=3"],
    "ray_sync_2g": [SWEEP, NO_PAD, "--config.sweep.backend=ray", "--config.sweep.ray_num_cpus=2"],
    "ray_full_2g": [SWEEP, NO_PAD, "--config.sweep.backend=ray", "--config.sweep.ray_num_cpus=2",
                    "--config.sweep.mode=full"],
}
FILES = ("metrics.jsonl", "results.csv", "summary.json")


def timing(key: str) -> bool:
  k = str(key).rsplit("/", 1)[-1]
  return k.endswith("_s") or k in ("time", "elapsed", "timestamp", "device", "checkpoint", "workdir", "created",
                                    "trials_per_minute")


def run(checkout: str, out: str, cases=None) -> None:
  checkout, out = os.path.abspath(checkout), os.path.abspath(out)
  os.makedirs(out, exist_ok=True)
  env = {**os.environ, "PYTHONPATH": checkout}
  for name in cases or CASES:
    cfg, *flags = CASES[name]
    w = os.path.join(out, name)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={w}", *flags],
                       cwd=checkout, env=env, capture_output=True, text=True, timeout=1800)
    with open(os.path.join(out, f"{name}.log"), "w") as f:
      f.write(p.stdout + p.stderr)
    print(f"{name}: exit {p.returncode}, {time.perf_counter() - t:.0f}s", flush=True)
    if p.returncode != 0:
      print(p.stderr[-2000:], flush=True)


def _load(path: str):
  if path.endswith(".jsonl"):
    with open(path) as f:
      recs = [json.loads(l) for l in f if l.strip()]
    key = lambda r: tuple(str(r.get(k)) for k in ("trial", "seed", "epoch"))  # (group: a value, compared)
    return {key(r): r for r in recs}
  if path.endswith(".csv"):
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
    return {(r.get("trial"), r.get("seed")): r for r in rows}
  with open(path) as f:
    out = json.load(f)
  if isinstance(out.get("runs"), list):  # (a sweep's rows in the order its groups finished: Ray's varies)
    out["runs"] = {(r.get("trial"), r.get("seed")): r for r in out["runs"]}
  return out


def _same(a, b) -> bool:
  if isinstance(a, str) and isinstance(b, str):
    try:
      a, b = float(a), float(b)
    except ValueError:
      return a == b
  if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
    return a == b or (math.isnan(a) and math.isnan(b))
  return a == b


def diff(a, b, where="", out=None) -> list:
  """(path, a, b) of every leaf that differs; ('path', 'only in A'/'only in B') for a key on one side."""
  out = [] if out is None else out
  if isinstance(a, dict) and isinstance(b, dict):
    for k in sorted(set(a) | set(b), key=str):
      p = f"{where}/{k}"
      if timing(k):
        continue
      if k not in b:
        out.append((p, "only in A", None))
      elif k not in a:
        out.append((p, "only in B", None))
      else:
        diff(a[k], b[k], p, out)
  elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
    for k, (x, y) in enumerate(zip(a, b)):
      diff(x, y, f"{where}[{k}]", out)
  elif not _same(a, b):
    out.append((where, a, b))
  return out


def compare(a_dir: str, b_dir: str) -> int:
  bad = 0
  for name in CASES:
    for fname in FILES:
      pa, pb = os.path.join(a_dir, name, fname), os.path.join(b_dir, name, fname)
      if not os.path.exists(pa) and not os.path.exists(pb):
        continue
      if not (os.path.exists(pa) and os.path.exists(pb)):
        print(f"{name}/{fname}: missing on one side")
        bad += 1
        continue
      d = diff(_load(pa), _load(pb))
      # a column / field on one side only, or differing in every record: reported once by its name
      by_field: dict = {}
      for path, x, y in d:
        by_field.setdefault(path.rsplit("/", 1)[-1].split("[")[0], []).append((path, x, y))
      if not d:
        print(f"{name}/{fname}: identical")
      for field, items in sorted(by_field.items()):
        path, x, y = items[0]
        print(f"{name}/{fname}: {field}: {len(items)} difference(s), e.g. {path}: {x!r} vs {y!r}")
      bad += bool(d)
  return 1 if bad else 0


def main(argv) -> int:
  if argv[:1] == ["run"]:
    run(argv[1], argv[2], argv[3:] or None)
    return 0
  if argv[:1] == ["compare"]:
    return compare(argv[1], argv[2])
  if argv[:1] == ["both"]:
    base, new, out = argv[1:4]
    run(base, os.path.join(out, "base"), argv[4:] or None)
    run(new, os.path.join(out, "new"), argv[4:] or None)
    return compare(os.path.join(out, "base"), os.path.join(out, "new"))
  print(__doc__)
  return 2


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
