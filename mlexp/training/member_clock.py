"""Each member's own epoch seconds inside a shared program (config.time_members, training/programs.py): two host-clock
stamps around a member's epoch where members run one after another (CPU, lax.map), and whether a group was
compiling in a worker thread meanwhile. Host callbacks keep a program out of JAX's persistent cache, so only
studies use them (sweeps/trial_time.py turns the seconds into results.csv's train_s)."""
from __future__ import annotations

import contextlib
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

_LOCK = threading.Lock()
_BUILDING = [0, 0]  # groups building now (Group.build: compile ahead in worker threads), builds begun or ended
_OVERLAP = [0, 0]  # microseconds during which some group was building, until the last one began; when it began


def _now_us() -> int:
  return int(time.perf_counter() * 1e6)


@contextlib.contextmanager
def building():
  with _LOCK:
    if _BUILDING[0] == 0:
      _OVERLAP[1] = _now_us()
    _BUILDING[0], _BUILDING[1] = _BUILDING[0] + 1, _BUILDING[1] + 1
  try:
    yield
  finally:
    with _LOCK:
      _BUILDING[0], _BUILDING[1] = _BUILDING[0] - 1, _BUILDING[1] + 1
      if _BUILDING[0] == 0:
        _OVERLAP[0] += _now_us() - _OVERLAP[1]


def _stamp() -> np.ndarray:
  """[now in us, groups building, builds begun or ended, us during which some group was building] (mod 2**30)."""
  with _LOCK:
    now = _now_us()
    overlap = _OVERLAP[0] + (now - _OVERLAP[1] if _BUILDING[0] else 0)
    return np.array([now % 2**30, *_BUILDING, overlap % 2**30], np.int32)


def _clock(dep):
  """_stamp() as a value that waits for `dep`: a stamp inside a program."""
  return jax.pure_callback(lambda d: _stamp(), jax.ShapeDtypeStruct((4,), jnp.int32), dep)


def timed_epoch(epoch, state, hp, *data):
  """epoch(state, hp, *data) of one member, with metrics["member_s"]: the seconds it took, measured inside the
  program between two host clock stamps (its hyperparameters wait for the first, the second for its results):
  the member's own time, where the members run one after another (CPU, lax.map); metrics["member_busy"]: a
  group was building (compiling in a worker thread, sharing the cores) at some time during it;
  metrics["member_overlap_s"]: for how many of its seconds."""
  t0 = _clock(state.epoch)
  hp = jax.tree.map(lambda v: v + (t0[0] * 0).astype(v.dtype), hp)
  state, m = epoch(state, hp, *data)
  t1 = _clock(m["train_loss"] + state.epoch.astype(jnp.float32))
  busy = (t0[1] > 0) | (t1[1] > 0) | (t0[2] != t1[2])
  seconds = lambda k: jnp.mod(t1[k] - t0[k], 2**30).astype(jnp.float32) * 1e-6  # noqa: E731
  return state, {**m, "member_s": jnp.where(m["trained"], seconds(0), 0.0), "member_busy": m["trained"] & busy,
                 "member_overlap_s": jnp.where(m["trained"] & busy, jnp.minimum(seconds(3), seconds(0)), 0.0)}
