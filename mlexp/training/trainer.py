"""Single runs: `train_and_evaluate(config, workdir)` trains `config.seeds` models at once (a plan of one
group) through the epoch loop (training/loop.py) and writes config.json, data.json, metrics.jsonl,
TensorBoard runs, Orbax checkpoints and summary.json into the workdir (layout: mlexp/io/workdir.py).

This is the imperative shell around the pure program (mlexp.training.program); it resumes automatically
from the latest checkpoint in the workdir.
"""
from __future__ import annotations

import os
import time

import numpy as np

from mlexp.config import validate_dataset
from mlexp.io import hparams
from mlexp.io import workdir as wd
from mlexp.io.checkpoints import Checkpoints
from mlexp.io.progress import Progress, extra_tests_line
from mlexp.io.writers import JsonlWriter, TensorBoard
from mlexp.io.signals import SignalHook
from mlexp.summary import summarize
from mlexp.stats import mean_std
from mlexp.training import hooks as result_hooks, loop
from mlexp.training.group import Member, device_splits
from mlexp.training.loop import load_data  # (a name here: tests replace trainer.load_data)
from mlexp.training.optim import hparams_of


class CheckpointHook:
  def __init__(self, ckpt):
    self.ckpt = ckpt

  def after_epoch(self, run, e, m, dt):
    self.ckpt.save(e, run.state, improved=bool((np.asarray(run.state.best_epoch) == e).any()))


class ProgressHook:
  def __init__(self, progress):
    self.progress = progress

  def after_epoch(self, run, e, m, dt):
    trained = m["trained"]
    acc_m, acc_s = mean_std(m["test_accuracy"][trained])
    tl, _ = mean_std(m["train_loss"][trained])
    vl, _ = mean_std(m["test_loss"][trained])
    n_run = int(trained.sum())
    pm = f" ± {100 * acc_s:.2f}" if n_run > 1 else ""
    val = ""
    if run.group.val is not None:  # the split that selects, beside the test set that is only reported
      val = (f"val_loss {mean_std(m['val_loss'][trained])[0]:.4f} | "
             f"val_acc {100 * mean_std(m['val_accuracy'][trained])[0]:.2f}% | ")
    self.progress.update(e, f"train_loss {tl:.4f} | {val}test_loss {vl:.4f} | test_acc {100 * acc_m:.2f}%{pm} | "
                         f"{n_run * run.group.n_train / dt:,.0f} samples/s", dt)


def train_and_evaluate(config, workdir: str, stream=None) -> dict:
  t_start = time.perf_counter()
  dataset = load_data(config)
  validate_dataset(config, dataset)  # batch size and model / data kind (npz: known only now)
  members = [Member(seed=int(config.seed) + i, hparams=hparams_of(config)) for i in range(int(config.seeds))]
  progress = Progress(int(config.epochs), stream=stream)
  say = progress.line
  say(f"data: {dataset.describe()}")
  say(f"model: {config.model.kind}, {len(members)} model(s) (seeds {members[0].seed}..{members[-1].seed}) "
      f"on {loop.device_description()}")

  wd.prepare_workdir(workdir, config)
  wd.write_data_info(workdir, dataset)  # refuses a resume on other data (its fingerprint) before training
  group = loop.build_group(config, dataset, device_splits(dataset, int(config.data.num_buckets), validation=True),
                           members)
  state = group.init()
  ckpt = Checkpoints(wd.path(workdir, "checkpoints")) if config.checkpoint.enabled else None
  start = 0
  if ckpt is not None and ckpt.latest_epoch() is not None:
    state, start = ckpt.resume(state, say, relayout=lambda s: group.adopt(group.take(s, range(group.size))),
                               metrics=(wd.path(workdir, "metrics.jsonl"), [m.seed for m in members]))
    # (falls back to the previous checkpoint when one is damaged; relayout: saved on another device count)
  jsonl = JsonlWriter(wd.path(workdir, "metrics.jsonl"), truncate_after_epoch=start, say=say)
  tb = TensorBoard(wd.path(workdir, "tensorboard"))
  run = loop.Training(group, state, members)
  if start:
    run.records.restore(run.pos, group.take(state, range(group.size)), wd.last_epochs(jsonl.path, members))
    result_hooks.rewrite_tensorboard(tb, jsonl.kept, lambda r: f"seed_{r['seed']}")
  try:
    group.compile(state)
    say(f"compiled in {group.compile_s:.1f}s; {int(run.records.param_count[0]):,} parameters per model, "
        f"{group.program.steps_per_epoch} steps per epoch of batch {config.batch_size}")
    hooks = [result_hooks.MetricsHook(jsonl, tb, int(config.epochs), lambda mem: f"seed_{mem.seed}"),
             *([CheckpointHook(ckpt)] if ckpt is not None else []), ProgressHook(progress),
             result_hooks.ExtraTestsHook(dataset), result_hooks.ClassificationHook(dataset), SignalHook()]
    loop.train(run, int(config.epochs), start, hooks)
    tb.flush()
    run.records.add_compile_share(run.times["compile_s"], range(len(members)))
    rows = [run.records.row(i, mem, "0") for i, mem in enumerate(members)]
    summary = summarize("single", wd.read_data_info(workdir), config, rows, {0: {}}, groups=1,
                        wall_s=time.perf_counter() - t_start, compile_s=group.compile_s,
                        device=loop.device_description(), times=run.times)
    hparams.write_run(tb, config, rows)
  finally:
    jsonl.close()
    tb.close()
    if ckpt is not None:
      ckpt.close()
  wd.write_summary(workdir, summary)
  if len(members) > 1:
    say("per model: " + ", ".join(f"seed {r['seed']} {100 * r['test_accuracy']:.2f}% (epoch {r['best_epoch']}, "
                                  f"{r['status']})" for r in summary["runs"]))
  val = summary["mean"].get("val_accuracy")
  val = "" if val is None or val != val else f", validation accuracy {100 * val:.2f}%"
  say(f"test accuracy {100 * summary['mean']['test_accuracy']:.2f}% ± {100 * summary['std']['test_accuracy']:.2f} "
      f"(best epoch of each of {len(members)} model(s), chosen on the {summary['selection'].split(' (')[0]} set"
      f"{val}) on {dataset.name}; {summary['wall_s']:.1f}s; wrote {workdir}/summary.json")
  if extra_tests_line(summary):
    say(extra_tests_line(summary))
  if any(r["status"] == "diverged" for r in summary["runs"]):
    say(diverged_hint(config, summary))
  return summary


def diverged_hint(config, summary) -> str:
  """The console line of a run with diverged models: which, and a learning rate to try."""
  bad = [r for r in summary["runs"] if r["status"] == "diverged"]
  lr = float(config.optimizer.learning_rate)
  seeds = ", ".join(str(r["seed"]) for r in bad)
  return (f"{len(bad)} of {len(summary['runs'])} model(s) diverged (non-finite loss; seed(s) {seeds}): the "
          f"learning rate {lr:g} is probably too high; try a lower one, e.g. --config.optimizer.learning_rate={lr / 10:g}")
