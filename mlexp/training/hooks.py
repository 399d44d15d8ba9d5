"""The epoch loop's hooks for results (training/loop.py calls them): metrics.jsonl and TensorBoard scalars of every
member trained in an epoch, and what members leaving a group get: the extra test sets (moved / rotated) and the
classification report, on their best parameters."""
from __future__ import annotations

import jax
import numpy as np

from mlexp import metrics
from mlexp.io import workdir as wd
from mlexp.io.writers import epoch_scalars
from mlexp.training.group import put_split
from mlexp.training.state import COMPLETED, RUNNING, STATUS_NAMES


def epoch_status(m, j, e, epochs) -> str:
  status = int(m["status"][j])
  return STATUS_NAMES[COMPLETED if status == RUNNING and e == epochs else status]


class MetricsHook:
  """metrics.jsonl and TensorBoard scalars of every member trained in an epoch."""
  time_kind = "write_s"

  def __init__(self, jsonl, tb, epochs, run_name, gid=None):
    self.jsonl, self.tb, self.epochs, self.run_name, self.gid = jsonl, tb, epochs, run_name, gid

  def after_epoch(self, run, e, m, dt):
    for j, i in enumerate(run.pos):
      if not m["trained"][j]:
        continue
      mem = run.members[i]
      own = mem.epochs or self.epochs  # (epochs as data: the member's own)
      rec = wd.epoch_record(mem, e, m, j, dt, run.group.n_train, epoch_status(m, j, e, own), self.gid)
      self.jsonl.write(rec)
      self.tb.write_scalars(self.run_name(mem), e, epoch_scalars(rec))


def rewrite_tensorboard(tb, records, run_name) -> None:
  """Resume: each run's TensorBoard scalars made one point per kept metrics.jsonl record (TensorBoard.resume)."""
  tb.resume(records, run_name)


class ClassificationHook:
  """Confusion matrix, per-class accuracy, macro F1 / precision / recall of the members leaving the group,
  at their best epoch (from the test confusion counts the program keeps with the best parameters)."""

  def __init__(self, dataset):
    self.dataset = dataset

  def leaving(self, run, js):
    conf = run.group.member_values(jax.device_get(run.state.best_confusion))
    for j in js:
      rep = metrics.report_from_confusion(conf[j], self.dataset.class_names)
      run.records.extra[run.pos[j]]["macro_f1"] = rep["macro_f1"]
      run.records.classification[run.pos[j]] = rep


class ExtraTestsHook:
  """The extra test sets (moved / rotated) on the best parameters of the members leaving the group."""

  def __init__(self, dataset):
    self.dataset = dataset

  def leaving(self, run, js):
    for name, split in self.dataset.extra_tests.items():
      loss, acc = run.group.evaluate(run.state.best_params, put_split(split))
      for j in js:
        run.records.extra[run.pos[j]][f"test_accuracy/{name}"] = float(acc[j])
        run.records.extra[run.pos[j]][f"test_loss/{name}"] = float(loss[j])
