"""The summary of a run or a sweep, from its result rows (pure, jax-free): the best trial and the
summary.json of mlexp/io/workdir.py. Used by single runs, sweeps and `merge`."""
from __future__ import annotations

import importlib.metadata
import math

from mlexp.version import __version__
from mlexp.io import workdir as wd
from mlexp.stats import mean_std


def versions() -> dict:
  return {"mlexp_version": __version__, "jax_version": importlib.metadata.version("jax")}


def _num(v) -> float:
  return float("nan") if v is None or v == "" else float(v)


def validated(rows: list) -> bool:
  """Whether the rows were selected on a validation split (their val_accuracy is known)."""
  return any(not math.isnan(_num(r.get(k))) for r in rows for k in ("val_accuracy", "best_val_loss"))


def selection(config, rows: list) -> str:
  """What chose the best epochs and trials, in words (summary.json "selection", the report header)."""
  f = float(config.data.get("validation_fraction", 0.0) or 0.0)
  if not validated(rows):
    return "test (data.validation_fraction=0)" if f == 0 else "test (the data had no validation split)"
  return f"validation ({100 * f:.0f}% of the training data, stratified)"


def best_trial(rows: list, trials) -> dict:
  """The trial with the best mean validation accuracy over its seeds (ties: the lower mean best_val_loss), or
  without a validation split the best mean test accuracy (diverged seeds left out of the means). Its test
  accuracy is reported. trials: trial id -> its swept values."""
  by_trial: dict = {}
  val = validated(rows)
  for r in rows:
    if r["status"] != "diverged":
      by_trial.setdefault(r["trial"], []).append(r)
  if not by_trial:  # everything diverged
    t = min(r["trial"] for r in rows)
    return {"trial": t, "test_accuracy": float("nan"), "mean_acc": float("nan"), "std_acc": float("nan"),
            "n_seeds": 0, "values": trials[t], "all_diverged": True}
  mean = lambda t, k: mean_std([_num(r.get(k)) for r in by_trial[t]])[0]
  score = lambda t: (mean(t, "val_accuracy"), -mean(t, "best_val_loss")) if val else (mean(t, "test_accuracy"),)
  t = max(by_trial, key=lambda k: tuple(-math.inf if math.isnan(v) else v for v in score(k)))
  m, s = mean_std([float(r["test_accuracy"]) for r in by_trial[t]])
  out = {"trial": t, "test_accuracy": m, "mean_acc": m, "std_acc": s, "n_seeds": len(by_trial[t]),
         "values": trials[t]}
  if val:
    out["val_accuracy"] = mean(t, "val_accuracy")
  return out


def best_words(best: dict, selection_text: str) -> str:
  """The best trial in words, for the sweep's last line: its test accuracy over its seeds and what chose it
  (selection_text: summary.json "selection"); when every trial diverged, that and the usual fix."""
  if best.get("all_diverged"):
    return (f"every trial diverged (a non-finite loss in each seed), so none is best; trial {best['trial']} "
            f"({best['values']}) is written as best_config.py only as a start: lower optimizer.learning_rate "
            "(or the swept learning rates) and run again")
  how = (f"validation accuracy {100 * best['val_accuracy']:.2f}%" if "val_accuracy" in best
         else f"the test set: {selection_text}" if selection_text.startswith("test") else selection_text)
  return (f"best trial {best['trial']}: {100 * best['mean_acc']:.2f}% ± {100 * best['std_acc']:.2f} test "
          f"accuracy over {best['n_seeds']} seed(s) (chosen on {how}) with {best['values']}")


def summarize(kind: str, data: dict, config, rows: list, trials, *, groups: int, wall_s: float, compile_s: float,
              device: str, best: dict | None = None, times: dict | None = None) -> dict:
  """summary.json: `best` (as best_trial) and the mean / sample std over the best trial's seeds."""
  best = best or best_trial(rows, trials)
  mine = [r for r in rows if r["trial"] == best["trial"]]
  keys = ["test_accuracy", "best_test_loss", "val_accuracy", "best_val_loss"]
  keys += sorted({k for r in mine for k in r if k.startswith("test_accuracy/")})
  stats = {k: mean_std([_num(r.get(k)) for r in mine]) for k in keys}
  out = wd.summary(
      kind, data, config.model.kind, rows,
      {"trial": best["trial"], "values": best["values"], "test_accuracy": best["mean_acc"],
       "test_accuracy_std": best["std_acc"], **({"val_accuracy": best["val_accuracy"]} if "val_accuracy" in best
                                                else {})},
      {k: v[0] for k, v in stats.items()}, {k: v[1] for k, v in stats.items()},
      num_trials=len(trials), groups=groups, wall_s=wall_s, compile_s=compile_s, device=device,
      versions=versions(), times=times)
  out["selection"] = selection(config, rows)
  return out
