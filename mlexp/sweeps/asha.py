"""Asynchronous successive halving (ASHA) decisions, as pure functions.

Rungs are at epochs grace * factor**k (k = 0, 1, ...) below max_epochs. When a trial reaches a rung,
it continues only if its value is in the top 1/factor of all values recorded at that rung so far
(in this group and in the groups before it), as in Ray Tune's ASHAScheduler; otherwise it is stopped.
Inside a vmapped group the losers are frozen (their status set), without recompiling.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


# sweep.metric: what ASHA's rungs, TPE and the best trial rank by; test_* only with data.validation_fraction=0
METRICS = ("val_loss", "val_accuracy", "test_loss", "test_accuracy")


def metric_key(metric: str, validation: bool) -> str:
  """The epoch metric sweep.metric ranks by: val_* are the test_* ones when there is no validation split."""
  return metric if validation else metric.replace("val_", "test_")


def metric_mode(metric: str) -> str:
  return "min" if metric.endswith("_loss") else "max"


def rungs(grace: int, factor: int, max_epochs: int) -> list[int]:
  out, r = [], int(grace)
  while r < max_epochs:
    out.append(r)
    r *= int(factor)
  return out


def keep(history: Sequence[float], values: Sequence[float], factor: int, mode: str = "min") -> np.ndarray:
  """Which of `values` (reaching a rung now) continue, given the values recorded at the rung before.

  A value continues if it is at least as good as the cutoff of the top 1/factor of history + values.
  Non-finite values never continue. mode: 'min' (a loss) or 'max' (an accuracy).
  """
  values = np.asarray(values, np.float64)
  allv = np.concatenate([np.asarray(history, np.float64), values])
  allv = allv[np.isfinite(allv)]
  finite = np.isfinite(values)
  if allv.size == 0:
    return finite
  sign = 1.0 if mode == "min" else -1.0
  ranked = np.sort(sign * allv)
  n_keep = max(1, int(math.floor(allv.size / factor)))
  cutoff = ranked[n_keep - 1]
  return finite & (sign * values <= cutoff)


class LocalBoard:
  """The values recorded at each rung (rung epoch -> finite values) and the decisions made on them: one
  process's ASHA state. `report_and_keep` is `keep` against everything reported before, then records the
  values. A report under a key already seen (a retried task reporting its rung again) gets the same
  answer and records nothing. The Ray backend shares one of these through an actor (sweeps/ray_backend.py),
  so every group in flight sees every value reported so far."""

  def __init__(self, history: dict | None = None):
    self.history = history if history is not None else {}
    self._answers: dict = {}

  def report_and_keep(self, epoch: int, values, factor: int, mode: str, key=None) -> list:
    if key is not None and (key, epoch) in self._answers:
      return self._answers[(key, epoch)]
    hist = self.history.setdefault(epoch, [])
    kept = [bool(k) for k in keep(hist, values, factor, mode)]
    hist.extend(float(v) for v in values if math.isfinite(v))
    if key is not None:
      self._answers[(key, epoch)] = kept
    return kept

  def restore(self, reports) -> None:
    """Reports made to a board that was lost (the Ray backend's actor: sweeps/ray_backend.py), added again:
    (epoch, key, values, answer or None). A (key, epoch) already known is skipped; an answer given before is
    kept as the answer to a repeated report."""
    for epoch, key, values, answer in reports:
      if key is not None and (key, epoch) in self._answers:
        continue
      self.history.setdefault(epoch, []).extend(float(v) for v in values if math.isfinite(v))
      if key is not None:
        self._answers[(key, epoch)] = list(answer) if answer is not None else [True] * len(values)


def segments(grace: int, factor: int, epochs: int) -> list:
  """Rung-synchronous ASHA (`sweep.asha.sync`): the epochs at which training pauses for a decision, the rungs,
  then the last epoch."""
  rs = rungs(grace, factor, epochs)
  return rs + ([epochs] if not rs or rs[-1] != epochs else [])


def decide(per_group: dict, epoch: int, history: dict, factor: int, mode: str) -> dict:
  """One rung-synchronous decision over the trials of every group at rung `epoch` (pure but for `history`,
  which gets the rung's values): per_group gid -> (trials, values at the rung), in plan order ->
  gid -> (values, losing trials). Successive halving with the whole search's values at each rung: the same
  rule as asynchronous ASHA without its leniency toward trials that reach a rung early."""
  vals = [v for trials, vs in per_group.values() for v in vs]
  if not vals:
    return {}
  hist = history.setdefault(epoch, [])
  kept = keep(hist, vals, factor, mode)
  hist.extend(v for v in vals if math.isfinite(v))
  out, k = {}, 0
  for gid, (trials, vs) in per_group.items():
    out[gid] = (vs, {t for t, ok in zip(trials, kept[k:k + len(trials)]) if not ok})
    k += len(trials)
  return out
