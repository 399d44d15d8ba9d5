"""Findings: pure functions from result DataFrames to short, numbers-backed statements.

Accuracies are fractions (0..1) in the data; text speaks in % and percentage points (pp).
Every finding names the figure file that shows it (see figures.FIGURE_NAMES).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np
import pandas as pd

# Figure file names shared with figures.py / render.py.
LEARNING_CURVES = "learning_curves.png"
PARALLEL = "parallel_coordinates.png"
HEATMAP = "heatmap.png"
ACC_VS_TIME = "accuracy_vs_time.png"
TEST_SETS = "test_sets.png"


def field_figure(name: str) -> str:
  """File name of the accuracy-vs-field figure for a swept field."""
  return "accuracy_vs_" + "".join(c if c.isalnum() else "_" for c in name) + ".png"


@dataclasses.dataclass(frozen=True)
class Finding:
  """One statement for the report."""
  kind: str  # best | field_effect | epochs | overfitting | diverged | pareto | test_sets
  text: str
  figure: Optional[str] = None  # figure file name it relies on
  numbers: dict = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- helpers

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


def trial_table(results: pd.DataFrame, fields=()) -> pd.DataFrame:
  """One row per trial: swept fields, acc_mean/acc_std over seeds, wall_s, params, statuses.

  Sorted by acc_mean, best first. acc_std is NaN with one seed.
  """
  names = [n for n in field_names(fields) if n in results.columns]
  g = results.groupby("trial", sort=True)
  out = g[names].first() if names else pd.DataFrame(index=g.size().index)
  out["acc_mean"] = g["test_accuracy"].mean()
  out["acc_std"] = g["test_accuracy"].std(ddof=1)
  out["seeds"] = g.size()
  out["wall_s"] = g["wall_s"].mean() if "wall_s" in results else math.nan
  out["param_count"] = g["param_count"].first() if "param_count" in results else math.nan
  out["diverged"] = g["status"].apply(lambda s: int((s == "diverged").sum())) if "status" in results else 0
  out["epochs_run"] = g["epochs_run"].max() if "epochs_run" in results else math.nan
  for c in results.columns:
    if c.startswith("test_accuracy/") or c == "macro_f1":
      out[c] = g[c].mean()
  out = out.reset_index()
  return out.sort_values(["acc_mean", "wall_s"], ascending=[False, True], na_position="last").reset_index(drop=True)


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
  """Per trial x epoch: mean/min/max over seeds of train_loss, test_loss, test_accuracy."""
  cols = [c for c in ("train_loss", "test_loss", "test_accuracy") if c in metrics]
  m = metrics.copy()
  m[cols] = m[cols].replace([np.inf, -np.inf], np.nan)
  g = m.groupby(["trial", "epoch"])[cols]
  out = g.mean()
  for stat in ("min", "max", "std"):
    s = getattr(g, stat)()
    s.columns = [f"{c}_{stat}" for c in cols]
    out = out.join(s)
  return out.reset_index()


def loss_minimum(curve: pd.DataFrame) -> tuple[int, int]:
  """(epoch of the test-loss minimum, last epoch) of one trial's mean curve."""
  c = curve.dropna(subset=["test_loss"])
  if c.empty:
    return -1, int(curve["epoch"].max()) if len(curve) else -1
  return int(c.loc[c["test_loss"].idxmin(), "epoch"]), int(curve["epoch"].max())


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


# ---------------------------------------------------------------- findings

def best_config(results: pd.DataFrame, fields=()) -> Finding:
  """Best trial (mean test accuracy over seeds) with its seed std."""
  tt = trial_table(results, fields)
  b = tt.iloc[0]
  seeds = int(b["seeds"])
  std = b["acc_std"]
  spread = f" ± {pp(std)}" if np.isfinite(std) else ""
  over = f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed, no spread available"
  names = field_names(fields)
  if len(tt) > 1:
    text = (f"Best configuration: trial {int(b['trial'])} ({settings_text(b, names) or 'no swept fields'}) "
            f"reaches {pct(b['acc_mean'])}{spread} test accuracy ({over}) in {secs(b['wall_s'])} of training.")
  else:
    text = f"Test accuracy {pct(b['acc_mean'])}{spread} ({over}), {secs(b['wall_s'])} of training per model."
  nums = dict(trial=int(b["trial"]), acc_mean=float(b["acc_mean"]), acc_std=float(std), seeds=seeds,
              wall_s=float(b["wall_s"]), settings={n: b[n] for n in names})
  return Finding("best", text, LEARNING_CURVES, nums)


def _is_numeric(s: pd.Series) -> bool:
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
  if "wall_s" not in ok:
    ok = ok.assign(wall_s=math.nan)
  others = [o for o in field_names(others) if o in ok and o != name]
  per_trial = ok.groupby("trial").agg(acc=("test_accuracy", "mean"), wall=("wall_s", "mean"))
  per_trial = per_trial.join(ok.groupby("trial")[[name] + others].first())
  is_binned = _is_numeric(per_trial[name]) and per_trial[name].nunique() > max_values
  if is_binned:
    per_trial[name] = binned(per_trial[name], field.get("scale", "linear"), bins)
    others = []  # a continuous field has no shared settings across bins
  per_trial, restricted = matched_trials(per_trial, name, others)
  by = per_trial.rename(columns={name: "v"}).groupby("v").agg(acc=("acc", "mean"), wall=("wall", "mean"),
                                                              trials=("acc", "size"))
  if _is_numeric(ok[name]):  # ordered values (numeric choices count, whatever their scale)
    by = by.sort_index()
  by.index.name = name
  by.attrs["binned"] = bool(is_binned)
  return by, restricted


def field_effect(results: pd.DataFrame, field: dict, spread: Optional[float] = None,
                 time_growth: float = 1.3, others=()) -> Optional[Finding]:
  """Effect of one swept field on mean test accuracy compared with the seed-to-seed spread.

  Per field value: mean over trials (and seeds) of test accuracy, on the settings of the `others`
  fields shared by all values (see matched_trials); effect = max - min. Diverged models are left out.
  Flat when effect <= spread. For numeric fields also: where accuracy stops improving (smallest value
  whose accuracy is within the spread of the best) and whether training time keeps growing.
  """
  name = field["name"]
  vm = value_means(results, field, others)
  if vm is None:
    return None
  by, restricted = vm
  if spread is None:
    spread = seed_spread(results)
  numeric = _is_numeric(results[name])
  effect = float(by["acc"].max() - by["acc"].min())
  best_v = by["acc"].idxmax()
  best_acc = float(by["acc"].max())
  nums = dict(field=name, effect=effect, spread=float(spread), best_value=best_v, best_acc=best_acc,
              acc_by_value={k: float(v) for k, v in by["acc"].items()},
              wall_by_value={k: float(v) for k, v in by["wall"].items()}, flat=False, saturates_above=None,
              time_grows=False, matched=restricted)
  fig = field_figure(name)
  note = (" (Compared on the other fields' settings shared by all its values; diverged or missing "
          "combinations left out.)" if restricted else "")
  if by.attrs.get("binned"):
    note += f" (Values grouped into {len(by)} equal-count bins, each named by its median.)"
    nums["binned"] = True
  has_spread = np.isfinite(spread)
  if has_spread and effect <= spread:
    nums["flat"] = True
    text = (f"Flat: the effect of {name} ({pp(effect)}, from {pct(by['acc'].min())} to {pct(best_acc)}) "
            f"is smaller than the seed-to-seed spread ({pp(spread)}); these runs cannot tell its values apart.")
    return Finding("field_effect", text + note, fig, nums)
  tol = spread if has_spread else 0.0
  worst_v = by["acc"].idxmin()
  parts = [f"{name} matters: mean test accuracy ranges over {pp(effect)} "
           f"(from {pct(by['acc'].min())} at {fmt_value(worst_v)} to {pct(best_acc)} at {fmt_value(best_v)})"
           + (f", more than the seed-to-seed spread ({pp(spread)})." if has_spread
              else "; with 1 seed per trial this cannot be compared with seed noise.")]
  if numeric:
    vals = list(by.index)
    bi = vals.index(best_v)
    sat_v = next(v for v in vals if by.loc[v, "acc"] >= best_acc - tol)
    si = vals.index(sat_v)
    later = by["acc"].iloc[bi + 1:]
    if si < bi or (si == bi and len(later) and later.min() >= best_acc - tol and tol > 0):
      nums["saturates_above"] = sat_v
      if sat_v == best_v:
        parts.append(f"Accuracy stops improving above {fmt_value(sat_v)}: larger values stay within "
                     f"{pp(best_acc - later.min())} of it, inside the seed spread.")
      else:
        parts.append(f"Accuracy stops improving above {fmt_value(sat_v)}: the best value ({fmt_value(best_v)}) "
                     f"is only {pp(best_acc - by.loc[sat_v, 'acc'])} better, inside the seed spread.")
    if len(later) and later.min() < best_acc - tol:
      parts.append(f"Accuracy peaks at {fmt_value(best_v)} and falls by up to {pp(best_acc - later.min())} "
                   "at larger values.")
    elif not len(later) and nums["saturates_above"] is None:
      parts.append(f"Accuracy is still rising at the largest value tried ({fmt_value(best_v)}).")
    w = by["wall"].to_numpy(dtype=float)
    if len(w) >= 2 and np.all(np.isfinite(w)) and w[0] > 0:
      ranks = pd.Series(w).rank().to_numpy()
      rising = np.ptp(w) > 0 and (len(w) == 2 or np.corrcoef(ranks, np.arange(len(w)))[0, 1] >= 0.8)  # Spearman
      if rising and w[-1] / w[0] >= time_growth:
        nums["time_grows"] = True
        parts.append(f"Training time keeps growing with {name}: {secs(w[0])} at {fmt_value(vals[0])} → "
                     f"{secs(w[-1])} at {fmt_value(vals[-1])} ({w[-1] / w[0]:.1f}×).")
  else:
    w = by["wall"]
    if np.all(np.isfinite(w)) and w.min() > 0 and w.max() / w.min() >= time_growth:
      parts.append("Training time differs: " + ", ".join(f"{fmt_value(k)} {secs(v)}" for k, v in w.items()) + ".")
  return Finding("field_effect", " ".join(parts) + note, fig, nums)


def field_effects(results: pd.DataFrame, fields) -> list[Finding]:
  """field_effect for every swept field (skips fields with a single value)."""
  spread = seed_spread(results)
  fields = [f if isinstance(f, dict) else dict(name=f) for f in fields or []]
  out = [field_effect(results, f, spread, others=fields) for f in fields]
  return [f for f in out if f is not None]


def _focus_trials(results: pd.DataFrame, fields, k: int) -> list[int]:
  return [int(t) for t in trial_table(results, fields)["trial"].head(k)]


def epochs_finding(metrics: pd.DataFrame, results: pd.DataFrame, fields=()) -> Optional[Finding]:
  """Where more epochs stopped helping: test-loss minimum (mean over seeds) vs the last epoch."""
  if metrics is None or metrics.empty:
    return None
  curves = mean_curves(metrics)
  best = _focus_trials(results, fields, 1)
  trial = best[0] if best and best[0] in set(curves["trial"]) else int(curves["trial"].iloc[0])
  c = curves[curves["trial"] == trial]
  e, last = loss_minimum(c)
  if e < 0:
    return None
  who = f"For the best trial ({trial})" if curves["trial"].nunique() > 1 else "Averaged over seeds"
  tl = c.set_index("epoch")["test_loss"]
  acc = c.set_index("epoch")["test_accuracy"] if "test_accuracy" in c else None
  nums = dict(trial=trial, min_epoch=e, last_epoch=last, test_loss_min=float(tl[e]),
              test_loss_last=float(tl[last]))
  if e >= last:
    text = (f"{who}, test loss is still falling at the last epoch ({last}, {tl[last]:.3f}): "
            f"more epochs may still help.")
  else:
    gain = ""
    if acc is not None and np.isfinite(acc[last]) and np.isfinite(acc[e]):
      nums["acc_at_min"], nums["acc_last"] = float(acc[e]), float(acc[last])
      gain = f"; test accuracy {pct(acc[e])} at epoch {e} vs {pct(acc[last])} at epoch {last}"
    text = (f"{who}, more epochs stopped helping after epoch {e} of {last}: test loss reaches its minimum "
            f"{tl[e]:.3f} there and ends at {tl[last]:.3f}{gain}.")
  n = curves["trial"].nunique()
  if n > 1:
    mins = [loss_minimum(g) for _, g in curves.groupby("trial")]
    early = sum(1 for m, l in mins if 0 <= m < l)
    nums["trials_min_before_last"], nums["trials"] = early, n
    text += f" In {early} of {n} trials the test-loss minimum came before the last epoch."
  return Finding("epochs", text, LEARNING_CURVES, nums)


def overfitting_finding(metrics: pd.DataFrame, results: pd.DataFrame, fields=(),
                        min_rise: float = 0.05) -> Optional[Finding]:
  """'Overfitting after epoch E' for the best trial (and a count over trials); None when no curve overfits."""
  if metrics is None or metrics.empty:
    return None
  curves = mean_curves(metrics)
  per = {int(t): overfitting(g, min_rise) for t, g in curves.groupby("trial")}
  over = {t: o for t, o in per.items() if o}
  if not over:
    return None
  order = [t for t in _focus_trials(results, fields, len(per)) if t in over] or sorted(over)
  t = order[0]
  o = over[t]
  who = f"trial {t}" if len(per) > 1 else "the model (mean over seeds)"
  text = (f"Overfitting after epoch {o['epoch']} for {who}: from there to epoch {o['last_epoch']} train loss "
          f"keeps falling ({o['train_loss_at_min']:.3f} → {o['train_loss_last']:.3f}) while test loss rises "
          f"({o['test_loss_min']:.3f} → {o['test_loss_last']:.3f}); the test-train gap grows from "
          f"{o['gap_at_min']:.3f} to {o['gap_last']:.3f}.")
  if len(per) > 1:
    text += f" {len(over)} of {len(per)} trials overfit this way."
  return Finding("overfitting", text, LEARNING_CURVES, dict(o, trial=t, trials_overfitting=sorted(over),
                                                            trials=len(per)))


def diverged_finding(results: pd.DataFrame, fields=()) -> Optional[Finding]:
  """Diverged trials with their settings; None when nothing diverged."""
  if "status" not in results:
    return None
  d = results[results["status"] == "diverged"]
  if d.empty:
    return None
  names = field_names(fields)
  items, listed = [], []
  for t, g in d.groupby("trial"):
    seeds = ", ".join(str(int(s)) for s in sorted(g["seed"]))
    total = int((results["trial"] == t).sum())
    s = settings_text(g.iloc[0], names)
    items.append(f"trial {int(t)}" + (f" ({s})" if s else "") + f": {len(g)} of {total} seeds (seed {seeds})")
    listed.append(dict(trial=int(t), seeds=sorted(int(x) for x in g["seed"]),
                       settings={n: g.iloc[0][n] for n in names if n in g}))
  n_trials = d["trial"].nunique()
  text = f"{len(d)} model(s) in {n_trials} trial(s) diverged (loss became NaN/inf): " + "; ".join(items) + "."
  return Finding("diverged", text, PARALLEL if names else LEARNING_CURVES, dict(diverged=listed))


def pareto_finding(results: pd.DataFrame, fields=(), tolerance: float = 0.01) -> Optional[Finding]:
  """Accuracy vs training time: Pareto front and the fastest trial within `tolerance` (1 pp) of the best
  accuracy. Trials with a diverged seed are left out."""
  tt = trial_table(results, fields)
  tt = tt[np.isfinite(tt["acc_mean"]) & np.isfinite(tt["wall_s"]) & (tt["diverged"] == 0)]
  if len(tt) < 2:
    return None
  front = tt[pareto_mask(tt["wall_s"], tt["acc_mean"])].sort_values("wall_s")
  best = tt.iloc[0]
  near = tt[tt["acc_mean"] >= best["acc_mean"] - tolerance].sort_values(["wall_s", "acc_mean"],
                                                                         ascending=[True, False])
  fast = near.iloc[0]
  names = field_names(fields)
  nums = dict(front_trials=[int(t) for t in front["trial"]], fastest_near_best=int(fast["trial"]),
              best_trial=int(best["trial"]), speedup=float(best["wall_s"] / fast["wall_s"]) if fast["wall_s"] > 0
              else math.nan)
  front_txt = ", ".join(f"trial {int(r.trial)} {pct(r.acc_mean)} in {secs(r.wall_s)}" for r in front.itertuples())
  if int(fast["trial"]) == int(best["trial"]):
    lead = (f"The best trial ({int(best['trial'])}, {pct(best['acc_mean'])}, {secs(best['wall_s'])}) is also "
            f"the fastest within {pp(tolerance)} of the best.")
  else:
    lead = (f"Trial {int(fast['trial'])} ({settings_text(fast, names)}) reaches {pct(fast['acc_mean'])} in "
            f"{secs(fast['wall_s'])}, within {pp(tolerance)} of the best ({pct(best['acc_mean'])} in "
            f"{secs(best['wall_s'])}), {nums['speedup']:.1f}× faster.")
  text = lead + f" Pareto front (most accurate for its time): {front_txt}."
  return Finding("pareto", text, ACC_VS_TIME, nums)


def test_sets_finding(results: pd.DataFrame, fields=()) -> Optional[Finding]:
  """Accuracy on extra test sets (moved, rotated, ...) vs the plain test set, for the best trial."""
  extra = [c for c in results.columns if c.startswith("test_accuracy/")]
  if not extra:
    return None
  tt = trial_table(results, fields)
  b = tt.iloc[0]
  parts, nums = [], dict(trial=int(b["trial"]), plain=float(b["acc_mean"]))
  for c in extra:
    name = c.split("/", 1)[1]
    v = float(b[c])
    if not np.isfinite(v):
      continue
    nums[name] = v
    diff = v - b["acc_mean"]
    parts.append(f"{name} {pct(v)} ({'-' if diff < 0 else '+'}{pp(abs(diff))})")
  if not parts:
    return None
  who = f"the best trial ({int(b['trial'])})" if len(tt) > 1 else "the model"
  text = f"On other test sets {who} scores: plain {pct(b['acc_mean'])}, " + ", ".join(parts) + "."
  return Finding("test_sets", text, TEST_SETS, nums)


def all_findings(results: pd.DataFrame, metrics: Optional[pd.DataFrame], fields=()) -> list[Finding]:
  """Every finding that applies, in report order."""
  fs = [best_config(results, fields)]
  fs += field_effects(results, fields)
  for f in (epochs_finding(metrics, results, fields), overfitting_finding(metrics, results, fields),
            diverged_finding(results, fields), pareto_finding(results, fields), test_sets_finding(results, fields)):
    if f is not None:
      fs.append(f)
  return fs
