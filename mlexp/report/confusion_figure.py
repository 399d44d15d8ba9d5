"""The confusion-matrix figure (matplotlib Agg): one model's test predictions, with class names."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mlexp import metrics  # noqa: E402
from mlexp.report.figures import DPI  # noqa: E402

ANNOTATE_MAX = 30  # classes up to which every cell gets its count


def confusion_matrix(classification: dict, path: str, title: str = "", k: int = 3) -> str:
  """Rows = true class, columns = predicted class; colour = share of the true class's examples (so rare
  classes are as visible as common ones), the count in each non-empty cell, the k most-confused pairs
  outlined in red, and each row's per-class accuracy on the right."""
  cm = np.asarray(classification["confusion"], np.int64)
  names = list(classification.get("class_names") or metrics.default_class_names(len(cm)))
  n = len(cm)
  support = cm.sum(axis=1)
  share = np.divide(cm, support[:, None], out=np.zeros(cm.shape), where=support[:, None] > 0)
  longest = max(len(s) for s in names)
  side = max(4.5, 0.42 * n + 1.5 + 0.06 * longest)
  fig, ax = plt.subplots(figsize=(side + 1.6, side))
  im = ax.imshow(100 * share, cmap="Blues", vmin=0, vmax=100)
  if n <= ANNOTATE_MAX:
    size = 9 if n <= 12 else 7 if n <= 20 else 5.5
    for i in range(n):
      for j in range(n):
        if cm[i, j]:
          ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=size,
                  color="white" if share[i, j] > 0.55 else "black")
  for p in metrics.most_confused(cm, k, names):
    ax.add_patch(plt.Rectangle((p["predicted"] - 0.5, p["true"] - 0.5), 1, 1, fill=False, ec="tab:red", lw=2))
  ticks = np.arange(n)
  ax.set_xticks(ticks, names, rotation=45 if longest > 2 else 0, ha="right" if longest > 2 else "center",
                fontsize=8 if n > 12 else 9)
  ax.set_yticks(ticks, names, fontsize=8 if n > 12 else 9)
  recall = np.divide(np.diag(cm), support, out=np.zeros(n), where=support > 0)
  right = ax.secondary_yaxis("right")
  right.set_yticks(ticks, [f"{100 * r:.0f}%" if s else "–" for r, s in zip(recall, support)],
                   fontsize=7 if n > 12 else 8)
  right.set_ylabel("per-class accuracy (recall)")
  ax.set_xlabel("predicted class")
  ax.set_ylabel("true class")
  acc = np.trace(cm) / max(cm.sum(), 1)
  ax.set_title((title + "\n" if title else "") + f"{int(cm.sum())} test examples, accuracy {100 * acc:.1f}%; "
               "red = most confused", fontsize=10)
  fig.colorbar(im, ax=ax, label="% of the true class", fraction=0.046, pad=0.12)
  fig.savefig(path, dpi=DPI, bbox_inches="tight")
  plt.close(fig)
  return path
