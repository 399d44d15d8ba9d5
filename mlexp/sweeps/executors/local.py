"""LocalExecutor: the groups of a sweep trained in this process, one after another, each group's program
built and compiled ahead in worker threads (`sweep.compile_ahead`) while the group before it trains. With
rung-synchronous ASHA every group stays compiled and on the device until it finishes."""
from __future__ import annotations

import concurrent.futures
import time

from mlexp.io.progress import fmt_seconds
from mlexp.sweeps.execute import GroupRun, finished_group, rung_values, save_best_params
from mlexp.sweeps.executors import Step
from mlexp.training import loop


class CompileAhead:
  """Builds, initialises and compiles the next `ahead` groups in worker threads (XLA compiles without the
  GIL) while the current one trains."""

  def __init__(self, plans, data: loop.DataCache, ahead: int):
    self.plans, self.data, self.ahead = plans, data, ahead
    self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(ahead, 1))
    self.futures = {}

  def _prepare(self, plan):
    ds, splits = self.data.get(plan.config)
    group = loop.build_group(plan.config, ds, splits, list(plan.members), plan.slots, plan.branches)
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

  def begin(self, groups) -> None:
    if self.ahead is not None:
      self.ahead.close()
    self.todo = list(groups)
    self.index = {p.gid: k for k, p in enumerate(self.todo)}
    self.ahead = CompileAhead(self.todo, self.res.data, self.compile_ahead)
    self.runs, self.start = {}, {}

  def _group_run(self, p, sync: bool) -> GroupRun:
    gr = self.runs.get(p.gid)
    if gr is None:
      res = self.res
      hooks = [loop.MetricsHook(res.jsonl, res.tb, int(p.config.epochs),
                                lambda m: f"trial_{m.trial:03d}_seed_{m.seed}", p.gid)]
      self.start[p.gid] = time.perf_counter()
      gr = self.runs[p.gid] = GroupRun(p, self.ahead.get(self.index[p.gid]), res.sweep, res.data, res.history,
                                       hooks, sync=sync)
    return gr

  def advance(self, groups, until):
    for p in groups:
      t = time.perf_counter()
      gr = self._group_run(p, sync=until is not None)
      used = gr.run.used
      if not gr.run.finished:
        gr.train(until=until)
      if until is None:
        yield p, Step(gr.run.finished)
        continue
      self._part_line(until, p, gr, time.perf_counter() - t, gr.run.used - used)
      at_rung = not gr.run.finished and gr.epoch == until
      yield p, Step(gr.run.finished, rung_values(gr.run, self.sw.metric) if at_rung else None)

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
    if self.ahead is not None:
      self.ahead.close()
      self.ahead = None

