"""Issue 26's side-by-side table, in one invocation: each search through mlexp (cold compile cache, then the same
space with another seed on the warm cache), Ray Tune + HyperOpt + ASHA, and a plain torch loop with the same ASHA
rungs (benchmarks/torch_asha.py). Searches:

  course_gru  configs/sweeps/course_gru.py        | hypertune.py              | torch_asha.py --search gru
  lstm        configs/sweeps/course_gru.py:lstm   | hypertune.py --cell lstm  | torch_asha.py --search lstm
  mlp         configs/sweeps/mlp_search.py         | hypertune_mnist.py mlp    | torch_asha.py --search mlp
  cnn         configs/sweeps/cnn_search.py         | hypertune_mnist.py cnn    | torch_asha.py --search cnn
  scale_mlp   mlp_search on 60,000 GENERATED 28x28 images (course_scale_data.py), all three sides
  scale_gru   course_gru on 6,600 GENERATED sequences (13 features, 4..93 steps): mlexp and torch_asha
              (the peers' hypertune.py reads only JapaneseVowels)

  python benchmarks/searches.py                         # every search (long: tens of minutes on 2 cores)
  python benchmarks/searches.py --only mlp cnn --skip-ray
  python benchmarks/searches.py --quick                 # smoke sizes: checks the harness only

One JSON line per measurement, then {"bench": "searches_summary"} with the ratios and the issue's targets.
The peers run in benchmarks/.ray-venv (created by peers.py's ensure_ray_venv when missing).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import time

from common import emit
import peers as P

SEARCHES = {  # name: (mlexp config, mlexp overrides, peer script + args, torch_asha args, data kind)
    "course_gru": ("configs/sweeps/course_gru.py", [], ["hypertune.py"], ["--search", "gru"], None),
    "lstm": ("configs/sweeps/course_gru.py:lstm", [], ["hypertune.py", "--cell", "lstm"], ["--search", "lstm"], None),
    "mlp": ("configs/sweeps/mlp_search.py", [], ["hypertune_mnist.py", "--model", "mlp"], ["--search", "mlp"],
            "mnist"),
    "cnn": ("configs/sweeps/cnn_search.py", [], ["hypertune_mnist.py", "--model", "cnn"], ["--search", "cnn"],
            "mnist"),
    "scale_mlp": ("configs/sweeps/mlp_search.py", [], ["hypertune_mnist.py", "--model", "mlp"], ["--search", "mlp"],
                  "images"),
    "scale_gru": ("configs/sweeps/course_gru.py", [], None, ["--search", "gru"], "sequences"),
}
TARGETS = {"programs": ("<=", 2), "mlexp_over_ray": ("<=", 0.2), "mlexp_over_torch_asha": ("<=", 0.5),
           "warm_over_ray": ("<=", 0.1), "warm_compiles": ("<=", 0),
           "scale_ray_over_mlexp": (">=", 5.0), "scale_torch_asha_over_mlexp": (">=", 2.0)}


def judge(key, value):
  op, bound = TARGETS[key]
  if value is None:
    return {"value": None, "target": f"{op} {bound}", "status": "not measured"}
  return {"value": value, "target": f"{op} {bound}",
          "status": "met" if (value <= bound if op == "<=" else value >= bound) else "missed"}


def data_file(kind, tmp, logdir, timeout):
  """The .npz both sides read: mlexp's own mnist_5k split (export_mnist5k.py) or generated course-size data."""
  path = os.path.join(tmp, f"{kind}.npz")
  if not os.path.exists(path):
    if kind == "mnist":
      cmd = [sys.executable, os.path.join(P.ray_dir(None), "export_mnist5k.py"), "--out", path]
    else:
      cmd = [sys.executable, os.path.join(P.HERE, "course_scale_data.py"), kind, path]
    res = P.run_child(cmd, os.path.join(logdir, f"data_{kind}.log"), timeout, P.mlexp_env())
    if "error" in res:
      raise SystemExit(f"could not write {path}: {res['error']}")
  return path


def mlexp_side(name, cfg, over, cache, tmp, logdir, timeout, tag):
  env = dict(P.mlexp_env(), MLEXP_COMPILATION_CACHE=cache)
  wd = os.path.join(tmp, f"{name}_{tag}")
  cmd = [sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={wd}"] + over
  res = P.run_child(cmd, os.path.join(logdir, f"{name}_{tag}.log"), timeout, env)
  rec = P.sweep_record(wd, res)
  rec["plan_line"] = next((l.strip() for l in open(res["log"], errors="replace") if l.startswith("plan")), None)
  m = re.search(r"(\d+) of (\d+) program\(s\) in the compilation cache", rec["plan_line"] or "")
  # programs the plan did not find in the cache: compiled by this run (the plan's word, mlexp/cache.py)
  rec["compiles"] = int(m.group(2)) - int(m.group(1)) if m else None
  return rec


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--only", nargs="*", choices=sorted(SEARCHES), default=None)
  ap.add_argument("--skip-ray", action="store_true")
  ap.add_argument("--skip-torch", action="store_true")
  ap.add_argument("--skip-warm", action="store_true")
  ap.add_argument("--quick", action="store_true", help="4 trials, 2 epochs: the harness only")
  ap.add_argument("--scale-trials", type=int, default=12, help="trials of the course-scale searches (default 12)")
  ap.add_argument("--timeout", type=float, default=2400.0)
  ap.add_argument("--out", default="")
  ap.add_argument("--keep", action="store_true")
  a = ap.parse_args(argv)
  names = a.only or list(SEARCHES)
  out = open(a.out, "a") if a.out else None
  tmp = tempfile.mkdtemp(prefix="mlexp_searches_")
  logdir = os.path.join(tmp, "logs")
  os.makedirs(logdir)
  emit({"bench": "searches_meta", "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": P.git_commit(), "cpus": os.cpu_count(), "loadavg": P.loadavg(), "quick": a.quick, "searches": names,
        "tmp": tmp if a.keep else None}, out)
  peers = None if (a.skip_ray and a.skip_torch) else P.ray_dir(None)
  if peers:
    P.ensure_ray_venv()
  P.run_child([sys.executable, "-c", "import mlexp.sweeps.runner, mlexp.main"], os.path.join(logdir, "warmup.log"),
              a.timeout, P.mlexp_env())
  if peers and not a.skip_ray:
    P.run_child([P.RAY_PY, "hypertune.py", "--samples", "4", "--epochs", "2", "--storage",
                 os.path.join(tmp, "ray_warmup")], os.path.join(logdir, "ray_warmup.log"), a.timeout, cwd=peers)
  summary = {"bench": "searches_summary", "searches": {}}
  for name in names:
    cfg, over, ray_cmd, torch_args, kind = SEARCHES[name]
    scale = name.startswith("scale_")
    size = []
    if a.quick:
      size = ["--samples", "4", "--epochs", "2"]
      over = over + ["--config.sweep.num_trials=4", "--config.epochs=2"]
    elif scale:
      size = ["--samples", str(a.scale_trials)]
      over = over + [f"--config.sweep.num_trials={a.scale_trials}"]
    path = data_file(kind, tmp, logdir, a.timeout) if kind else None
    if path and kind != "mnist":
      over = over + ["--config.data.name=npz", f"--config.data.path={path}"]
    elif kind == "mnist":
      pass  # mlexp reads mnist_5k itself; the peers read the same split from the exported .npz
    cache = os.path.join(tmp, f"cache_{name}")
    row = {}
    row["mlexp"] = mlexp_side(name, cfg, over, cache, tmp, logdir, a.timeout, "cold")
    emit({"bench": "searches", "search": name, "side": "mlexp_cold", **row["mlexp"]}, out)
    if not a.skip_warm and not scale:
      row["warm"] = mlexp_side(name, cfg, over + ["--config.sweep.seed=1", "--config.seed=1"], cache, tmp, logdir,
                               a.timeout, "warm")
      emit({"bench": "searches", "search": name, "side": "mlexp_warm_other_seed", **row["warm"]}, out)
    data_arg = ["--data", path] if path else []
    if peers and not a.skip_ray and ray_cmd:
      res = P.run_child([P.RAY_PY] + ray_cmd + size + data_arg * ("mnist" in ray_cmd[0]) +
                        ["--cpus-per-trial", "1", "--seed", "0", "--storage", os.path.join(tmp, f"ray_{name}")],
                        os.path.join(logdir, f"{name}_ray.log"), a.timeout, cwd=peers)
      row["ray"] = P.peer_record(res)
      emit({**row["ray"], "bench": "searches", "search": name, "side": "ray_tune"}, out)
    if peers and not a.skip_torch:
      res = P.run_child([P.RAY_PY, os.path.join(P.HERE, "torch_asha.py"), "--peers", peers, "--quiet"] + torch_args +
                        size + data_arg, os.path.join(logdir, f"{name}_torch_asha.log"), a.timeout, cwd=peers)
      row["torch_asha"] = P.peer_record(res)
      emit({**row["torch_asha"], "bench": "searches", "search": name, "side": "torch_asha"}, out)
    summary["searches"][name] = judge_row(row, scale)
  summary["errors"] = {f"{n}.{k}": v for n, s in summary["searches"].items() for k, v in s.get("errors", {}).items()}
  emit(summary, out)
  if not a.keep:
    shutil.rmtree(tmp, ignore_errors=True)
  return 1 if summary["errors"] else 0


def judge_row(row: dict, scale: bool) -> dict:
  def wall(k):
    return row[k]["wall_s"] if k in row and "error" not in row[k] else None

  m, w, r, t = wall("mlexp"), wall("warm"), wall("ray"), wall("torch_asha")
  s = {"walls_s": {"mlexp_cold": m, "mlexp_warm": w, "ray_tune": r, "torch_asha": t},
       "programs": row["mlexp"].get("groups"), "plan": row["mlexp"].get("plan_line"),
       "accuracy": {"mlexp": row["mlexp"].get("best_test_accuracy"),
                    "ray_tune": (row.get("ray") or {}).get("best_accuracy"),
                    "torch_asha": (row.get("torch_asha") or {}).get("best_accuracy")},
       "errors": {k: v["error"] for k, v in row.items() if "error" in v}}
  s["targets"] = {"programs": judge("programs", s["programs"])}
  if scale:
    s["targets"]["ray_over_mlexp"] = judge("scale_ray_over_mlexp", P.ratio(r, m))
    s["targets"]["torch_asha_over_mlexp"] = judge("scale_torch_asha_over_mlexp", P.ratio(t, m))
  else:
    s["targets"]["mlexp_over_ray"] = judge("mlexp_over_ray", P.ratio(m, r))
    s["targets"]["mlexp_over_torch_asha"] = judge("mlexp_over_torch_asha", P.ratio(m, t))
    if "warm" in row:
      s["targets"]["warm_over_ray"] = judge("warm_over_ray", P.ratio(w, r))
      s["targets"]["warm_compiles"] = judge("warm_compiles", row["warm"].get("compiles"))
  return s


if __name__ == "__main__":
  sys.exit(main())
