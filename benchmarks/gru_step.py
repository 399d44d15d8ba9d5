"""GRU timing breakdown (own process): one training step (forward + backward + Adam) of the benchmark's GRU
at batch 32 x 40 steps x 13, for 1 and M members (vmap), against the time of its matmuls alone.

  python benchmarks/gru_step.py [--unroll 1 2 4 8] [--members 1 8] [--steps 50]

Prints `RESULT {...}` with, per (unroll, members): step_ms (one optimizer step of all members),
matmul_ms (the recurrent matmuls of that step, looped on their own: 2 layers x 40 steps x 3 matmuls
(forward h@W, backward dh@W^T and h^T@dh)), and their ratio: how far the step is from its matmuls.
"""
from __future__ import annotations

import argparse
import json
import time


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--unroll", type=int, nargs="+", default=[1, 2, 4, 8])
  ap.add_argument("--members", type=int, nargs="+", default=[1, 8])
  ap.add_argument("--steps", type=int, default=30)
  a = ap.parse_args(argv)
  import jax
  import jax.numpy as jnp
  import optax
  from mlexp.models.rnn.model import RNNClassifier

  B, T, F, H, C = 32, 40, 13, 64, 20
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (B, T, F))
  y = jax.random.randint(key, (B,), 0, C)
  lengths = jnp.full((B,), T, jnp.int32)
  tx = optax.adam(1e-3)

  def best_time(f, args, n):
    jax.block_until_ready(f(*args))
    best = float("inf")
    for _ in range(3):
      t = time.perf_counter()
      jax.block_until_ready(f(*args))
      best = min(best, time.perf_counter() - t)
    return best / n

  out = {"runs": []}
  for m in a.members:
    # the matmuls alone: per layer and time step, h@W [B,H]x[H,3H], dh@W^T and h^T@dh
    hs = jax.random.normal(key, (m, B, H))
    w = jax.random.normal(key, (m, H, 3 * H)) * 0.1

    def mm(hs, w):
      def body(i, c):
        h, acc = c
        g = jnp.einsum("mbh,mhk->mbk", h, w)
        dh = jnp.einsum("mbk,mhk->mbh", g, w)
        dw = jnp.einsum("mbh,mbk->mhk", h, g)
        return (jnp.tanh(dh), acc + 1e-6 * dw)
      return jax.lax.fori_loop(0, 2 * T * a.steps, body, (hs, jnp.zeros_like(w)))
    mm_ms = best_time(jax.jit(mm), (hs, w), a.steps) * 1e3
    for u in a.unroll:
      model = RNNClassifier(num_classes=C, hidden=H, layers=2, unroll=u)
      params = model.init(key, x[:1], lengths[:1])["params"]
      opt = tx.init(params)

      def step(params, opt):
        def loss_fn(p):
          logits = model.apply({"params": p}, x, lengths)
          return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        loss, g = jax.value_and_grad(loss_fn)(params)
        upd, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, upd), opt

      def many(params, opt):
        return jax.lax.fori_loop(0, a.steps, lambda i, c: step(*c), (params, opt))
      stack = lambda t: jax.tree.map(lambda v: jnp.broadcast_to(v, (m, *v.shape)), t)
      f = jax.jit(jax.vmap(many))
      t = time.perf_counter()
      f = f.lower(stack(params), stack(opt)).compile()
      compile_s = time.perf_counter() - t
      step_ms = best_time(f, (stack(params), stack(opt)), a.steps) * 1e3
      out["runs"].append(dict(unroll=u, members=m, step_ms=step_ms, matmul_ms=mm_ms, step_over_matmul=step_ms / mm_ms,
                              per_timestep_us=step_ms * 1e3 / (2 * T), compile_s=compile_s,
                              epoch_s_est=step_ms * 207 / 1e3))
      print(json.dumps(out["runs"][-1]), flush=True)
  print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
  main()
