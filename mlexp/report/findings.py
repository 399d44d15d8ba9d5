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

# the tables and formats the findings use (and render / figures reach as F.<name>)
from mlexp.report.tables import (binned, field_names, fmt_value, is_numeric, loss_minimum, matched_trials,  # noqa: F401
                                 mean_curves, overfitting, pareto_mask, pct, pp, secs, seed_spread, selection_loss,
                                 settings_text, time_column, time_note, trial_table, value_means)

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


# ---------------------------------------------------------------- findings

def best_config(results: pd.DataFrame, fields=()) -> Finding:
  """Best trial (mean validation accuracy over seeds; without a validation split mean test accuracy) with its
  test accuracy and seed std."""
  tt = trial_table(results, fields)
  b = tt.iloc[0]
  seeds = int(b["seeds"])
  std = b["acc_std"]
  spread = f" ± {pp(std)}" if np.isfinite(std) else ""
  over = f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed, no spread available"
  names = field_names(fields)
  if len(tt) > 1:
    chosen = f", chosen on validation accuracy {pct(b['val_mean'])}," if "val_mean" in tt else ""
    text = (f"Best configuration: trial {int(b['trial'])} ({settings_text(b, names) or 'no swept fields'}){chosen} "
            f"reaches {pct(b['acc_mean'])}{spread} test accuracy ({over}) in {secs(b['time_s'])} of training.")
  else:
    text = f"Test accuracy {pct(b['acc_mean'])}{spread} ({over}), {secs(b['time_s'])} of training per model."
  nums = dict(trial=int(b["trial"]), acc_mean=float(b["acc_mean"]), acc_std=float(std), seeds=seeds,
              time_s=float(b['time_s']), settings={n: b[n] for n in names})
  return Finding("best", text, LEARNING_CURVES, nums)


def field_effect(results: pd.DataFrame, field: dict, spread: Optional[float] = None,
                 time_growth: float = 1.3, others=(), confounded: bool = False) -> Optional[Finding]:
  """Effect of one swept field on mean test accuracy compared with the seed-to-seed spread.

  confounded: the trials varied every field at once (random / TPE search, or ASHA, which kept some trials
  longer): the pattern is only a marginal association, worded so and with its caveat, never "X matters".

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
  numeric = is_numeric(results[name])
  effect = float(by["acc"].max() - by["acc"].min())
  best_v = by["acc"].idxmax()
  best_acc = float(by["acc"].max())
  nums = dict(field=name, effect=effect, spread=float(spread), best_value=best_v, best_acc=best_acc,
              acc_by_value={k: float(v) for k, v in by["acc"].items()},
              wall_by_value={k: float(v) for k, v in by["wall"].items()}, flat=False, saturates_above=None,
              time_grows=False, matched=restricted, confounded=bool(confounded))
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
  lead = (f"{name} (marginal means over trials in which the other fields varied too): mean test accuracy spans "
          if confounded else f"{name} matters: mean test accuracy ranges over ")
  parts = [lead + f"{pp(effect)} "
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
        grows = f"Training time is higher at larger {name}" if confounded else \
            f"Training time keeps growing with {name}"
        parts.append(f"{grows}: {secs(w[0])} at {fmt_value(vals[0])} → "
                     f"{secs(w[-1])} at {fmt_value(vals[-1])} ({w[-1] / w[0]:.1f}×).")
  else:
    w = by["wall"]
    if np.all(np.isfinite(w)) and w.min() > 0 and w.max() / w.min() >= time_growth:
      parts.append("Training time differs: " + ", ".join(f"{fmt_value(k)} {secs(v)}" for k, v in w.items()) + ".")
  if confounded:
    parts.append(CAVEAT.format(name=name))
  return Finding("field_effect", " ".join(parts) + note, fig, nums)


CAVEAT = ("Caveat: every other field varied across these trials as well, so this is an association, not the effect "
          "of changing {name} alone (a study, sweep.algorithm=one_at_a_time, measures that).")


def field_effects(results: pd.DataFrame, fields, confounded: bool = False) -> list[Finding]:
  """field_effect for every swept field (skips fields with a single value)."""
  spread = seed_spread(results)
  fields = [f if isinstance(f, dict) else dict(name=f) for f in fields or []]
  out = [field_effect(results, f, spread, others=fields, confounded=confounded) for f in fields]
  return [f for f in out if f is not None]


def is_confounded(results: pd.DataFrame, fields, spec: Optional[dict] = None) -> bool:
  """True when a sweep's trials do not hold the other fields fixed or crossed: a random / TPE search (not every
  combination of the fields' values was run) or ASHA (which trials trained longer depends on their results)."""
  spec = spec or {}
  if spec.get("algorithm") == "one_at_a_time":
    return False
  names = [n for n in field_names(fields) if n in results]
  if spec.get("mode") == "asha":
    return True
  if len(names) < 2:  # one field, the others at the config's values: a controlled comparison
    return False
  if spec.get("algorithm") in ("random", "tpe"):
    return True
  per = results.groupby("trial")[names].first().astype(str)
  return len(per.drop_duplicates()) < int(np.prod([per[n].nunique() for n in names]))


def _focus_trials(results: pd.DataFrame, fields, k: int) -> list[int]:
  return [int(t) for t in trial_table(results, fields)["trial"].head(k)]


def epochs_finding(metrics: pd.DataFrame, results: pd.DataFrame, fields=()) -> Optional[Finding]:
  """Where more epochs stopped helping: the minimum of the loss that selects (validation; test without a
  validation split; mean over seeds) vs the last epoch."""
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
  col = selection_loss(c)
  what = "validation loss" if col == "val_loss" else "test loss"
  tl = c.set_index("epoch")[col]
  acc = c.set_index("epoch")["test_accuracy"] if "test_accuracy" in c else None
  nums = dict(trial=trial, min_epoch=e, last_epoch=last, test_loss_min=float(tl[e]),
              test_loss_last=float(tl[last]))
  if e >= last:
    text = (f"{who}, {what} is still falling at the last epoch ({last}, {tl[last]:.3f}): "
            f"more epochs may still help.")
  else:
    gain = ""
    if acc is not None and np.isfinite(acc[last]) and np.isfinite(acc[e]):
      nums["acc_at_min"], nums["acc_last"] = float(acc[e]), float(acc[last])
      gain = f"; test accuracy {pct(acc[e])} at epoch {e} vs {pct(acc[last])} at epoch {last}"
    text = (f"{who}, more epochs stopped helping after epoch {e} of {last}: {what} reaches its minimum "
            f"{tl[e]:.3f} there and ends at {tl[last]:.3f}{gain}.")
  n = curves["trial"].nunique()
  if n > 1:
    mins = [loss_minimum(g) for _, g in curves.groupby("trial")]
    early = sum(1 for m, l in mins if 0 <= m < l)
    nums["trials_min_before_last"], nums["trials"] = early, n
    text += f" In {early} of {n} trials the {what} minimum came before the last epoch."
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
  tt = tt[np.isfinite(tt["acc_mean"]) & np.isfinite(tt["time_s"]) & (tt["diverged"] == 0)]
  if len(tt) < 2:
    return None
  front = tt[pareto_mask(tt["time_s"], tt["acc_mean"])].sort_values("time_s")
  best = tt.iloc[0]
  near = tt[tt["acc_mean"] >= best["acc_mean"] - tolerance].sort_values(["time_s", "acc_mean"],
                                                                         ascending=[True, False])
  fast = near.iloc[0]
  names = field_names(fields)
  nums = dict(front_trials=[int(t) for t in front["trial"]], fastest_near_best=int(fast["trial"]),
              best_trial=int(best["trial"]), speedup=float(best["time_s"] / fast["time_s"]) if fast["time_s"] > 0
              else math.nan)
  front_txt = ", ".join(f"trial {int(r.trial)} {pct(r.acc_mean)} in {secs(r.time_s)}" for r in front.itertuples())
  if int(fast["trial"]) == int(best["trial"]):
    lead = (f"The best trial ({int(best['trial'])}, {pct(best['acc_mean'])}, {secs(best['time_s'])}) is also "
            f"the fastest within {pp(tolerance)} of the best.")
  else:
    lead = (f"Trial {int(fast['trial'])} ({settings_text(fast, names)}) reaches {pct(fast['acc_mean'])} in "
            f"{secs(fast['time_s'])}, within {pp(tolerance)} of the best ({pct(best['acc_mean'])} in "
            f"{secs(best['time_s'])}), {nums['speedup']:.1f}× faster.")
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


def all_findings(results: pd.DataFrame, metrics: Optional[pd.DataFrame], fields=(),
                 confounded: bool = False) -> list[Finding]:
  """Every finding that applies, in report order (confounded: is_confounded, worded as associations). When
  every model diverged, only that (there is no accuracy, curve or time to read) and the usual fix."""
  if "status" in results and len(results) and (results["status"] == "diverged").all():
    fs = [Finding("best", f"Every model diverged ({len(results)} of {len(results)}: the loss became NaN/inf), so "
                          "there is no best configuration, accuracy or learning curve to report. Lower "
                          "optimizer.learning_rate (or the swept learning rates) and run again.",
                  None, dict(diverged_models=len(results)))]
    return fs + [f for f in (diverged_finding(results, fields),) if f is not None]
  fs = [best_config(results, fields)]
  fs += field_effects(results, fields, confounded)
  for f in (epochs_finding(metrics, results, fields), overfitting_finding(metrics, results, fields),
            diverged_finding(results, fields), pareto_finding(results, fields), test_sets_finding(results, fields)):
    if f is not None:
      fs.append(f)
  return fs
