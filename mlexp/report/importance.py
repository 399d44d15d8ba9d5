"""Parameter importance of a random / TPE search, from Optuna (optuna.importance), with its caveat.

The trials of results.csv (mean over non-diverged seeds of the selection accuracy: validation, else test)
become an in-memory Optuna study (optuna.trial.create_trial with each field's distribution). Optuna's
fANOVA (FanovaImportanceEvaluator: a random forest's functional ANOVA) needs scikit-learn; without it Optuna's
own default, PED-ANOVA, is used, and the finding names which. Importances say how much of the accuracy's
variation over these trials goes with each field in this search's ranges: an association, not what changing
the field alone would do.

Pure: study_of, importances, importance_finding (Optuna is imported inside).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

from mlexp.report.findings import Finding
from mlexp.report.tables import field_names, is_numeric

MIN_TRIALS = 8  # fewer trials say nothing about importance


def _target(results: pd.DataFrame) -> tuple[str, str]:
  if "val_accuracy" in results and results["val_accuracy"].notna().any():
    return "val_accuracy", "validation accuracy"
  return "test_accuracy", "test accuracy"


def study_of(results: pd.DataFrame, fields):
  """(optuna Study holding one finished trial per trial id, [field names used], target words); None when
  fewer than MIN_TRIALS trials or no field takes two values."""
  import optuna
  from optuna.distributions import CategoricalDistribution, FloatDistribution
  col, words = _target(results)
  ok = results[results["status"] != "diverged"] if "status" in results else results
  ok = ok[np.isfinite(ok[col].astype(float))]
  names = [n for n in field_names(fields) if n in ok and ok[n].nunique() > 1]
  per = ok.groupby("trial").agg({col: "mean", **{n: "first" for n in names}})
  if len(per) < MIN_TRIALS or not names:
    return None
  scale = {f["name"]: f.get("scale", "linear") for f in fields if isinstance(f, dict)}
  dists = {}
  for n in names:
    v = per[n]
    if is_numeric(v):
      lo, hi = float(v.min()), float(v.max())
      dists[n] = FloatDistribution(lo, hi, log=scale.get(n) == "log" and lo > 0)
    else:
      dists[n] = CategoricalDistribution(sorted({str(x) for x in v}))
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  study = optuna.create_study(direction="maximize")
  for _, r in per.iterrows():
    params = {n: float(r[n]) if isinstance(dists[n], FloatDistribution) else str(r[n]) for n in names}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(r[col])))
  return study, names, words


def evaluator():
  """(Optuna importance evaluator, its name): fANOVA where scikit-learn is installed, else PED-ANOVA."""
  from optuna import importance
  try:
    import sklearn  # noqa: F401 (fANOVA's random forest)
    return importance.FanovaImportanceEvaluator(seed=0), "fANOVA"
  except ImportError:
    return importance.PedAnovaImportanceEvaluator(), "PED-ANOVA"


def importances(results: pd.DataFrame, fields) -> Optional[dict]:
  """{"importance": {field: share (sums to 1)}, "evaluator", "trials", "target"}; None when not computable."""
  made = study_of(results, fields)
  if made is None:
    return None
  study, names, words = made
  import optuna
  ev, ev_name = evaluator()
  try:
    imp = optuna.importance.get_param_importances(study, evaluator=ev, params=names)
  except (RuntimeError, ValueError, ZeroDivisionError):  # (e.g. every trial the same value)
    return None
  if not imp or not all(math.isfinite(float(v)) for v in imp.values()):
    return None
  return {"importance": {k: float(v) for k, v in imp.items()}, "evaluator": ev_name,
          "trials": len(study.trials), "target": words, "optuna": optuna.__version__}


def importance_finding(results: pd.DataFrame, fields, algorithm: str = "") -> Optional[Finding]:
  """The importance finding of a random / TPE search (None for grids and studies, or too few trials)."""
  if algorithm not in ("random", "tpe", "auto", ""):
    return None
  got = importances(results, fields)
  if got is None:
    return None
  ranked = ", ".join(f"{k} {v:.2f}" for k, v in got["importance"].items())
  why = " (Optuna's fANOVA needs scikit-learn, which is not installed)" if got["evaluator"] == "PED-ANOVA" else ""
  text = (f"Parameter importance ({got['evaluator']}, Optuna {got['optuna']}, over {got['trials']} trials, "
          f"target: mean {got['target']}){why}: {ranked}. Each share is how much of the variation of "
          f"{got['target']} across these trials goes with that field inside this search's ranges, with every "
          "other field varying at the same time: an association, not what changing that field alone would do; "
          "a study (sweep.algorithm=one_at_a_time) measures that.")
  return Finding("importance", text, None, got)
