"""Runs a sweep: plan (sweeps/plan.py), execute every batch of groups with the executor of sweep.backend through
the rung loop (sweeps/executors/), record each finished group and the results (sweeps/record.py). The files are
those of mlexp/io/workdir.py.

Shards (launch/): the groups k with k % num_shards == shard_index; each shard writes its groups/<gid>.json,
metrics.shard<i>.jsonl and best_trial.shard<i>; `merge` (sweeps/record.py) writes results, summary and
best config when all are done.
"""
from __future__ import annotations

import os
import shlex
import time

from mlexp.config import ConfigError, validate_dataset, validate_kind
from mlexp.io import workdir as wd
from mlexp.io.best_model import repair_best_trial
from mlexp.io.progress import Progress, fmt_seconds
from mlexp.io.writers import JsonlWriter, TensorBoard
from mlexp.summary import best_words
from mlexp.sweeps import execute, widths
from mlexp.sweeps.execute import SweepContext
from mlexp.sweeps.executors import Resources, rungs
from mlexp.sweeps.executors.local import LocalExecutor
from mlexp.sweeps.record import merge, write_best_and_summary, write_results  # noqa: F401 (merge: launch/merge.py)
from mlexp.sweeps.plan import describe, estimate, estimates, plan_sweep, plan_trials, unsharded
from mlexp.training import hooks as result_hooks, loop


class SweepRunner:

  def __init__(self, config, workdir: str, stream=None, shard: tuple = (0, 1)):
    self.config, self.workdir, self.shard = config, workdir, shard
    self.progress = Progress(1, what="group", stream=stream)
    self.say = self.progress.line
    self.data = loop.DataCache(self.say)
    self.platform = loop.platform()
    self.search = None  # sweep.algorithm=tpe: the plan grows batch by batch (sweeps/tpe.py)
    if config.sweep.get("algorithm", "auto") == "tpe":
      from mlexp.sweeps.tpe import TpeSearch
      self.search = TpeSearch(config, lambda trials: plan_trials(config, trials, self._dataset, self.platform),
                              self.say)
      self.plan = self.search.plan
    else:
      self.plan = plan_sweep(config, data=self._dataset, platform=self.platform)

  def _dataset(self, cfg):
    ds = self.data.get(cfg)[0]
    validate_kind(cfg, ds)  # before the planner prices a model on data it cannot read (npz: kind known now)
    return ds

  def next_batch(self, done) -> list:
    """TPE: the groups of the next batch (asked with every finished trial told); [] for random / grid."""
    if self.search is None:
      return []
    groups = self.search.next_batch(done)
    for p in groups:
      validate_dataset(p.config, self.data.get(p.config)[0])
    wd.write_sweep_spec(self.workdir, self.plan.spec(self.config))
    return groups

  def _begin_batch(self, todo, sequential: bool) -> None:
    """Progress of a batch: "[group k/n]" counts within it; one group after another, the time left is the
    planner's estimate of the groups to come scaled by how its estimate of those done compares with their
    measured time; rung by rung, it is the member-epochs still expected at the rate measured so far."""
    cfg, sw = self.config, self.config.sweep
    self.todo, self.n_done, self.progress.total = list(todo), 0, len(todo)
    self.est = estimates(todo, cfg, self._dataset, self.platform) if sequential else None
    self.est_done = 0.0
    self.expect = sum(len(p.members) * widths.expected_epochs(int(p.config.epochs), "asha", int(sw.asha.grace),
                                                               int(sw.asha.factor)) for p in todo)

  def _left(self, p):
    if self.est is None:
      return None
    est = lambda q: self.est.setdefault(q.gid, estimate(q, self.config, self._dataset, self.platform))
    self.est_done += est(p)
    k = next(i for i, q in enumerate(self.todo) if q.gid == p.gid)
    return (time.perf_counter() - self.t0) / max(self.est_done, 1e-9) * sum(est(q) for q in self.todo[k + 1:])

  def _group_done(self, p, out) -> None:
    """A finished group (its best-trial checkpoint saved by the executor): groups/<gid>.json, results.csv and
    a progress line."""
    plan, done = self.plan, self.done
    left = self._left(p)
    t_write = time.perf_counter()
    record = {"rows": out.rows, "rungs": out.rungs, **out.times, "wall_s": out.wall_s, "device": self.device}
    wd.write_group(self.workdir, p.gid, record)
    done[p.gid] = record
    all_rows = [r for d in done.values() for r in d["rows"]]
    best = write_results(self.workdir, all_rows, plan.fields, plan.trials)
    record["write_s"] += time.perf_counter() - t_write
    self.n_done += 1
    self.progress.times.append(out.wall_s)
    self.say(f"[group {self.n_done}/{len(self.todo)}] {len(p.members)} models, compile {out.times['compile_s']:.1f}s, "
             f"{fmt_seconds(out.wall_s)} | trials done {len({r['trial'] for r in all_rows})}/{len(plan.trials)} | "
             + ("every trial so far diverged" if best.get("all_diverged") else
                f"best so far: trial {best['trial']} {100 * best['test_accuracy']:.2f}% test") + " | elapsed "
             f"{fmt_seconds(time.perf_counter() - self.t0)}"
             + ("" if left is None else f" | left ~{fmt_seconds(left)}"))

  def _segment_line(self, epoch, active, executor) -> None:
    # time left: the member-epochs still expected (successive halving's budget) at the rate measured so far;
    # compiling is over after the first rung (every group has been built by then)
    used, work_s = executor.progress()
    left = work_s / max(used, 1) * max(self.expect - used, 0)
    self.say(f"[rung epoch {epoch}] {used} model-epochs trained of ~{self.expect:.0f}; {len(active)} group(s) "
             f"still running | elapsed {fmt_seconds(time.perf_counter() - self.t0)} | left ~{fmt_seconds(left)}")

  def run(self) -> dict:
    t0 = time.perf_counter()
    cfg, sw, workdir, plan = self.config, self.config.sweep, self.workdir, self.plan
    for p in plan.groups:  # every group's data must fit its batch size and model before anything is written
      validate_dataset(p.config, self.data.get(p.config)[0])
    self.say(describe(plan, cfg, self._dataset, self.platform))
    wd.prepare_workdir(workdir, unsharded(cfg))  # the shards of one sweep share the workdir and config.json
    wd.write_data_info(workdir, self.data.get(plan.groups[0].config)[0])  # other data than a resumed sweep's: refused
    wd.write_sweep_spec(workdir, plan.spec(cfg))
    done = wd.read_groups(workdir, self.say)  # a damaged groups/<gid>.json: that group runs again
    history = execute.history_of(done)
    mine = [p for k, p in enumerate(plan.groups) if k % self.shard[1] == self.shard[0]]
    for gid in wd.groups_missing_metrics(wd.path(workdir, "metrics.jsonl"), done) if self.shard[1] == 1 else []:
      done.pop(gid)  # metrics.jsonl torn or cut: the group runs again to write its records anew
      self.say(f"{wd.path(workdir, 'metrics.jsonl')} is damaged: it lacks records of group {gid}; that group "
               "runs again")
    repair_best_trial(workdir, "best_trial" + ("" if self.shard[1] == 1 else f".shard{self.shard[0]}"), done,
                      self.say, None if self.search else {p.gid for p in mine})  # damaged: its group runs again
    todo = [p for p in mine if p.gid not in done] or self.next_batch(done)
    device = loop.device_description()
    n_members = sum(len(p.members) for p in plan.groups)
    self.say(f"sweep: {len(plan.trials)} trials x {cfg.seeds} seed(s) = {n_members} models in {len(plan.groups)} "
             f"group(s); mode {sw.mode}" + (f" (grace {sw.asha.grace}, factor {sw.asha.factor})" if sw.mode == "asha" else "")
             + f"; {len(done) if self.search else len(mine) - len(todo)} group(s) already done in {workdir}; "
             f"{device}")
    shard_sfx = "" if self.shard[1] == 1 else f".shard{self.shard[0]}"
    # records written once: lines of groups that will run again (a killed process's unfinished group) go
    jsonl = JsonlWriter(wd.path(workdir, f"metrics{shard_sfx}.jsonl"), keep=lambda r: r.get("group") in done,
                        say=self.say)
    tb = TensorBoard(wd.path(workdir, "tensorboard"))
    result_hooks.rewrite_tensorboard(tb, jsonl.kept, lambda r: f"trial_{int(r['trial']):03d}_seed_{r['seed']}")
    ckpt_name = "best_trial" if self.shard[1] == 1 else f"best_trial.shard{self.shard[0]}"
    before = sum(float(d.get("wall_s") or 0.0) for d in done.values())  # earlier processes of this sweep
    self.t0, self.done, self.device = t0, done, device
    res = Resources(sweep=SweepContext(cfg, plan.trials, plan.fields, workdir), data=self.data, history=history,
                    jsonl=jsonl, tb=tb, ckpt_name=ckpt_name, say=self.say,
                    estimate=lambda p: estimate(p, cfg, self._dataset, self.platform),
                    elapsed=lambda: time.perf_counter() - t0)
    executor = make_executor(sw, res)
    try:
      while todo:  # one batch (all groups of a random / grid sweep; a batch of TPE trials), then TPE's next one
        res.sweep = SweepContext(cfg, plan.trials, plan.fields, workdir)
        self._begin_batch(todo, sequential=isinstance(executor, LocalExecutor) and not _sync(sw))
        rungs.run(executor, todo, sw, history, self._group_done, lambda stop, active: self._segment_line(
            stop, active, executor))
        todo = self.next_batch(done)  # tpe: the next batch, asked now that this one is told
    finally:
      executor.close()
      jsonl.close()
      tb.close()
    all_rows = [r for d in done.values() for r in d["rows"]]
    if self.shard[1] > 1:  # the other shards may still run: merge() writes results, summary and best_config
      if all_rows:
        write_results(workdir, all_rows, plan.fields, plan.trials)
      self.say(f"shard {self.shard[0]}/{self.shard[1]}: {len(mine)} group(s) done; when every shard is "
               f"done: python launch/merge.py {workdir}")
      return {"kind": "sweep_shard", "shard": list(self.shard), "groups": [p.gid for p in mine],
              "wall_s": time.perf_counter() - t0}
    best = write_results(workdir, all_rows, plan.fields, plan.trials)
    times = {k: sum(float(d.get(k) or 0.0) for d in done.values()) for k in ("compile_s", "train_s", "eval_s",
                                                                             "write_s")}
    summary = write_best_and_summary(workdir, cfg, plan.trials, all_rows, best, groups=len(plan.groups),
                            wall_s=before + time.perf_counter() - t0, compile_s=times["compile_s"], device=device,
                            times=times)
    self.say(f"{best_words(best, summary.get('selection', ''))}; results in {workdir}/results.csv, "
             "winner as a single run: python -m mlexp.main --config="
             + shlex.quote(os.path.join(workdir, "best_config.py")))
    return summary


def _sync(sw) -> bool:
  return sw.mode == "asha" and bool(sw.asha.sync)


def make_executor(sw, res):
  """The executor of sweep.backend (executors/__init__.py): local (this process) or ray."""
  if sw.get("backend", "local") == "ray":
    from mlexp.sweeps.executors.ray import RayExecutor  # (Ray is imported only with backend=ray)
    return RayExecutor(res)
  return LocalExecutor(res, int(sw.compile_ahead))


def run_sweep(config, workdir: str, stream=None) -> dict:
  sw = config.sweep
  shard = (int(sw.shard_index), int(sw.num_shards))
  if not 0 <= shard[0] < shard[1]:
    raise ConfigError("sweep.shard_index", shard[0], f"must be in [0, sweep.num_shards={shard[1]})")
  return SweepRunner(config, workdir, stream=stream, shard=shard).run()
