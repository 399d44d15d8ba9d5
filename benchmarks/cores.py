"""What a second core adds on this machine: the week-1 baseline's training loop (MLP 784-256-256-10, batch 64,
Adam; a bare jitted `lax.scan` epoch, no mlexp code) in one process on one core, then in two processes at once,
each on its own core, and one process free to use every core (XLA's own threads).

  python benchmarks/cores.py [--width 256] [--epochs 20]

Prints JSON lines: one per process run ({"run", "core", "models", "ms_per_step"}, the median epoch), then
{"bench": "cores"} with the steps per second (all models together) of each setting: `scaling`, two pinned
processes over one process on one core (2.0 where two cores compute twice what one does);
`two_devices_over_one_core`, one process with two single-threaded XLA:CPU devices (a model on each, one
shard_map program: how mlexp's studies and sweeps train) over one core; `free_over_one_core`, one process with
XLA's own threads (what a single run gets).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def worker(core: int, width: int, epochs: int) -> None:
  """core >= 0: pinned to it, single-threaded XLA; -1: free (XLA's own threads); -2: two single-threaded XLA:CPU
  devices in this process (as mlexp runs them), one model on each (shard_map), side by side."""
  if core >= 0:
    os.sched_setaffinity(0, {core})
  os.environ["XLA_FLAGS"] = {-1: "", -2: "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"}.get(
      core, "--xla_cpu_multi_thread_eigen=false")
  import time

  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  rng = np.random.default_rng(0)
  sizes = [(784, width), (width, width), (width, 10)]
  params = {f"k{i}": jnp.asarray(rng.normal(size=s) * 0.05, jnp.float32) for i, s in enumerate(sizes)}
  steps, b = 50, 64
  x = jnp.asarray(rng.normal(size=(b * steps, 784)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 10, b * steps))
  tx = optax.adam(1e-3)

  def loss(p, xb, yb):
    h = jax.nn.relu(jax.nn.relu(xb @ p["k0"]) @ p["k1"])
    return optax.softmax_cross_entropy_with_integer_labels(h @ p["k2"], yb).mean()

  @jax.jit
  def epoch(p, s):
    def step(c, i):
      p, s = c
      g = jax.grad(loss)(p, jax.lax.dynamic_slice_in_dim(x, i * b, b), jax.lax.dynamic_slice_in_dim(y, i * b, b))
      u, s = tx.update(g, s, p)
      return (optax.apply_updates(p, u), s), None
    return jax.lax.scan(step, (p, s), jnp.arange(steps))[0]

  run, state = epoch, (params, tx.init(params))
  if core == -2:
    P = jax.sharding.PartitionSpec
    mesh = jax.make_mesh((2,), ("m",))
    one = lambda t: jax.tree.map(lambda a: a[0], t)  # noqa: E731
    run = jax.jit(jax.shard_map(lambda p, s: jax.tree.map(lambda a: a[None], epoch(one(p), one(s))), mesh=mesh,
                                in_specs=(P("m"), P("m")), out_specs=P("m"), check_vma=False))
    state = jax.device_put(jax.tree.map(lambda a: jnp.stack([a, a]), state), jax.sharding.NamedSharding(mesh, P("m")))
  state = jax.block_until_ready(run(*state))
  times = []
  for _ in range(epochs):
    t = time.perf_counter()
    state = jax.block_until_ready(run(*state))
    times.append(time.perf_counter() - t)
  print(json.dumps({"core": core, "models": 2 if core == -2 else 1,
                    "ms_per_step": sorted(times)[len(times) // 2] / steps * 1e3}), flush=True)


def run(cores, width, epochs, label):
  procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(c), "--width", str(width),
                             "--epochs", str(epochs)], stdout=subprocess.PIPE, text=True) for c in cores]
  out = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
  for o in out:
    print(json.dumps({"bench": "cores_run", "run": label, **o}), flush=True)
  return sum(o["models"] * 1e3 / o["ms_per_step"] for o in out)  # steps per second, all models together


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--width", type=int, default=256)
  ap.add_argument("--epochs", type=int, default=20)
  ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
  a = ap.parse_args()
  if a.worker is not None:
    return worker(a.worker, a.width, a.epochs)
  n = len(os.sched_getaffinity(0))
  load = open("/proc/loadavg").read().split()[:3]
  one = run([0], a.width, a.epochs, "one core")
  two = run([0, 1], a.width, a.epochs, "two processes, a core each") if n > 1 else float("nan")
  free = run([-1], a.width, a.epochs, "one process, every core")
  devices = run([-2], a.width, a.epochs, "one process, two devices")
  print(json.dumps({"bench": "cores", "cores": n, "width": a.width, "load_before": load,
                    "steps_per_s": {"one_core": round(one, 1), "two_processes": round(two, 1),
                                    "one_process_free": round(free, 1), "two_devices": round(devices, 1)},
                    "scaling": round(two / one, 2), "free_over_one_core": round(free / one, 2),
                    "two_devices_over_one_core": round(devices / one, 2)}), flush=True)


if __name__ == "__main__":
  main()
