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
                 "member_overlap_s": jnp.where(m["trained"] & busy, jnp.minimum(seconds(3), seconds(0)), 0.0),
                 "member_t0": jnp.where(m["trained"], t0[0], 0)}


def alone_seconds(t0_us, seconds, mask) -> np.ndarray:
  """Each member's seconds (of one epoch call) during which no other member of the program ran: its device
  was the only one busy (another device had fewer members, or frozen ones). XLA:CPU splits large loops over
  the cores a lone device leaves free, so a lone member runs faster than one beside another (a CNN about 2x on
  2 cores). t0_us: the start stamps (us mod 2**30), seconds: the measured seconds, mask: members trained."""
  t0 = np.asarray(t0_us, np.int64)
  dur = np.asarray(seconds, np.float64)
  mask = np.asarray(mask, bool)
  out = np.zeros(len(dur))
  if mask.sum() < 1:
    return out
  start = ((t0 - t0[mask].min()) % 2**30) * 1e-6  # (the stamps wrap every ~18 minutes)
  end = start + dur
  idx = np.flatnonzero(mask)
  for j in idx:
    spans = sorted((max(start[k], start[j]), min(end[k], end[j])) for k in idx if k != j)
    covered, reach = 0.0, start[j]
    for a, b in spans:  # the length of the union of the others' intervals within j's
      a = max(a, reach)
      if b > a:
        covered, reach = covered + b - a, b
    out[j] = max(0.0, dur[j] - covered)
  return out


def contention(trials, seconds, alone, mask, fraction: float = 0.5) -> list:
  """How many times faster a member runs alone than beside others (c >= 1), from the seeds of one trial in one
  epoch call (the same work): some mostly alone, some mostly beside others. A member's epoch is `shared` seconds
  at the shared pace plus `alone` seconds at c times it, the same work for every seed, so
  c = (shared seconds of the mostly shared - of the mostly alone) / (alone seconds of the mostly alone - of the
  mostly shared). One estimate per trial that has both kinds; [] where none has."""
  by: dict = {}
  for t, s, a, ok in zip(trials, seconds, alone, mask):
    if ok and s > 0:
      by.setdefault(t, []).append((float(s) - float(a), float(a), float(a) / float(s) > fraction))
  out = []
  for members in by.values():
    lone = [(s, a) for s, a, is_alone in members if is_alone]
    shared = [(s, a) for s, a, is_alone in members if not is_alone]
    if lone and shared:
      mean = lambda xs, k: sum(x[k] for x in xs) / len(xs)  # noqa: E731
      da = mean(lone, 1) - mean(shared, 1)
      if da > 0:
        out.append(min(4.0, max(1.0, (mean(shared, 0) - mean(lone, 0)) / da)))
  return out
