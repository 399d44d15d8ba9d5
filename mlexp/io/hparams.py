"""TensorBoard HParams rows: what was run (the main knobs of its config) and how it did (its result rows).

A single run writes one session, `tensorboard/hparams`, with the mean over its seeds; a sweep one session per
trial, `tensorboard/trial_TTT` (mean over the trial's seeds), while each model's curves stay in its own run
(`seed_S`, `trial_TTT_seed_S`; Scalars dashboard). Sessions hold only hparam/* scalars, so that the HParams
metrics are the results, not the last point of every curve.

Fields keep their config names (`optimizer.learning_rate`). Numbers stay numbers: a tuple field such as
`model.units=(256, 128)` becomes `model.units.layers` = 2 and one number per layer, `model.units[0]` = 256,
`model.units[1]` = 128 (the sweep's element syntax). An HParams session cannot say how an axis is scaled (the
parallel coordinates start linear; each axis can be switched to Logarithmic by hand), so a log-scaled field (the
learning rate always; a sweep's loguniform or wide grid fields) is also written as its base-10 logarithm, e.g.
`optimizer.log10_learning_rate` = -3 for 1e-3: a linear axis of it is a log axis of the learning rate.
"""
from __future__ import annotations

import math

from mlexp.config.hparams import optimizer_value
from mlexp.io.writers import TensorBoard

# config.model fields that change how a model is computed, not what it is
_IMPLEMENTATION = ("kind", "unroll", "first_apart")
_MOMENTUM_OPTIMIZERS = ("sgd", "momentum")
# result row key -> HParams metric (the mean over seeds); extra test sets ("test_accuracy/moved") are added as
# hparam/accuracy/test_moved. TensorBoard sorts metrics by name and colours the parallel coordinates by the
# first: hparam/accuracy/test
METRICS = {"test_accuracy": "hparam/accuracy/test", "val_accuracy": "hparam/accuracy/val",
           "best_test_loss": "hparam/loss/test", "train_loss": "hparam/loss/train",
           "epochs_run": "hparam/epochs_run", "wall_s": "hparam/wall_s"}


def _is_number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _log10_name(field: str) -> str:
  head, _, last = field.rpartition(".")
  return f"{head}.log10_{last}" if head else f"log10_{last}"


def _put(hp: dict, name: str, v) -> None:
  """A field as numbers, bools or strings (tuples of numbers: their length and one number per element)."""
  if isinstance(v, (tuple, list)):
    if all(_is_number(x) for x in v):
      hp[f"{name}.layers"] = len(v)
      hp.update({f"{name}[{i}]": x for i, x in enumerate(v)})
    else:
      hp[name] = "(" + ",".join(map(str, v)) + ")"
  elif v is None or isinstance(v, (bool, int, float, str)):
    hp[name] = v
  else:
    hp[name] = str(v)


def knobs(config, log_fields=()) -> dict:
  """The main knobs of a run's config: data, model and its sizes, optimizer, learning rate (and its log10),
  schedule, batch size, epochs, seeds; log_fields: more numeric fields to add as log10. (Few on purpose: the
  HParams dashboard shows the first 5 fields that differ, by name, until more are ticked.)"""
  hp = {"data": str(config.data.name), "model": str(config.model.kind)}
  for k in sorted(config.model.keys()):
    if k not in _IMPLEMENTATION:
      _put(hp, f"model.{k}", config.model[k])
  opt = config.optimizer
  hp["optimizer.name"] = str(opt.name)
  _put(hp, "optimizer.learning_rate", opt.learning_rate)
  for k in ("weight_decay",) + (("momentum",) if opt.name in _MOMENTUM_OPTIMIZERS else ()):
    if k in opt:  # (None: the optimizer's own default, as it trains)
      hp[f"optimizer.{k}"] = optimizer_value(opt, k)
  hp["schedule.name"] = str(config.schedule.name)
  hp.update({"batch_size": config.batch_size, "epochs": config.epochs, "seed": config.seed, "seeds": config.seeds})
  for f in ("optimizer.learning_rate", *log_fields):
    v = hp.get(f)
    if _is_number(v) and v > 0:
      hp[_log10_name(f)] = math.log10(v)
  return hp


def _mean(values) -> float | None:
  xs = [float(v) for v in values if _is_number(v) and math.isfinite(float(v))]
  return sum(xs) / len(xs) if xs else None


def metrics_of(rows) -> dict:
  """The HParams metrics of one run or trial: the mean over its seeds' result rows (NaN values left out).
  (No std over seeds: a metric that some rows lack, as one-seed runs would, hides those rows from the parallel
  coordinates; the spread is in summary.json and results.csv.)"""
  out = {name: _mean(r.get(k) for r in rows) for k, name in METRICS.items()}
  extra = sorted({k for r in rows for k in r if k.startswith("test_accuracy/")})
  out.update({"hparam/accuracy/test_" + k.split("/", 1)[1]: _mean(r.get(k) for r in rows) for k in extra})
  return {k: v for k, v in out.items() if v is not None}


def _with_rows(hp: dict, rows) -> dict:
  pc = _mean(r.get("param_count") for r in rows)
  return {**hp, **({"param_count": pc} if pc is not None else {}), "seeds": len(rows),
          "seed": min(int(r["seed"]) for r in rows) if rows else hp.get("seed")}


def write_run(tb: TensorBoard, config, rows) -> None:
  """A single run's HParams session `hparams`: its knobs and the mean of its seeds' results."""
  tb.write_hparams("hparams", _with_rows(knobs(config), rows), metrics_of(rows))


def write_sweep(logdir: str, config, trials, rows) -> None:
  """A sweep's HParams sessions `trial_TTT`, one per trial with results (mean over its seeds): the trial's
  single-run config's knobs; the space's log-scaled fields also as log10. trials: trial id -> swept values."""
  from mlexp.sweeps.space import scale_of, trial_config  # (pure; here to keep mlexp.io free of mlexp.sweep)
  log_fields = [s["field"] for s in (dict(x.to_dict() if hasattr(x, "to_dict") else x)
                                     for x in config.sweep.space) if scale_of(s) == "log"]
  by_trial = {}
  for r in rows:
    by_trial.setdefault(int(r["trial"]), []).append(r)
  tb = TensorBoard(logdir)
  try:
    for t, mine in sorted(by_trial.items()):
      tb.write_hparams(f"trial_{t:03d}", _with_rows(knobs(trial_config(config, trials[t]), log_fields), mine),
                       metrics_of(mine))
  finally:
    tb.close()
