"""Lowering and XLA compile seconds of mlexp's epoch program for one member, and the seconds of its epochs.

  python benchmarks/compile_parts.py                      every kind x variant, each in a fresh process
  python benchmarks/compile_parts.py --kinds cnn --variants full,noeval --repeat 2
  python benchmarks/compile_parts.py VARIANT KIND         one, in this process

KIND: cnn (im2col conv on mnist_5k, filters (56, 44), kernel 5, dense 92, batch 64), gru
(configs/sweeps/course_gru.py), mlp (configs/sweeps/mlp_search.py); adam, constant schedule, one member,
the real program (loop.build_group). VARIANT: full; noval (data.validation_fraction=0); noeval (the epoch's
evaluation replaced by zeros: what evaluation costs); bigeval (eval_batch_size 4096). No persistent
compilation cache; 2 host devices, single-threaded Eigen (as the CPU runs). Prints one JSON line per run:
kind, variant, lower_s, compile_s, epoch_s (the first call), epoch2_s (the second), the process CPU seconds
of the compile and the second epoch (less moved by other work on a shared machine than wall seconds), and the
mlexp source tree used (PYTHONPATH=<another checkout> measures that one: A/B runs).
"""
import argparse
import json
import os
import subprocess
import sys
import time

KINDS, VARIANTS = ("cnn", "gru", "mlp"), ("full", "noval", "noeval", "bigeval")


def config_of(kind: str, variant: str):
  from mlexp.config import base_config
  if kind == "cnn":
    c = base_config("cnn", "mnist_5k")
    c.batch_size, c.epochs = 64, 8
    c.model.filters, c.model.kernel_size, c.model.dense = (56, 44), 5, (92,)
  else:
    import importlib.util
    path = {"gru": "configs/sweeps/course_gru.py", "mlp": "configs/sweeps/mlp_search.py"}[kind]
    spec = importlib.util.spec_from_file_location("sweep_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    del c["sweep"]
  c.optimizer.name, c.schedule.name = "adam", "constant"
  if variant == "noval":
    c.data.validation_fraction = 0.0
  if variant == "bigeval":
    c.eval_batch_size = 4096
  return c


def measure(kind: str, variant: str) -> dict:
  """One run in this process: build the group, lower, compile, run two epochs."""
  import jax
  import jax.numpy as jnp
  import mlexp
  from mlexp.config.hparams import hparams_of
  from mlexp.training import evaluation, loop
  from mlexp.training.group import Member, device_splits
  from mlexp.training.trainer import load_data
  c = config_of(kind, variant)
  ds = load_data(c)
  if variant == "noeval":
    def zeros(evaluate_fn, params, test, val, dims):
      z = jnp.zeros(())
      return evaluation.Evaluated(z, z, jnp.zeros((ds.num_classes,) * 2), None if val is None else z, z, z)
    evaluation.evaluate_epoch = zeros
  g = loop.build_group(c, ds, device_splits(ds, int(c.data.num_buckets), validation=True),
                       [Member(seed=0, hparams=hparams_of(c))])
  state = g.init()
  args = (state, g.hp, g.train, g.val, g.test)
  t = time.perf_counter(); lowered = g._shared.epoch.lower(*args); lower_s = time.perf_counter() - t
  t, cpu = time.perf_counter(), time.process_time()
  exe = lowered.compile()
  compile_s, compile_cpu_s = time.perf_counter() - t, time.process_time() - cpu
  epochs = []
  for _ in range(2):
    t, cpu = time.perf_counter(), time.process_time()
    state, _ = jax.block_until_ready(exe(state, *args[1:]))
    epochs.append((time.perf_counter() - t, time.process_time() - cpu))
  r = lambda v: round(v, 3)
  return {"kind": kind, "variant": variant, "lower_s": r(lower_s), "compile_s": r(compile_s),
          "compile_cpu_s": r(compile_cpu_s), "epoch_s": r(epochs[0][0]), "epoch2_s": r(epochs[1][0]),
          "epoch2_cpu_s": r(epochs[1][1]), "data": c.data.name,
          "eval_batch": int(c.eval_batch_size), "validation": g.val is not None,
          "tree": os.path.dirname(os.path.dirname(mlexp.__file__))}


def main(argv) -> None:
  if len(argv) == 2 and argv[0] in VARIANTS and argv[1] in KINDS:
    os.environ["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false "
                               + os.environ.get("EXTRA_XLA_FLAGS", "")).strip()
    os.environ["MLEXP_COMPILATION_CACHE"] = ""
    print(json.dumps(measure(argv[1], argv[0])), flush=True)
    return
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--kinds", default=",".join(KINDS))
  p.add_argument("--variants", default="full,noeval")
  p.add_argument("--repeat", type=int, default=1)
  a = p.parse_args(argv)
  for _ in range(a.repeat):
    for kind in a.kinds.split(","):
      for variant in a.variants.split(","):
        out = subprocess.run([sys.executable, __file__, variant, kind], capture_output=True, text=True)
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        print(lines[-1] if lines else json.dumps({"kind": kind, "variant": variant, "error": out.stderr[-500:]}),
              flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
