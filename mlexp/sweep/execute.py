"""Sweep execution: the groups of a plan through the epoch loop (train/loop.py), compiled ahead in worker
threads; ASHA cuts between epochs; frozen members dropped when that saves more than a recompile costs;
the best single model's parameters kept for the best-trial checkpoint."""
from __future__ import annotations

import concurrent.futures
import math

import jax
import numpy as np

from mlexp.io import workdir as wd
from mlexp.io.checkpoints import save_params
from mlexp.sweep import asha
from mlexp.sweep.space import get_field, value_str
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
    group = loop.build_group(plan.config, ds, splits, list(plan.members))
    state = group.init()
    group.compile(state)
    return group, state

  def get(self, i):
    for j in range(i, min(i + self.ahead + 1, len(self.plans))):
      if j not in self.futures:
        self.futures[j] = self.pool.submit(self._prepare, self.plans[j])
    return self.futures.pop(i).result()

  def close(self):
    self.pool.shutdown(wait=True, cancel_futures=True)


class AshaHook:
  """At the rungs grace * factor**k: stops the trials (all their seeds) whose metric is not in the top
  1/factor of all values seen at that rung (`history`: this group's and earlier ones'); then drops the
  frozen members when that saves more than two recompiles."""

  def __init__(self, sw, epochs, history, rebuild, hooks):
    self.sw, self.epochs, self.history, self.rebuild, self.hooks = sw, epochs, history, rebuild, hooks
    self.rung_epochs = asha.rungs(int(sw.asha.grace), int(sw.asha.factor), epochs) if sw.mode == "asha" else []
    self.rung_values = {}

  def after_epoch(self, run, e, m, dt):
    if e not in self.rung_epochs:
      return
    for i in self._cut(run, m, e):
      run.records.status[i], run.records.stopped_by[i] = CUT, "asha"
    g = run.group
    n_run = int(g.running(run.state).sum())
    saved = (g.size - n_run) * (self.epochs - e) * dt / max(g.size, 1)
    if 0 < n_run <= g.size // 2 and saved > 2 * g.compile_s:
      run.drop_frozen(self.hooks, self.rebuild)

  def _cut(self, run, m, epoch):
    metric = "test_loss" if self.sw.metric == "test_loss" else "test_accuracy"
    running = run.group.running(run.state)
    by_trial: dict = {}
    for j, i in enumerate(run.pos):
      if running[j] and m["trained"][j]:
        by_trial.setdefault(run.members[i].trial, []).append(float(m[metric][j]))
    if not by_trial:
      return []
    trials = sorted(by_trial)
    vals = [float(np.mean(by_trial[t])) for t in trials]
    hist = self.history.setdefault(epoch, [])
    keep = asha.keep(hist, vals, int(self.sw.asha.factor), "min" if metric == "test_loss" else "max")
    hist.extend(v for v in vals if math.isfinite(v))
    self.rung_values[epoch] = vals
    losers = {t for t, k in zip(trials, keep) if not k}
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


class BestParamsHook:
  """Keeps the parameters of the best member (highest best accuracy) among those leaving the group."""

  def __init__(self):
    self.acc, self.member, self.params = -1.0, None, None

  def leaving(self, run, js):
    rec = run.records
    j_best = max(js, key=lambda j: rec.best_acc[run.pos[j]])
    if rec.best_acc[run.pos[j_best]] > self.acc:
      self.acc, self.member = float(rec.best_acc[run.pos[j_best]]), run.pos[j_best]
      self.params = jax.device_get(jax.tree.map(lambda a: a[j_best], run.state.best_params))


def history_of(done: dict) -> dict:
  """ASHA rung values of the finished groups (groups/*.json), rung epoch -> finite values."""
  hist: dict = {}
  for d in done.values():
    for e, vals in d.get("rungs", {}).items():
      hist.setdefault(int(e), []).extend(v for v in vals if v is not None and math.isfinite(v))
  return hist


def run_group(plan, prepared, sweep, data: loop.DataCache, history, metric_hooks, tb, ckpt_name):
  """Trains one group to the end; returns (rows, rung values, compile seconds, member-epochs trained)."""
  cfg, sw = plan.config, sweep.config.sweep
  ds, splits = data.get(cfg)
  members = list(plan.members)
  group, state = prepared
  run = loop.Run(group, state, members)
  best = BestParamsHook()
  hooks = [loop.ExtraTestsHook(ds), loop.ClassificationHook(ds), best]
  epochs = int(cfg.epochs)
  ash = AshaHook(sw, epochs, history, lambda ms: loop.build_group(cfg, ds, splits, ms), hooks)
  loop.train(run, epochs, 0, [*metric_hooks(plan.gid), ash, *hooks])
  rows = []
  for i, mem in enumerate(members):
    values = sweep.plan.trials[mem.trial]
    row = run.records.row(i, mem, plan.gid)
    row = {"trial": row["trial"], "group": row["group"],
           **{f: value_str(values.get(f, get_field(cfg, f))) for f in sweep.plan.fields}, **row}
    rows.append(row)
    tb.write_hparams(f"trial_{mem.trial:03d}_seed_{mem.seed}",
                     {**{f: value_str(row[f]) for f in sweep.plan.fields}, "seed": mem.seed},
                     {"hparam/test_accuracy": row["test_accuracy"], "hparam/test_loss": row["best_test_loss"],
                      "hparam/wall_s": row["wall_s"]})
  _save_best_params(sweep.workdir, ckpt_name, rows, best, cfg.model, members)
  return rows, ash.rung_values, run.group.compile_s, run.used


def _save_best_params(workdir, name, rows, best, group_model, members):
  """checkpoints/<name>: the best model of this group if it beats the one saved (each shard keeps its own
  best_trial.shard<i>; merge keeps the best of them as best_trial). The meta keeps what rebuilds its model
  (mlexp.api): a member of a padded group has the group's (bucket) model and its own true `dims`."""
  if best.params is None:
    return
  prev = wd.best_trial_meta(workdir, name)
  if best.acc <= (prev or {}).get("test_accuracy", -1.0):
    return
  row = rows[best.member]
  d = save_params(wd.path(workdir, "checkpoints", name), best.params)
  dims = dict(members[best.member].dims)
  wd.write_best_trial_meta(workdir, name, {"trial": row["trial"], "seed": row["seed"], "test_accuracy": best.acc,
                                           "checkpoint": d, "model": group_model.to_dict() if dims else None,
                                           "dims": {k: list(v) if isinstance(v, tuple) else v for k, v in dims.items()}})
