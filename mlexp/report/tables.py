"""Tables and statistics behind the findings (pure): per-trial table, seed spread, Pareto front, mean
learning curves, overfitting, per-value means of a swept field; and the number formats of the report."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

def pp(x: float) -> str:
  """A fraction difference as percentage points."""
  return f"{100 * x:.1f} pp"


def pct(x: float) -> str:
  """A fraction as a percentage."""
  return f"{100 * x:.1f}%"


def secs(x: float) -> str:
  """Seconds, readable."""
  if not np.isfinite(x):
    return "n/a"
  return f"{x:.0f} s" if x >= 100 else f"{x:.3g} s"


def fmt_value(v) -> str:
  """A config value for text."""
  if isinstance(v, (float, np.floating)):
    return f"{v:.4g}"
  return str(v)


def field_names(fields) -> list[str]:
  return [f["name"] if isinstance(f, dict) else f for f in (fields or [])]


def settings_text(row, fields) -> str:
  """'model.hidden=256, optimizer.learning_rate=0.001' for a trial row."""
  return ", ".join(f"{n}={fmt_value(row[n])}" for n in field_names(fields) if n in row)


def time_column(results: pd.DataFrame) -> str:
  """train_s (each model's own training seconds: mlexp/sweeps/trial_time.py) where results.csv has it, else
  wall_s (older sweeps: the models of a shared program got equal shares of its time)."""
  return "train_s" if "train_s" in results and results["train_s"].notna().any() else "wall_s"


def time_note(results: pd.DataFrame) -> str:
  """What the training times of a results table are, in words (one sentence)."""
  if time_column(results) == "wall_s":
    return ("wall_s per model: each model's equal share of its program's time (no train_s here: a single run, or a "
            "sweep from before train_s); models that shared a program are not told apart by it.")
  from mlexp.sweeps.trial_time import method_text
  how = method_text(results["train_s_method"]) if "train_s_method" in results else ""
  return ("results.csv's train_s, each model's own training seconds (its epochs with their evaluation, no compile)"
          + (f": {how}." if how else "."))


def trial_table(results: pd.DataFrame, fields=()) -> pd.DataFrame:
  """One row per trial: swept fields, acc_mean/acc_std over seeds (test), val_mean (validation accuracy, when
  a validation split selected), wall_s, params, statuses.

  Sorted best first: by val_mean when there is one (the test set is only reported), else by acc_mean. acc_std
  is NaN with one seed.
  """
  names = [n for n in field_names(fields) if n in results.columns]
  g = results.groupby("trial", sort=True)
  out = g[names].first() if names else pd.DataFrame(index=g.size().index)
  out["acc_mean"] = g["test_accuracy"].mean()
  out["acc_std"] = g["test_accuracy"].std(ddof=1)
  out["seeds"] = g.size()
  out["wall_s"] = g["wall_s"].mean() if "wall_s" in results else math.nan
  tcol = time_column(results)  # training seconds per model: its own (train_s) where results.csv has them
  out["time_s"] = g[tcol].mean() if tcol in results else math.nan
  out["param_count"] = g["param_count"].first() if "param_count" in results else math.nan
  out["diverged"] = g["status"].apply(lambda s: int((s == "diverged").sum())) if "status" in results else 0
  out["epochs_run"] = g["epochs_run"].max() if "epochs_run" in results else math.nan
  for c in results.columns:
    if c.startswith("test_accuracy/") or c == "macro_f1":
      out[c] = g[c].mean()
  by = ["acc_mean", "time_s"]
  if "val_accuracy" in results and results["val_accuracy"].notna().any():
    out["val_mean"] = g["val_accuracy"].mean()
    by = ["val_mean"] + by
  out = out.reset_index()
  return out.sort_values(by, ascending=[False] * (len(by) - 1) + [True], na_position="last").reset_index(drop=True)


def seed_spread(results: pd.DataFrame) -> float:
  """Pooled seed-to-seed std of test accuracy: sqrt(mean over trials of the variance over seeds).

  NaN when no trial has two seeds. Diverged rows are left out.
  """
  ok = results[results.get("status", pd.Series("", index=results.index)) != "diverged"]
  var = ok.groupby("trial")["test_accuracy"].var(ddof=1).dropna()
  return float(np.sqrt(var.mean())) if len(var) else math.nan


def pareto_mask(time, acc) -> np.ndarray:
  """True where a point is on the Pareto front (no other point is at least as fast and as accurate,
  and strictly better in one). NaN points are never on the front."""
  t = np.asarray(time, dtype=float)
  a = np.asarray(acc, dtype=float)
  ok = np.isfinite(t) & np.isfinite(a)
  le_t = t[None, :] <= t[:, None]  # [i, j]: j at least as fast as i
  ge_a = a[None, :] >= a[:, None]
  strict = (t[None, :] < t[:, None]) | (a[None, :] > a[:, None])
  dom = le_t & ge_a & strict & ok[None, :]
  return ok & ~dom.any(axis=1)


def mean_curves(metrics: pd.DataFrame) -> pd.DataFrame:
  """Per trial x epoch: mean/min/max over seeds of train_loss, test_loss, test_accuracy (and val_loss,
  val_accuracy when a validation split selected)."""
  cols = [c for c in ("train_loss", "test_loss", "test_accuracy", "val_loss", "val_accuracy") if c in metrics]
  m = metrics.copy()
  m[cols] = m[cols].replace([np.inf, -np.inf], np.nan)
  g = m.groupby(["trial", "epoch"])[cols]
  out = g.mean()
  for stat in ("min", "max", "std"):
    s = getattr(g, stat)()
    s.columns = [f"{c}_{stat}" for c in cols]
    out = out.join(s)
  return out.reset_index()


def selection_loss(curve: pd.DataFrame) -> str:
  """The loss column that chose epochs: val_loss when the run had a validation split, else test_loss."""
  return "val_loss" if "val_loss" in curve and curve["val_loss"].notna().any() else "test_loss"


def loss_minimum(curve: pd.DataFrame) -> tuple[int, int]:
  """(epoch of the selection-loss minimum (validation; test without a validation split), last epoch) of one
  trial's mean curve."""
  col = selection_loss(curve)
  c = curve.dropna(subset=[col])
  if c.empty:
    return -1, int(curve["epoch"].max()) if len(curve) else -1
  return int(c.loc[c[col].idxmin(), "epoch"]), int(curve["epoch"].max())


def overfitting(curve: pd.DataFrame, min_rise: float = 0.05) -> Optional[dict]:
  """Overfitting test on one mean curve (columns epoch, train_loss, test_loss).

  After the test-loss minimum at epoch E, train loss must keep falling, test loss must rise, and the
  gap test - train must grow by more than min_rise x (test loss at E). Returns numbers or None.
  """
  c = curve.dropna(subset=["train_loss", "test_loss"]).sort_values("epoch")
  if len(c) < 3:
    return None
  i = int(np.argmin(c["test_loss"].to_numpy()))
  if i >= len(c) - 1:
    return None
  after = c.iloc[i:]
  tr, te = after["train_loss"].to_numpy(), after["test_loss"].to_numpy()
  gap = te - tr
  thr = min_rise * max(abs(te[0]), 1e-8)
  train_falls = tr[-1] < tr[0]
  test_rises = te[-1] - te[0] > thr / 2
  gap_grows = gap[-1] - gap[0] > thr
  if not (train_falls and test_rises and gap_grows):
    return None
  return dict(epoch=int(after["epoch"].iloc[0]), last_epoch=int(after["epoch"].iloc[-1]),
              test_loss_min=float(te[0]), test_loss_last=float(te[-1]),
              train_loss_at_min=float(tr[0]), train_loss_last=float(tr[-1]),
              gap_at_min=float(gap[0]), gap_last=float(gap[-1]))


def is_numeric(s: pd.Series) -> bool:
  return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def matched_trials(per_trial: pd.DataFrame, name: str, others: list[str]) -> tuple[pd.DataFrame, bool]:
  """Trials whose other-field settings occur with every value of `name` (a balanced comparison when a
  grid has holes, e.g. diverged cells). Falls back to all trials when no setting is shared.
  Returns (trials, restricted)."""
  others = [o for o in others if o in per_trial and o != name]
  if not others:
    return per_trial, False
  key = per_trial[others].astype(str).agg("|".join, axis=1)
  sets = [set(key[per_trial[name] == v]) for v in per_trial[name].unique()]
  common = set.intersection(*sets)
  if not common:
    return per_trial, False
  keep = key.isin(common)
  return per_trial[keep], bool(not keep.all())


def binned(values: pd.Series, scale: str = "linear", bins: int = 5) -> pd.Series:
  """Numeric values grouped into `bins` equal-count bins, each value replaced by its bin's median
  (geometric median for log scale): lets random-search fields be compared per value."""
  v = values.astype(float)
  logv = scale == "log" and bool((v > 0).all())
  tv = np.log10(v) if logv else v
  codes = pd.qcut(tv.rank(method="first"), bins, labels=False)
  centre = tv.groupby(codes).transform("median")
  return 10 ** centre if logv else centre


def value_means(results: pd.DataFrame, field: dict, others=(), max_values: int = 8,
                bins: int = 5) -> Optional[tuple[pd.DataFrame, bool]]:
  """Mean test accuracy and training time per value of a swept field: (frame indexed by value with columns
  acc, wall, trials; restricted flag). Diverged models are left out and only the other fields' settings
  shared by all values are used (matched_trials). Numeric fields with more than `max_values` distinct values
  (random search) are binned into `bins` equal-count bins named by their median.
  None when the field has fewer than two values."""
  name = field["name"]
  ok = results[results["status"] != "diverged"] if "status" in results else results
  ok = ok.dropna(subset=["test_accuracy"])
  if name not in ok or ok[name].nunique() < 2:
    return None
  tcol = time_column(ok)
  if tcol not in ok:
    ok = ok.assign(**{tcol: math.nan})
  others = [o for o in field_names(others) if o in ok and o != name]
  per_trial = ok.groupby("trial").agg(acc=("test_accuracy", "mean"), wall=(tcol, "mean"))
  per_trial = per_trial.join(ok.groupby("trial")[[name] + others].first())
  is_binned = is_numeric(per_trial[name]) and per_trial[name].nunique() > max_values
  if is_binned:
    per_trial[name] = binned(per_trial[name], field.get("scale", "linear"), bins)
    others = []  # a continuous field has no shared settings across bins
  per_trial, restricted = matched_trials(per_trial, name, others)
  by = per_trial.rename(columns={name: "v"}).groupby("v").agg(acc=("acc", "mean"), wall=("wall", "mean"),
                                                              trials=("acc", "size"))
  if is_numeric(ok[name]):  # ordered values (numeric choices count, whatever their scale)
    by = by.sort_index()
  by.index.name = name
  by.attrs["binned"] = bool(is_binned)
  return by, restricted
