"""The workdir: every file a single run or a sweep writes, its name, its schema and how it is written.

WORKDIR/
  config.json          the run's (or sweep's, unsharded) config; a workdir holds one config     prepare_workdir
  data.json            name, source, kind (and fingerprint) of the data set (when the run starts)  write_data_info
  metrics.jsonl        one line per epoch per trained model (`epoch_record`); sweeps' shards write
                       metrics.shard<i>.jsonl, merged into metrics.jsonl
  tensorboard/<run>/   scalars + HParams per model (run `seed_S` or `trial_TTT_seed_S`)
  checkpoints/         single runs: latest/ and best/ (io/checkpoints.py); sweeps: best_trial/
  summary.json         one schema for single runs and sweeps (`summary`)
  sweep.json           sweeps: swept fields, trials, group ids, mode                           write_sweep_spec
  groups/<gid>.json    sweeps: one file per finished group, its result rows (the resume unit)   write_group
  results.csv          sweeps: one row per trial x seed (`RESULT_COLUMNS`)                     write_results
  best_config.json/.py sweeps: the winner as a single-run config

Every file another process may read while it is written goes through `atomic_write` (write a temp file,
then rename). Locking: processes that share a workdir (sweep shards, a resumed run) coordinate through
`mlexp/io/lock.py` (a workdir lock taken around `prepare_workdir` and the writes of a run; added by the
reliability work) -- this module is where the lock belongs, next to the files it protects.
"""
from __future__ import annotations

import csv
import glob
import io
import json
import math
import os

from mlexp.io.writers import to_json

# the columns of a result row (results.csv and summary.json's runs); a sweep's swept fields go after "group",
# its extra test sets' accuracies ("test_accuracy/<name>") at the end
# (test_accuracy, best_test_loss: the test set's at the best epoch, which best_val_loss chose; val_* are nan when
# data.validation_fraction=0 selects on the test set)
RESULT_COLUMNS = ("trial", "group", "seed", "status", "stopped_by", "epochs_run", "best_epoch", "final_test_loss",
                  "best_test_loss", "test_accuracy", "final_test_accuracy", "best_val_loss", "val_accuracy",
                  "final_val_loss", "final_val_accuracy", "train_loss", "wall_s", "compile_s", "param_count",
                  "train_s", "train_s_method")  # train_s: the model's own training seconds (sweeps/trial_time.py)


class WorkdirError(ValueError):
  """The workdir cannot hold this run (e.g. it holds another config)."""


def path(workdir: str, *name: str) -> str:
  return os.path.join(workdir, *name)


def atomic_write(file: str, text: str) -> None:
  """Writes text to file so that readers see the old or the new file, never half of one."""
  tmp = f"{file}.tmp{os.getpid()}"
  with open(tmp, "w", newline="") as f:
    f.write(text)
  os.replace(tmp, file)


def read_json(file: str, fix: str = "delete it and run again (mlexp writes it anew)"):
  """The JSON of file; WorkdirError (one line naming the file and `fix`) when it is damaged."""
  with open(file) as f:
    text = f.read()
  try:
    return json.loads(text)
  except ValueError as e:
    raise WorkdirError(f"{file} is damaged ({damage(e, text)}); {fix}") from None


def damage(e: ValueError, text: str) -> str:
  """What is wrong with a JSON file's text, in a few words."""
  if not text.strip():
    return "empty"
  return f"not JSON: {str(e).splitlines()[0]}"


def prepare_workdir(workdir: str, config) -> None:
  """Creates the workdir and writes config.json once (atomically: processes sharing a workdir may start
  together); refuses a workdir that holds another config."""
  os.makedirs(workdir, exist_ok=True)
  file = path(workdir, "config.json")
  cfg_json = json.loads(config.to_json_best_effort())
  if not os.path.exists(file):
    atomic_write(file, json.dumps(cfg_json, indent=2))
  if read_json(file, "delete it to rewrite it from this config, or use a new --workdir") != cfg_json:
    raise WorkdirError(f"--workdir={workdir} holds a run of a different config; use a new --workdir "
                       "(or the same config to resume)")


def read_config(workdir: str) -> dict:
  return read_json(path(workdir, "config.json"))


def check_fingerprint(workdir: str, fingerprint, source: str) -> None:
  """Refuses (DataError) a workdir whose data.json names other data than `fingerprint` (your own data: a
  resume on other arrays); nothing to compare when either fingerprint is missing."""
  file = path(workdir, "data.json")
  old = read_json(file).get("fingerprint") if fingerprint and os.path.exists(file) else None
  if old and old != fingerprint:
    from mlexp.data.errors import DataError
    raise DataError(f"--workdir={workdir} was trained on other data (fingerprint {old}, now {fingerprint} from "
                    f"{source}); use a new --workdir or the same arrays to resume")


def write_data_info(workdir: str, dataset) -> None:
  """data.json: what the run trains on (with its fingerprint for your own data); refuses other data than a
  resumed run's (check_fingerprint), so call it before any training."""
  fp = getattr(dataset, "fingerprint", None)
  check_fingerprint(workdir, fp, dataset.source)
  info = {"dataset": dataset.name, "source": dataset.source, "synthetic": bool(dataset.synthetic),
          "kind": dataset.kind, **({"fingerprint": fp} if fp else {})}
  atomic_write(path(workdir, "data.json"), to_json(info))


def read_data_info(workdir: str) -> dict:
  return read_json(path(workdir, "data.json"))


def epoch_record(member, epoch: int, m: dict, j: int, dt: float, n_train: int, status: str, gid=None) -> dict:
  """One line of metrics.jsonl: member (position j in the epoch's metrics m) after `epoch`."""
  rec = {"trial": member.trial, "seed": member.seed}
  if gid is not None:
    rec["group"] = gid
  rec.update({"epoch": epoch, "train_loss": m["train_loss"][j], "train_accuracy": m["train_accuracy"][j],
              "test_loss": m["test_loss"][j],
              "test_accuracy": m["test_accuracy"][j], "learning_rate": m["learning_rate"][j],
              "epoch_s": dt, "samples_per_s": n_train / dt, "status": status})
  if "val_loss" in m and not math.isnan(float(m["val_loss"][j])):  # (none when the test set selects)
    rec.update(val_loss=m["val_loss"][j], val_accuracy=m["val_accuracy"][j])
  return rec


def last_epochs(metrics_file: str, members) -> list:
  """Resume state: per member, the metrics.jsonl record of its latest epoch ({} where none)."""
  latest = {}
  if os.path.exists(metrics_file):
    with open(metrics_file) as f:
      for line in f:
        if line.strip():
          r = json.loads(line)
          if r.get("epoch", 0) >= latest.get(r.get("seed"), {}).get("epoch", 0):
            latest[r.get("seed")] = r
  return [latest.get(m.seed, {}) for m in members]


def first_missing_epoch(metrics_file: str, seeds, upto: int):
  """The first epoch <= upto whose metrics.jsonl record some model (seed) lacks (lost to a torn or cut file), or
  None when every model's records are whole: epochs 1, 2, ... up to `upto` or to its record that stopped it."""
  have: dict = {s: {} for s in seeds}
  if os.path.exists(metrics_file):
    with open(metrics_file) as f:
      for line in f:
        try:
          r = json.loads(line)
        except ValueError:
          continue
        if isinstance(r, dict) and r.get("seed") in have and isinstance(r.get("epoch"), int):
          have[r["seed"]][r["epoch"]] = r.get("status")
  missing = []
  for got in have.values():
    e = 1
    while e <= upto and e in got:
      e += 1
    if e <= upto and not (e > 1 and got[e - 1] not in (None, "running")):  # (stopped early / diverged: no more)
      missing.append(e)
  return min(missing) if missing else None


def groups_missing_metrics(metrics_file: str, done: dict) -> list:
  """The finished groups (gid -> groups/<gid>.json record) some of whose metrics.jsonl records are lost (a torn or
  cut file): each row's trial and seed must have epochs 1..epochs_run. They run again to write them anew."""
  have = set()
  if os.path.exists(metrics_file):
    with open(metrics_file) as f:
      for line in f:
        try:
          r = json.loads(line)
          have.add((r.get("group"), r["trial"], r["seed"], r["epoch"]))
        except (ValueError, KeyError, TypeError, AttributeError):
          continue
  return [gid for gid, d in done.items() if any((gid, r["trial"], r["seed"], e) not in have for r in d["rows"]
                                                for e in range(1, int(r.get("epochs_run") or 0) + 1))]


def write_results(workdir: str, rows: list, fields: list) -> None:
  """results.csv: one row per trial x seed, sorted; the swept `fields` after trial and group."""
  cols = list(RESULT_COLUMNS[:2]) + list(fields) + list(RESULT_COLUMNS[2:])
  extra = sorted({k for r in rows for k in r if k.startswith("test_accuracy/")})
  extra = (["macro_f1"] if any("macro_f1" in r for r in rows) else []) + extra
  out = io.StringIO()
  w = csv.DictWriter(out, fieldnames=cols + extra, extrasaction="ignore", lineterminator="\r\n")
  w.writeheader()
  for r in sorted(rows, key=lambda r: (r["trial"], r["seed"])):
    w.writerow({k: ("" if v is None else v) for k, v in r.items()})
  atomic_write(path(workdir, "results.csv"), out.getvalue())


def summary(kind: str, data: dict, model: str, rows: list, best: dict, mean: dict, std: dict, *, num_trials: int,
            groups: int, wall_s: float, compile_s: float, device: str, versions: dict,
            times: dict | None = None) -> dict:
  """summary.json (single runs and sweeps alike): what ran on what data, the best trial, the mean and
  sample std over the best trial's seeds, and one entry per model (its result row)."""
  status_counts: dict = {}
  for r in rows:
    status_counts[r["status"]] = status_counts.get(r["status"], 0) + 1
  return {
      "kind": kind, "dataset": data["dataset"], "source": data["source"], "synthetic": bool(data["synthetic"]),
      "model": model, "epochs_run": int(max(r["epochs_run"] for r in rows)), "wall_s": wall_s,
      "compile_s": compile_s, **versions, "device": device,
      # wall time split: compile (every program), train (compiled epochs, each with its test evaluation),
      # eval (extra test sets, confusion, best parameters), write (metrics, TensorBoard, checkpoints, results);
      # a sweep compiles ahead in threads while it trains, so the parts may add up to more than wall_s
      "times": dict(times or {}),
      "num_trials": num_trials, "num_models": len(rows), "groups": groups, "status_counts": status_counts,
      "trials_per_minute": num_trials / max(wall_s, 1e-9) * 60,
      "best": best, "mean": mean, "std": std,
      "runs": [run_entry(r) for r in rows],
  }


def run_entry(row: dict) -> dict:
  """A result row as an entry of summary.json's runs: extra test sets nested under extra_tests."""
  out = {k: row[k] for k in RESULT_COLUMNS if k in row}
  extra: dict = {}
  for k, v in row.items():
    metric, _, name = k.partition("/")
    if name and metric in ("test_accuracy", "test_loss"):
      extra.setdefault(name, {})[metric] = v
  out["extra_tests"] = extra
  for k in ("macro_f1", "classification"):
    if k in row:
      out[k] = row[k]
  return out


def write_summary(workdir: str, s: dict) -> None:
  atomic_write(path(workdir, "summary.json"), to_json(s))


def write_sweep_spec(workdir: str, spec: dict) -> None:
  atomic_write(path(workdir, "sweep.json"), json.dumps(spec, indent=2))


def read_sweep_spec(workdir: str) -> dict:
  return read_json(path(workdir, "sweep.json"))


def write_group(workdir: str, gid: str, record: dict) -> None:
  """groups/<gid>.json: a finished group (its rows, ASHA rung values, times): the resume unit of a sweep."""
  os.makedirs(path(workdir, "groups"), exist_ok=True)
  atomic_write(path(workdir, "groups", f"{gid}.json"), to_json({"gid": gid, **record}))


def read_groups(workdir: str, say=None) -> dict:
  """gid -> the record of every finished group in groups/. A damaged file (garbage, torn, empty) is a group
  not done: it runs again, and say (when given) tells so in one line."""
  done = {}
  for file in sorted(glob.glob(path(workdir, "groups", "*.json"))):
    try:
      d = read_json(file, "that group runs again")
      if not (isinstance(d, dict) and "gid" in d and isinstance(d.get("rows"), list)):
        raise WorkdirError(f"{file} is damaged (not a group record); that group runs again")
    except WorkdirError as e:
      if say is not None:
        say(str(e))
      continue
    done[d["gid"]] = d
  return done


def best_trial_meta(workdir: str, name: str = "best_trial"):
  file = path(workdir, "checkpoints", f"{name}_meta.json")
  return read_json(file) if os.path.exists(file) else None


def write_best_trial_meta(workdir: str, name: str, meta: dict) -> None:
  atomic_write(path(workdir, "checkpoints", f"{name}_meta.json"), json.dumps(meta))
