"""A sweep's best model (checkpoints/best_trial/ and best_trial_meta.json, written by sweeps/execute.py's
save_best_params), checked when a sweep starts: damaged or missing, it is rebuilt by training its group again."""
from __future__ import annotations

import math
import os
import time

from mlexp.io.checkpoints import _first_line, check_saved


def repair_best_trial(workdir: str, name: str, done: dict, say, gids=None) -> None:
  """A sweep's checkpoints/<name> (its best model's parameters) and <name>_meta.json, checked when the sweep
  starts: when either is damaged or missing while groups are done, both are moved to checkpoints/damaged/ and
  the group that trained the best model is dropped from `done`, so it runs again and saves them anew (the same
  parameters: training is deterministic). One line says so. gids: the groups of this shard (None: all)."""
  from mlexp.io import workdir as wd
  rows = [(gid, r) for gid, d in done.items() for r in d["rows"] if gids is None or gid in gids]
  ckdir, meta_file = wd.path(workdir, "checkpoints", name), wd.path(workdir, "checkpoints", f"{name}_meta.json")
  meta = None
  try:
    meta = wd.best_trial_meta(workdir, name)
    if meta is None and not os.path.isdir(ckdir):
      if not any(_selection_key(r)[0] > -math.inf for _, r in rows):
        return  # nothing trained yet (or every model diverged): nothing to keep
      raise FileNotFoundError(f"{meta_file} and {ckdir} are missing")
    if not isinstance(meta, dict) or not {"trial", "seed"} <= set(meta):
      raise ValueError(f"{meta_file} is {'missing' if meta is None else 'not a best-trial record'}")
    check_saved(ckdir)
    return
  except Exception as e:  # noqa: BLE001  (Orbax raises many kinds for damaged files)
    why = _first_line(e)
  if isinstance(meta, dict) and {"trial", "seed"} <= set(meta):
    gid = next((g for g, r in rows if (r["trial"], r["seed"]) == (meta["trial"], meta["seed"])), None)
  else:
    gid = max(rows, key=lambda gr: _selection_key(gr[1]))[0] if rows else None
  stamp = time.strftime("%Y%m%d-%H%M%S")
  aside = wd.path(workdir, "checkpoints", "damaged", f"{name}_{stamp}")
  os.makedirs(aside, exist_ok=True)
  for p in (ckdir, meta_file):
    if os.path.exists(p):
      os.replace(p, os.path.join(aside, os.path.basename(p)))
  then = "the best model's group is not done yet" if gid is None else f"group {gid} runs again to rebuild them"
  if gid is not None:
    done.pop(gid, None)
  say(f"the sweep's best model ({ckdir}, {os.path.basename(meta_file)}) is damaged ({why}); moved it to {aside}; "
      f"{then}")


def _selection_key(row: dict) -> tuple:
  """(selection accuracy, -selection loss) of a result row, as the sweep chose its best model
  (Records.selection_key: validation, or test without a validation split); -inf for none."""
  num = lambda v: math.nan if v is None or v == "" else float(v)
  acc, loss = num(row.get("val_accuracy")), num(row.get("best_val_loss"))
  acc = num(row.get("test_accuracy")) if math.isnan(acc) else acc
  loss = num(row.get("best_test_loss")) if math.isnan(loss) else loss
  if row.get("status") == "diverged" or math.isnan(acc):
    return -math.inf, -math.inf
  return acc, -loss if loss == loss else -math.inf
