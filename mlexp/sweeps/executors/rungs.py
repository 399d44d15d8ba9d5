"""The rung loop: the groups of a batch through an executor (executors/__init__.py), with ASHA's decisions.

Asynchronous ASHA (`sweep.asha.sync=False`) and `mode=full`: every group to its end in one `advance`; each
group decides at its rungs against the values seen so far (asha.LocalBoard, shared), and is written as soon as
it finishes.

Rung-synchronous ASHA (`sweep.asha.sync`, the default with `mode=asha`): every group up to the first rung
(grace), then one decision over the trials of all groups at that rung (asha.decide: the top 1/factor
continue), then every group up to the next rung, and so on. The groups that have finished are written after
each segment's decision, in plan order. On the course's GRU search this trained 122 member-epochs where
groups ranked one after another (each against the groups before it) trained 269.
"""
from __future__ import annotations

from mlexp.sweeps import asha


def run(executor, groups, sw, history: dict, on_done, on_segment=None) -> None:
  """Trains the GroupPlans `groups` to their end; on_done(plan, FinishedGroup) as each is finished and saved;
  on_segment(epoch, groups still running) after each rung-synchronous segment."""
  executor.begin(groups)
  if not (sw.mode == "asha" and bool(sw.asha.sync)):
    for p, _ in executor.advance(list(groups), None):
      on_done(p, executor.finish(p))
    return
  factor, mode = int(sw.asha.factor), asha.metric_mode(sw.metric)
  max_epochs = max(int(p.config.epochs) for p in groups)
  stops = asha.segments(int(sw.asha.grace), factor, max_epochs)
  rungs = set(asha.rungs(int(sw.asha.grace), factor, max_epochs))
  active = list(groups)
  # (a last pass: an executor that applies a decision with the group's next segment finishes the groups cut
  # entirely at the last rung there)
  for k, stop in enumerate(stops + [max_epochs]):
    if not active:
      break
    at_rung = {}
    for p, step in executor.advance(active, stop):
      if step.rung is not None and not step.finished:
        at_rung[p.gid] = step.rung
    if stop in rungs:
      per_group = {p.gid: at_rung[p.gid] for p in groups if p.gid in at_rung}  # plan order
      for gid, (vs, losers) in asha.decide(per_group, stop, history, factor, mode).items():
        executor.cut(gid, stop, vs, losers)
    for p in list(active):  # plan order
      if executor.finished(p):
        active.remove(p)
        on_done(p, executor.finish(p))
    if on_segment is not None and k < len(stops):
      on_segment(stop, active)
