"""Classification findings (pure): which model's confusion matrix the report shows, and the most-confused
classes. Reads the `"classification"` entry that the engine writes per model into summary.json:

  summary["runs"][i]["classification"] = {"confusion": [[...]] (rows = true class), "class_names": [...],
      "per_class_accuracy": [...], "precision": [...], "recall": [...], "macro_f1": x,
      "macro_precision": x, "macro_recall": x, ...}            (see mlexp.metrics.classification_report)

Workdirs without it (older runs) give no finding and no figure.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from mlexp import metrics
from mlexp.report.findings import Finding, pct

CONFUSION = "confusion_matrix.png"


def valid(c) -> Optional[dict]:
  """The classification entry with a square integer confusion matrix and K class names, else None."""
  if not isinstance(c, dict):
    return None
  try:
    cm = np.asarray(c.get("confusion"), np.float64)
  except (TypeError, ValueError):
    return None
  if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0 or not np.all(np.isfinite(cm)):
    return None
  names = c.get("class_names") or metrics.default_class_names(cm.shape[0])
  if len(names) != cm.shape[0]:
    names = metrics.default_class_names(cm.shape[0])
  return {**c, "confusion": cm.astype(np.int64).tolist(), "class_names": [str(n) for n in names]}


def _acc(r) -> float:
  a = r.get("test_accuracy")
  return float(a) if isinstance(a, (int, float)) and math.isfinite(a) else -math.inf


def _counted(c: Optional[dict]) -> bool:
  return c is not None and np.asarray(c["confusion"]).sum() > 0


def chosen(summary: dict) -> Optional[dict]:
  """The model the report shows: in a sweep the best trial's most accurate seed (any trial's when the
  best trial has none), in a single run the first seed. None when no model has a classification entry that
  counted a test example (a diverged model counts none).

  Returns {"classification", "label", "trial", "seed", "others"}; others: the classification entries of
  the other seeds of the same trial (for the spread of macro F1).
  """
  runs = [r for r in summary.get("runs") or [] if isinstance(r, dict) and _counted(valid(r.get("classification")))]
  sweep = summary.get("kind") == "sweep"
  best_trial = (summary.get("best") or {}).get("trial") if sweep else None
  if not runs:
    c = valid((summary.get("best") or {}).get("classification"))
    if not _counted(c):
      return None
    return dict(classification=c, label=f"best trial {best_trial}" if best_trial is not None else "best model",
                trial=best_trial, seed=None, others=[])
  same = [r for r in runs if r.get("trial", 0) == best_trial]
  pool = same or runs
  if sweep:
    pick = sorted(pool, key=lambda r: (-_acc(r), r.get("seed", 0)))[0]
  else:
    pick = sorted(pool, key=lambda r: r.get("seed", 0))[0]
  trial, seed = pick.get("trial", 0), pick.get("seed", 0)
  label = f"trial {trial}, seed {seed}" if sweep else f"seed {seed}"
  others = [valid(r["classification"]) for r in runs if r.get("trial", 0) == trial and r is not pick]
  return dict(classification=valid(pick["classification"]), label=label, trial=trial, seed=seed, others=others)


def confused_pairs(c: dict, k: int = 3) -> list[dict]:
  """The k most-confused (true, predicted) pairs of a classification entry (metrics.most_confused)."""
  return metrics.most_confused(c["confusion"], k, c["class_names"])


def finding(summary: dict, k: int = 3) -> Optional[Finding]:
  """'Most confused (seed 0, at its best epoch): 'Shirt' predicted as 'T-shirt/top' 41 times (13.7% of
  'Shirt'), ... Macro F1 0.873 (± 0.004 over 3 seeds), macro precision 0.874, macro recall
  0.873; weakest class 'Shirt' (62.0% correct).'"""
  pick = chosen(summary)
  if pick is None:
    return None
  c = pick["classification"]
  cm = np.asarray(c["confusion"])
  s = metrics.scores(cm)
  macro_f1 = float(c.get("macro_f1", s["macro_f1"]))
  mp = float(c.get("macro_precision", s["macro_precision"]))
  mr = float(c.get("macro_recall", s["macro_recall"]))
  f1s = [macro_f1] + [float(o.get("macro_f1", metrics.scores(o["confusion"])["macro_f1"])) for o in pick["others"]]
  spread = f"± {np.std(f1s, ddof=1):.3f} over {len(f1s)} seeds" if len(f1s) > 1 else ""
  spread += " of this trial" if spread and summary.get("kind") == "sweep" else ""
  pairs = confused_pairs(c, k)
  nums = dict(trial=pick["trial"], seed=pick["seed"], macro_f1=macro_f1, macro_precision=mp, macro_recall=mr,
              pairs=pairs, n=int(cm.sum()))
  who = f"{pick['label']}, at its best epoch"
  if not pairs:
    text = (f"No confusions ({who}): all {int(cm.sum())} test examples are classified correctly; "
            f"macro F1 {macro_f1:.3f}{f' ({spread})' if spread else ''}.")
    return Finding("confusion", text, CONFUSION, nums)
  listed = ", ".join(f"'{p['true_name']}' predicted as '{p['predicted_name']}' {p['count']} "
                     f"time{'s' if p['count'] != 1 else ''} ({pct(p['fraction'])} of '{p['true_name']}')"
                     for p in pairs)
  support = cm.sum(axis=1)
  recall = s["recall"]  # per-class accuracy, from the confusion matrix itself
  weak = ""
  if (support > 0).sum() > 1:
    i = int(np.argmin(np.where(support > 0, recall, np.inf)))
    nums["weakest"] = dict(name=c["class_names"][i], accuracy=float(recall[i]))
    weak = f"; weakest class '{c['class_names'][i]}' ({pct(recall[i])} correct)"
  text = (f"Most confused ({who}): {listed}. Macro F1 {macro_f1:.3f}{f' ({spread})' if spread else ''}, "
          f"macro precision {mp:.3f}, macro recall {mr:.3f}{weak}.")
  return Finding("confusion", text, CONFUSION, nums)
