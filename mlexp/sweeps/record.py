"""Recording a sweep, from the result rows of the finished groups (jax-free): results.csv, the best trial,
best_config.json/.py, summary.json; and `merge`, which rebuilds them from groups/*.json of a sweep run as
several processes (launch/)."""
from __future__ import annotations

import glob
import os
import shutil

import ml_collections
import numpy as np

from mlexp.config import ConfigError
from mlexp.io import workdir as wd
from mlexp.io.hparams import write_sweep as write_sweep_hparams
from mlexp.io.progress import Progress
from mlexp.summary import best_trial, summarize
from mlexp.sweeps.space import field_names, sweep_trials as listed_trials, trial_config
from mlexp.sweeps.trial_time import assign, method_text

BEST_CONFIG_PY = '''"""The best trial of this sweep as a single-run config (trial {trial}: {acc:.2f}% test accuracy).

Values: {values}
{epochs_note}
  python -m mlexp.main --config=THIS_FILE --workdir=runs/best
"""
import json
import os

from mlexp.config import from_json


def get_config(arg=None):
  with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "best_config.json")) as f:
    return from_json(json.load(f))
'''


def sweep_trials(config, spec: dict | None = None) -> list:
  """Trial id -> swept values: sweep.json's (a TPE search's sampled trials), else the space's listing."""
  if spec and "trials" in spec:
    return [{k: tuple(v) if isinstance(v, list) else v for k, v in t.items()} for t in spec["trials"]]
  return listed_trials(config.sweep, config)


def write_results(workdir, rows, fields, trials) -> dict:
  """results.csv (a study's knob and value columns first); returns the best trial so far. Each row's train_s is
  set again over all rows (in place): models that only trained while other programs compiled or trained are corrected by
  the slowdown the sweep measured (sweeps/trial_time.py)."""
  assign(rows)
  wd.write_results(workdir, rows, (["knob", "value"] if rows and "knob" in rows[0] else []) + list(fields))
  return best_trial(rows, trials)


def best_epochs(rows, trial: int) -> int | None:
  """The best trial's number of epochs to retrain with: the median (rounded) of its seeds' best epochs
  (diverged seeds left out); None when none has one."""
  eps = sorted(int(r["best_epoch"]) for r in rows if r["trial"] == trial and r["status"] != "diverged"
               and int(r.get("best_epoch") or 0) > 0)
  return int(round(float(np.median(eps)))) if eps else None


def write_best_and_summary(workdir, config, trials, rows, best, *, groups, wall_s, compile_s, device,
                           times=None) -> dict:
  """best_config.json/.py (epochs: the winner's best epoch, early stopping off) and summary.json."""
  best_cfg = trial_config(config, trials[best["trial"]])
  if "time_members" in best_cfg:
    best_cfg.time_members = "auto"  # a single run: its time is its own
  epochs, note = best_epochs(rows, best["trial"]), ""
  if epochs is not None:
    note = (f"epochs = {epochs}: the median best epoch over the winner's seeds (it ran {best_cfg.epochs}); "
            "early stopping is off, so a retrain stops there.")
    best_cfg.epochs = epochs
    best_cfg.early_stopping.patience = 0
  wd.atomic_write(wd.path(workdir, "best_config.json"), best_cfg.to_json_best_effort(indent=2))
  wd.atomic_write(wd.path(workdir, "best_config.py"),
                  BEST_CONFIG_PY.format(trial=best["trial"], acc=100 * best["mean_acc"], values=best["values"],
                                        epochs_note=note))
  summary = summarize("sweep", wd.read_data_info(workdir), config, rows, trials, groups=groups, wall_s=wall_s,
                      compile_s=compile_s, device=device, best=best, times=times)
  how = method_text(r.get("train_s_method") for r in rows)
  if how:  # results.csv train_s: how each model's own training seconds were found (sweeps/trial_time.py)
    summary["train_s_method"] = how
  wd.write_summary(workdir, summary)
  write_sweep_hparams(wd.path(workdir, "tensorboard"), config, trials, rows)  # one HParams row per trial
  return summary


def merge(workdir: str, stream=None) -> dict:
  """Rebuilds results.csv, summary.json and best_config.* of a sweep from its groups/*.json, appends the
  metrics of sharded runs (metrics.shard*.jsonl) to metrics.jsonl, and keeps the best of the shards'
  best-trial checkpoints as checkpoints/best_trial. Reads files only: no data, no JAX."""
  config = ml_collections.ConfigDict(wd.read_config(workdir))
  if "sweep" not in config:
    raise ConfigError("workdir", workdir, "holds a single run, not a sweep")
  say = Progress(1, stream=stream).line
  spec = wd.read_sweep_spec(workdir)
  trials = sweep_trials(config, spec)
  gids = spec["group_ids"]
  done = wd.read_groups(workdir)
  missing = [g for g in gids if g not in done]
  rows = [r for g in gids if g in done for r in done[g]["rows"]]
  if not rows:
    raise ConfigError("workdir", workdir, f"has none of the {len(gids)} groups of its sweep in groups/")
  if missing:
    say(f"merge: {len(missing)} of {len(gids)} group(s) not done yet: {', '.join(missing)}")
  _merge_metrics(workdir)
  _merge_best_checkpoints(workdir)
  best = write_results(workdir, rows, field_names(config), trials)
  mine = [done[g] for g in gids if g in done]
  summary = write_best_and_summary(workdir, config, trials, rows, best, groups=len(gids),
                          wall_s=sum(float(d.get("wall_s") or 0.0) for d in mine),
                          compile_s=sum(float(d.get("compile_s") or 0.0) for d in mine),
                          device=mine[0].get("device", "?"),
                          times={k: sum(float(d.get(k) or 0.0) for d in mine)
                                 for k in ("compile_s", "train_s", "eval_s", "write_s")})
  say(f"merge: {len(gids) - len(missing)}/{len(gids)} group(s), {len(rows)} model(s); "
      f"best trial {best['trial']}: {100 * best['mean_acc']:.2f}% with {best['values']}; wrote "
      f"{workdir}/results.csv, {wd.path(workdir, 'summary.json')}, best_config.py")
  return summary


def _merge_metrics(workdir: str) -> None:
  """metrics.jsonl + the lines of metrics.shard*.jsonl it does not hold yet (merging twice adds nothing)."""
  def shard_no(p):
    return int(p.rsplit(".shard", 1)[1].split(".")[0])
  shards = sorted(glob.glob(wd.path(workdir, "metrics.shard*.jsonl")), key=shard_no)
  if not shards:
    return
  path = wd.path(workdir, "metrics.jsonl")
  lines, seen = [], set()
  for p in ([path] if os.path.exists(path) else []) + shards:
    with open(p) as f:
      for line in f:
        line = line.rstrip("\n")
        if line.strip() and line not in seen:
          seen.add(line)
          lines.append(line)
  wd.atomic_write(path, "".join(l + "\n" for l in lines))


def _merge_best_checkpoints(workdir: str) -> None:
  """checkpoints/best_trial := the best (highest selection accuracy) of it and the shards' best_trial.shard<i>."""
  ckdir = wd.path(workdir, "checkpoints")
  metas = []
  for p in glob.glob(os.path.join(ckdir, "best_trial*_meta.json")):
    meta = wd.read_json(p)  # (chosen by selection_accuracy: validation, or test without a validation split)
    metas.append(((float(meta.get("selection_accuracy", meta.get("test_accuracy", -1.0))),
                   -float(meta.get("selection_loss", 0.0))), p))
  if not any(".shard" in os.path.basename(m[1]) for m in metas):
    return
  _, p = max(metas)
  if ".shard" in os.path.basename(p):
    name = os.path.basename(p)[: -len("_meta.json")]
    target = os.path.abspath(os.path.join(ckdir, "best_trial"))
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(ckdir, name), target)
    meta = wd.read_json(p)
    meta["checkpoint"] = target
    wd.write_best_trial_meta(workdir, "best_trial", meta)
