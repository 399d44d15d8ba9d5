"""Classification metrics from true and predicted labels (pure numpy; no jax).

Conventions (those of scikit-learn's `confusion_matrix` and `precision_recall_fscore_support(...,
average=None / "macro", zero_division=0)`, checked against a brute-force count in the tests):

- `confusion[i][j]` counts test examples of true class i predicted as class j (rows = truth).
- Per class: recall = tp / (tp + fn) (the class's accuracy), precision = tp / (tp + fp),
  F1 = 2 tp / (2 tp + fp + fn). A 0/0 is 0 (`zero_division=0`).
- Macro averages are the unweighted means over the classes that occur in the test labels or in the
  predictions (scikit-learn's default `labels=None`). A class that is neither in the test set nor ever
  predicted is left out of the macro averages (so perfect predictions give macro F1 = 1 even when a class
  is missing from a small test set); its per-class entries are 0 and its `support` is 0.
  A class that is predicted but absent from the test set counts with precision, recall and F1 = 0.
- Macro F1 is the mean of the per-class F1 scores, not the F1 of macro precision and macro recall.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def default_class_names(num_classes: int) -> tuple:
  """"0".."K-1", for data sets without names."""
  return tuple(str(k) for k in range(int(num_classes)))


def as_predictions(logits_or_pred, label_ndim: int = 1) -> np.ndarray:
  """Predicted labels: argmax over the last axis of logits (one more axis than the labels have), or the
  labels as they are."""
  a = np.asarray(logits_or_pred)
  if a.ndim > label_ndim:
    return np.argmax(a, axis=-1)
  return a.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
  """int64 [K, K]: row = true class, column = predicted class; sums to the number of examples."""
  t = np.asarray(y_true).astype(np.int64).ravel()
  p = np.asarray(y_pred).astype(np.int64).ravel()
  k = int(num_classes)
  if t.shape != p.shape:
    raise ValueError(f"{t.size} true labels but {p.size} predictions")
  for name, v in (("true", t), ("predicted", p)):
    if v.size and (v.min() < 0 or v.max() >= k):
      raise ValueError(f"{name} labels must be in [0, {k}), got {v.min()}..{v.max()}")
  return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _ratio(num, den) -> np.ndarray:
  num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
  return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def scores(confusion) -> dict:
  """Per-class precision, recall, f1, support (arrays [K]) and the macro averages (see module doc)."""
  cm = np.asarray(confusion, np.int64)
  tp = np.diag(cm)
  support = cm.sum(axis=1)  # true examples per class
  predicted = cm.sum(axis=0)
  precision = _ratio(tp, predicted)
  recall = _ratio(tp, support)
  f1 = _ratio(2 * tp, support + predicted)
  present = (support + predicted) > 0
  macro = (lambda v: float(v[present].mean())) if present.any() else (lambda v: 0.0)
  return dict(precision=precision, recall=recall, f1=f1, support=support, present=present,
              macro_precision=macro(precision), macro_recall=macro(recall), macro_f1=macro(f1))


def most_confused(confusion, k: int = 3, class_names: Optional[Sequence[str]] = None) -> list[dict]:
  """The k largest off-diagonal counts, largest first (ties: lower true class, then lower predicted
  class): dicts with true / predicted (indices), true_name / predicted_name, count and fraction (of the
  true class's examples). Pairs with a zero count are left out."""
  cm = np.asarray(confusion, np.int64)
  names = list(class_names) if class_names is not None else list(default_class_names(len(cm)))
  off = cm.copy()
  np.fill_diagonal(off, 0)
  i, j = np.nonzero(off)
  order = sorted(zip(-off[i, j], i, j))[: max(int(k), 0)]
  support = cm.sum(axis=1)
  return [dict(true=int(a), predicted=int(b), true_name=str(names[a]), predicted_name=str(names[b]),
               count=int(-c), fraction=float(-c / support[a])) for c, a, b in order]


def classification_report(y_true, logits_or_pred, num_classes: int,
                          class_names: Optional[Sequence[str]] = None) -> dict:
  """The `"classification"` entry of summary.json for one model, JSON-ready (lists, floats, ints):

  confusion [[K x K]] (rows true), class_names [K], per_class_accuracy [K] (= recall), precision [K],
  recall [K], f1 [K], support [K], macro_f1, macro_precision, macro_recall, accuracy, n.
  logits_or_pred: logits [N, K] (argmax is taken) or predicted labels [N].
  class_names None -> "0".."K-1".
  """
  y_true = np.asarray(y_true)
  pred = as_predictions(logits_or_pred, label_ndim=y_true.ndim)
  k = int(num_classes)
  names = tuple(str(n) for n in class_names) if class_names is not None else default_class_names(k)
  if len(names) != k:
    raise ValueError(f"{len(names)} class names for {k} classes")
  return report_from_confusion(confusion_matrix(y_true, pred, k), names)


def report_from_confusion(confusion, class_names: Optional[Sequence[str]] = None) -> dict:
  """classification_report's entry from a confusion matrix [K, K] (rows true, counts)."""
  cm = np.rint(np.asarray(confusion, np.float64)).astype(np.int64)
  k = cm.shape[0]
  names = tuple(str(n) for n in class_names) if class_names is not None else default_class_names(k)
  if len(names) != k:
    raise ValueError(f"{len(names)} class names for {k} classes")
  s = scores(cm)
  n = int(cm.sum())
  floats = lambda v: [float(x) for x in v]
  return {"confusion": cm.tolist(), "class_names": list(names),
          "per_class_accuracy": floats(s["recall"]), "precision": floats(s["precision"]),
          "recall": floats(s["recall"]), "f1": floats(s["f1"]), "support": [int(x) for x in s["support"]],
          "macro_f1": s["macro_f1"], "macro_precision": s["macro_precision"], "macro_recall": s["macro_recall"],
          "accuracy": float(np.trace(cm) / n) if n else 0.0, "n": n}
