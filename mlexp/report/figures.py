"""Figures: each function takes DataFrames and an output path, writes one PNG, returns the path.

Inputs are the trial table (findings.trial_table), the per-seed results (results.load) and the
per-epoch metrics (results.load_metrics). Matplotlib runs headless (Agg).
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mlexp.report import findings as F  # noqa: E402

DPI = 110
COLORS = plt.get_cmap("tab10").colors


def _save(fig, path: str) -> str:
  fig.savefig(path, dpi=DPI, bbox_inches="tight")
  plt.close(fig)
  return path


def short(name: str) -> str:
  """Last part of a dotted config path: model.hidden -> hidden."""
  return name.rsplit(".", 1)[-1]


def trial_label(row, fields) -> str:
  """'trial 3: hidden=256, learning_rate=0.01'."""
  s = ", ".join(f"{short(n)}={F.fmt_value(row[n])}" for n in F.field_names(fields) if n in row)
  return f"trial {int(row['trial'])}" + (f": {s}" if s else "")


def _finite_ylim(ax, values, pad=0.08):
  v = np.asarray(values, dtype=float)
  v = v[np.isfinite(v)]
  if v.size:
    lo, hi = np.percentile(v, 1), np.percentile(v, 99)
    if hi <= lo:
      hi = lo + 1e-3
    ax.set_ylim(lo - pad * (hi - lo), hi + pad * (hi - lo))


def learning_curves(metrics: pd.DataFrame, path: str, table: pd.DataFrame | None = None, fields=(),
                    k: int = 5) -> str:
  """Train/test loss and test accuracy per epoch for the top-k trials (mean over seeds, min–max band),
  with each trial's test-loss minimum marked by a vertical dotted line."""
  curves = F.mean_curves(metrics)
  if table is not None and len(table):
    trials = [int(t) for t in table["trial"] if int(t) in set(curves["trial"])][:k]
    rows = {int(r["trial"]): r for _, r in table.iterrows()}
  else:
    trials = sorted(int(t) for t in curves["trial"].unique())[:k]
    rows = {}
  seeds = int(metrics.groupby("trial")["seed"].nunique().max())
  single = len(trials) == 1
  fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(12, 4.6))
  loss_vals = []
  for i, t in enumerate(trials):
    c = curves[curves["trial"] == t]
    col = COLORS[i % len(COLORS)]
    label = trial_label(rows[t], fields) if t in rows else ("model" if single else f"trial {t}")
    val = F.selection_loss(c) == "val_loss"  # (a validation split chose the epochs: its loss, dash-dotted)
    for kind, ls in (("train_loss", "--"), ("test_loss", "-")) + ((("val_loss", "-."),) if val else ()):
      ax_l.plot(c["epoch"], c[kind], ls, color=col, lw=1.6,
                label=(f"{kind.split('_')[0]} loss" if single else None))
      if seeds > 1:
        ax_l.fill_between(c["epoch"], c[f"{kind}_min"], c[f"{kind}_max"], color=col, alpha=0.15, lw=0)
      loss_vals += c[kind].tolist()
    ax_a.plot(c["epoch"], 100 * c["test_accuracy"], "-", color=col, lw=1.6, label=label)
    if seeds > 1:
      ax_a.fill_between(c["epoch"], 100 * c["test_accuracy_min"], 100 * c["test_accuracy_max"], color=col,
                        alpha=0.15, lw=0)
    e, last = F.loss_minimum(c)
    if e > 0:
      for ax in (ax_l, ax_a):
        ax.axvline(e, color=col, ls=":", lw=1.2)
  _finite_ylim(ax_l, loss_vals)
  band = f"mean over {seeds} seeds, band = min–max" if seeds > 1 else "1 seed"
  with_val = "val_loss" in metrics and metrics["val_loss"].notna().any()
  ax_l.set(xlabel="epoch", ylabel="loss (cross-entropy)",
           title="Train (dashed), test (solid) and validation (dash-dot) loss" if with_val
           else "Train (dashed) and test (solid) loss")
  ax_a.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
  for ax in (ax_l, ax_a):
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
  from matplotlib.lines import Line2D
  val = with_val
  style = [Line2D([], [], color="k", ls="--", label="train loss"), Line2D([], [], color="k", ls="-", label="test loss"),
           *([Line2D([], [], color="k", ls="-.", label="validation loss")] if val else []),
           Line2D([], [], color="k", ls=":", label=f"{'validation' if val else 'test'}-loss minimum (best epoch)")]
  ax_l.legend(handles=style, loc="upper right", fontsize=8)
  if not single:
    handles, labels = ax_a.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8,
               bbox_to_anchor=(0.5, -0.02 - 0.05 * math.ceil(len(labels) / 3)), title="top trials by test accuracy")
  fig.suptitle(f"Learning curves ({band})")
  fig.tight_layout()
  return _save(fig, path)


def _axis_transform(values: pd.Series, scale: str):
  """(positions in [0, 1], tick positions, tick labels) for one parallel-coordinates axis."""
  numeric = scale != "categorical" and pd.api.types.is_numeric_dtype(values) \
      and not pd.api.types.is_bool_dtype(values)
  if not numeric:
    cats = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
    pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    return values.map(pos).to_numpy(float), list(pos.values()), [F.fmt_value(c) for c in cats]
  v = values.to_numpy(float)
  use_log = scale == "log" and np.all(v[np.isfinite(v)] > 0)
  tv = np.log10(v) if use_log else v
  lo, hi = np.nanmin(tv), np.nanmax(tv)
  span = hi - lo if hi > lo else 1.0
  uniq = np.unique(v[np.isfinite(v)])
  ticks = uniq if len(uniq) <= 7 else (10 ** np.linspace(lo, hi, 5) if use_log else np.linspace(lo, hi, 5))
  tpos = ((np.log10(ticks) if use_log else ticks) - lo) / span
  labels = [F.fmt_value(t) for t in ticks] if len(uniq) <= 7 else [f"{t:.3g}" for t in ticks]
  return (tv - lo) / span, list(tpos), labels


def parallel_coordinates(table: pd.DataFrame, fields, path: str) -> str:
  """One line per trial across the swept fields and test accuracy, coloured by test accuracy."""
  fields = [f if isinstance(f, dict) else dict(name=f, scale="linear") for f in fields]
  axes = [(f["name"], f.get("scale", "linear")) for f in fields] + [("acc_pct", "linear")]
  t = table.assign(acc_pct=100 * table["acc_mean"])
  cols = []
  ticks = []
  for name, scale in axes:
    p, tp, tl = _axis_transform(t[name], scale)
    cols.append(p)
    ticks.append((tp, tl))
  y = np.stack(cols, axis=1)
  acc = t["acc_pct"].to_numpy(float)
  if "diverged" in t:
    acc = np.where(t["diverged"].to_numpy() > 0, np.nan, acc)  # grey, and kept out of the colour range
  fig, ax = plt.subplots(figsize=(2.2 * len(axes) + 2, 4.8))
  cmap = plt.get_cmap("viridis")
  finite = acc[np.isfinite(acc)]
  vmin, vmax = (finite.min(), finite.max()) if finite.size else (0, 100)
  norm = matplotlib.colors.Normalize(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)
  order = np.argsort(np.where(np.isfinite(acc), acc, -np.inf))  # best drawn last (on top)
  x = np.arange(len(axes))
  for i in order:
    col = cmap(norm(acc[i])) if np.isfinite(acc[i]) else (0.6, 0.6, 0.6, 1)
    ax.plot(x, y[i], color=col, lw=2.2 if i == order[-1] else 1.2, alpha=0.9)
  for xi, (tp, tl) in zip(x, ticks):
    ax.axvline(xi, color="k", lw=0.8)
    for p, lab in zip(tp, tl):
      ax.text(xi + 0.03, p, lab, fontsize=8, va="center", ha="left",
              bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
  labels = [("test accuracy (%)" if n == "acc_pct" else n + (" (log)" if s == "log" else "")) for n, s in axes]
  ax.set_xticks(x, labels, fontsize=9)
  ax.set_yticks([])
  ax.set_xlim(-0.15, len(axes) - 0.5)
  ax.set_ylim(-0.06, 1.06)
  for s in ("top", "right", "left"):
    ax.spines[s].set_visible(False)
  sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
  fig.colorbar(sm, ax=ax, label="test accuracy (%) (mean over seeds)", pad=0.02)
  ax.set_title("Swept settings of every trial, coloured by test accuracy (grey = diverged / no accuracy)")
  return _save(fig, path)


def accuracy_vs_field(table: pd.DataFrame, field: dict, path: str, means: pd.DataFrame | None = None) -> str:
  """Test accuracy per trial against one swept field (error bars = std over seeds), the mean per value
  (`means` from findings.value_means, so the figure shows what the finding says) and mean training time
  per value on a second axis. Diverged trials are marked with red crosses."""
  name, scale = field["name"], field.get("scale", "linear")
  t = table.dropna(subset=["acc_mean"])
  div = t["diverged"].to_numpy() > 0 if "diverged" in t else np.zeros(len(t), bool)
  if means is None:
    means = t[~div].groupby(name).agg(acc=("acc_mean", "mean"), wall=("time_s", "mean"))
  numeric = scale != "categorical" and pd.api.types.is_numeric_dtype(t[name]) \
      and not pd.api.types.is_bool_dtype(t[name])
  rng = np.random.default_rng(0)
  fig, ax = plt.subplots(figsize=(7.5, 4.6))
  if numeric:
    by = means.sort_index()
    bx = by.index.to_numpy(float)
    xs = t[name].to_numpy(float)
    if scale == "log" and np.all(xs > 0):
      ax.set_xscale("log")
      jitter = xs * (1 + 0.04 * (rng.random(len(xs)) - 0.5))
    else:
      jitter = xs + 0.01 * (np.ptp(xs) or 1.0) * (rng.random(len(xs)) - 0.5)
    uniq = np.unique(xs)
    if len(uniq) <= 8:
      ax.set_xticks(uniq, [F.fmt_value(v) for v in uniq])
      ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
  else:
    cats = sorted(t[name].unique(), key=lambda v: (str(type(v)), v))
    pos = {c: i for i, c in enumerate(cats)}
    jitter = t[name].map(pos).to_numpy(float) + 0.12 * (rng.random(len(t)) - 0.5)
    by = means.reindex(cats)
    bx = np.arange(len(cats))
    ax.set_xticks(bx, [F.fmt_value(c) for c in cats])
  acc = 100 * t["acc_mean"].to_numpy(float)
  yerr = 100 * t["acc_std"].fillna(0).to_numpy(float)
  ax.errorbar(jitter[~div], acc[~div], yerr=yerr[~div], fmt="o", color="tab:blue", alpha=0.55, ms=5, capsize=3,
              label="trial (mean ± std over seeds)")
  if div.any():
    ax.plot(jitter[div], acc[div], "x", color="tab:red", ms=8, mew=2, label="diverged trial (best epoch before)")
  if numeric:
    ax.plot(bx, 100 * by["acc"], "-", color="tab:blue", lw=2, label="mean per value (diverged left out)")
  else:
    ax.bar(bx, 100 * by["acc"], width=0.5, color="tab:blue", alpha=0.25, label="mean per value (diverged left out)")
    lo, hi = np.nanmin(acc), np.nanmax(acc)
    ax.set_ylim(max(0, lo - 0.3 * (hi - lo + 1)), min(100, hi + 0.3 * (hi - lo + 1)))
  ax.set_xlabel(name + (" (log scale)" if numeric and scale == "log" else ""))
  ax.set_ylabel("test accuracy (%)")
  ax.grid(alpha=0.3)
  handles, labels = ax.get_legend_handles_labels()
  if by["wall"].notna().any():
    ax2 = ax.twinx()
    h = ax2.plot(bx, by["wall"], "s--", color="tab:orange", lw=1.5, ms=5, label="training time (mean per value)")
    ax2.set_ylabel("training time (s)", color="tab:orange")
    ax2.tick_params(axis="y", colors="tab:orange")
    ax2.set_ylim(0, 1.25 * np.nanmax(by["wall"].to_numpy(float)))
    handles += h
    labels += [h[0].get_label()]
  ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
  ax.set_title(f"Test accuracy and training time vs {name}")
  return _save(fig, path)


def is_grid(table: pd.DataFrame, f1: str, f2: str) -> bool:
  """True when every combination of the values of f1 and f2 has at least one trial."""
  n = table.groupby([f1, f2]).size()
  return len(n) == table[f1].nunique() * table[f2].nunique() and len(n) > 1


def heatmap(table: pd.DataFrame, f1: str, f2: str, path: str) -> str:
  """Mean test accuracy over a complete grid of two swept fields, values annotated in the cells."""
  g = table.groupby([f1, f2])["acc_mean"].mean().unstack(f2) * 100
  div = (table.groupby([f1, f2])["diverged"].sum().unstack(f2).reindex_like(g).fillna(0) > 0
         if "diverged" in table else g * 0 > 0)
  fig, ax = plt.subplots(figsize=(1.3 * g.shape[1] + 3, 0.7 * g.shape[0] + 2.2))
  vals = g.to_numpy(float)
  shown = np.where(div.to_numpy(bool), np.nan, vals)  # diverged cells grey, outside the colour range
  cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
  im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, aspect="auto")
  fin = shown[np.isfinite(shown)]
  mid = (fin.min() + fin.max()) / 2 if fin.size else 0
  for i in range(vals.shape[0]):
    for j in range(vals.shape[1]):
      v = vals[i, j]
      txt = "n/a" if not np.isfinite(v) else f"{v:.1f}"
      if div.iloc[i, j]:
        txt += "\n(diverged)"
      ax.text(j, i, txt, ha="center", va="center", fontsize=9,
              color="white" if np.isfinite(shown[i, j]) and v < mid else "black")
  ax.set_xticks(range(g.shape[1]), [F.fmt_value(c) for c in g.columns])
  ax.set_yticks(range(g.shape[0]), [F.fmt_value(c) for c in g.index])
  ax.set(xlabel=f2, ylabel=f1, title=f"Test accuracy (%) by {short(f1)} and {short(f2)}"
         + (" (grey = diverged)" if div.to_numpy(bool).any() else ""))
  fig.colorbar(im, ax=ax, label="test accuracy (%) (mean over seeds and trials)")
  return _save(fig, path)


def accuracy_vs_time(table: pd.DataFrame, path: str, fields=(), tolerance: float = 0.01) -> str:
  """Test accuracy vs training time per trial, with the Pareto front and the fastest trial within
  `tolerance` of the best highlighted."""
  t = table[np.isfinite(table["acc_mean"]) & np.isfinite(table["time_s"])].copy()
  bad = t[t["diverged"] > 0] if "diverged" in t else t.iloc[:0]
  t = t[~t.index.isin(bad.index)]
  mask = F.pareto_mask(t["time_s"], t["acc_mean"])
  fig, ax = plt.subplots(figsize=(7.5, 4.8))
  if len(bad):
    ax.plot(bad["time_s"], 100 * bad["acc_mean"], "x", color="tab:red", ms=8, mew=2,
            label="diverged trial (left out)")
  ax.errorbar(t["time_s"], 100 * t["acc_mean"], yerr=100 * t["acc_std"].fillna(0), fmt="o", color="tab:blue",
              alpha=0.5, ms=5, capsize=2, label="trial (mean ± std over seeds)")
  front = t[mask].sort_values("time_s")
  ax.step(front["time_s"], 100 * front["acc_mean"], where="post", color="tab:red", lw=1.5)
  ax.plot(front["time_s"], 100 * front["acc_mean"], "o", color="tab:red", ms=7, label="Pareto front")
  if len(t):
    best = t.loc[t["acc_mean"].idxmax()]
    near = t[t["acc_mean"] >= best["acc_mean"] - tolerance].sort_values("time_s").iloc[0]
    ax.axhspan(100 * (best["acc_mean"] - tolerance), 100 * best["acc_mean"], color="tab:green", alpha=0.12,
               label=f"within {100 * tolerance:.0f} pp of best")
    ax.plot(near["time_s"], 100 * near["acc_mean"], "*", color="tab:green", ms=16, mec="k",
            label=f"fastest within {100 * tolerance:.0f} pp: {trial_label(near, fields)}")
  ax.set(xlabel="training time (s)", ylabel="test accuracy (%)", title="Accuracy vs training time")
  if len(t) and t["time_s"].max() / max(t["time_s"].min(), 1e-9) > 20:
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, log scale)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
  return _save(fig, path)


def test_sets(table: pd.DataFrame, path: str, fields=(), k: int = 8) -> str:
  """Grouped bars: test accuracy on the plain and each extra test set, per trial (top k) or per model."""
  extra = [c for c in table.columns if c.startswith("test_accuracy/")]
  per_trial = "acc_mean" in table.columns
  cols = ["acc_mean" if per_trial else "test_accuracy"] + extra
  names = ["plain"] + [c.split("/", 1)[1] for c in extra]
  t = table.head(k)
  n, m = len(t), len(cols)
  width = 0.8 / m
  fig, ax = plt.subplots(figsize=(max(6, 1.4 * n * m / 2 + 3), 4.6))
  x = np.arange(n)
  for j, (c, nm) in enumerate(zip(cols, names)):
    v = 100 * t[c].to_numpy(float)
    bars = ax.bar(x + (j - (m - 1) / 2) * width, v, width, label=nm, color=COLORS[j % len(COLORS)])
    ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
  labels = [trial_label(r, fields).replace(": ", "\n").replace(", ", "\n") if per_trial
            else f"model (seed {int(r['seed'])})" for _, r in t.iterrows()]
  ax.set_xticks(x, labels, fontsize=8)
  ax.set(ylabel="test accuracy (%)", ylim=(0, 105), title="Test accuracy per test set")
  ax.legend(title="test set", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
  ax.grid(axis="y", alpha=0.3)
  return _save(fig, path)
