"""LocalExecutor: the groups of a sweep trained in this process, each group's program built and compiled ahead
in worker threads (`sweep.compile_ahead`) while the groups before it train. With rung-synchronous ASHA every
group stays compiled and on the device until it finishes.

Groups as wide as the devices (member slots split over all of them) train one after another. Narrower ones
(sweeps/balance.py `lanes`: a search of exact shapes, one model a program) train side by side, each whole on
one device, a thread a device ("lane"), so no core waits while one trains a single model. Lanes run only
where no decision depends on the order groups finish in: rung-synchronous ASHA and mode=full (asynchronous
ASHA ranks a group against those before it). A lane's writes (metrics.jsonl, TensorBoard) hold one lock; its
progress lines are printed by the caller, in plan order; a signal stops every lane after its current epoch."""
from __future__ import annotations

import concurrent.futures
import threading
import time

import jax

from mlexp.io.progress import fmt_seconds
from mlexp.sweeps import balance
from mlexp.sweeps.execute import GroupRun, finished_group, rung_values, save_best_params
from mlexp.sweeps.executors import Step
from mlexp.training import hooks as result_hooks, loop


class CompileAhead:
  """Builds, initialises and compiles the next `ahead` groups in worker threads (XLA compiles without the
  GIL) while the current one trains."""

  def __init__(self, plans, data: loop.DataCache, ahead: int, lanes=None):
    self.plans, self.data, self.ahead, self.lanes = plans, data, ahead, dict(lanes or {})
    self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(ahead, 1))
    self.futures = {}

  def _prepare(self, plan):
    lane = self.lanes.get(plan.gid)
    ds, splits = self.data.get(plan.config, lane)
    group = loop.build_group(plan.config, ds, splits, list(plan.members), plan.slots, plan.branches, lane)
    return group, group.build()

  def get(self, i):
    for j in range(i, min(i + self.ahead + 1, len(self.plans))):
      if j not in self.futures:
        self.futures[j] = self.pool.submit(self._prepare, self.plans[j])
    return self.futures.pop(i).result()

  def close(self):
    self.pool.shutdown(wait=True, cancel_futures=True)


class LocalExecutor:
  """The executor interface (executors/__init__.py) in this process."""

  def __init__(self, res, compile_ahead: int):
    self.res, self.compile_ahead = res, int(compile_ahead)
    self.sw = res.sweep.config.sweep
    self.ahead, self.runs, self.start, self.index, self.todo = None, {}, {}, {}, []
    self.lane, self.lane_pools = {}, []
    self.io_lock, self.stop = threading.Lock(), threading.Event()

  def begin(self, groups) -> None:
    if self.ahead is not None:
      self.ahead.close()
    self.todo = balance.train_order(groups)  # the fastest compile first: it trains while the others compile
    self.index = {p.gid: k for k, p in enumerate(self.todo)}
    n_dev = len(jax.local_devices())
    self.lane = balance.lanes_for(self.sw, list(groups), n_dev)  # (plan order: as the plan's cache count places them)
    if self.lane and not self.lane_pools:
      self.lane_pools = [concurrent.futures.ThreadPoolExecutor(max_workers=1) for _ in range(n_dev)]
    self.ahead = CompileAhead(self.todo, self.res.data, self.compile_ahead, self.lane)
    self.runs, self.start = {}, {}

  def _group_run(self, p, sync: bool) -> GroupRun:
    gr = self.runs.get(p.gid)
    if gr is None:
      res = self.res
      hooks = [result_hooks.MetricsHook(res.jsonl, res.tb, int(p.config.epochs),
                                lambda m: f"trial_{m.trial:03d}_seed_{m.seed}", p.gid)]
      if p.gid in self.lane:  # trained in a lane's thread: stops on a signal, writes under the lock
        hooks = [Stoppable(self.stop)] + [Locked(h, self.io_lock) for h in hooks]
      self.start[p.gid] = time.perf_counter()
      gr = self.runs[p.gid] = GroupRun(p, self.ahead.get(self.index[p.gid]), res.sweep, res.data, res.history,
                                       hooks, sync=sync)
    return gr

  def advance(self, groups, until):
    groups = sorted(groups, key=lambda p: self.index[p.gid])  # (train_order)
    wide = [p for p in groups if p.gid not in self.lane]
    held = []
    for k, p in enumerate(wide):  # the wide groups, one after another
      gr = self._group_run(p, sync=until is not None)
      last = quiet_from(p) if until is None and k + 1 < len(wide) else 0
      if last:  # (a study: the next group builds meanwhile; its last epochs wait until every build is done)
        self._train_part(gr, last)
        held.append((p, gr))
        continue
      yield self._step(p, gr, until, *self._train_part(gr, until))
    for p, gr in held:
      yield self._step(p, gr, until, *self._train_part(gr, until))
    yield from self._lanes([p for p in groups if p.gid in self.lane], until)

  def _lanes(self, groups, until):
    """The narrow groups, side by side on their devices (a thread a lane); yielded in their train order."""
    pending = []
    try:
      for p in groups:
        gr = self._group_run(p, sync=until is not None)  # (waits for its build: the lanes train meanwhile)
        pending.append((p, gr, self.lane_pools[self.lane[p.gid]].submit(self._train_part, gr, until)))
        while pending and pending[0][2].done():
          q, qgr, fut = pending.pop(0)
          yield self._step(q, qgr, until, *fut.result())
      while pending:
        q, qgr, fut = pending.pop(0)
        yield self._step(q, qgr, until, *fut.result())
    except BaseException:  # a signal or an error: every lane stops after its current epoch
      self.stop.set()
      concurrent.futures.wait([f for _, _, f in pending])
      raise

  def _train_part(self, gr, until):
    """The group to `until` (in a lane's thread, or this one); (seconds, model-epochs trained)."""
    t, used = time.perf_counter(), gr.run.used
    if not gr.run.finished:
      gr.train(until=until)
    return time.perf_counter() - t, gr.run.used - used

  def _step(self, p, gr, until, seconds, trained):
    if until is None:
      return p, Step(gr.run.finished)
    self._part_line(until, p, gr, seconds, trained)
    at_rung = not gr.run.finished and gr.epoch == until
    return p, Step(gr.run.finished, rung_values(gr.run, self.sw.metric) if at_rung else None)

  def _part_line(self, epoch, p, gr, seconds, trained) -> None:
    # progress inside a segment (the first one compiles every program: the longest wait for a line)
    first = gr.epoch <= int(self.sw.asha.grace)
    self.res.say(f"[rung epoch {epoch} | group {self.index[p.gid] + 1}/{len(self.todo)}] {trained} model-epochs"
                 + (f", compile {gr.run.times['compile_s']:.1f}s" if first else "")
                 + f", {fmt_seconds(seconds)} | elapsed {fmt_seconds(self.res.elapsed())}")

  def cut(self, gid, epoch, values, losers) -> None:
    self.runs[gid].apply_decision(epoch, values, losers)

  def finished(self, p) -> bool:
    return self.runs[p.gid].run.finished

  def finish(self, p):
    gr = self.runs[p.gid]
    with self.io_lock:  # (TensorBoard's HParams while lanes write their scalars)
      out = finished_group(gr, self.res.sweep, self.res.tb)
    save_best_params(self.res.sweep.workdir, self.res.ckpt_name, out, p)
    # wall seconds: a group run alone from its compile wait to its checkpoint; one of many in segments, its own
    out.wall_s = sum(out.times.values()) if gr.sync else time.perf_counter() - self.start[p.gid]
    gr.run.state = None  # a written group's device buffers can go
    return out

  def progress(self) -> tuple:
    runs = self.runs.values()
    return (sum(gr.run.used for gr in runs),
            sum(gr.run.times[k] for gr in runs for k in ("train_s", "eval_s", "write_s")))

  def close(self) -> None:
    self.stop.set()
    for pool in self.lane_pools:
      pool.shutdown(wait=True, cancel_futures=True)
    self.lane_pools = []
    if self.ahead is not None:
      self.ahead.close()
      self.ahead = None


def quiet_from(plan) -> int:
  """Where members are timed (config.time_members: a study's train_s), the epoch a group trained while later
  groups build stops at, its members' last epochs held until no group builds (0: not held). A group trained
  first trains beside the next one's compile (compile ahead): every epoch of its members would share the cores
  with it, and their train_s would rest on a slowdown estimate; a held last epoch is measured alone."""
  if plan.config.get("time_members") != "on":
    return 0
  own = [int(m.epochs) for m in plan.members if int(m.epochs) > 0]
  return max(0, min(own + [int(plan.config.epochs)]) - 1)


class Stopped(Exception):
  """A lane's group stopped by a signal to the sweep (the main thread raises the signal itself)."""


class Stoppable:
  """The first hook of a group in a lane: ends its training after the current epoch once `stop` is set."""

  def __init__(self, stop: threading.Event):
    self.stop = stop

  def after_epoch(self, run, e, m, dt):
    if self.stop.is_set():
      raise Stopped()


class Locked:
  """A hook whose calls hold `lock` (writers shared by the lanes)."""

  def __init__(self, hook, lock):
    self.hook, self.lock = hook, lock
    self.time_kind = getattr(hook, "time_kind", "write_s")

  def after_epoch(self, run, e, m, dt):
    with self.lock:
      self.hook.after_epoch(run, e, m, dt)

