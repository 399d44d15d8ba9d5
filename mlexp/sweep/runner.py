"""Runs a sweep: plan (sweep/plan.py), execute every group through the epoch loop (sweep/execute.py),
write the outcome (sweep/outcome.py). The files are those of mlexp/io/workdir.py.

Shards (launch/): the groups k with k % num_shards == shard_index; each shard writes its groups/<gid>.json,
metrics.shard<i>.jsonl and best_trial.shard<i>; `merge` (sweep/outcome.py) writes results, summary and
best config when all are done.
"""
from __future__ import annotations

import os
import shlex
import time

from mlexp.config import ConfigError, validate_dataset, validate_kind
from mlexp.io import workdir as wd
from mlexp.io.progress import Progress, fmt_seconds
from mlexp.io.writers import JsonlWriter, TensorBoard
from mlexp.sweep import buckets, execute, sync
from mlexp.sweep.outcome import merge, write_outcome, write_results  # noqa: F401 (merge: launch/merge.py)
from mlexp.sweep.plan import describe, estimate, estimates, plan_sweep, plan_trials, unsharded
from mlexp.train import loop


class SweepRunner:

  def __init__(self, config, workdir: str, stream=None, shard: tuple = (0, 1)):
    self.config, self.workdir, self.shard = config, workdir, shard
    self.progress = Progress(1, what="group", stream=stream)
    self.say = self.progress.line
    self.data = loop.DataCache(self.say)
    self.platform = loop.platform()
    self.search = None  # sweep.algorithm=tpe: the plan grows batch by batch (sweep/tpe.py)
    if config.sweep.get("algorithm", "auto") == "tpe":
      from mlexp.sweep.tpe import TpeSearch
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
    loop.rewrite_tensorboard(tb, jsonl.kept, lambda r: f"trial_{int(r['trial']):03d}_seed_{r['seed']}")
    ckpt_name = "best_trial" if self.shard[1] == 1 else f"best_trial.shard{self.shard[0]}"
    self.progress.total = len(todo)
    est = estimates(todo, cfg, self._dataset, self.platform)  # planner's seconds per group (a compile per program)
    est_done = 0.0
    before = sum(float(d.get("wall_s") or 0.0) for d in done.values())  # earlier processes of this sweep
    ahead = execute.CompileAhead(todo, self.data, int(sw.compile_ahead))

    def metric_hooks(gid, epochs):
      return [loop.MetricsHook(jsonl, tb, epochs, lambda m: f"trial_{m.trial:03d}_seed_{m.seed}", gid)]

    n_done = [0]
    epochs_of = {p.gid: int(p.config.epochs) for p in todo}

    def group_done(p, rows, rung_values, times, wall_s, left=None):
      t_write = time.perf_counter()
      record = {"rows": rows, "rungs": rung_values, **times, "wall_s": wall_s, "device": device}
      wd.write_group(workdir, p.gid, record)
      done[p.gid] = record
      all_rows = [r for d in done.values() for r in d["rows"]]
      best = write_results(workdir, all_rows, plan.fields, plan.trials)
      record["write_s"] += time.perf_counter() - t_write
      n_done[0] += 1
      elapsed = time.perf_counter() - t0
      self.progress.times.append(wall_s)
      self.say(f"[group {n_done[0]}/{len(todo)}] {len(p.members)} models, compile {times['compile_s']:.1f}s, "
               f"{fmt_seconds(wall_s)} | trials done {len({r['trial'] for r in all_rows})}/{len(plan.trials)} | "
               f"best so far: trial {best['trial']} {100 * best['test_accuracy']:.2f}% | elapsed "
               f"{fmt_seconds(elapsed)}" + ("" if left is None else f" | left ~{fmt_seconds(left)}"))

    sync_mode = sw.mode == "asha" and bool(sw.asha.sync)
    ray_driver = None  # backend=ray: one connection for every batch (sweep/ray_backend.py)
    try:
      while todo:  # one batch (all groups of random / grid; a batch of TPE trials), then TPE's next one
        if sw.get("backend", "local") == "ray":  # the groups as Ray tasks (sweep/ray_backend.py)
          from mlexp.sweep.ray_backend import RayDriver
          ray_driver = ray_driver or RayDriver(self, jsonl, tb, ckpt_name, history, lambda p, rows, rv, times:
                                               group_done(p, rows, rv, times, sum(times.values())))
          ray_driver.run(todo)
        elif sync_mode:
          # rung-synchronous ASHA: every group to each rung, one decision over all trials (sweep/sync.py)
          expect = sum(len(p.members) * buckets.expected_epochs(
              int(p.config.epochs), "asha", int(sw.asha.grace), int(sw.asha.factor)) for p in todo)

          def segment(epoch, used, work_s):
            # time left: the member-epochs still expected (successive halving's budget) at the rate measured
            # so far; compiling is over after the first rung (every group has been built by then)
            left = work_s / max(used, 1) * max(expect - used, 0)
            self.say(f"[rung epoch {epoch}] {used} model-epochs trained of ~{expect:.0f} | elapsed "
                     f"{fmt_seconds(time.perf_counter() - t0)} | left ~{fmt_seconds(left)}")
          def group_part(epoch, k, gr, seconds, trained):
            # progress inside a segment (the first one compiles every program: the longest wait for a line)
            first = int(gr.run.records.epochs_run.max()) <= int(sw.asha.grace)
            self.say(f"[rung epoch {epoch} | group {k + 1}/{len(todo)}] {trained} model-epochs"
                     + (f", compile {gr.run.times['compile_s']:.1f}s" if first else "")
                     + f", {fmt_seconds(seconds)} | elapsed {fmt_seconds(time.perf_counter() - t0)}")
          sync.run_sync(todo, ahead, self, self.data, history, lambda gid: metric_hooks(gid, epochs_of[gid]), tb,
                        ckpt_name, lambda p, rows, rv, times: group_done(p, rows, rv, times, sum(times.values())),
                        segment, group_part)
        else:
          for k, p in enumerate(todo):
            tg = time.perf_counter()
            rows, rung_values, times, _ = execute.run_group(
                p, ahead.get(k), self, self.data, history, lambda gid: metric_hooks(gid, epochs_of[gid]),
                tb, ckpt_name)
            # time left: the planner's estimate of the groups to come, scaled by how its estimate of the
            # groups done so far compares with their measured time
            est_done += est.setdefault(p.gid, estimate(p, cfg, self._dataset, self.platform))
            left = (time.perf_counter() - t0) / max(est_done, 1e-9) * sum(
                est.setdefault(q.gid, estimate(q, cfg, self._dataset, self.platform)) for q in todo[k + 1:])
            group_done(p, rows, rung_values, times, time.perf_counter() - tg, left)
        todo = self.next_batch(done)  # tpe: the next batch, asked now that this one is told
        if todo:
          n_done[0] = 0  # tpe: "[group k/n]" counts within the batch (trials done counts them all)
          ahead.close()
          ahead = execute.CompileAhead(todo, self.data, int(sw.compile_ahead))
          epochs_of.update({p.gid: int(p.config.epochs) for p in todo})
    finally:
      ahead.close()
      if ray_driver is not None:
        ray_driver.close()
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
    summary = write_outcome(workdir, cfg, plan.trials, all_rows, best, groups=len(plan.groups),
                            wall_s=before + time.perf_counter() - t0, compile_s=times["compile_s"], device=device,
                            times=times)
    chosen = (f" (chosen on validation accuracy {100 * best['val_accuracy']:.2f}%)" if "val_accuracy" in best
              else " (chosen on the test set: no validation split)")
    self.say(f"best trial {best['trial']}: {100 * best['mean_acc']:.2f}% ± {100 * best['std_acc']:.2f} test accuracy "
             f"over {best['n_seeds']} seed(s){chosen} with {best['values']}; results in {workdir}/results.csv, "
             "winner as a single run: python -m mlexp.main --config="
             + shlex.quote(os.path.join(workdir, "best_config.py")))
    return summary


def run_sweep(config, workdir: str, stream=None) -> dict:
  sw = config.sweep
  shard = (int(sw.shard_index), int(sw.num_shards))
  if not 0 <= shard[0] < shard[1]:
    raise ConfigError("sweep.shard_index", shard[0], f"must be in [0, sweep.num_shards={shard[1]})")
  return SweepRunner(config, workdir, stream=stream, shard=shard).run()
