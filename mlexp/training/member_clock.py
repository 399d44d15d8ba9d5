"""Each member's own epoch seconds inside a shared program (config.time_members, training/programs.py): two host-clock
stamps around a member's epoch where members run one after another (CPU, lax.map), and whether other work
shared the cores meanwhile: a group compiling in a worker thread, or another group's epoch (a sweep's groups
train side by side). Host callbacks keep a program out of JAX's persistent cache, so only
studies use them (sweeps/trial_time.py turns the seconds into results.csv's train_s)."""
from __future__ import annotations

import contextlib
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

_LOCK = threading.Lock()
# Other work sharing the cores with a member's epoch: groups building (Group.build: init and compile, ahead in
# worker threads) and groups in an epoch call (Group.epoch: a sweep's groups training side by side in threads).
# A member is inside its own group's epoch call when it is stamped, so another group trains when two are in one.
_BUILDING = [0]  # groups building now
_TRAINING = [0]  # groups in an epoch call now
_EVENTS = [0]  # builds and epoch calls begun or ended
# microseconds during which some group built or two trained, until the last such span began; when it began
_OVERLAP = [0, 0]


def _now_us() -> int:
  return int(time.perf_counter() * 1e6)


def _contended() -> bool:
  return _BUILDING[0] > 0 or _TRAINING[0] > 1


def _change(building: int, training: int) -> None:
  """(under _LOCK) a group begins (+1) or ends (-1) building or an epoch call: the overlap clock follows."""
  before = _contended()
  _BUILDING[0] += building
  _TRAINING[0] += training
  _EVENTS[0] += 1
  after = _contended()
  if after and not before:
    _OVERLAP[1] = _now_us()
  elif before and not after:
    _OVERLAP[0] += _now_us() - _OVERLAP[1]


@contextlib.contextmanager
def _counted(building: int, training: int):
  with _LOCK:
    _change(building, training)
  try:
    yield
  finally:
    with _LOCK:
      _change(-building, -training)


def building():
  """The block builds a group (compiles while others may train)."""
  return _counted(1, 0)


def training():
  """The block is a group's epoch call (other groups' members in theirs meanwhile share the cores with it)."""
  return _counted(0, 1)


def _stamp() -> np.ndarray:
  """[now in us, other groups building or training (1) or not (0), builds and epoch calls begun or ended, us
  during which some group built or two trained] (mod 2**30)."""
  with _LOCK:
    now = _now_us()
    busy = _contended()
    overlap = _OVERLAP[0] + (now - _OVERLAP[1] if busy else 0)
    return np.array([now % 2**30, int(busy), _EVENTS[0], overlap % 2**30], np.int32)


def _clock(dep):
  """_stamp() as a value that waits for `dep`: a stamp inside a program."""
  return jax.pure_callback(lambda d: _stamp(), jax.ShapeDtypeStruct((4,), jnp.int32), dep)


def timed_epoch(epoch, state, hp, *data):
  """epoch(state, hp, *data) of one member, with metrics["member_s"]: the seconds it took, measured inside the
  program between two host clock stamps (its hyperparameters wait for the first, the second for its results):
  the member's own time, where the members run one after another (CPU, lax.map); metrics["member_busy"]: a
  group was building (compiling in a worker thread) or another group was in an epoch, sharing the cores, at some
  time during it;
  metrics["member_overlap_s"]: for how many of its seconds."""
  t0 = _clock(state.epoch)
  # (hp waits for the first stamp: + 0 that XLA cannot fold, as it did `t0 * 0`, which let the stamp run after
  # the epoch: wrapped, negative seconds on short epochs)
  hp = jax.tree.map(lambda v: v + jnp.where(t0[0] < 0, 1, 0).astype(v.dtype), hp)
  state, m = epoch(state, hp, *data)
  # (after every metric, the evaluation's too: the training loss alone is ready before the evaluation runs)
  t1 = _clock(sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(m)) + state.epoch.astype(jnp.float32))
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


def contention(trials, seconds, alone, mask, fraction: float = 0.5) -> dict:
  """How many times faster a member runs alone than beside others (c >= 1), from the seeds of one trial in one
  epoch call (the same work): some mostly alone, some mostly beside others. A member's epoch is `shared` seconds
  at the shared pace plus `alone` seconds at c times it, the same work for every seed, so
  c = (shared seconds of the mostly shared - of the mostly alone) / (alone seconds of the mostly alone - of the
  mostly shared). {trial: estimate} for each trial that has both kinds (a wide model gains more from a free core
  than a narrow one); {} where none has."""
  by: dict = {}
  for t, s, a, ok in zip(trials, seconds, alone, mask):
    if ok and s > 0:
      by.setdefault(t, []).append((float(s) - float(a), float(a), float(a) / float(s) > fraction))
  out = {}
  for t, members in by.items():
    lone = [(s, a) for s, a, is_alone in members if is_alone]
    shared = [(s, a) for s, a, is_alone in members if not is_alone]
    if lone and shared:
      mean = lambda xs, k: sum(x[k] for x in xs) / len(xs)  # noqa: E731
      da = mean(lone, 1) - mean(shared, 1)
      if da > 0:
        out[t] = min(4.0, max(1.0, (mean(shared, 0) - mean(lone, 0)) / da))
  return out
