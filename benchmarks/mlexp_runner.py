"""One mlexp measurement in its own process: the real single-run path, `train_and_evaluate(config, workdir)`.

  python benchmarks/mlexp_runner.py mlp --seeds 8 --epochs 3 [--unroll 4] [--set model.dropout=0.1 ...]

Builds the config from configs/mlp.py / configs/gru.py with the reference's shapes (synthetic data that
mirror benchmarks' torch reference), trains in a temporary workdir with checkpoints and TensorBoard on
(what users run), and prints one line `RESULT {...}` with the epoch seconds read back from the workdir's
metrics.jsonl, compile_s from summary.json, and this process's own peak RSS.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import io
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _current_rss_mb() -> float:
  try:
    with open("/proc/self/statm") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
  except OSError:
    return float("nan")


def _load_config_module(bench: str):
  path = os.path.join(REPO, "configs", f"{bench}.py")
  spec = importlib.util.spec_from_file_location(f"_bench_config_{bench}", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def build_config(bench: str, seeds: int, epochs: int, unroll: int | None = None, sets=()):
  """The configs/<bench>.py config with the torch reference's shapes and optimizer."""
  c = _load_config_module(bench).get_config()
  c.seeds = int(seeds)
  c.epochs = int(epochs)
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.schedule.name = "constant"
  c.early_stopping.patience = 0
  c.checkpoint.enabled = True
  if bench == "mlp":
    c.data.name = "synthetic_images"  # 60000 train / 10000 test x 784, 10 classes
    c.batch_size = 64
    c.model.units = (256, 256)
    c.eval.transforms = ()  # the reference evaluates the plain test set only
  else:
    c.data.name = "synthetic_sequences"  # 6600 train / 1000 test x 40 steps x 13, 20 classes
    c.batch_size = 32
    c.model.hidden = 64
    c.model.layers = 2
    # the program a full-length run on this data gets (auto: from 40 000 example-epochs, i.e. 7 epochs of
    # 6600; this benchmark times only 3): the first layer apart at its input's width
    c.model.first_apart = "yes"
    if unroll is not None:
      c.model.unroll = int(unroll)
  for s in sets:
    key, _, val = s.partition("=")
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    try:
      v = ast.literal_eval(val)
    except (ValueError, SyntaxError):
      v = val
    node[leaf] = v
  return c


def mlp_flops_per_sample(units, in_dim=784, classes=10) -> float:
  """Forward + backward matmul FLOPs of one training sample (3 x 2 x sum(in*out))."""
  dims = [in_dim, *units, classes]
  return 3 * 2 * sum(a * b for a, b in zip(dims[:-1], dims[1:]))


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("bench", choices=["mlp", "gru"])
  ap.add_argument("--seeds", type=int, default=1)
  ap.add_argument("--epochs", type=int, default=3)
  ap.add_argument("--unroll", type=int, default=None)
  ap.add_argument("--set", action="append", default=[], help="extra config field, e.g. data.num_buckets=1")
  ap.add_argument("--keep", default="", help="keep the workdir at this path (default: a temp dir, removed)")
  a = ap.parse_args(argv)

  rss_start = _current_rss_mb()
  config = build_config(a.bench, a.seeds, a.epochs, a.unroll, a.set)
  from mlexp.io.runtime import configure_cpu_devices
  configure_cpu_devices(config)  # as mlexp.main does, before jax is imported
  import jax  # noqa: F401
  from mlexp.config import validate
  from mlexp.training.trainer import train_and_evaluate

  validate(config)
  workdir = a.keep or tempfile.mkdtemp(prefix=f"mlexp-bench-{a.bench}-")
  if a.keep and os.path.exists(workdir):
    shutil.rmtree(workdir)
  rss_jax = _current_rss_mb()
  t0 = time.perf_counter()
  try:
    summary = train_and_evaluate(config, workdir, stream=io.StringIO())
    wall = time.perf_counter() - t0
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      recs = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(workdir, "summary.json")) as f:
      summ = json.load(f)
  finally:
    if not a.keep:
      shutil.rmtree(workdir, ignore_errors=True)
  by_epoch = {}
  for r in recs:
    by_epoch.setdefault(int(r["epoch"]), float(r["epoch_s"]))
  epochs = [by_epoch[e] for e in sorted(by_epoch)]
  steady = epochs[1:] if len(epochs) > 1 else epochs
  n_params = int(summ["runs"][0]["param_count"])
  n_train = 60000 if a.bench == "mlp" else 6600
  out = dict(
      bench=a.bench, framework="mlexp", models=a.seeds, epochs=len(epochs), n_train=n_train,
      epoch_s_all=epochs, epoch_s_last=epochs[-1], epoch_s=min(steady),
      compile_s=float(summ["compile_s"]), wall_s=wall, param_count=n_params,
      # params, Adam mu + nu, best params: 4 float32 copies per member
      model_state_mb=4 * 4 * n_params * a.seeds / 2**20,
      rss_before_jax_mb=rss_start, rss_after_import_mb=rss_jax, peak_rss_mb=_rss_mb(),
      test_acc_mean=float(summary["mean"]["test_accuracy"]), device=summ["device"],
      unroll=int(config.model.unroll) if a.bench == "gru" else None,
      xla_flags=os.environ.get("XLA_FLAGS", ""))
  if a.bench == "mlp":
    out["flops_per_sample"] = mlp_flops_per_sample(tuple(config.model.units))
  print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
  sys.exit(main())
