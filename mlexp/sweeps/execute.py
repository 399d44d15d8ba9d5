"""One group of a sweep through the epoch loop (training/loop.py): its hooks (ASHA cuts between epochs, frozen
members dropped when that saves more than a recompile costs, devices balanced, the best single model's
parameters kept), a rung decision applied to it, and what it leaves when finished (FinishedGroup: result rows,
the best-trial checkpoint).
The executors (sweeps/executors/) drive GroupRuns: in this process, or on Ray workers (sweeps/segment.py)."""
from __future__ import annotations

import dataclasses
import math
import os
import time

import jax
import numpy as np

from mlexp.io import workdir as wd
from mlexp.io.checkpoints import save_params
from mlexp.io.signals import SignalHook
from mlexp.sweeps import asha, balance, trial_time
from mlexp.sweeps.space import get_field, knob_value, value_str
from mlexp.training import hooks as result_hooks, loop
from mlexp.training.program import CUT, RUNNING


@dataclasses.dataclass
class SweepContext:
  """What the execution of a group reads of its sweep: the sweep's config, trial id -> swept values, the swept
  fields (result columns) and the workdir (None on a Ray worker, which writes nothing)."""
  config: object
  trials: list
  fields: list
  workdir: str | None = None


class AshaHook:
  """At the rungs grace * factor**k: stops the trials (all their seeds) whose metric is not in the top
  1/factor of all values seen at that rung (`history`: this group's and earlier ones', a dict or a board
  with `report_and_keep`: asha.LocalBoard, or the Ray backend's shared one); then drops the frozen members
  when that saves more than two recompiles."""
  time_kind = "other"  # (a rebuild's compile is counted by the run)

  def __init__(self, sw, epochs, history, rebuild, hooks, gid=None):
    self.sw, self.epochs, self.rebuild, self.hooks, self.gid = sw, epochs, rebuild, hooks, gid
    self.board = history if hasattr(history, "report_and_keep") else asha.LocalBoard(history)
    self.rung_epochs = asha.rungs(int(sw.asha.grace), int(sw.asha.factor), epochs) if sw.mode == "asha" else []
    self.rung_values = {}

  def after_epoch(self, run, e, m, dt):
    if e not in self.rung_epochs:
      return
    run.cut(self._cut(run, m, e), "asha")
    drop_if_worth_it(run, self.epochs, e, dt, self.hooks, self.rebuild)

  def _cut(self, run, m, epoch):
    trials, vals = rung_values(run, self.sw.metric, m)
    if not trials:
      return []
    keep = self.board.report_and_keep(epoch, vals, int(self.sw.asha.factor),
                                      asha.metric_mode(self.sw.metric), key=self.gid)
    self.rung_values[epoch] = vals
    return cut_trials(run, {t for t, k in zip(trials, keep) if not k})


def rung_values(run, metric: str, m=None):
  """(trials, mean metric over each trial's seeds) of the members that are running and trained the last
  epoch (m: that epoch's metrics; None: the records' latest values). sweep.metric val_* ranks on the
  validation split, on the test set when the group has none (data.validation_fraction=0)."""
  key = asha.metric_key(metric, run.group.val is not None)
  latest = {"test_loss": run.records.final_loss, "test_accuracy": run.records.final_acc,
            "val_loss": run.records.final_val_loss, "val_accuracy": run.records.final_val_acc}[key]
  running = run.group.running(run.state)
  by_trial: dict = {}
  for j, i in enumerate(run.pos):
    if not running[j] or (m is not None and not m["trained"][j]):
      continue
    v = float(m[key][j]) if m is not None else float(latest[i])
    by_trial.setdefault(run.members[i].trial, []).append(v)
  trials = sorted(by_trial)
  return trials, [float(np.mean(by_trial[t])) for t in trials]


def cut_trials(run, losers: set) -> list:
  """Stops every running member of the trials `losers` (status CUT, no recompile); returns their indices."""
  if not losers:
    return []
  status = run.group.member_status(run.state)
  cut = []
  for j, i in enumerate(run.pos):
    if run.members[i].trial in losers and status[j] == RUNNING:
      status[j] = CUT
      cut.append(i)
  run.state = run.group.set_status(run.state, status)
  return cut


def drop_if_worth_it(run, epochs: int, epoch: int, dt: float, hooks, rebuild) -> None:
  """Continues with only the running members in a smaller group when that saves more than two recompiles,
  where a stopped member's slot costs an epoch's share: vmapped members (GPU / TPU), every slot computes. Members
  one after another (member_loop map, CPU) skip a stopped one's epoch and update the state in place, and
  balance_devices spreads the running ones: the recompile there was wall time with nothing else to run (2-core
  machine, cold cache, one pair each: the LSTM course search 32.8 s without it against 38.4 s, mlp_course 52.4
  against 57.0 s; benchmarks/RESULTS.md)."""
  g = run.group
  if g.member_loop == "map":
    return
  n_run = int(g.running(run.state).sum())
  saved = (g.size - n_run) * (epochs - epoch) * dt / max(g.size, 1)
  if 0 < n_run <= g.size // 2 and saved > 2 * g.recompile_s:
    run.drop_frozen(hooks, rebuild)


def balance_devices(run) -> bool:
  """Spreads the running members of a group over its devices by their work when they sit unevenly (CPU,
  several devices, members one after another: sweeps/balance.py); True when the slots were reordered."""
  g = run.group
  if len(g.devices) < 2 or g.member_loop != "map":
    return False
  work = [balance.member_cost(g.config.model, m, g.feature_shape, g.num_classes, int(g.config.batch_size))
          for m in g.members]
  # a member's epoch also has a part that does not grow with its work (evaluation, the loop): about an
  # average member's compute (the course's GRU group: 0.15 s + 0.087 s a layer, at 0.32 s for 2 layers)
  cost = [f + float(np.mean(work)) for f in work]
  order = balance.balanced_order(g.running(run.state), cost, len(g.devices), g.slots, slot_of=g.slot_of)
  if order is None:
    return False
  run.reorder(order)
  return True


class BalanceHook:
  """After every epoch (after the ASHA cuts and early stops of that epoch): balance_devices."""
  time_kind = "train_s"

  def after_epoch(self, run, e, m, dt):
    balance_devices(run)


@dataclasses.dataclass
class Best:
  """A group's best member so far: its selection accuracy, member index and parameters (None: none left)."""
  acc: float
  member: int | None
  params: object


class BestParamsHook:
  """Keeps the parameters of the best member among those leaving the group: the highest validation accuracy at
  its best epoch, ties broken by the lower validation loss (test without a validation split:
  Records.selection_key)."""

  def __init__(self, best=None):
    self.acc, self.loss, self.member, self.params = -1.0, math.inf, None, None
    if best is not None:  # (a group rebuilt on a Ray worker from its snapshot)
      self.acc, self.member, self.params = best

  def result(self) -> "Best":
    return Best(self.acc, self.member, self.params)

  def leaving(self, run, js):
    rec = run.records
    j_best = max(js, key=lambda j: rec.selection_key(run.pos[j]))
    key = rec.selection_key(run.pos[j_best])
    if key > (self.acc, -self.loss):
      (self.acc, self.loss), self.member = (key[0], -key[1]), run.pos[j_best]
      slot = int(run.group.slot_of[j_best])
      self.params = jax.device_get(jax.tree.map(lambda a: a[slot], run.state.best_params))


def history_of(done: dict) -> dict:
  """ASHA rung values of the finished groups (groups/*.json), rung epoch -> finite values."""
  hist: dict = {}
  for d in done.values():
    for e, vals in d.get("rungs", {}).items():
      hist.setdefault(int(e), []).extend(v for v in vals if v is not None and math.isfinite(v))
  return hist


class GroupRun:
  """One group of a sweep in training: its loop.Training, hooks (metrics, ASHA, extra tests, confusion, best
  parameters) and epochs. `sync`: ASHA decisions are made across groups by the rung loop (executors/rungs.py)
  and applied with `apply_decision`; otherwise AshaHook asks `board` (asha.LocalBoard, a history dict, or the
  Ray backend's shared board) at each rung. best, rung_values: a group rebuilt from a snapshot (segment.py)."""

  def __init__(self, plan, prepared, sweep: SweepContext, data: loop.DataCache, board, metric_hooks, sync=False,
               best=None, rung_values=None):
    cfg = plan.config
    self.plan, self.epochs, self.sync = plan, int(cfg.epochs), sync
    # prepared: (group, state), or a loop.Training already built (a group restored on a Ray worker: segment.py)
    self.run = prepared if isinstance(prepared, loop.Training) else loop.Training(*prepared, list(plan.members))
    lane = self.run.group.lane or None  # a narrow group on a device of its own: rebuilt there
    ds, splits = data.get(cfg, lane)
    self.best = BestParamsHook(best)
    self.leaving = [result_hooks.ExtraTestsHook(ds), result_hooks.ClassificationHook(ds), self.best]
    self.rebuild = lambda ms, branches=(): loop.build_group(cfg, ds, splits, ms, branches=branches, lane=lane)
    self.ash = AshaHook(sweep.config.sweep, self.epochs, board, self.rebuild, self.leaving, gid=plan.gid)
    self.ash.rung_values = dict(rung_values or {})
    if sync:
      self.ash.rung_epochs = []
    self.hooks = [*metric_hooks, self.ash, *self.leaving, BalanceHook(), SignalHook()]
    if self.run.used == 0:  # before the first epoch too: a chunk with spare slots has its members unevenly
      balance_devices(self.run)

  @property
  def epoch(self) -> int:
    """The last epoch trained (by any member)."""
    return int(self.run.records.epochs_run.max())

  def train(self, until=None):
    loop.train(self.run, self.epochs, self.epoch, self.hooks, until)

  def apply_decision(self, epoch: int, vs, losers: set) -> None:
    """A rung decision (asha.decide over every group) on this group: the losing trials stopped; the group
    finished when none runs, else shrunk when that is worth a recompile."""
    run = self.run
    self.ash.rung_values[epoch] = vs
    run.cut(cut_trials(run, losers), "asha")
    if not run.group.running(run.state).any():
      loop.finish(run, self.leaving)
    else:
      last = max(run.times["train_s"] / max(epoch, 1), 1e-9)
      drop_if_worth_it(run, self.epochs, epoch, last, self.leaving, self.rebuild)
      balance_devices(run)


@dataclasses.dataclass
class FinishedGroup:
  """A finished group: its result rows, ASHA rung values (epoch -> values), seconds by kind, member-epochs
  trained, its best member (for the best-trial checkpoint) and its wall seconds."""
  rows: list
  rungs: dict
  times: dict
  used: int
  best: Best
  wall_s: float = 0.0


def finished_group(gr: GroupRun, sweep: SweepContext, tb) -> FinishedGroup:
  """The rows of a finished group (and its TensorBoard HParams)."""
  plan, run, cfg = gr.plan, gr.run, gr.plan.config
  members = list(plan.members)
  run.records.add_compile_share(run.times["compile_s"], range(len(members)))
  rows = []
  for i, mem in enumerate(members):
    values = sweep.trials[mem.trial]
    row = run.records.row(i, mem, plan.gid)
    study = sweep.config.sweep.get("algorithm") == "one_at_a_time"  # a study's trials hold their knob only
    row = {"trial": row["trial"], "group": row["group"], **(knob_value(values) if study else {}),
           **{f: value_str(values.get(f, get_field(sweep.config if study else cfg, f))) for f in sweep.fields},
           **row}
    rows.append(row)  # (HParams: one session per trial, mean over seeds, when the sweep ends: mlexp/io/hparams.py)
  g = run.group  # train_s: each model's own training seconds (sweeps/trial_time.py)
  rows = trial_time.group_rows(rows, trial_time.member_works(cfg, members, g.feature_shape, g.num_classes, g.n_train,
                                                             trial_time.eval_examples(g)), run.times["train_s"],
                                 trial_time.cpu_share(jax.local_device_count(), len(os.sched_getaffinity(0))),
                                 single=(int(cfg.get("seeds", 1)), jax.local_device_count()))
  return FinishedGroup(rows, gr.ash.rung_values, run.times, run.used, gr.best.result())


def save_best_params(workdir, name, out: FinishedGroup, plan) -> None:
  """checkpoints/<name>: the best model of this group if it beats the one saved (each shard keeps its own
  best_trial.shard<i>; merge keeps the best of them as best_trial). The meta keeps what rebuilds its model
  (mlexp.api): a member of a padded group has the group's (bucket) model and its own true `dims`. The time it
  takes counts as the group's write_s."""
  t = time.perf_counter()
  _save_best(workdir, name, out.rows, out.best, plan, list(plan.members))
  out.times["write_s"] += time.perf_counter() - t


def _save_best(workdir, name, rows, best, plan, members):
  if best.params is None:
    return
  prev = wd.best_trial_meta(workdir, name)
  row = rows[best.member]
  num = lambda v: math.nan if v is None else float(v)  # (a meta's inf is the string "inf")
  loss = num(row.get("best_val_loss"))
  loss = num(row["best_test_loss"]) if math.isnan(loss) else loss  # (no validation split: the test set's)
  prev = prev or {}
  if (best.acc, -loss) <= (num(prev.get("selection_accuracy", prev.get("test_accuracy", -1.0))),
                           -num(prev.get("selection_loss", -math.inf))):
    return
  d = save_params(wd.path(workdir, "checkpoints", name), best.params)
  dims = dict(members[best.member].dims)
  # a padded group's parameters have the bucket's shapes: the model to rebuild them is the group's, with dims
  wd.write_best_trial_meta(workdir, name, {"trial": row["trial"], "seed": row["seed"],
                                           "test_accuracy": row["test_accuracy"], "selection_accuracy": best.acc,
                                           "selection_loss": loss,
                                           "checkpoint": d, "padded": bool(dims),
                                           "model": plan.config.model.to_dict() if dims else None,
                                           "dims": {k: list(v) if isinstance(v, tuple) else v for k, v in dims.items()}})
