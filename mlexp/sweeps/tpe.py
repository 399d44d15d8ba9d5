"""TPE search (`sweep.algorithm = "tpe"`): Optuna's TPESampler through ask/tell, in batches.

The sweep asks `sweep.tpe_batch` trials at a time (`num_trials` in all). Each batch is planned into groups by
the same planner as random trials (plan.plan_trials: grouping by static config, width buckets), so the trials
of a batch share compiled programs; when the batch is done, every trial is told back before the next batch
is asked:
  - a completed trial: its value, the mean over its seeds of the best validation loss (or of the validation
    accuracy at the best epoch when `sweep.metric = "val_accuracy"`; the study maximizes then); without a
    validation split (data.validation_fraction=0) the test set's;
  - a trial that ASHA stopped: its value at the epoch it stopped reported as that step, told as pruned
    (TPE ranks pruned trials by how far they got, then by that value);
  - a trial whose seeds all diverged: failed.

Space kinds map to Optuna distributions: uniform -> FloatDistribution, loguniform -> FloatDistribution(log),
randint -> IntDistribution, choice and grid -> CategoricalDistribution (over the indices of values that are
not plain scalars, e.g. tuples), randint_tuple -> an IntDistribution for the length and one per element.

Reproducible with `sweep.seed` (TPESampler(seed=...)). The first batch is TPE's random start-up
(n_startup_trials = tpe_batch, within 2..10): nothing has been told when it is asked. Group ids are `t<batch>-<gid>`: given the seed and the
told values they are the same on every run, so a resumed sweep replays its finished batches from
groups/<gid>.json (the same tells, hence the same asks) and goes on with the first unfinished group.
"""
from __future__ import annotations

import dataclasses
import math

from mlexp.summary import validated
from mlexp.sweeps.asha import metric_key, metric_mode
from mlexp.sweeps.plan import SweepPlan, check_sweep
from mlexp.sweeps.space import _spec, field_names

PRUNED_VALUE = {"test_loss": "final_test_loss", "test_accuracy": "final_test_accuracy",
                "val_loss": "final_val_loss", "val_accuracy": "final_val_accuracy"}
COMPLETED_VALUE = {"test_loss": "best_test_loss", "test_accuracy": "test_accuracy",
                   "val_loss": "best_val_loss", "val_accuracy": "val_accuracy"}


def _scalar(v) -> bool:
  return v is None or isinstance(v, (bool, int, float, str))


def distributions(spec) -> dict:
  """Optuna parameter name -> distribution of one space field (randint_tuple: its length and every element)."""
  from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
  s = _spec(spec)
  f, k = s["field"], s["kind"]
  if k in ("uniform", "loguniform"):
    return {f: FloatDistribution(s["low"], s["high"], log=k == "loguniform")}
  if k == "randint":
    return {f: IntDistribution(s["low"], s["high"])}
  if k == "randint_tuple":
    return {f"{f}:len": IntDistribution(s["min_len"], s["max_len"]),
            **{f"{f}:{i}": IntDistribution(s["low"], s["high"]) for i in range(s["max_len"])}}
  vals = tuple(s["values"])
  if all(_scalar(v) for v in vals):
    return {f: CategoricalDistribution(vals)}
  return {f"{f}:index": CategoricalDistribution(tuple(range(len(vals))))}


def suggest(trial, specs) -> dict:
  """The swept values of one asked Optuna trial, with the distributions above (define-by-run: a tuple asks
  only the elements it has)."""
  out = {}
  for spec in specs:
    s = _spec(spec)
    f, k = s["field"], s["kind"]
    if k in ("uniform", "loguniform"):
      out[f] = float(trial.suggest_float(f, s["low"], s["high"], log=k == "loguniform"))
    elif k == "randint":
      out[f] = int(trial.suggest_int(f, s["low"], s["high"]))
    elif k == "randint_tuple":
      n = trial.suggest_int(f"{f}:len", s["min_len"], s["max_len"])
      out[f] = tuple(int(trial.suggest_int(f"{f}:{i}", s["low"], s["high"])) for i in range(n))
    else:
      vals = tuple(s["values"])
      if all(_scalar(v) for v in vals):
        out[f] = trial.suggest_categorical(f, vals)
      else:
        out[f] = vals[int(trial.suggest_categorical(f"{f}:index", tuple(range(len(vals)))))]
  return out


def corners(space) -> list:
  """Trials that set one field to one of its extreme values each (checked before a TPE sweep starts)."""
  out = []
  for spec in space:
    s = _spec(spec)
    f, k = s["field"], s["kind"]
    if k in ("uniform", "loguniform", "randint"):
      out += [{f: s["low"]}, {f: s["high"]}]
    elif k == "randint_tuple":
      out += [{f: (s["low"],) * s["min_len"]}, {f: (s["high"],) * s["max_len"]}]
    else:
      out += [{f: v} for v in s["values"]]
  return out


def _finite(values) -> list:
  out = []
  for v in values:
    try:
      v = float(v)
    except (TypeError, ValueError):  # null (NaN) or "inf" read back from groups/<gid>.json
      continue
    if math.isfinite(v):
      out.append(v)
  return out


def tell(study, trial, rows: list, metric: str) -> str:
  """Tells Optuna how one trial (its result rows, one per seed) ended; returns the state told."""
  from optuna.trial import TrialState
  metric = metric_key(metric, validated(rows))
  cut = [r for r in rows if r.get("stopped_by") == "asha"]
  if cut:
    vals = _finite(r.get(PRUNED_VALUE[metric]) for r in cut)
    if vals:
      trial.report(sum(vals) / len(vals), step=max(int(r["epochs_run"]) for r in cut))
    study.tell(trial, state=TrialState.PRUNED)
    return "pruned"
  vals = _finite(r.get(COMPLETED_VALUE[metric]) for r in rows)
  if not vals:
    study.tell(trial, state=TrialState.FAIL)
    return "failed"
  study.tell(trial, sum(vals) / len(vals))
  return "completed"


class TpeSearch:
  """The trials and groups of a TPE sweep, batch by batch. `plan_fn(trials) -> [GroupPlan]` plans one batch
  (trial ids = positions in the batch); `self.plan` grows (its trials and groups lists) as batches are asked."""

  def __init__(self, config, plan_fn, say=None):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sw = config.sweep
    self.config, self.plan_fn, self.say = config, plan_fn, say or (lambda text: None)
    self.specs = [_spec(s) for s in sw.space]
    check_sweep(config, corners(self.specs))
    self.metric, self.n_trials, self.batch_size = sw.metric, int(sw.num_trials), int(sw.tpe_batch)
    # the first batch is asked with nothing told, so it is TPE's random start-up (at least 2, at most Optuna's 10)
    sampler = optuna.samplers.TPESampler(seed=int(sw.seed), n_startup_trials=min(10, max(2, self.batch_size)))
    self.study = optuna.create_study(direction="minimize" if metric_mode(self.metric) == "min" else "maximize",
                                     sampler=sampler)
    self.asked = []  # the Optuna trial of every trial id
    self.plan = SweepPlan(trials=[], fields=field_names(config), groups=[])
    self.batch, self.batches, self.told = [], 0, {}
    self._ask_batch()

  def unplanned_member_epochs(self) -> int:
    """An estimate of the training still to plan (for the time left)."""
    return (self.n_trials - len(self.asked)) * int(self.config.seeds) * int(self.config.epochs)

  def _ask_batch(self):
    offset, n = len(self.asked), min(self.batch_size, self.n_trials - len(self.asked))
    new = []
    for _ in range(n):
      t = self.study.ask()
      assert t.number == len(self.asked), (t.number, len(self.asked))
      self.asked.append(t)
      new.append(suggest(t, self.specs))
    check_sweep(self.config, new)
    groups = [shift(g, offset, self.batches) for g in self.plan_fn(new)]
    self.plan.trials.extend(new)
    self.plan.groups.extend(groups)
    self.batch, self.first = groups, offset
    self.batches += 1

  def _tell_batch(self, done: dict):
    by_trial: dict = {}
    for g in self.batch:
      if g.gid not in done:
        raise RuntimeError(f"TPE: group {g.gid} of the batch is not done")
      for r in done[g.gid]["rows"]:
        by_trial.setdefault(int(r["trial"]), []).append(r)
    for t in sorted(by_trial):
      state = tell(self.study, self.asked[t], by_trial[t], self.metric)
      self.told[state] = self.told.get(state, 0) + 1
    self.batch = []

  def next_batch(self, done: dict) -> list:
    """After the batch in flight is done (`done`: gid -> groups/<gid>.json record): tells it, asks the next
    batch and returns its groups that are not done yet (a resumed sweep's finished batches are told and
    skipped); [] when all num_trials have been asked and told."""
    while True:
      self._tell_batch(done)
      if len(self.asked) >= self.n_trials:
        return []
      self._ask_batch()
      todo = [g for g in self.batch if g.gid not in done]
      told = ", ".join(f"{n} {s}" for s, n in sorted(self.told.items()))
      if todo:
        self.say(f"tpe batch {self.batches}: trials {self.first}..{len(self.asked) - 1} "
                 f"asked with {told or 'nothing'} told; {len(self.batch)} group(s)")
        return todo


def shift(plan, offset: int, batch: int):
  """A batch's GroupPlan with sweep-wide trial ids and a per-batch group id."""
  members = tuple(dataclasses.replace(m, trial=m.trial + offset) for m in plan.members)
  return dataclasses.replace(plan, gid=f"t{batch:03d}-{plan.gid}", members=members,
                             trials=tuple(t + offset for t in plan.trials))
