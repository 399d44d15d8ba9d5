"""The report of a study (sweep.algorithm=one_at_a_time): per-knob tables, the combined week table
(study.md / study.csv), a figure per knob and findings that compare each value with the shared baseline.

Pure: knob_table, study_table, knob_findings, markdown_table. I/O shell: knob_figure, write_study.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from mlexp.report import figures as G
from mlexp.report.findings import Finding, fmt_value, pct, secs, seed_spread
from mlexp.report.tables import time_column, time_note

BASELINE = "baseline"
COLUMNS = ["knob", "value", "baseline", "acc_mean", "acc_std", "val_acc_mean", "seeds", "time_s", "param_count",
           "best_epoch", "acc_vs_baseline_pp", "time_vs_baseline"]
HEAD = ["knob", "value", "test accuracy (%)", "training time per model (s)", "params", "best epoch",
        "vs baseline"]


def is_study(spec) -> bool:
  return bool(spec) and spec.get("algorithm") == "one_at_a_time"


def knobs(results: pd.DataFrame) -> list[str]:
  """The varied fields, in the order of their trials."""
  k = results.sort_values("trial")["knob"].astype(str)
  return list(dict.fromkeys(v for v in k if v != BASELINE))


def _numeric(values) -> bool:
  return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def log_scale(values) -> bool:
  """Numeric positive values that span 16x or more: a log axis."""
  if not _numeric(values) or len(values) < 2:
    return False
  v = [float(x) for x in values]
  return min(v) > 0 and max(v) / min(v) >= 16


def knob_table(results: pd.DataFrame, knob: str) -> pd.DataFrame:
  """One row per value of `knob` (the baseline's among them): test accuracy mean / std over seeds, training
  time per model, parameters, best epoch (median over seeds), and the differences to the baseline. Numeric
  values sorted; others in trial order. Diverged seeds are left out of the means."""
  tcol = time_column(results)
  rows = results[results["knob"].astype(str).isin([knob, BASELINE])]
  ok = rows[rows["status"] != "diverged"] if "status" in rows else rows
  out = []
  for t, g in rows.groupby("trial", sort=True):
    o = ok[ok["trial"] == t]
    acc = o["test_accuracy"].astype(float)
    out.append({"knob": knob, "value": g[knob].iloc[0], "baseline": str(g["knob"].iloc[0]) == BASELINE,
                "acc_mean": float(acc.mean()) if len(acc) else math.nan,
                "acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan, "seeds": int(len(g)),
                "val_acc_mean": float(o["val_accuracy"].astype(float).mean()) if "val_accuracy" in o and len(o)
                else math.nan,
                "time_s": float(o[tcol].mean()) if tcol in o and len(o) else math.nan,
                "param_count": g["param_count"].iloc[0] if "param_count" in g else math.nan,
                "best_epoch": float(o["best_epoch"].median()) if "best_epoch" in o and len(o) else math.nan})
  t = pd.DataFrame(out)
  if _numeric(list(t["value"])):
    t = t.sort_values("value", kind="stable")
  base = t[t["baseline"]]
  b_acc, b_time = (float(base["acc_mean"].iloc[0]), float(base["time_s"].iloc[0])) if len(base) else (math.nan,) * 2
  t["acc_vs_baseline_pp"] = 100 * (t["acc_mean"] - b_acc)
  t["time_vs_baseline"] = t["time_s"] / b_time if b_time > 0 else math.nan
  return t.reset_index(drop=True)[COLUMNS]


def study_table(results: pd.DataFrame) -> pd.DataFrame:
  """The week table: the baseline once, then every knob's other values (knob_table rows)."""
  parts = [knob_table(results, k) for k in knobs(results)]
  if not parts:
    return pd.DataFrame(columns=COLUMNS)
  base = parts[0][parts[0]["baseline"]].assign(knob=BASELINE, value="")
  return pd.concat([base] + [p[~p["baseline"]] for p in parts], ignore_index=True)


def _acc(r) -> str:
  if not np.isfinite(r["acc_mean"]):
    return "n/a"
  return f"{100 * r['acc_mean']:.2f}" + (f" ± {100 * r['acc_std']:.2f}" if np.isfinite(r["acc_std"]) else "")


def _vs(r) -> str:
  if r["baseline"]:
    return "baseline"
  if not (np.isfinite(r["acc_vs_baseline_pp"]) and np.isfinite(r["time_vs_baseline"])):
    return "n/a"
  x = r["time_vs_baseline"]
  return f"{r['acc_vs_baseline_pp']:+.1f} pp, {x:.1f}x the time" if x >= 1 else \
      f"{r['acc_vs_baseline_pp']:+.1f} pp, {x:.2g}x the time"


def with_val(table: pd.DataFrame) -> bool:
  return bool(np.isfinite(table["val_acc_mean"].astype(float)).any())


def head(table: pd.DataFrame) -> list[str]:
  """HEAD, with validation accuracy beside test accuracy where the rows have it."""
  return HEAD[:3] + ["validation accuracy (%)"] + HEAD[3:] if with_val(table) else HEAD


def display_rows(table: pd.DataFrame) -> list[list[str]]:
  """knob_table / study_table rows as the strings of head(table)."""
  val = with_val(table)
  return [[str(r["knob"]), fmt_value(r["value"]) + (" (baseline)" if r["baseline"] and r["knob"] != BASELINE else ""),
           _acc(r)] + ([f"{100 * r['val_acc_mean']:.2f}" if np.isfinite(r["val_acc_mean"]) else "n/a"] if val else [])
          + ["n/a" if not np.isfinite(r["time_s"]) else f"{r['time_s']:.3g}",
           f"{int(r['param_count']):,}" if pd.notna(r["param_count"]) else "n/a",
             f"{r['best_epoch']:g}" if np.isfinite(r["best_epoch"]) else "n/a", _vs(r)]
          for _, r in table.iterrows()]


def markdown_table(head, rows) -> str:
  esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
  lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "|".join("---" for _ in head) + "|"]
  return "\n".join(lines + ["| " + " | ".join(map(esc, r)) + " |" for r in rows]) + "\n"


def figure_name(knob: str) -> str:
  return "study_" + "".join(c if c.isalnum() else "_" for c in knob) + ".png"


def knob_findings(results: pd.DataFrame) -> list[Finding]:
  """Per knob: each value's accuracy difference and time ratio against the shared baseline, and whether the
  difference is within the seed-to-seed spread. Comparisons only: every other setting is the baseline's."""
  spread = seed_spread(results)
  out = []
  for k in knobs(results):
    t = knob_table(results, k)
    base = t[t["baseline"]]
    if base.empty:
      continue
    b = base.iloc[0]
    parts = []
    for _, r in t[~t["baseline"]].iterrows():
      within = np.isfinite(spread) and abs(r["acc_vs_baseline_pp"]) <= 100 * spread
      parts.append(f"{fmt_value(r['value'])}: {_vs(r).replace(', ', ' for ', 1)}"
                   + (" (within the seed spread)" if within else ""))
    text = (f"{k} vs the baseline ({fmt_value(b['value'])}: {pct(b['acc_mean'])}, {secs(b['time_s'])} per "
            f"model): " + "; ".join(parts) + ".")
    out.append(Finding("study", text, figure_name(k),
                       {"knob": k, "values": [fmt_value(v) for v in t["value"]],
                        "acc_vs_baseline_pp": [float(x) for x in t["acc_vs_baseline_pp"]],
                        "time_vs_baseline": [float(x) for x in t["time_vs_baseline"]]}))
  if out and np.isfinite(spread):
    out.append(Finding("study", f"Seed-to-seed spread (pooled std of test accuracy): {100 * spread:.2f} pp; "
                                "differences smaller than that are not told apart by these seeds."))
  return out


# ---------------------------------------------------------------- I/O shell

def knob_figure(table: pd.DataFrame, knob: str, path: str, time_label: str = "training time per model (s)") -> str:
  """Test accuracy (mean ± std over seeds) and training time against the knob's value; a log x axis where
  numeric values span 16x or more, categories otherwise."""
  plt = G.plt
  vals = list(table["value"])
  numeric = _numeric(vals)
  x = np.asarray(vals, float) if numeric else np.arange(len(vals), dtype=float)
  fig, ax = plt.subplots(figsize=(7, 4.2))
  acc, std = 100 * table["acc_mean"].to_numpy(float), 100 * np.nan_to_num(table["acc_std"].to_numpy(float))
  ax.errorbar(x, acc, yerr=std, fmt="o-", color=G.COLORS[0], capsize=4, lw=1.6, label="test accuracy")
  b = table["baseline"].to_numpy(bool)
  ax.plot(x[b], acc[b], "*", color="black", ms=14, label="baseline", zorder=5)
  ax.set_xlabel(knob)
  ax.set_ylabel("test accuracy (%)", color=G.COLORS[0])
  ax2 = ax.twinx()
  ax2.plot(x, table["time_s"].to_numpy(float), "s--", color=G.COLORS[1], lw=1.4, label=time_label)
  ax2.set_ylabel(time_label, color=G.COLORS[1])
  ax2.set_ylim(bottom=0)
  if numeric and log_scale(vals):
    ax.set_xscale("log")
    ax.set_xticks(x, [fmt_value(v) for v in vals])
    ax.xaxis.set_minor_formatter(G.matplotlib.ticker.NullFormatter())
  elif not numeric:
    ax.set_xticks(x, [fmt_value(v) for v in vals], rotation=20 if len(vals) > 4 else 0)
  lines = ax.get_legend_handles_labels()
  lines2 = ax2.get_legend_handles_labels()
  ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="best")
  ax.set_title(f"{knob}: test accuracy and training time")
  ax.grid(alpha=0.3)
  fig.tight_layout()
  return G._save(fig, path)


def write_study(results: pd.DataFrame, outdir: str):
  """Writes study.md, study.csv and a figure per knob into outdir; returns (findings, [(figure name, caption,
  path)], [(title, header, rows)] one table per knob)."""
  tcol = time_column(results)
  week = study_table(results)
  week.to_csv(os.path.join(outdir, "study.csv"), index=False)
  found = knob_findings(results)
  note = "Accuracy: mean ± std over seeds at each model's best epoch; time: " + time_note(results)
  with open(os.path.join(outdir, "study.md"), "w") as f:
    f.write("# Study: one knob at a time from the baseline\n\n" + markdown_table(head(week), display_rows(week))
            + f"\n{note}\n\n## Findings\n\n" + "".join(f"- {x.text}\n" for x in found))
  figs, tables = [], []
  for k in knobs(results):
    t = knob_table(results, k)
    tables.append((f"Knob: {k}", head(t), display_rows(t)))
    p = os.path.join(outdir, figure_name(k))
    knob_figure(t, k, p, time_label=f"{tcol} per model (s)")
    figs.append((figure_name(k), f"Test accuracy and training time vs {k} (others at the baseline)", p))
  return found, figs, tables
