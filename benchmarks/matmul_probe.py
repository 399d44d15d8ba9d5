"""Matmul peak probe (own process): achieved GFLOP/s of jitted jnp.dot loops on this machine.

  python benchmarks/matmul_probe.py [--quick]

Prints one line `RESULT {...}`:
  square_gflops        a large square f32 matmul
  peak_gflops          the best of all probes (the machine's practical peak; used for % of peak)
  mlp_shapes_gflops    the matmuls of one MLP 784-256-256-10 training step at batch 64
                       (forward x@W, backward dy@W^T and x^T@dy), looped: the ceiling at these shapes
  mlp_shapes8_gflops   the same for 8 members at once (batched matmuls, as vmap makes them)
  gru_step_gflops      the recurrent matmul of one GRU time step (32x64 @ 64x192), looped
"""
from __future__ import annotations

import argparse
import json
import time


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--quick", action="store_true")
  a = ap.parse_args(argv)
  import jax
  import jax.numpy as jnp

  def bench(fn, args, flops_per_call, reps, tries=3):
    f = jax.jit(fn)
    jax.block_until_ready(f(*args))  # compile + warm
    best = float("inf")
    for _ in range(tries):  # best of `tries`: the machine is shared, so the fastest is the least disturbed
      t = time.perf_counter()
      jax.block_until_ready(f(*args))
      best = min(best, time.perf_counter() - t)
    return flops_per_call * reps / best / 1e9, best

  key = jax.random.PRNGKey(0)
  out = {}

  n, reps = (1024, 10) if a.quick else (2048, 5)
  x = jax.random.normal(key, (n, n), jnp.float32)

  def square(x):
    return jax.lax.fori_loop(0, reps, lambda i, acc: (acc @ x) * 1e-3, x)
  out["square_n"] = n
  out["square_gflops"], _ = bench(square, (x,), 2 * n**3, reps, tries=3 if a.quick else 6)

  dims = [784, 256, 256, 10]
  b = 64
  mlp_flops = 3 * 2 * b * sum(i * o for i, o in zip(dims[:-1], dims[1:]))

  def mlp_step(xb, ws, steps):
    def body(i, c):
      xb, ws = c
      acts, h = [xb], xb
      for w in ws:  # forward
        h = h @ w
        acts.append(h)
      dy = h
      grads = []
      for w, act in zip(reversed(ws), reversed(acts[:-1])):  # backward: dW = act^T dy, dx = dy W^T
        grads.append(act.T @ dy)
        dy = dy @ w.T
      new_ws = tuple(w - 1e-6 * g for w, g in zip(ws, reversed(grads)))
      return xb + 1e-6 * dy, new_ws
    return jax.lax.fori_loop(0, steps, body, (xb, ws))

  steps = 100 if a.quick else 300
  ks = jax.random.split(key, 4)
  xb = jax.random.normal(ks[0], (b, 784), jnp.float32)
  ws = tuple(jax.random.normal(k, (i, o), jnp.float32) * 0.01 for k, i, o in zip(ks[1:], dims[:-1], dims[1:]))
  out["mlp_shapes_gflops"], t1 = bench(lambda xb, ws: mlp_step(xb, ws, steps), (xb, ws), mlp_flops, steps)
  out["mlp_shapes_step_us"] = t1 / steps * 1e6

  m = 8
  xb8 = jnp.broadcast_to(xb, (m, *xb.shape))
  ws8 = tuple(jnp.broadcast_to(w, (m, *w.shape)) for w in ws)
  steps8 = steps // 4
  f8 = jax.vmap(lambda xb, ws: mlp_step(xb, ws, steps8))
  out["mlp_shapes8_gflops"], t8 = bench(f8, (xb8, ws8), m * mlp_flops, steps8)
  out["mlp_shapes8_step_us"] = t8 / steps8 * 1e6

  h = jax.random.normal(key, (32, 64), jnp.float32)
  wh = jax.random.normal(key, (64, 192), jnp.float32) * 0.1
  gsteps = 2000

  def gru_loop(h, wh):
    return jax.lax.fori_loop(0, gsteps, lambda i, h: jnp.tanh(h @ wh)[:, :64], h)
  out["gru_step_gflops"], tg = bench(gru_loop, (h, wh), 2 * 32 * 64 * 192, gsteps)
  out["gru_step_us"] = tg / gsteps * 1e6
  # the practical peak: the best rate any probe reached (a busy moment only lowers a probe's figure)
  out["peak_gflops"] = max(v for k, v in out.items() if k.endswith("_gflops"))
  out["device"] = f"{len(jax.devices())} x {jax.devices()[0].platform}"
  print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
  main()
