"""Runs a sweep: every group of trials as one vmapped program, ASHA inside groups, results on disk.

WORKDIR/
  config.json          the sweep config
  sweep.json           swept fields (and their scale), trials, groups, mode
  groups/<gid>.json    one file per finished group: its rows and ASHA rung values (the resume unit)
  results.csv          one row per trial x seed (rewritten after every group)
  metrics.jsonl        one line per epoch per trained model
  tensorboard/trial_T_seed_S/   scalars + HParams (parallel coordinates) per model
  checkpoints/best_trial/       Orbax checkpoint of the best single model (highest test accuracy at its best
                                epoch) and best_trial_meta.json naming its trial and seed
  best_config.json, best_config.py   the winner as a single-run config
  summary.json
"""
from __future__ import annotations

import concurrent.futures
import csv
import glob
import json
import math
import os
import shutil
import time

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

import mlexp
from mlexp.config import ConfigError, validate, validate_against_data
from mlexp.io.progress import Progress, fmt_seconds
from mlexp.io.writers import JsonlWriter, TensorBoard, to_json, write_atomic
from mlexp.sweep import asha
from mlexp.sweep.grouping import plan_groups
from mlexp.sweep.space import expand, get_field, scale_of, trial_config
from mlexp.train.group import Group, device_splits, put_split
from mlexp.train.program import COMPLETED, CUT, RUNNING, STOPPED_EARLY, STATUS_NAMES
from mlexp.train.trainer import device_description, load_data, member_devices, prepare_workdir

RESULT_COLUMNS = ("trial", "group", "seed", "status", "stopped_by", "epochs_run", "best_epoch", "final_test_loss",
                  "best_test_loss", "test_accuracy", "final_test_accuracy", "train_loss", "wall_s", "param_count")


def _fields(config):
  return [dict(s)["field"] if not hasattr(s, "to_dict") else s.to_dict()["field"] for s in config.sweep.space]


def _value(v):
  return "(" + ",".join(str(x) for x in v) + ")" if isinstance(v, (tuple, list)) else v


def check_sweep(config, trials) -> None:
  """Validates the sweep block and every trial's config before any work."""
  sw = config.sweep
  if sw.mode not in ("asha", "full"):
    raise ConfigError("sweep.mode", sw.mode, "must be one of asha, full")
  if sw.metric not in ("test_loss", "test_accuracy"):
    raise ConfigError("sweep.metric", sw.metric, "must be one of test_loss, test_accuracy")
  for f, lo in (("grace", 1), ("factor", 2)):
    if not isinstance(sw.asha[f], int) or sw.asha[f] < lo:
      raise ConfigError(f"sweep.asha.{f}", sw.asha[f], f"must be an integer >= {lo}")
  if not isinstance(sw.get("compile_ahead", 0), int) or sw.get("compile_ahead", 0) < 0:
    raise ConfigError("sweep.compile_ahead", sw.compile_ahead, "must be an integer >= 0")
  if not isinstance(sw.max_group_size, int) or sw.max_group_size < 1:
    raise ConfigError("sweep.max_group_size", sw.max_group_size, "must be an integer >= 1")
  if not trials:
    raise ConfigError("sweep.space", "()", "must define at least one field")
  for t, values in enumerate(trials):
    try:
      for field in values:
        get_field(config, field)
      validate(trial_config(config, values))
    except (KeyError, AttributeError, IndexError, TypeError) as e:
      raise ConfigError("sweep.space", list(values), f"names a field that does not exist ({e})")
    except ConfigError as e:
      raise ConfigError(e.field, e.value, f"{e.allowed} (in trial {t} of the sweep: {values})")


def unsharded(config):
  """The config with sweep.shard_index / num_shards at their defaults (0 / 1): what config.json holds."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.sweep.shard_index, c.sweep.num_shards = 0, 1
  return c


def member_bytes(cfg, num_classes: int = 20, input_shape=None) -> int:
  """A generous estimate of one member's memory in a group: parameters x 6 (params, grads, two optimizer
  moments, best params, update) plus activations of one batch (x 3 for the backward pass)."""
  import jax  # (imported where used: planning happens before any compile)
  from mlexp.models import build_model
  model = build_model(cfg.model, num_classes)
  if input_shape is None:
    input_shape = (1, 28, 28, 1) if cfg.model.kind in ("mlp", "cnn") else (1, 32, 16)
  x = jax.ShapeDtypeStruct(input_shape, jax.numpy.float32)
  lengths = None if cfg.model.kind in ("mlp", "cnn") else jax.ShapeDtypeStruct((1,), jax.numpy.int32)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, lengths)
  n_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes))
  width = max([n_params // 1000, 1])  # activations scale with layer widths; a rough proxy
  return 4 * (6 * n_params + 3 * int(cfg.batch_size) * width * 64)


def members_that_fit(cfg, budget_gb: float) -> int:
  """How many members of this config fit in `budget_gb` (sweep.max_group_gb) at once."""
  return max(1, int(budget_gb * 2**30 // member_bytes(cfg)))


class _Records:
  """Host-side results of the members of one group (by position in the group plan)."""

  def __init__(self, n):
    self.status = np.full(n, RUNNING)
    self.stopped_by = [""] * n
    self.epochs_run = np.zeros(n, int)
    self.best_epoch = np.zeros(n, int)
    self.best_loss = np.full(n, np.inf)
    self.best_acc = np.zeros(n)
    self.final_loss = np.full(n, np.nan)
    self.final_acc = np.full(n, np.nan)
    self.train_loss = np.full(n, np.nan)
    self.wall_s = np.zeros(n)
    self.extra = [dict() for _ in range(n)]

  def update(self, pos, m, dt):
    trained = m["trained"]
    share = dt / max(int(trained.sum()), 1)
    for j, i in enumerate(pos):
      if not trained[j]:
        continue
      self.status[i] = int(m["status"][j])
      if self.status[i] == STOPPED_EARLY:
        self.stopped_by[i] = "patience"
      self.epochs_run[i] = int(m["epoch"][j])
      self.best_epoch[i] = int(m["best_epoch"][j])
      self.best_loss[i] = float(m["best_loss"][j])
      self.best_acc[i] = float(m["best_accuracy"][j])
      self.final_loss[i] = float(m["test_loss"][j])
      self.final_acc[i] = float(m["test_accuracy"][j])
      self.train_loss[i] = float(m["train_loss"][j])
      self.wall_s[i] += share


class SweepRunner:

  def __init__(self, config, workdir: str, stream=None, shard: tuple = (0, 1)):
    self.config, self.workdir = config, workdir
    sw = config.sweep
    self.trials = expand(sw.space, int(sw.num_trials), int(sw.seed))
    check_sweep(config, self.trials)
    self.fields = _fields(config)
    self.plans = plan_groups(config, self.trials, int(config.seeds), int(sw.max_group_size),
                             member_cap=lambda cfg: members_that_fit(cfg, float(sw.get("max_group_gb", 4.0))))
    self.shard = shard
    self.progress = Progress(1, what="group", stream=stream)
    self.say = self.progress.line
    self._data = {}
    self.rungs_history: dict = {}

  # ---- data (loaded once per data config, shared by all groups that use it)
  def data(self, cfg):
    key = json.dumps(cfg.data.to_dict(), sort_keys=True) + json.dumps(cfg.eval.to_dict(), sort_keys=True)
    if key not in self._data:
      ds = load_data(cfg)
      self.say(f"data: {ds.describe()}")
      self._data[key] = (ds, {})
    ds, placed = self._data[key]
    nb = int(cfg.data.num_buckets)
    if nb not in placed:
      placed[nb] = device_splits(ds, nb)
    return ds, placed[nb]

  def run(self) -> dict:
    t0 = time.perf_counter()
    cfg, sw, wd = self.config, self.config.sweep, self.workdir
    # every group's data must fit its batch size before anything is written
    for plan in self.plans:
      ds, _ = self.data(plan.config)
      validate_against_data(plan.config, len(ds.train))
    prepare_workdir(wd, unsharded(cfg))  # the shards of one sweep share the workdir and config.json
    os.makedirs(os.path.join(wd, "groups"), exist_ok=True)
    self._write_spec()
    done = self._load_done()
    mine = [p for k, p in enumerate(self.plans) if k % self.shard[1] == self.shard[0]]
    todo = [p for p in mine if p.gid not in done]
    n_members = sum(len(p.members) for p in self.plans)
    self.say(f"sweep: {len(self.trials)} trials x {cfg.seeds} seed(s) = {n_members} models in {len(self.plans)} "
             f"group(s); mode {sw.mode}" + (f" (grace {sw.asha.grace}, factor {sw.asha.factor})" if sw.mode == "asha" else "")
             + f"; {len(mine) - len(todo)} group(s) already done in {wd}; {device_description()}")
    shard_sfx = "" if self.shard[1] == 1 else f".shard{self.shard[0]}"
    jsonl = JsonlWriter(os.path.join(wd, f"metrics{shard_sfx}.jsonl"))
    tb = TensorBoard(os.path.join(wd, "tensorboard"))
    self.progress.total = len(todo)
    budget = sum(len(p.members) * int(p.config.epochs) for p in todo)
    spent = 0
    # the next groups are compiled in worker threads while this one trains (XLA compiles without the GIL)
    ahead = int(sw.get("compile_ahead", 2))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(ahead, 1))
    futures = {}

    def prepared(i):
      for j in range(i, min(i + ahead + 1, len(todo))):
        if j not in futures:
          futures[j] = pool.submit(self._prepare, todo[j])
      return futures.pop(i).result()

    try:
      for k, plan in enumerate(todo):
        tg = time.perf_counter()
        rows, rung_values, compile_s, used = self._run_group(plan, prepared(k), jsonl, tb)
        spent += used
        gpath = os.path.join(wd, "groups", f"{plan.gid}.json")
        with open(f"{gpath}.tmp{os.getpid()}", "w") as f:  # atomic: other shards may be reading groups/
          f.write(to_json({"gid": plan.gid, "rows": rows, "rungs": rung_values, "compile_s": compile_s,
                           "wall_s": time.perf_counter() - tg}))
        os.replace(f"{gpath}.tmp{os.getpid()}", gpath)
        done[plan.gid] = {"rows": rows, "rungs": rung_values}
        all_rows = [r for d in done.values() for r in d["rows"]]
        best = self._write_results(all_rows)
        dt = time.perf_counter() - tg
        trials_done = len({r["trial"] for r in all_rows})
        elapsed = time.perf_counter() - t0
        left = elapsed / max(spent, 1) * max(budget - spent, 0)
        self.progress.times.append(dt)
        self.say(f"[group {k + 1}/{len(todo)}] {len(plan.members)} models, compile {compile_s:.1f}s, "
                 f"{fmt_seconds(dt)} | trials done {trials_done}/{len(self.trials)} | best so far: trial "
                 f"{best['trial']} {100 * best['test_accuracy']:.2f}% | elapsed {fmt_seconds(elapsed)} | "
                 f"left at most ~{fmt_seconds(left)}")
    finally:
      pool.shutdown(wait=True, cancel_futures=True)
      jsonl.close()
      tb.close()
    all_rows = [r for d in done.values() for r in d["rows"]]
    if self.shard[1] > 1:  # the other shards may still run: merge() writes results, summary and best_config
      if all_rows:
        self._write_results(all_rows)
      self.say(f"shard {self.shard[0]}/{self.shard[1]}: {len(mine)} group(s) done; when every shard is "
               f"done: python launch/merge.py {wd}")
      return {"kind": "sweep_shard", "shard": list(self.shard), "groups": [p.gid for p in mine],
              "wall_s": time.perf_counter() - t0}
    best = self._write_results(all_rows)
    summary = self._write_summary(all_rows, best, time.perf_counter() - t0)
    self.say(f"best trial {best['trial']}: {100 * best['mean_acc']:.2f}% ± {100 * best['std_acc']:.2f} "
             f"over {best['n_seeds']} seed(s) with {best['values']}; results in {wd}/results.csv, "
             f"winner as a single run: python -m mlexp.main --config={wd}/best_config.py")
    return summary

  # ---- one group
  def _prepare(self, plan):
    """Builds, initialises and compiles a group (runs in a worker thread, ahead of its turn)."""
    ds, (train, test) = self.data(plan.config)
    members = list(plan.members)
    group = Group(plan.config, train, test, ds.num_classes, members, devices=member_devices(len(members)))
    state = group.init()
    group.compile(state)
    return group, state

  def _run_group(self, plan, prepared, jsonl, tb):
    cfg, sw = plan.config, self.config.sweep
    ds, (train, test) = self.data(cfg)
    members = list(plan.members)
    n = len(members)
    rec = _Records(n)
    group, state = prepared
    n_params = group.param_count(state)
    pos = list(range(n))  # group position -> plan member index
    epochs = int(cfg.epochs)
    rung_epochs = asha.rungs(int(sw.asha.grace), int(sw.asha.factor), epochs) if sw.mode == "asha" else []
    rung_values = {}
    used = 0
    best_params = {}

    for e in range(1, epochs + 1):
      running = group.running(state)
      if not running.any():
        break
      state, m, dt = group.epoch(state)
      used += int(m["trained"].sum())
      rec.update(pos, m, dt)
      for j, i in enumerate(pos):
        if m["trained"][j]:
          mem = members[i]
          status = int(m["status"][j])
          status = COMPLETED if status == RUNNING and e == epochs else status
          jsonl.write({"trial": mem.trial, "seed": mem.seed, "group": plan.gid, "epoch": e,
                       "train_loss": m["train_loss"][j], "test_loss": m["test_loss"][j],
                       "test_accuracy": m["test_accuracy"][j], "learning_rate": m["learning_rate"][j],
                       "epoch_s": dt, "samples_per_s": group.n_train / dt, "status": STATUS_NAMES[status]})
          tb.write_scalars(f"trial_{mem.trial:03d}_seed_{mem.seed}", e, {
              "loss/train": m["train_loss"][j], "loss/test": m["test_loss"][j],
              "accuracy/test": m["test_accuracy"][j], "learning_rate": m["learning_rate"][j]})
      if e in rung_epochs:
        state, cut = self._asha_cut(group, state, pos, members, m, e, rung_values)
        for i in cut:
          rec.status[i], rec.stopped_by[i] = CUT, "asha"
        n_run = int(group.running(state).sum())
        # drop the frozen members when that saves more than a recompile costs
        saved = (group.size - n_run) * (epochs - e) * dt / max(group.size, 1)
        if 0 < n_run <= group.size // 2 and saved > 2 * group.compile_s:
          self._harvest(group, state, pos, members, rec, ds, best_params, only_frozen=True)
          keep = [j for j in range(group.size) if group.running(state)[j]]
          sub = group.take(state, keep)
          pos = [pos[j] for j in keep]
          group = Group(cfg, train, test, ds.num_classes, [members[i] for i in pos], devices=member_devices(len(pos)))
          state = group.adopt(sub)
          group.compile(state)
    self._harvest(group, state, pos, members, rec, ds, best_params, only_frozen=False)
    for i in range(n):
      if rec.status[i] == RUNNING:
        rec.status[i] = COMPLETED
    rows = []
    for i, mem in enumerate(members):
      values = self.trials[mem.trial]
      row = {"trial": mem.trial, "group": plan.gid}
      row.update({f: _value(values.get(f, get_field(cfg, f))) for f in self.fields})
      row.update({"seed": mem.seed, "status": STATUS_NAMES[int(rec.status[i])], "stopped_by": rec.stopped_by[i],
                  "epochs_run": int(rec.epochs_run[i]), "best_epoch": int(rec.best_epoch[i]),
                  "final_test_loss": rec.final_loss[i], "best_test_loss": rec.best_loss[i],
                  "test_accuracy": rec.best_acc[i], "final_test_accuracy": rec.final_acc[i],
                  "train_loss": rec.train_loss[i], "wall_s": rec.wall_s[i], "param_count": n_params})
      for k, v in rec.extra[i].items():
        row[f"test_accuracy/{k}"] = v
      rows.append(row)
      tb.write_hparams(f"trial_{mem.trial:03d}_seed_{mem.seed}",
                       {**{f: _value(row[f]) for f in self.fields}, "seed": mem.seed},
                       {"hparam/test_accuracy": rec.best_acc[i], "hparam/test_loss": rec.best_loss[i],
                        "hparam/wall_s": rec.wall_s[i]})
    self._save_best_params(rows, best_params, cfg)
    return rows, rung_values, group.compile_s, used

  def _asha_cut(self, group, state, pos, members, m, epoch, rung_values):
    """Stops the trials (all their seeds) whose metric at this rung is not in the top 1/factor."""
    sw = self.config.sweep
    metric = "test_loss" if sw.metric == "test_loss" else "test_accuracy"
    mode = "min" if metric == "test_loss" else "max"
    running = group.running(state)
    by_trial: dict = {}
    for j, i in enumerate(pos):
      if running[j] and m["trained"][j]:
        by_trial.setdefault(members[i].trial, []).append(float(m[metric][j]))
    if not by_trial:
      return state, []
    trials = sorted(by_trial)
    vals = [float(np.mean(by_trial[t])) for t in trials]
    hist = self.rungs_history.setdefault(epoch, [])
    keep = asha.keep(hist, vals, int(sw.asha.factor), mode)
    hist.extend(v for v in vals if math.isfinite(v))
    rung_values[epoch] = vals
    losers = {t for t, k in zip(trials, keep) if not k}
    if not losers:
      return state, []
    status = np.asarray(state.status)[: group.size].copy()
    cut = []
    for j, i in enumerate(pos):
      if members[i].trial in losers and status[j] == RUNNING:
        status[j] = CUT
        cut.append(i)
    return group.set_status(state, status), cut

  def _harvest(self, group, state, pos, members, rec, ds, best_params, only_frozen):
    """Extra test sets and the best parameters of members leaving the group (frozen or at the end)."""
    running = group.running(state)
    take = [j for j in range(group.size) if not (only_frozen and running[j])]
    if not take:
      return
    extra = {name: group.evaluate(state.best_params, put_split(split)) for name, split in ds.extra_tests.items()}
    for j in take:
      for name, (_, acc) in extra.items():
        rec.extra[pos[j]][name] = float(acc[j])
    # keep the best member's parameters (highest best accuracy) for the best-trial checkpoint
    j_best = max(take, key=lambda j: rec.best_acc[pos[j]])
    cand = best_params.get("acc", -1.0)
    if rec.best_acc[pos[j_best]] > cand:
      best_params.update(acc=float(rec.best_acc[pos[j_best]]), member=pos[j_best],
                         params=jax.device_get(jax.tree.map(lambda a: a[j_best], state.best_params)))

  def _save_best_params(self, rows, best_params, cfg):
    if "params" not in best_params:
      return
    # each shard keeps its own best (shards run at once); merge() keeps the best of them as best_trial
    name = "best_trial" if self.shard[1] == 1 else f"best_trial.shard{self.shard[0]}"
    prev_path = os.path.join(self.workdir, "checkpoints", f"{name}_meta.json")
    prev = -1.0
    if os.path.exists(prev_path):
      with open(prev_path) as f:
        prev = json.load(f).get("test_accuracy", -1.0)
    if best_params["acc"] <= prev:
      return
    mem_row = rows[best_params["member"]]
    d = os.path.abspath(os.path.join(self.workdir, "checkpoints", name))
    with ocp.CheckpointManager(d, options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True)) as mgr:
      step = (mgr.latest_step() or 0) + 1
      mgr.save(step, args=ocp.args.StandardSave(best_params["params"]))
      mgr.wait_until_finished()
    with open(prev_path, "w") as f:
      json.dump({"trial": mem_row["trial"], "seed": mem_row["seed"], "test_accuracy": best_params["acc"],
                 "checkpoint": d}, f)

  # ---- files
  def _write_spec(self):
    sw = self.config.sweep
    spec = {"fields": [{"name": (s.to_dict() if hasattr(s, "to_dict") else dict(s))["field"], "scale": scale_of(s)}
                       for s in sw.space],
            "num_trials": len(self.trials), "seeds": int(self.config.seeds), "mode": sw.mode,
            "metric": sw.metric, "asha": sw.asha.to_dict(), "groups": len(self.plans),
            "vmapped_fields": list(__import__("mlexp.sweep.grouping", fromlist=["x"]).VMAPPED_FIELDS)}
    path = os.path.join(self.workdir, "sweep.json")
    with open(f"{path}.tmp{os.getpid()}", "w") as f:
      json.dump(spec, f, indent=2)
    os.replace(f"{path}.tmp{os.getpid()}", path)

  def _load_done(self) -> dict:
    done = {}
    for path in sorted(glob.glob(os.path.join(self.workdir, "groups", "*.json"))):
      with open(path) as f:
        d = json.load(f)
      done[d["gid"]] = d
      for e, vals in d.get("rungs", {}).items():
        self.rungs_history.setdefault(int(e), []).extend(v for v in vals if v is not None and math.isfinite(v))
    return done

  def _write_results(self, rows) -> dict:
    cols = list(RESULT_COLUMNS[:2]) + self.fields + list(RESULT_COLUMNS[2:])
    extra = sorted({k for r in rows for k in r if k.startswith("test_accuracy/")})
    path = os.path.join(self.workdir, "results.csv")
    tmp = f"{path}.tmp{os.getpid()}"  # shards of one sweep may write at the same time
    with open(tmp, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=cols + extra, extrasaction="ignore")
      w.writeheader()
      for r in sorted(rows, key=lambda r: (r["trial"], r["seed"])):
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    os.replace(tmp, path)
    return self._best(rows)

  def _best(self, rows) -> dict:
    """The trial with the best mean test accuracy over its seeds (diverged seeds left out of the mean)."""
    by_trial: dict = {}
    for r in rows:
      if r["status"] != "diverged":
        by_trial.setdefault(r["trial"], []).append(float(r["test_accuracy"]))
    if not by_trial:  # everything diverged
      t = min(r["trial"] for r in rows)
      return {"trial": t, "test_accuracy": float("nan"), "mean_acc": float("nan"), "std_acc": float("nan"),
              "n_seeds": 0, "values": self.trials[t]}
    t = max(by_trial, key=lambda k: np.mean(by_trial[k]))
    accs = np.asarray(by_trial[t])
    return {"trial": t, "test_accuracy": float(accs.mean()), "mean_acc": float(accs.mean()),
            "std_acc": float(accs.std(ddof=1)) if accs.size > 1 else 0.0, "n_seeds": int(accs.size),
            "values": self.trials[t]}

  def _write_summary(self, rows, best, wall_s) -> dict:
    cfg = self.config
    ds, _ = self.data(trial_config(cfg, self.trials[best["trial"]]))
    best_cfg = trial_config(cfg, self.trials[best["trial"]])
    with open(os.path.join(self.workdir, "best_config.json"), "w") as f:
      f.write(best_cfg.to_json_best_effort(indent=2))
    with open(os.path.join(self.workdir, "best_config.py"), "w") as f:
      f.write(BEST_CONFIG_PY.format(trial=best["trial"], acc=100 * best["mean_acc"], values=best["values"]))
    status_counts = {}
    for r in rows:
      status_counts[r["status"]] = status_counts.get(r["status"], 0) + 1
    summary = {
        "kind": "sweep", "dataset": ds.name, "source": ds.source, "synthetic": bool(ds.synthetic),
        "model": cfg.model.kind, "epochs_run": int(max(r["epochs_run"] for r in rows)), "wall_s": wall_s,
        "mlexp_version": mlexp.__version__, "jax_version": jax.__version__, "device": device_description(),
        "num_trials": len(self.trials), "num_models": len(rows), "groups": len(self.plans),
        "status_counts": status_counts, "trials_per_minute": len(self.trials) / max(wall_s, 1e-9) * 60,
        "best": {"trial": best["trial"], "values": best["values"], "test_accuracy": best["mean_acc"],
                 "test_accuracy_std": best["std_acc"]},
        "runs": [{"trial": r["trial"], "seed": r["seed"], "status": r["status"], "epochs_run": r["epochs_run"],
                  "best_epoch": r["best_epoch"], "test_loss": r["best_test_loss"], "test_accuracy": r["test_accuracy"],
                  "train_loss": r["train_loss"], "param_count": r["param_count"],
                  "extra_tests": {k.split("/", 1)[1]: {"test_accuracy": v} for k, v in r.items()
                                  if k.startswith("test_accuracy/")}} for r in rows],
    }
    write_atomic(os.path.join(self.workdir, "summary.json"), to_json(summary))
    return summary


BEST_CONFIG_PY = '''"""The best trial of this sweep as a single-run config (trial {trial}: {acc:.2f}% test accuracy).

Values: {values}
  python -m mlexp.main --config=THIS_FILE --workdir=runs/best
"""
import json
import os

import ml_collections


def get_config(arg=None):
  with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "best_config.json")) as f:
    return ml_collections.ConfigDict(json.load(f))
'''


def merge(workdir: str, stream=None) -> dict:
  """Rebuilds results.csv, summary.json and best_config.* of a sweep from its groups/*.json, appends the
  metrics of sharded runs (metrics.shard*.jsonl) to metrics.jsonl, and keeps the best of the shards'
  best-trial checkpoints as checkpoints/best_trial. For sweeps run as several processes (launch/)."""
  with open(os.path.join(workdir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if "sweep" not in config:
    raise ConfigError("workdir", workdir, "holds a single run, not a sweep")
  runner = SweepRunner(config, workdir, stream=stream)
  done = runner._load_done()
  missing = [p.gid for p in runner.plans if p.gid not in done]
  rows = [r for p in runner.plans if p.gid in done for r in done[p.gid]["rows"]]
  if not rows:
    raise ConfigError("workdir", workdir, f"has none of the {len(runner.plans)} groups of its sweep in groups/")
  if missing:
    runner.say(f"merge: {len(missing)} of {len(runner.plans)} group(s) not done yet: {', '.join(missing)}")
  _merge_metrics(workdir)
  _merge_best_checkpoints(workdir)
  best = runner._write_results(rows)
  wall_s = sum(float(done[p.gid].get("wall_s") or 0.0) for p in runner.plans if p.gid in done)
  summary = runner._write_summary(rows, best, wall_s)
  summary_path = os.path.join(workdir, "summary.json")
  runner.say(f"merge: {len(runner.plans) - len(missing)}/{len(runner.plans)} group(s), {len(rows)} model(s); "
             f"best trial {best['trial']}: {100 * best['mean_acc']:.2f}% with {best['values']}; wrote "
             f"{workdir}/results.csv, {summary_path}, best_config.py")
  return summary


def _merge_metrics(workdir: str) -> None:
  """metrics.jsonl + the lines of metrics.shard*.jsonl it does not hold yet (merging twice adds nothing)."""
  def shard_no(path):
    return int(path.rsplit(".shard", 1)[1].split(".")[0])
  shards = sorted(glob.glob(os.path.join(workdir, "metrics.shard*.jsonl")), key=shard_no)
  if not shards:
    return
  path = os.path.join(workdir, "metrics.jsonl")
  lines, seen = [], set()
  for p in ([path] if os.path.exists(path) else []) + shards:
    with open(p) as f:
      for line in f:
        line = line.rstrip("\n")
        if line.strip() and line not in seen:
          seen.add(line)
          lines.append(line)
  with open(path + ".tmp", "w") as f:
    f.writelines(l + "\n" for l in lines)
  os.replace(path + ".tmp", path)


def _merge_best_checkpoints(workdir: str) -> None:
  """checkpoints/best_trial := the best (highest test accuracy) of it and the shards' best_trial.shard<i>."""
  ckdir = os.path.join(workdir, "checkpoints")
  metas = []
  for p in glob.glob(os.path.join(ckdir, "best_trial*_meta.json")):
    with open(p) as f:
      metas.append((float(json.load(f).get("test_accuracy", -1.0)), p))
  shard_metas = [m for m in metas if ".shard" in os.path.basename(m[1])]
  if not shard_metas:
    return
  acc, p = max(metas)
  if ".shard" in os.path.basename(p):
    name = os.path.basename(p)[: -len("_meta.json")]
    target = os.path.abspath(os.path.join(ckdir, "best_trial"))
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(ckdir, name), target)
    with open(p) as f:
      meta = json.load(f)
    meta["checkpoint"] = target
    with open(os.path.join(ckdir, "best_trial_meta.json"), "w") as f:
      json.dump(meta, f)


def run_sweep(config, workdir: str, stream=None) -> dict:
  sw = config.sweep
  shard = (int(sw.shard_index), int(sw.num_shards))
  if not 0 <= shard[0] < shard[1]:
    raise ConfigError("sweep.shard_index", shard[0], f"must be in [0, sweep.num_shards={shard[1]})")
  return SweepRunner(config, workdir, stream=stream, shard=shard).run()
