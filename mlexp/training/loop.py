"""The one epoch loop, used by single runs (training/trainer.py) and sweeps (sweeps/execute.py).

A single run is a plan of one group; a sweep is many. For one group:

  run = Training(group, state, members)   members: the plan's Member list; run.pos maps group position -> member
  train(run, epochs, start, hooks)        one compiled call per epoch; after it every hook's `after_epoch`
                                          (write metrics, checkpoint, print progress, ASHA cuts, dropping
                                          frozen members); members leaving the group (dropped or at the end)
                                          go through every hook's `leaving` (extra test sets, best params)
  run.records                             per member: status, epochs, best / final losses, accuracies, ...

Hooks are plain objects with any of `after_epoch(run, epoch, metrics, seconds)` and `leaving(run, js)`; those
for results (metrics.jsonl, TensorBoard, extra test sets, classification) are in training/hooks.py.
Stop decisions inside an epoch (early stopping, divergence) are the program's (training/step.py, bookkeeping.py);
decisions between epochs (ASHA) are hooks that set member statuses with `run.group.set_status`.
"""
from __future__ import annotations

import math
import time

import jax
import numpy as np

from mlexp import data as data_lib
from mlexp.training import member_clock
from mlexp.training.group import Group, device_splits
from mlexp.training.program import COMPLETED, CUT, RUNNING, STATUS_NAMES, STOPPED_EARLY


def load_data(config):
  return data_lib.load(config.data, config.eval)


def platform() -> str:
  """cpu, gpu or tpu: the platform the members run on."""
  return jax.devices()[0].platform


def device_description() -> str:
  d = jax.devices()
  return f"{len(d)} x {d[0].platform}:{d[0].device_kind}"


def member_devices(n_members: int, lane: int | None = None):
  """All local devices when there are members for each of them (the member axis is sharded); else one: the
  first, or device `lane` (a sweep's narrow groups run side by side, one a device: sweeps/balance.py lanes)."""
  devs = jax.local_devices()
  if len(devs) > 1 and n_members >= len(devs):
    return devs
  return [devs[int(lane) % len(devs)]] if lane is not None else devs[:1]


class DataCache:
  """Data sets loaded once per data config and placed on the device once per bucket count."""

  def __init__(self, say=None):
    self._data, self.say = {}, say

  @staticmethod
  def key(cfg) -> str:
    return cfg.data.to_json_best_effort(sort_keys=True) + cfg.eval.to_json_best_effort(sort_keys=True)

  def datasets(self) -> dict:
    """key -> Dataset of every data set loaded (the Ray backend ships them to its workers)."""
    return {k: ds for k, (ds, _) in self._data.items()}

  def put(self, key: str, dataset) -> None:
    """A data set loaded elsewhere (a Ray worker gets the driver's)."""
    self._data.setdefault(key, (dataset, {}))

  def get(self, cfg, lane=None):
    """(data set, device splits) of a config; lane: a narrow group's device (member_devices), the splits placed
    there once (else on the default device, or sharded by the group's program)."""
    key = self.key(cfg)
    if key not in self._data:
      ds = load_data(cfg)
      if self.say:
        self.say(f"data: {ds.describe()}")
      self._data[key] = (ds, {})
    ds, placed = self._data[key]
    nb = int(cfg.data.num_buckets)
    if nb not in placed:
      placed[nb] = device_splits(ds, nb, validation=True)
    device = None if lane is None else member_devices(1, lane)[0]
    if device is None or device == jax.local_devices()[0]:
      return ds, placed[nb]
    if (nb, device.id) not in placed:
      placed[(nb, device.id)] = jax.device_put(placed[nb], device)
    return ds, placed[(nb, device.id)]


def build_group(cfg, dataset, splits, members, slots: int = 0, branches: tuple = (), lane=None) -> Group:
  """slots: member slots of its program (a sweep's chunks of one bucket share one program); branches: its
  program's branches when a plan gives them (GroupPlan.branches); lane: the device of a narrow group
  (member_devices; its splits are on that device: DataCache.get)."""
  return Group(cfg, splits[0], splits[1], dataset.num_classes, members,
               devices=member_devices(max(len(members), int(slots)), lane), slots=slots,
               val=splits[2] if len(splits) > 2 else None, branches=branches)


VAL_COLUMNS = ("best_val_loss", "val_accuracy", "final_val_loss", "final_val_accuracy")


class Records:
  """Host-side results of the members of one plan (by member index)."""

  def __init__(self, n):
    self.status = np.full(n, RUNNING)
    self.stopped_by = [""] * n
    self.epochs_run = np.zeros(n, int)
    self.best_epoch = np.zeros(n, int)
    self.best_loss = np.full(n, np.inf)  # the selection loss (validation; test without a validation split)
    self.best_acc = np.zeros(n)  # test accuracy at the best epoch
    self.best_test_loss = np.full(n, np.inf)
    self.best_val_acc = np.full(n, np.nan)  # nan without a validation split
    self.final_loss = np.full(n, np.nan)
    self.final_acc = np.full(n, np.nan)
    self.final_val_loss = np.full(n, np.nan)
    self.final_val_acc = np.full(n, np.nan)
    self.train_loss = np.full(n, np.nan)
    self.wall_s = np.zeros(n)
    self.param_count = np.zeros(n, np.int64)
    self.compile_share = np.zeros(n)
    # seconds of each member's epochs measured inside the program, and how many (CPU: training/member_clock.py timed_epoch)
    self.member_s, self.member_epochs, self.member_first_s = np.zeros(n), np.zeros(n, int), np.zeros(n)
    # (later epochs while a group compiled or another trained, and their seconds while one did)
    self.member_busy_s, self.member_busy_n = np.zeros(n), np.zeros(n, int)
    self.member_overlap_s = np.zeros(n)
    # ... of which its device was the only one busy (member_clock.alone_seconds: all, first, busy epochs), and
    # how much faster members ran then (member_clock.contention: one estimate per trial and clean epoch call)
    self.member_alone = np.zeros((3, n))
    self.contention: dict = {}  # trial -> estimates
    self.extra = [dict() for _ in range(n)]  # "test_accuracy/<name>", "test_loss/<name>", "macro_f1" -> value
    self.classification = [None] * n  # metrics.report_from_confusion at the best epoch

  def update(self, pos, m, dt, trials=None):
    trained = m["trained"]
    share = dt / max(int(trained.sum()), 1)
    if "member_t0" in m:
      alone = member_clock.alone_seconds(m["member_t0"], m["member_s"], trained)
      clean = all(self.member_epochs[i] and not m["member_busy"][j] for j, i in enumerate(pos) if trained[j])
      if trials is not None and clean:  # (not a program's first run, nor beside a compile)
        for t, c in member_clock.contention(trials, m["member_s"], alone, trained).items():
          self.contention.setdefault(t, []).append(c)
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
      self.best_test_loss[i] = float(m["best_test_loss"][j])
      self.final_loss[i] = float(m["test_loss"][j])
      self.final_acc[i] = float(m["test_accuracy"][j])
      if "val_loss" in m:  # (a validation split selects)
        self.best_val_acc[i] = float(m["best_val_accuracy"][j])
        self.final_val_loss[i] = float(m["val_loss"][j])
        self.final_val_acc[i] = float(m["val_accuracy"][j])
      self.train_loss[i] = float(m["train_loss"][j])
      self.wall_s[i] += share
      if "member_s" in m:
        lone = float(alone[j]) if "member_t0" in m else 0.0
        if not self.member_epochs[i]:  # (the first: with a new program's first-run overhead when it leads)
          self.member_first_s[i] = float(m["member_s"][j])
          self.member_alone[1, i] = lone
        elif bool(m["member_busy"][j]):
          self.member_busy_s[i] += float(m["member_s"][j])
          self.member_busy_n[i] += 1
          self.member_overlap_s[i] += float(m.get("member_overlap_s", m["member_s"])[j])
          self.member_alone[2, i] += lone
        self.member_s[i] += float(m["member_s"][j])
        self.member_alone[0, i] += lone
        self.member_epochs[i] += 1

  def restore(self, pos, state, last_epochs):
    """Resume: the records of the members of a restored state and their last metrics.jsonl records."""
    for j, i in enumerate(pos):
      last = {k: math.nan if v is None else v for k, v in last_epochs[j].items()}
      self.train_loss[i] = float(last.get("train_loss", math.nan))
      self.final_loss[i] = float(last.get("test_loss", math.nan))
      self.final_acc[i] = float(last.get("test_accuracy", math.nan))
      self.final_val_loss[i] = float(last.get("val_loss", math.nan))
      self.final_val_acc[i] = float(last.get("val_accuracy", math.nan))
      self.status[i] = int(np.asarray(state.status)[j])
      self.epochs_run[i] = int(np.asarray(state.epoch)[j])
      self.best_epoch[i] = int(np.asarray(state.best_epoch)[j])
      self.best_loss[i] = float(np.asarray(state.best_loss)[j])
      self.best_acc[i] = float(np.asarray(state.best_accuracy)[j])
      self.best_test_loss[i] = float(np.asarray(state.best_test_loss)[j])
      if "val_loss" in last:
        self.best_val_acc[i] = float(np.asarray(state.best_val_accuracy)[j])

  def selection_acc(self, i) -> float:
    """The accuracy that picks among models: validation at the best epoch (test without a validation split)."""
    return float(self.best_acc[i] if np.isnan(self.best_val_acc[i]) else self.best_val_acc[i])

  def selection_key(self, i) -> tuple:
    """(selection accuracy, -selection loss) of member i: higher is better (ties broken by the loss)."""
    loss = float(self.best_loss[i])
    return self.selection_acc(i), -loss if loss == loss else -math.inf

  def add_compile_share(self, compile_s: float, idx) -> None:
    """Each member's wall_s includes an equal share of its group's compile seconds (what a user waits for)."""
    idx = list(idx)
    for i in idx:
      self.compile_share[i] += compile_s / max(len(idx), 1)
      self.wall_s[i] += compile_s / max(len(idx), 1)

  def member_seconds(self, i, trial=None) -> dict:
    """Member i's measured seconds (all epochs, the first, those beside a compile and their overlapped part) at
    the pace of members sharing the machine: the seconds it ran alone times the contention measured for its
    trial (the median of its estimates; the program's median where it has none; 1 where none was), so that seeds
    of one trial agree wherever their slots put them. member_contention_n: how many estimates that took."""
    every = [c for cs in self.contention.values() for c in cs]  # (its trial's, else the program's median)
    used = self.contention.get(trial) or every
    c = float(np.median(used)) if used else 1.0
    total, first, busy = (float(x) + (c - 1.0) * float(a) for x, a in zip(
        (self.member_s[i], self.member_first_s[i], self.member_busy_s[i]), self.member_alone[:, i]))
    raw_busy = float(self.member_busy_s[i])
    return {"member_s": total, "member_first_s": first, "member_busy_s": busy,
            "member_overlap_s": float(self.member_overlap_s[i]) * (busy / raw_busy if raw_busy > 0 else 1.0),
            "member_alone_s": float(self.member_alone[0, i]), "member_contention": c,
            "member_contention_n": len(used)}

  def row(self, i, member, gid) -> dict:
    """Member i's result row (mlexp/io/workdir.py:RESULT_COLUMNS; the caller adds swept fields). test_accuracy and
    best_test_loss are the test set's at the best epoch, which the validation split chose (best_val_loss)."""
    no_val = np.isnan(self.best_val_acc[i]) and np.isnan(self.final_val_loss[i])
    row = {"trial": member.trial, "group": gid, "seed": member.seed, "status": STATUS_NAMES[int(self.status[i])],
           "stopped_by": self.stopped_by[i], "epochs_run": int(self.epochs_run[i]),
           "best_epoch": int(self.best_epoch[i]), "final_test_loss": self.final_loss[i],
           "best_test_loss": self.best_test_loss[i], "test_accuracy": self.best_acc[i],
           "final_test_accuracy": self.final_acc[i],
           # (no validation split: the one nan object, so that rows compare equal)
           **({k: math.nan for k in VAL_COLUMNS} if no_val else {
               "best_val_loss": self.best_loss[i], "val_accuracy": self.best_val_acc[i],
               "final_val_loss": self.final_val_loss[i], "final_val_accuracy": self.final_val_acc[i]}),
           "train_loss": self.train_loss[i], "wall_s": self.wall_s[i],
           "compile_s": self.compile_share[i], "param_count": int(self.param_count[i]),
           "member_epochs": int(self.member_epochs[i]), "member_busy_n": int(self.member_busy_n[i]),
           **self.member_seconds(i, member.trial)}
    row.update(self.extra[i])
    if self.classification[i] is not None:
      row["classification"] = self.classification[i]
    return row


class Training:
  """One group in training: its compiled Group, state, members and their records."""

  def __init__(self, group, state, members, records=None, pos=None):
    self.group, self.state, self.members = group, state, list(members)
    # group position -> member index (pos: a group restored with only some members, sweeps/segment.py)
    self.pos = list(range(len(self.members))) if pos is None else list(pos)
    self.records = records or Records(len(self.members))
    self.records.param_count[self.pos] = group.param_counts(state)
    self.used = 0  # member-epochs trained
    self.finished = False
    # where the wall time goes: compile (every program of this run, rebuilds included), train (the
    # compiled epochs, each with its test evaluation), eval (extra test sets, confusion, best parameters of
    # leaving members), write (metrics.jsonl, TensorBoard, checkpoints, progress)
    self.times = {"compile_s": group.compile_s, "train_s": 0.0, "eval_s": 0.0, "write_s": 0.0}

  def cut(self, idx, by: str) -> None:
    """Members `idx` (member indices) recorded as stopped by a decision between epochs (`by`: "asha")."""
    for i in idx:
      self.records.status[i], self.records.stopped_by[i] = CUT, by

  def carry_on(self, used: int, times: dict, compile_s: float = 0.0) -> None:
    """A run rebuilt from a snapshot (a Ray worker: sweeps/segment.py): its counts so far, plus this rebuild's
    compile seconds."""
    self.used, self.times = int(used), {**times, "compile_s": times["compile_s"] + compile_s}

  def leave(self, js, hooks):
    for h in hooks:
      if hasattr(h, "leaving") and js:
        t = time.perf_counter()
        h.leaving(self, js)
        self.times[getattr(h, "time_kind", "eval_s")] += time.perf_counter() - t

  def reorder(self, order):
    """The group's member slots reordered (Group.reorder), with the positions that map them to members."""
    self.state = self.group.reorder(self.state, order)
    self.pos = [self.pos[j] for j in self.group.member_order(order)]

  def drop_frozen(self, hooks, rebuild):
    """Continues with only the running members, in a smaller group `rebuild(members, branches)` (one compile;
    the program's branches kept: its optimizer state holds every optimizer of them)."""
    running = self.group.running(self.state)
    self.leave([j for j in range(self.group.size) if not running[j]], hooks)
    keep = [j for j in range(self.group.size) if running[j]]
    sub = self.group.take(self.state, keep)
    self.pos = [self.pos[j] for j in keep]
    self.group = rebuild([self.members[i] for i in self.pos], self.group.program_branches())
    self.state = self.group.adopt(sub)
    self.group.compile(self.state)
    self.times["compile_s"] += self.group.compile_s


def train(run: Training, epochs: int, start: int = 0, hooks=(), until: int | None = None) -> Training:
  """Epochs start+1..epochs (or ..until: a segment, for rung-synchronous sweeps) of every running member;
  at the last epoch, or when no member runs any more, the members still in the group leave (`finish`)."""
  stop = epochs if until is None else min(int(until), epochs)
  for e in range(start + 1, stop + 1):
    if not run.group.running(run.state).any():
      break
    run.state, m, dt = run.group.epoch(run.state)
    run.times["train_s"] += dt
    run.used += int(m["trained"].sum())
    run.records.update(run.pos, m, dt, [run.members[i].trial for i in run.pos])
    complete_own_epochs(run, e)
    for h in hooks:
      if hasattr(h, "after_epoch"):
        t = time.perf_counter()
        h.after_epoch(run, e, m, dt)
        kind = getattr(h, "time_kind", "write_s")
        if kind in run.times:
          run.times[kind] += time.perf_counter() - t
  if stop >= epochs or not run.group.running(run.state).any():
    finish(run, hooks)
  return run


def complete_own_epochs(run: Training, epoch: int) -> None:
  """Members with fewer epochs of their own than their group's (epochs as data: Member.epochs) are completed
  after their last one; their later epochs are skipped (the program's status lax.cond)."""
  ends = [j for j, i in enumerate(run.pos) if 0 < run.members[i].epochs <= epoch]
  status = run.group.member_status(run.state)
  ends = [j for j in ends if status[j] == RUNNING]
  if ends:
    status[ends] = COMPLETED
    run.state = run.group.set_status(run.state, status)


def finish(run: Training, hooks=()) -> Training:
  """The end of a run: members still running are completed, and every member leaves the group."""
  run.finished = True
  final = run.group.member_status(run.state)
  run.state = run.group.set_status(run.state, np.where(final == RUNNING, COMPLETED, final))
  run.leave(list(range(run.group.size)), hooks)
  rec = run.records
  rec.status[rec.status == RUNNING] = COMPLETED
  return run
