"""The compiled programs of this process, shared by the groups that run the same one (a sweep's chunks).

`shared(key, build)` keeps the SHARED_KEPT programs used last (least recently used dropped); `build` jits a
group's program over its member axis: vmapped, or `lax.map`ped (members one after another, CPU), the member
axis sharded over the devices with `jax.shard_map`. `compile_epoch` compiles the epoch program ahead of time
(once per argument signature; another thread compiling it is waited for) and notes it for the plan line when
it went to JAX's persistent compilation cache (mlexp/cache.py).
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import threading
import time

import jax
import jax.numpy as jnp

from mlexp import cache as program_cache
from mlexp.io.watchdog import watchdog
from mlexp.training.member_clock import timed_epoch
from mlexp.training.program import make_program


@dataclasses.dataclass
class SharedProgram:
  """One compiled program and its jitted parts, shared by the groups that run it (a sweep's chunks)."""
  program: object
  init: object
  epoch: object
  evaluate: object
  compiled: dict = dataclasses.field(default_factory=dict)  # argument signature -> compiled epoch
  compile_s: float = 0.0  # what building it cost (init and epoch programs): the price of compiling it again
  lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)


_SHARED: "collections.OrderedDict[tuple, SharedProgram]" = collections.OrderedDict()
_SHARED_LOCK = threading.Lock()
SHARED_KEPT = 8  # programs kept for reuse in this process (least recently used dropped)


def signature(tree) -> str:
  """Shapes, dtypes and placement of a pytree of arrays: what decides whether a compiled program takes it."""
  return str(jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype), str(getattr(a, "sharding", ""))), tree))


def clear_programs() -> None:
  """Forgets the shared programs (the next group compiles its own: for measuring compile time)."""
  with _SHARED_LOCK:
    _SHARED.clear()


def shared(key: tuple, build) -> SharedProgram:
  """The program of `key`, built by `build()` if this process keeps none."""
  with _SHARED_LOCK:
    if key in _SHARED:
      _SHARED.move_to_end(key)
      return _SHARED[key]
    entry = _SHARED[key] = build()
    while len(_SHARED) > SHARED_KEPT:
      _SHARED.popitem(last=False)
    return entry


def build(config, spec, *, padded: bool, use_dropout: bool, branches, member_loop: str, mesh,
          optimizers=None) -> SharedProgram:
  """make_program's functions jitted over the member axis (member_loop "map" or "vmap"; mesh: the devices'
  mesh of the member axis, None on one device)."""
  p = make_program(config, spec, padded=padded, use_dropout=use_dropout, branches=branches, optimizers=optimizers)
  if member_loop == "map":
    # members one after another inside one program: no batched small matmuls (slow on XLA:CPU
    # for small recurrent models), still one compile and the data held once
    # config.time_members: each member's seconds measured (metrics["member_s"]); host callbacks keep the
    # program out of JAX's persistent compilation cache, so only where asked (a study)
    one = functools.partial(timed_epoch, p.epoch) if config.get("time_members") == "on" else p.epoch
    def epoch_all(state, hp, train, val, test):
      return in_place_map(one, state, hp, train, val, test)
    if mesh is not None:  # each device runs its own members one after another; data replicated
      P = jax.sharding.PartitionSpec
      epoch_all = jax.shard_map(epoch_all, mesh=mesh, in_specs=(P("members"), P("members"), P(), P(), P()),
                                out_specs=P("members"), check_vma=False)
    epoch = jax.jit(epoch_all, donate_argnums=0)
  else:
    epoch = jax.jit(jax.vmap(p.epoch, in_axes=(0, 0, None, None, None)), donate_argnums=0)
  if member_loop == "map":  # init as the epoch runs: a vmapped init of a model with a scan (flax nn.RNN)
    init_all = lambda keys, hp, train: jax.lax.map(lambda a: p.init(a[0], a[1], train), (keys, hp))
  else:  # hung on 2 XLA:CPU devices from 6 members per device (benchmarks/own_model.py)
    init_all = jax.vmap(p.init, in_axes=(0, 0, None))
  return SharedProgram(p, jax.jit(init_all), epoch, jax.jit(jax.vmap(p.evaluate, in_axes=(0, None, 0))))


def compile_epoch(entry: SharedProgram, args: tuple, hang_timeout: float, spent: float, fingerprint):
  """The compiled epoch program of `entry` for args (state, hp, train, val, test): compiled ahead of time, or
  the one a group of the same program compiled (waiting while another thread compiles it).

  spent: the seconds the calling group has spent building so far (its init); when this call compiles, the
  program's price (`compile_s`) is at least spent + this call's seconds. fingerprint: () -> the program's
  fingerprint, noted (mlexp.cache.note) when the program went to JAX's persistent cache.
  Returns (executable, seconds, persistent-cache hit)."""
  sig = signature(args[:2])
  with entry.lock:
    t = time.perf_counter()
    exe = entry.compiled.get(sig)
    built = exe is None
    cache_hit = False
    if built:
      with watchdog(hang_timeout, "compiling the epoch program"), program_cache.track() as cached:
        exe = entry.compiled[sig] = entry.epoch.lower(*args).compile()
      # from JAX's persistent cache (mlexp/cache.py), and noted there for the plan line of later runs
      cache_hit = cached.requests > 0 and cached.hits == cached.requests
      if cached.kept:
        program_cache.note(fingerprint())
    seconds = time.perf_counter() - t
    if built:
      entry.compile_s = max(entry.compile_s, spent + seconds)
  return exe, seconds, cache_hit


def in_place_map(one, state, hp, *data):
  """one(state, hp, *data) -> (state, metrics) of every member, one after another: each member's state is read
  from and written back into the stacked (donated) state, the carry of a fori_loop, which XLA updates in place.
  (lax.map stacked its outputs in a fresh buffer of every slot's state each epoch: mlp_course's 53 slots of
  47 MB, 2.5 GB of new pages an epoch; its first rung trained in 13.2-13.9 s, now 9.0-9.5 s.)"""
  n = jax.tree.leaves(state)[0].shape[0]
  at = lambda tree, i: jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, i, keepdims=False), tree)
  # traced once: the metrics' shapes and the loop's body share the trace (jit's cache; an eval_shape of `one`
  # itself traced the whole epoch a second time: 3 of the week-1 study's 10 s of lowering)
  one = jax.jit(one)
  _, m_shape = jax.eval_shape(one, at(state, 0), at(hp, 0), *data)
  metrics = jax.tree.map(lambda m: jnp.zeros((n, *m.shape), m.dtype), m_shape)
  put = lambda tree, v, i: jax.tree.map(lambda a, b: jax.lax.dynamic_update_index_in_dim(a, b, i, 0), tree, v)

  def body(i, c):
    new, m = one(at(c[0], i), at(hp, i), *data)
    return put(c[0], new, i), put(c[1], m, i)
  return jax.lax.fori_loop(0, n, body, (state, metrics))
