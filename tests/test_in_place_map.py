"""The CPU member loop (training/programs.py `in_place_map`) and the rebuild policy that rests on it
(sweeps/execute.py `drop_if_worth_it`): pure, no I/O."""
from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from mlexp.sweeps import execute
from mlexp.training.programs import in_place_map


def one(state, hp, x):
  """A member's 'epoch': its own state and hyperparameter, the shared data; metrics of two dtypes."""
  w = state["w"] * hp + x.sum()
  return {"w": w, "n": state["n"] + 1}, {"loss": (w ** 2).sum(), "ok": w.sum() > 0}


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_in_place_map_equals_lax_map(n, width, seed):
  rng = np.random.default_rng(seed)
  state = {"w": jnp.asarray(rng.normal(size=(n, width)), jnp.float32), "n": jnp.arange(n, dtype=jnp.int32)}
  hp = jnp.asarray(rng.uniform(0.5, 1.5, size=n), jnp.float32)
  x = jnp.asarray(rng.normal(size=(3,)), jnp.float32)
  want = jax.jit(lambda s, h, x: jax.lax.map(lambda a: one(a[0], a[1], x), (s, h)))(state, hp, x)
  got = jax.jit(lambda s, h, x: in_place_map(one, s, h, x), donate_argnums=0)(
      jax.tree.map(jnp.copy, state), hp, x)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _run(member_loop, size=8, running=2):
  group = types.SimpleNamespace(member_loop=member_loop, size=size, recompile_s=0.1,
                                running=lambda state: np.arange(size) < running)
  calls = []
  run = types.SimpleNamespace(group=group, state=None, drop_frozen=lambda hooks, rebuild: calls.append(rebuild))
  return run, calls


def test_a_cpu_group_of_members_one_after_another_is_never_rebuilt():
  run, calls = _run("map")
  execute.drop_if_worth_it(run, epochs=100, epoch=1, dt=10.0, hooks=(), rebuild="rebuild")
  assert calls == []


def test_a_vmapped_group_is_rebuilt_when_that_saves_more_than_two_recompiles():
  run, calls = _run("vmap")
  execute.drop_if_worth_it(run, epochs=100, epoch=1, dt=10.0, hooks=(), rebuild="rebuild")
  assert calls == ["rebuild"]
  run, calls = _run("vmap", running=6)  # more than half still runs
  execute.drop_if_worth_it(run, epochs=100, epoch=1, dt=10.0, hooks=(), rebuild="rebuild")
  assert calls == []


def test_in_place_map_traces_the_members_epoch_once():
  # (tracing a 12-branch epoch is seconds of Python: the metrics' shapes must not trace it a second time)
  traced = []

  def counted(state, hp, x):
    traced.append(1)
    return one(state, hp, x)

  state = {"w": jnp.ones((3, 2), jnp.float32), "n": jnp.zeros(3, jnp.int32)}
  out, m = jax.jit(lambda s, h, x: in_place_map(counted, s, h, x))(state, jnp.ones(3), jnp.ones(2))
  assert len(traced) == 1
  np.testing.assert_array_equal(np.asarray(out["n"]), [1, 1, 1])
  assert m["loss"].shape == (3,) and m["ok"].dtype == jnp.bool_
