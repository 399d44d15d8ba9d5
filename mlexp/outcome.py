"""The outcome of a run or a sweep, from its result rows (pure, jax-free): the best trial and the
summary.json of mlexp/io/workdir.py. Used by single runs, sweeps and `merge`."""
from __future__ import annotations

import importlib.metadata

import mlexp
from mlexp.io import workdir as wd
from mlexp.stats import mean_std


def versions() -> dict:
  return {"mlexp_version": mlexp.__version__, "jax_version": importlib.metadata.version("jax")}


def best_trial(rows: list, trials) -> dict:
  """The trial with the best mean test accuracy over its seeds (diverged seeds left out of the mean).
  trials: trial id -> its swept values."""
  by_trial: dict = {}
  for r in rows:
    if r["status"] != "diverged":
      by_trial.setdefault(r["trial"], []).append(float(r["test_accuracy"]))
  if not by_trial:  # everything diverged
    t = min(r["trial"] for r in rows)
    return {"trial": t, "test_accuracy": float("nan"), "mean_acc": float("nan"), "std_acc": float("nan"),
            "n_seeds": 0, "values": trials[t]}
  t = max(by_trial, key=lambda k: mean_std(by_trial[k])[0])
  m, s = mean_std(by_trial[t])
  return {"trial": t, "test_accuracy": m, "mean_acc": m, "std_acc": s, "n_seeds": len(by_trial[t]),
          "values": trials[t]}


def summarize(kind: str, data: dict, config, rows: list, trials, *, groups: int, wall_s: float, compile_s: float,
              device: str, best: dict | None = None, times: dict | None = None) -> dict:
  """summary.json: `best` (as best_trial) and the mean / sample std over the best trial's seeds."""
  best = best or best_trial(rows, trials)
  mine = [r for r in rows if r["trial"] == best["trial"]]
  keys = ["test_accuracy", "best_test_loss"] + sorted({k for r in mine for k in r if k.startswith("test_accuracy/")})
  stats = {k: mean_std([r[k] for r in mine]) for k in keys}
  return wd.summary(
      kind, data, config.model.kind, rows,
      {"trial": best["trial"], "values": best["values"], "test_accuracy": best["mean_acc"],
       "test_accuracy_std": best["std_acc"]},
      {k: v[0] for k, v in stats.items()}, {k: v[1] for k, v in stats.items()},
      num_trials=len(trials), groups=groups, wall_s=wall_s, compile_s=compile_s, device=device,
      versions=versions(), times=times)
