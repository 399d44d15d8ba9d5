"""Sweep execution: the groups of a plan through the epoch loop (train/loop.py), compiled ahead in worker
threads; ASHA cuts between epochs; frozen members dropped when that saves more than a recompile costs;
the best single model's parameters kept for the best-trial checkpoint."""
from __future__ import annotations

import concurrent.futures
import math
import time

import jax
import numpy as np

from mlexp.io import workdir as wd
from mlexp.io.checkpoints import save_params
from mlexp.sweep import asha, balance
from mlexp.sweep.space import get_field, knob_value, value_str
from mlexp.train import loop
from mlexp.train.program import CUT, RUNNING


class CompileAhead:
  """Builds, initialises and compiles the next `ahead` groups in worker threads (XLA compiles without the
  GIL) while the current one trains."""

  def __init__(self, plans, data: loop.DataCache, ahead: int):
    self.plans, self.data, self.ahead = plans, data, ahead
    self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(ahead, 1))
    self.futures = {}

  def _prepare(self, plan):
    ds, splits = self.data.get(plan.config)
    group = loop.build_group(plan.config, ds, splits, list(plan.members), plan.slots)
    return group, group.build()

  def get(self, i):
    for j in range(i, min(i + self.ahead + 1, len(self.plans))):
      if j not in self.futures:
        self.futures[j] = self.pool.submit(self._prepare, self.plans[j])
    return self.futures.pop(i).result()

  def close(self):
    self.pool.shutdown(wait=True, cancel_futures=True)


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
    for i in self._cut(run, m, e):
      run.records.status[i], run.records.stopped_by[i] = CUT, "asha"
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
  status = np.asarray(run.state.status)[: run.group.size].copy()
  cut = []
  for j, i in enumerate(run.pos):
    if run.members[i].trial in losers and status[j] == RUNNING:
      status[j] = CUT
      cut.append(i)
  run.state = run.group.set_status(run.state, status)
  return cut


def drop_if_worth_it(run, epochs: int, epoch: int, dt: float, hooks, rebuild) -> None:
  """Continues with only the running members in a smaller group when that saves more than two recompiles."""
  g = run.group
  n_run = int(g.running(run.state).sum())
  saved = (g.size - n_run) * (epochs - epoch) * dt / max(g.size, 1)
  if 0 < n_run <= g.size // 2 and saved > 2 * g.recompile_s:
    run.drop_frozen(hooks, rebuild)


def balance_devices(run) -> bool:
  """Spreads the running members of a group over its devices by their work when they sit unevenly (CPU,
  several devices, members one after another: sweep/balance.py); True when the slots were reordered."""
  g = run.group
  if len(g.devices) < 2 or g.member_loop != "map":
    return False
  flops = [balance.member_cost(g.config.model, m, g.feature_shape, g.num_classes) for m in g.members]
  # a member's epoch also has a part that does not grow with its FLOPs (evaluation, per-step work): about an
  # average member's compute (the course's GRU group: 0.15 s + 0.087 s a layer, at 0.32 s for 2 layers)
  cost = [f + float(np.mean(flops)) for f in flops]
  order = balance.balanced_order(g.running(run.state), cost, len(g.devices), g.padded)
  if order is None:
    return False
  run.reorder(order)
  return True


class BalanceHook:
  """After every epoch (after the ASHA cuts and early stops of that epoch): balance_devices."""
  time_kind = "train_s"

  def after_epoch(self, run, e, m, dt):
    balance_devices(run)


class BestParamsHook:
  """Keeps the parameters of the best member among those leaving the group: the highest validation accuracy at
  its best epoch, ties broken by the lower validation loss (test without a validation split:
  Records.selection_key)."""

  def __init__(self):
    self.acc, self.loss, self.member, self.params = -1.0, math.inf, None, None

  def leaving(self, run, js):
    rec = run.records
    j_best = max(js, key=lambda j: rec.selection_key(run.pos[j]))
    key = rec.selection_key(run.pos[j_best])
    if key > (self.acc, -self.loss):
      (self.acc, self.loss), self.member = (key[0], -key[1]), run.pos[j_best]
      self.params = jax.device_get(jax.tree.map(lambda a: a[j_best], run.state.best_params))


def history_of(done: dict) -> dict:
  """ASHA rung values of the finished groups (groups/*.json), rung epoch -> finite values."""
  hist: dict = {}
  for d in done.values():
    for e, vals in d.get("rungs", {}).items():
      hist.setdefault(int(e), []).extend(v for v in vals if v is not None and math.isfinite(v))
  return hist


class GroupRun:
  """One group of a sweep in training: its Run, hooks (metrics, ASHA, extra tests, confusion, best
  parameters) and epochs. `sync`: ASHA decisions are made by the caller across groups (sweep/sync.py)."""

  def __init__(self, plan, prepared, sweep, data: loop.DataCache, history, metric_hooks, sync=False):
    cfg = plan.config
    ds, splits = data.get(cfg)
    self.plan, self.epochs = plan, int(cfg.epochs)
    # prepared: (group, state), or a Run already built (a group restored on a Ray worker: sweep/segment.py)
    self.run = prepared if isinstance(prepared, loop.Run) else loop.Run(*prepared, list(plan.members))
    self.best = BestParamsHook()
    self.leaving = [loop.ExtraTestsHook(ds), loop.ClassificationHook(ds), self.best]
    self.rebuild = lambda ms: loop.build_group(cfg, ds, splits, ms)
    self.ash = AshaHook(sweep.config.sweep, self.epochs, history, self.rebuild, self.leaving, gid=plan.gid)
    if sync:
      self.ash.rung_epochs = []
    self.hooks = [*metric_hooks(plan.gid), self.ash, *self.leaving, BalanceHook()]
    if self.run.used == 0:  # before the first epoch too: a chunk with spare slots has its members unevenly
      balance_devices(self.run)

  def train(self, until=None):
    loop.train(self.run, self.epochs, int(self.run.records.epochs_run.max()), self.hooks, until)


def run_group(plan, prepared, sweep, data: loop.DataCache, history, metric_hooks, tb, ckpt_name):
  """Trains one group to the end; returns (rows, rung values, times, member-epochs trained)."""
  gr = GroupRun(plan, prepared, sweep, data, history, metric_hooks)
  gr.train()
  return outcome_of(gr, sweep, tb, ckpt_name)


def outcome_of(gr: GroupRun, sweep, tb, ckpt_name):
  """The rows of a finished group (and its TensorBoard HParams, best-trial checkpoint)."""
  plan, run, best, cfg = gr.plan, gr.run, gr.best, gr.plan.config
  members = list(plan.members)
  run.records.add_compile_share(run.times["compile_s"], range(len(members)))
  rows = []
  for i, mem in enumerate(members):
    values = sweep.plan.trials[mem.trial]
    row = run.records.row(i, mem, plan.gid)
    study = sweep.config.sweep.get("algorithm") == "one_at_a_time"  # a study's trials hold their knob only
    row = {"trial": row["trial"], "group": row["group"], **(knob_value(values) if study else {}),
           **{f: value_str(values.get(f, get_field(sweep.config if study else cfg, f))) for f in sweep.plan.fields},
           **row}
    rows.append(row)
    tb.write_hparams(f"trial_{mem.trial:03d}_seed_{mem.seed}",
                     {**{f: value_str(row[f]) for f in sweep.plan.fields}, "seed": mem.seed},
                     {"hparam/test_accuracy": row["test_accuracy"], "hparam/test_loss": row["best_test_loss"],
                      "hparam/wall_s": row["wall_s"]})
  t = time.perf_counter()
  _save_best_params(sweep.workdir, ckpt_name, rows, best, plan, members)
  run.times["write_s"] += time.perf_counter() - t
  return rows, gr.ash.rung_values, run.times, run.used


def _save_best_params(workdir, name, rows, best, plan, members):
  """checkpoints/<name>: the best model of this group if it beats the one saved (each shard keeps its own
  best_trial.shard<i>; merge keeps the best of them as best_trial). The meta keeps what rebuilds its model
  (mlexp.api): a member of a padded group has the group's (bucket) model and its own true `dims`."""
  if best.params is None or name is None:  # name None: a Ray worker; the driver saves (sweep/ray_backend.py)
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
