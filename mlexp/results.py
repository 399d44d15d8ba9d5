"""Read an mlexp workdir (single run or sweep) into pandas.

Thin I/O layer: every function takes a workdir path and returns plain data.
The workdir layout is written by the training engine:
config.json, metrics.jsonl, summary.json, and for sweeps results.csv + sweep.json.
"""
from __future__ import annotations

import json
import math
import os
from typing import Optional

import pandas as pd

INT_COLUMNS = ("trial", "seed", "epochs_run", "best_epoch", "param_count")
STR_COLUMNS = ("group", "status", "train_s_method")
FLOAT_COLUMNS = ("final_test_loss", "best_test_loss", "test_accuracy", "final_test_accuracy", "best_val_loss",
                 "val_accuracy", "final_val_loss", "final_val_accuracy", "train_loss", "wall_s", "macro_f1",
                 "train_s")  # train_s: the model's own training seconds (mlexp/sweeps/trial_time.py)
METRIC_INT_COLUMNS = ("trial", "seed", "epoch")


def _path(workdir: str, name: str) -> str:
  """Path of `name` in workdir; FileNotFoundError with a one-line message if missing."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"{workdir} is not a directory: WORKDIR should be an mlexp workdir "
                            "(the folder a training run or sweep wrote)")
  p = os.path.join(workdir, name)
  if not os.path.isfile(p) and name != "config.json" and os.path.isfile(os.path.join(workdir, "config.json")):
    raise FileNotFoundError(_unfinished(workdir, name))
  if not os.path.isfile(p):
    raise FileNotFoundError(f"{p} not found: WORKDIR should be an mlexp workdir "
                            "(the folder a training run or sweep wrote)")
  return p


def _unfinished(workdir: str, name: str) -> str:
  """The one line for a workdir of a run or sweep that has started but not finished (no summary yet)."""
  from mlexp.io.lock import holder
  sweep = any(os.path.exists(os.path.join(workdir, f)) for f in ("sweep.json", "groups", "results.csv"))
  what = "sweep" if sweep else "run"
  who = holder(workdir)
  if who:
    return f"{workdir}: the {what} is still running ({who}) and has no {name} yet; report it when it has finished"
  return (f"{workdir}: the {what} has not finished (no {name}); run its training command again with "
          f"--workdir={workdir} to resume and finish it, then report")


def _read_json(workdir: str, name: str):
  p = _path(workdir, name)
  with open(p) as f:
    text = f.read()
  try:
    return json.loads(text)  # accepts NaN/Infinity, which the engine may write for diverged runs
  except ValueError as e:
    what = "empty" if not text.strip() else f"not JSON: {str(e).splitlines()[0]}"
    first = "delete it, then " if name == "config.json" else ""
    raise ValueError(f"{p} is damaged ({what}); {first}run the training command again with --workdir={workdir} "
                     "to rewrite it") from None


def load_config(workdir: str) -> dict:
  """config.json as a nested dict."""
  return _read_json(workdir, "config.json")


def load_summary(workdir: str) -> dict:
  """summary.json as a dict."""
  return _read_json(workdir, "summary.json")


def is_sweep(workdir: str) -> bool:
  """True when the workdir holds a sweep (summary kind or a results.csv)."""
  if os.path.isfile(os.path.join(workdir, "results.csv")):
    return True
  return load_summary(workdir).get("kind") == "sweep"


def load_sweep_spec(workdir: str) -> Optional[dict]:
  """sweep.json as a dict, or None for a single run."""
  if not is_sweep(workdir):
    return None
  return _read_json(workdir, "sweep.json")


def load_metrics(workdir: str) -> pd.DataFrame:
  """metrics.jsonl: one row per trial x seed x epoch; inf losses become NaN."""
  rows = []
  with open(_path(workdir, "metrics.jsonl")) as f:
    for n, line in enumerate(f, 1):
      line = line.strip()
      if not line:
        continue
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise ValueError(f"{f.name} line {n} is not JSON: {e.msg}") from None
  df = pd.DataFrame(rows)
  for c in METRIC_INT_COLUMNS:
    if c not in df.columns:
      df[c] = 0 if c != "epoch" else range(1, len(df) + 1)
    df[c] = df[c].astype(int)
  for c in df.columns:
    if c not in METRIC_INT_COLUMNS and c != "status":
      df[c] = pd.to_numeric(df[c], errors="coerce").replace([math.inf, -math.inf], math.nan)
  return df.sort_values(["trial", "seed", "epoch"]).reset_index(drop=True)


def swept_fields(results: pd.DataFrame, spec: Optional[dict]) -> list[dict]:
  """[{name, scale}] for the swept fields present in results (from sweep.json, else inferred)."""
  if spec and spec.get("fields"):
    return [dict(name=f["name"], scale=f.get("scale", "linear")) for f in spec["fields"]
            if f["name"] in results.columns]
  cols = list(results.columns)
  if "group" in cols and "seed" in cols:
    names = cols[cols.index("group") + 1:cols.index("seed")]
  else:
    names = [c for c in cols if "." in c and "/" not in c]
  out = []
  for n in names:
    numeric = pd.api.types.is_numeric_dtype(results[n]) and not pd.api.types.is_bool_dtype(results[n])
    out.append(dict(name=n, scale="linear" if numeric else "categorical"))
  return out


def _restore_types(df: pd.DataFrame, fields: list[dict]) -> pd.DataFrame:
  df = df.copy()
  for c in INT_COLUMNS:
    if c in df.columns:
      v = pd.to_numeric(df[c], errors="coerce")
      df[c] = v.astype(int) if v.notna().all() else v
  for c in STR_COLUMNS:
    if c in df.columns:
      df[c] = df[c].where(df[c].notna(), "").astype(str)
  for c in df.columns:
    if c in FLOAT_COLUMNS or c.startswith("test_accuracy/") or c.startswith("test_loss/"):
      df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
  for f in fields:
    c = f["name"]
    if f["scale"] in ("log", "linear"):
      df[c] = pd.to_numeric(df[c], errors="coerce")
    elif df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
      low = df[c].astype(str).str.lower()
      if low.isin(["true", "false"]).all():
        df[c] = low == "true"
  return df


def _single_rows(summary: dict) -> pd.DataFrame:
  """summary.json's runs (result rows, the schema of mlexp/io/workdir.py) as a DataFrame."""
  runs = summary.get("runs") or []
  if not runs:
    raise ValueError("summary.json has no runs: the training run may not have finished")
  rows = []
  for r in runs:
    row = {k: v for k, v in r.items() if k != "extra_tests"}
    for name, m in (r.get("extra_tests") or {}).items():
      row[f"test_accuracy/{name}"] = m.get("test_accuracy")
    if isinstance(r.get("classification"), dict):
      row["macro_f1"] = r["classification"].get("macro_f1")
    rows.append(row)
  return pd.DataFrame(rows)


def load(workdir: str) -> pd.DataFrame:
  """One row per trial x seed with results.csv column names (sweep or single run)."""
  if is_sweep(workdir):
    df = pd.read_csv(_path(workdir, "results.csv"))
    spec = load_sweep_spec(workdir)
    return _restore_types(df, swept_fields(df, spec))
  return _restore_types(_single_rows(load_summary(workdir)), [])


def cross_check(workdir: str) -> Optional[str]:
  """One line when a sweep's results.csv disagrees with its summary.json (the models, the best trial): a
  truncated or stale results.csv; None when they agree (or for a single run)."""
  if not os.path.isfile(os.path.join(workdir, "results.csv")):
    return None
  summary = load_summary(workdir)
  try:
    df = pd.read_csv(os.path.join(workdir, "results.csv"))
    csv_models = {(int(t), int(s)) for t, s in zip(df["trial"], df["seed"])}
  except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
    csv_models = set()
  models = {(int(r["trial"]), int(r.get("seed", 0))) for r in summary.get("runs", [])}
  best = (summary.get("best") or {}).get("trial")
  trouble = []
  if csv_models != models:
    trouble.append(f"{len(csv_models & models)} of the {len(models)} models of summary.json")
  if best is not None and int(best) not in {t for t, _ in csv_models}:
    trouble.append(f"not the best trial {best}")
  if not trouble:
    return None
  return (f"{os.path.join(workdir, 'results.csv')} disagrees with summary.json (it holds {' and '.join(trouble)}); "
          f"run the sweep's command again with --workdir={workdir} to rebuild it from groups/, then report")
