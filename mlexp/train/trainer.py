"""Single runs: `train_and_evaluate(config, workdir)` trains `config.seeds` models at once and writes
config.json, metrics.jsonl, TensorBoard runs, Orbax checkpoints and summary.json into the workdir.

This is the imperative shell around the pure program (mlexp.train.program); it resumes automatically
from the latest checkpoint in the workdir.
"""
from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

import mlexp
from mlexp import data as data_lib
from mlexp.config import ConfigError, validate_against_data
from mlexp.io.checkpoints import Checkpoints
from mlexp.io.progress import Progress
from mlexp.io.writers import JsonlWriter, TensorBoard, to_json, write_atomic
from mlexp.train.group import Group, Member, device_splits, put_split
from mlexp.train.optim import hparams_of
from mlexp.train.program import COMPLETED, RUNNING, STATUS_NAMES


def load_data(config):
  return data_lib.load(config.data, config.eval)


def device_description() -> str:
  d = jax.devices()
  return f"{len(d)} x {d[0].platform}:{d[0].device_kind}"


def member_devices(n_members: int):
  """All local devices when there are members for each of them (the member axis is sharded)."""
  devs = jax.local_devices()
  return devs if len(devs) > 1 and n_members >= len(devs) else devs[:1]


def prepare_workdir(workdir: str, config) -> None:
  """Creates the workdir and writes config.json once (atomically: processes sharing a workdir may start
  together); refuses a workdir that holds another config."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  cfg_json = json.loads(config.to_json_best_effort())
  if not os.path.exists(path):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
      json.dump(cfg_json, f, indent=2)
    os.replace(tmp, path)
  with open(path) as f:
    if json.load(f) != cfg_json:
      raise ConfigError("workdir", workdir, "it holds a run of a different config; use a new --workdir "
                        "(or the same config to resume)")


def _mean_std(values):
  """Mean and sample standard deviation (ddof=1; 0 for one value) of the finite values."""
  v = np.asarray(values, np.float64)
  v = v[np.isfinite(v)]
  if not v.size:
    return float("nan"), float("nan")
  return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _last_train_loss(path: str, members) -> np.ndarray:
  """Per member, the train loss of its latest epoch in metrics.jsonl (NaN where there is none)."""
  latest = {}
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        if line.strip():
          r = json.loads(line)
          if r.get("epoch", 0) >= latest.get(r.get("seed"), (0, None))[0]:
            latest[r.get("seed")] = (r.get("epoch", 0), r.get("train_loss"))
  return np.array([np.nan if latest.get(m.seed, (0, None))[1] is None else float(latest[m.seed][1])
                   for m in members], np.float64)


def train_and_evaluate(config, workdir: str, stream=None) -> dict:
  t_start = time.perf_counter()
  dataset = load_data(config)
  validate_against_data(config, len(dataset.train))
  members = [Member(seed=int(config.seed) + i, hparams=hparams_of(config)) for i in range(int(config.seeds))]
  progress = Progress(int(config.epochs), stream=stream)
  say = progress.line
  say(f"data: {dataset.describe()}")
  say(f"model: {config.model.kind}, {len(members)} model(s) (seeds {members[0].seed}..{members[-1].seed}) "
      f"on {device_description()}")

  prepare_workdir(workdir, config)
  train, test = device_splits(dataset, int(config.data.num_buckets))
  group = Group(config, train, test, dataset.num_classes, members, devices=member_devices(len(members)))
  state = group.init()
  ckpt = Checkpoints(os.path.join(workdir, "checkpoints")) if config.checkpoint.enabled else None
  start = 0
  if ckpt is not None and ckpt.latest_epoch() is not None:
    state, start = ckpt.resume(state, say)  # falls back to the previous checkpoint when one is damaged
  jsonl = JsonlWriter(os.path.join(workdir, "metrics.jsonl"), truncate_after_epoch=start)
  tb = TensorBoard(os.path.join(workdir, "tensorboard"))
  n_params = group.param_count(state)
  try:
    group.compile(state)
    say(f"compiled in {group.compile_s:.1f}s; {n_params:,} parameters per model, "
        f"{group.program.steps_per_epoch} steps per epoch of batch {config.batch_size}")
    epochs = int(config.epochs)
    progress.total = epochs
    last_train_loss = _last_train_loss(jsonl.path, members)  # a resumed run's, from the kept metrics
    for e in range(start + 1, epochs + 1):
      if not group.running(state).any():
        break
      state, m, dt = group.epoch(state)
      trained = m["trained"]
      last_train_loss = np.where(trained, m["train_loss"], last_train_loss)
      for i, mem in enumerate(members):
        if not trained[i]:
          continue
        status = int(m["status"][i])
        status = COMPLETED if (status == RUNNING and e == epochs) else status
        rec = {"trial": 0, "seed": mem.seed, "epoch": e, "train_loss": m["train_loss"][i],
               "test_loss": m["test_loss"][i], "test_accuracy": m["test_accuracy"][i],
               "learning_rate": m["learning_rate"][i], "epoch_s": dt,
               "samples_per_s": group.n_train / dt, "status": STATUS_NAMES[status]}
        jsonl.write(rec)
        tb.write_scalars(f"seed_{mem.seed}", e, {
            "loss/train": rec["train_loss"], "loss/test": rec["test_loss"],
            "accuracy/test": rec["test_accuracy"], "learning_rate": rec["learning_rate"]})
      if ckpt is not None:
        ckpt.save(e, state, improved=bool((np.asarray(state.best_epoch) == e).any()))
      acc_m, acc_s = _mean_std(m["test_accuracy"][trained])
      tl, _ = _mean_std(m["train_loss"][trained])
      vl, _ = _mean_std(m["test_loss"][trained])
      n_run = int(trained.sum())
      pm = f" ± {100 * acc_s:.2f}" if n_run > 1 else ""
      progress.update(e, f"train_loss {tl:.4f} | test_loss {vl:.4f} | test_acc {100 * acc_m:.2f}%{pm} | "
                      f"{n_run * group.n_train / dt:,.0f} samples/s", dt)
    tb.flush()
    final_status = np.asarray(state.status)[: len(members)]
    state = group.set_status(state, np.where(final_status == RUNNING, COMPLETED, final_status))
    summary = _summary(config, dataset, group, state, members, n_params, time.perf_counter() - t_start,
                       last_train_loss)
    for i, mem in enumerate(members):
      r = summary["runs"][i]
      tb.write_hparams(f"seed_{mem.seed}", {"seed": mem.seed, "model": config.model.kind},
                       {"hparam/test_accuracy": r["test_accuracy"], "hparam/test_loss": r["test_loss"]})
  finally:
    jsonl.close()
    tb.close()
    if ckpt is not None:
      ckpt.close()
  write_atomic(os.path.join(workdir, "summary.json"), to_json(summary))
  if len(members) > 1:
    say("per model: " + ", ".join(f"seed {r['seed']} {100 * r['test_accuracy']:.2f}% (epoch {r['best_epoch']}, "
                                  f"{r['status']})" for r in summary["runs"]))
  say(f"test accuracy {100 * summary['mean']['test_accuracy']:.2f}% ± {100 * summary['std']['test_accuracy']:.2f} "
      f"(best epoch of each of {len(members)} model(s)) on {dataset.name}; {summary['wall_s']:.1f}s; "
      f"wrote {workdir}/summary.json")
  if any(r["status"] == "diverged" for r in summary["runs"]):
    say(diverged_hint(config, summary))
  return summary


def _summary(config, dataset, group, state, members, n_params, wall_s, train_loss) -> dict:
  extra = {name: group.evaluate(state.best_params, put_split(split))
           for name, split in dataset.extra_tests.items()}
  status = np.asarray(state.status)
  runs = []
  for i, mem in enumerate(members):
    runs.append({
        "trial": mem.trial, "seed": mem.seed, "status": STATUS_NAMES[int(status[i])],
        "epochs_run": int(np.asarray(state.epoch)[i]), "best_epoch": int(np.asarray(state.best_epoch)[i]),
        "test_loss": float(np.asarray(state.best_loss)[i]),
        "test_accuracy": float(np.asarray(state.best_accuracy)[i]),
        "train_loss": float(train_loss[i]), "param_count": n_params,
        "extra_tests": {k: {"test_loss": float(v[0][i]), "test_accuracy": float(v[1][i])} for k, v in extra.items()},
    })
  acc = _mean_std([r["test_accuracy"] for r in runs])
  loss = _mean_std([r["test_loss"] for r in runs])
  out = {
      "kind": "single", "dataset": dataset.name, "source": dataset.source, "synthetic": bool(dataset.synthetic),
      "model": config.model.kind, "epochs_run": int(np.asarray(state.epoch)[: len(members)].max()),
      "wall_s": wall_s, "compile_s": group.compile_s, "mlexp_version": mlexp.__version__,
      "jax_version": jax.__version__, "device": device_description(), "runs": runs,
      "mean": {"test_accuracy": acc[0], "test_loss": loss[0]},
      "std": {"test_accuracy": acc[1], "test_loss": loss[1]},
  }
  for k in extra:
    m, s = _mean_std([r["extra_tests"][k]["test_accuracy"] for r in runs])
    out["mean"][f"test_accuracy/{k}"], out["std"][f"test_accuracy/{k}"] = m, s
  return out


def diverged_hint(config, summary) -> str:
  """The console line of a run with diverged models: which, and a learning rate to try."""
  bad = [r for r in summary["runs"] if r["status"] == "diverged"]
  lr = float(config.optimizer.learning_rate)
  seeds = ", ".join(str(r["seed"]) for r in bad)
  return (f"{len(bad)} of {len(summary['runs'])} model(s) diverged (non-finite loss; seed(s) {seeds}): the "
          f"learning rate {lr:g} is probably too high; try a lower one, e.g. --config.optimizer.learning_rate={lr / 10:g}")
