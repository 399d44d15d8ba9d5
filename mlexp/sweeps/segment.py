"""One group trained for one segment on a worker process: the Ray backend's unit of work
(sweeps/executors/ray.py submits it; nothing here imports Ray, so it runs and is tested in-process too).

A segment takes a group's plan, the state shipped back by its previous segment (a `Snapshot`: the members'
training state as numpy, their records, hook state) or None, the decision of the last rung (asha.decide,
made by the driver's rung loop: executors/rungs.py) and the epoch to stop at; it applies the decision, trains
with the one epoch loop (training/loop.py) and returns what the driver writes (metric lines, TensorBoard calls,
the rung's values) with a new Snapshot, or, when the group is done, its result rows and the best member's parameters.
Nothing is written on the worker: results travel back through Ray, so workers need no shared filesystem.

A worker process keeps the groups it trained (compiled, on its device): the next segment of a group that
lands on the same process continues from the live state; elsewhere the group is rebuilt (compiled, or
loaded from JAX's persistent compilation cache on that host) and the snapshot restored.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import sys
import time

_LIVE: dict = {}  # (run id, gid) -> (seq, GroupRun): this worker process's groups, compiled and on the device
_DATA: list = []  # this worker process's DataCache (one)
FAULT_ENV = "MLEXP_RAY_FAULT"  # tests only: a file "GID EPOCH"; the worker reaching that epoch dies (lost worker)


@dataclasses.dataclass
class Context:
  """What every segment of a sweep shares (shipped once: ray.put)."""
  config: object  # the sweep's config (ConfigDict)
  trials: list  # trial id -> swept values
  fields: list  # the swept fields (result columns)
  datasets: dict  # DataCache key -> Dataset (loaded by the driver)
  run_id: str = ""  # this driver's run: groups kept live from another (a killed driver's) are not reused

  def sweep(self):
    """What a group's execution reads of the sweep (execute.SweepContext): no workdir, a worker writes nothing."""
    from mlexp.sweeps.execute import SweepContext
    return SweepContext(self.config, self.trials, self.fields, None)


@dataclasses.dataclass
class Snapshot:
  """A group between segments: enough to continue it on any worker (the 'last checkpoint shipped back')."""
  seq: int  # segments done
  state: object  # the members' TrainState (numpy, unpadded: group positions 0..size-1)
  pos: list  # group position -> member index
  records: object  # loop.Records
  used: int
  times: dict
  rung_values: dict
  best: tuple  # BestParamsHook (acc, member, params)


class Recorder:
  """A worker's metrics.jsonl writer and TensorBoard in one (the writers' methods that the epoch loop and
  execute.finished_group call): the calls are kept and shipped to the driver, which replays them into its files."""

  def __init__(self):
    self.calls = []

  def write(self, rec):
    self.calls.append(("jsonl", "write", (rec,)))

  def write_scalars(self, *a):
    self.calls.append(("tb", "write_scalars", a))

  def write_hparams(self, *a):
    self.calls.append(("tb", "write_hparams", a))

  def take(self) -> list:
    out, self.calls = self.calls, []
    return out


def replay(calls, jsonl, tb) -> None:
  """The driver's side of Recorder: the worker's writes, into the driver's workdir."""
  for target, name, args in calls:
    getattr(jsonl if target == "jsonl" else tb, name)(*args)


def setup_worker(cpus: int) -> None:
  """XLA flags for a worker with `cpus` cores (before jax is imported in this process: one single-threaded
  XLA:CPU device per core, as mlexp.main does for one process) and the persistent compilation cache."""
  from mlexp.io.runtime import enable_compilation_cache, set_cpu_devices
  if "jax" not in sys.modules:
    set_cpu_devices(cpus)
  enable_compilation_cache()


class _FaultHook:
  """Tests: kills this worker process (as a lost machine would) at the epoch named in $MLEXP_RAY_FAULT's file;
  the file is claimed first (renamed), so only one worker dies, once."""

  def __init__(self, gid):
    self.gid, self.path = gid, os.environ.get(FAULT_ENV, "")

  def after_epoch(self, run, e, m, dt):
    if not self.path or not os.path.exists(self.path):
      return
    with open(self.path) as f:
      parts = f.read().split()
    if len(parts) == 2 and parts[0] == self.gid and int(parts[1]) == e:  # ("board EPOCH": ray_backend._fault)
      try:
        os.rename(self.path, self.path + ".claimed")
      except OSError:
        return
      with open(self.path + ".pid", "w") as f:
        f.write(str(os.getpid()))
      os._exit(1)


def _data():
  from mlexp.training import loop
  if not _DATA:
    _DATA.append(loop.DataCache())
  return _DATA[0]


def _group_run(ctx: Context, plan, snap: Snapshot | None, board, sync: bool):
  """This group's GroupRun: live from this process, or rebuilt (and restored from `snap`)."""
  import jax
  import jax.numpy as jnp
  from mlexp.sweeps.execute import GroupRun
  from mlexp.training import hooks as result_hooks, loop
  seq = 0 if snap is None else snap.seq
  for key in [k for k in _LIVE if k[0] != ctx.run_id]:  # another driver's groups: gone
    del _LIVE[key]
  live = _LIVE.pop((ctx.run_id, plan.gid), None)
  if live is not None and live[0] == seq:
    return live[1]
  data = _data()
  for key, ds in ctx.datasets.items():
    data.put(key, ds)
  ds, splits = data.get(plan.config)
  members = list(plan.members)
  gr_rec = Recorder()
  hooks = [result_hooks.MetricsHook(gr_rec, gr_rec, int(plan.config.epochs),
                                    lambda m: f"trial_{m.trial:03d}_seed_{m.seed}", plan.gid)]
  if snap is None:
    group = loop.build_group(plan.config, ds, splits, members, plan.slots, plan.branches)
    prepared = (group, group.build())
  else:
    if live is not None and list(live[1].run.pos) == list(snap.pos):  # compiled here for these members: reused
      group, compile_s = live[1].run.group, 0.0
      state = group.adopt(jax.tree.map(jnp.asarray, snap.state))
    else:
      group = loop.build_group(plan.config, ds, splits, [members[i] for i in snap.pos])
      state = group.adopt(jax.tree.map(jnp.asarray, snap.state))
      group.compile(state)
      compile_s = group.compile_s  # this worker's rebuild is a compile too
    # (arrays from Ray's object store are read-only: the records are copied)
    prepared = loop.Training(group, state, members, records=copy.deepcopy(snap.records), pos=snap.pos)
    prepared.carry_on(snap.used, snap.times, compile_s)
  gr = GroupRun(plan, prepared, ctx.sweep(), data, board if board is not None else {}, hooks, sync=sync,
                best=None if snap is None else snap.best, rung_values=None if snap is None else snap.rung_values)
  gr.recorder = gr_rec
  gr.hooks.append(_FaultHook(plan.gid))
  return gr


def _snapshot(gr, seq: int) -> Snapshot:
  import jax
  run = gr.run
  state = jax.device_get(run.group.take(run.state, range(run.group.size)))
  return Snapshot(seq=seq, state=state, pos=list(run.pos), records=copy.deepcopy(run.records), used=run.used,
                  times=dict(run.times), rung_values=dict(gr.ash.rung_values),
                  best=(gr.best.acc, gr.best.member, gr.best.params))


def run_segment(ctx: Context, plan, snap: Snapshot | None, until: int | None, decision=None, board=None,
                cpus: int = 1) -> dict:
  """One segment of group `plan` (until=None: to its end, ASHA through `board`, asynchronous mode).
  decision: (rung epoch, values, losing trials) for this group from the driver's last decision, or None."""
  setup_worker(cpus)
  from mlexp.sweeps.execute import finished_group, rung_values
  t0 = time.perf_counter()
  sync = until is not None
  gr = _group_run(ctx, plan, snap, board, sync)
  if decision is not None and not gr.run.finished:
    gr.apply_decision(decision[0], decision[1], set(decision[2]))
  if not gr.run.finished:
    gr.train(until=until)
  out = {"gid": plan.gid, "finished": gr.run.finished, "used": gr.run.used, "pid": os.getpid(),
         "epoch": int(gr.run.records.epochs_run.max()), "rung": None}
  if gr.run.finished:
    o = finished_group(gr, ctx.sweep(), gr.recorder)
    out.update(rows=o.rows, rungs=o.rungs, times=dict(o.times), best=o.best)
  else:
    if sync and out["epoch"] == until:
      out["rung"] = rung_values(gr.run, ctx.config.sweep.metric)
    seq = (0 if snap is None else snap.seq) + 1
    out["snapshot"] = _snapshot(gr, seq)
    _LIVE[(ctx.run_id, plan.gid)] = (seq, gr)
  out["calls"] = gr.recorder.take()
  out["segment_s"] = time.perf_counter() - t0
  return out
