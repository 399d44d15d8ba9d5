"""Rung-synchronous ASHA across groups (`sweep.asha.sync`, the default with `sweep.mode=asha`).

Groups are trained segment by segment: every group up to the first rung (grace), then one decision over
the trials of all groups at that rung (the top 1/factor continue, `asha.keep`), then every group up to the
next rung, and so on. This is successive halving with the whole search's values at each rung, the same
decision rule as asynchronous ASHA but without its leniency toward trials that reach a rung early (when
groups ran one after another, a group's trials were ranked only against the groups before it: on the
course's GRU search 269 member-epochs against 122 here). All groups stay compiled and on the device
until they finish; a group is written (groups/<gid>.json) when its last member stops.
"""
from __future__ import annotations

import math
import time

from mlexp.sweep import asha
from mlexp.sweep.execute import GroupRun, balance_devices, cut_trials, drop_if_worth_it, outcome_of, rung_values
from mlexp.train import loop
from mlexp.train.program import CUT


def segments(grace: int, factor: int, epochs: int) -> list:
  """The epochs at which training pauses for a decision: the rungs, then the last epoch."""
  rungs = asha.rungs(grace, factor, epochs)
  return rungs + ([epochs] if not rungs or rungs[-1] != epochs else [])


def run_sync(todo, ahead, sweep, data, history, metric_hooks, tb, ckpt_name, on_done, on_segment=None,
             on_group=None):
  """Trains the groups `todo` rung by rung; on_done(plan, rows, rung_values, times) as each finishes,
  on_segment(epoch, member-epochs trained so far, their seconds) after each segment, on_group(epoch, k,
  group run, seconds of its compile wait and training, member-epochs trained) after each group's part of a
  segment."""
  sw = sweep.config.sweep
  factor, mode = int(sw.asha.factor), asha.metric_mode(sw.metric)
  max_epochs = max(int(p.config.epochs) for p in todo)
  rungs = asha.rungs(int(sw.asha.grace), factor, max_epochs)
  runs: dict = {}
  for stop in segments(int(sw.asha.grace), factor, max_epochs):
    for k, p in enumerate(todo):
      t = time.perf_counter()
      if p.gid not in runs:
        runs[p.gid] = GroupRun(p, ahead.get(k), sweep, data, history, metric_hooks, sync=True)
      gr = runs[p.gid]
      if not gr.run.finished:
        used = gr.run.used
        gr.train(until=stop)
        if on_group is not None:
          on_group(stop, k, gr, time.perf_counter() - t, gr.run.used - used)
    if stop in rungs:
      _decide(runs, stop, history, factor, mode, sw.metric)
    if on_segment is not None:  # member-epochs so far, and the seconds they took (compile not counted)
      on_segment(stop, sum(gr.run.used for gr in runs.values()),
                 sum(gr.run.times[k] for gr in runs.values() for k in ("train_s", "eval_s", "write_s")))
    for p in todo:  # groups whose members have all stopped are done
      gr = runs.get(p.gid)
      if gr is not None and gr.run.finished and not getattr(gr, "written", False):
        gr.written = True
        rows, rung_vals, times, _ = outcome_of(gr, sweep, tb, ckpt_name)
        on_done(p, rows, rung_vals, times)
        _release(gr)


def _decide(runs: dict, epoch: int, history: dict, factor: int, mode: str, metric: str) -> None:
  """One ASHA decision at `epoch` over the trials of every group still running there."""
  per_group = {gid: rung_values(gr.run, metric) for gid, gr in runs.items()
               if not gr.run.finished and int(gr.run.records.epochs_run.max()) == epoch}
  for gid, (vs, losers) in decide(per_group, epoch, history, factor, mode).items():
    apply_decision(runs[gid], epoch, vs, losers)


def decide(per_group: dict, epoch: int, history: dict, factor: int, mode: str) -> dict:
  """The decision alone (pure but for `history`, which gets the rung's values): per_group gid -> (trials,
  values at the rung) -> gid -> (values, losing trials). The Ray backend makes it on the values its workers
  ship back (sweep/ray_backend.py), so its decisions are this process's."""
  vals = [v for trials, vs in per_group.values() for v in vs]
  if not vals:
    return {}
  hist = history.setdefault(epoch, [])
  keep = asha.keep(hist, vals, factor, mode)
  hist.extend(v for v in vals if math.isfinite(v))
  out, k = {}, 0
  for gid, (trials, vs) in per_group.items():
    out[gid] = (vs, {t for t, kept in zip(trials, keep[k:k + len(trials)]) if not kept})
    k += len(trials)
  return out


def apply_decision(gr, epoch: int, vs, losers: set) -> None:
  """A decision's cuts on one group: losers stopped; the group finished when none runs, else shrunk when
  that is worth a recompile."""
  gr.ash.rung_values[epoch] = vs
  for i in cut_trials(gr.run, losers):
    gr.run.records.status[i], gr.run.records.stopped_by[i] = CUT, "asha"
  if not gr.run.group.running(gr.run.state).any():
    loop.finish(gr.run, gr.leaving)
  else:
    last = max(gr.run.times["train_s"] / max(epoch, 1), 1e-9)
    drop_if_worth_it(gr.run, gr.epochs, epoch, last, gr.leaving, gr.rebuild)
    balance_devices(gr.run)


def _release(gr) -> None:
  """A written group's device buffers can go."""
  gr.run.state = None
