"""Metric writing behind one small interface (as clu's metric_writers): JSON lines + TensorBoard."""
from __future__ import annotations

import collections
import glob
import itertools
import json
import math
import os
import struct
import time
from typing import Mapping

from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto import event_pb2
from tensorboardX.summary import hparams as hparams_summary
from tensorboardX.summary import scalar

_WRITER_IDS = itertools.count()  # unique event file names within a process


def _clean(v):
  if isinstance(v, float) and not math.isfinite(v):
    return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
  return v


def to_json(obj) -> str:
  """JSON with NaN as null and inf as a string, so every line is valid JSON."""
  def fix(o):
    if isinstance(o, dict):
      return {k: fix(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
      return [fix(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
      o = o.item()
    return _clean(o)
  return json.dumps(fix(obj))


def write_atomic(path: str, text: str) -> None:
  """Writes text to path through a temporary file and a rename: a crash or a full disk leaves the old file
  (or none), never half of the new one."""
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    try:
      os.remove(tmp)
    except OSError:
      pass
    raise


def _json_or_none(line: str):
  try:
    return json.loads(line)
  except ValueError:
    return None


class JsonlWriter:
  """Appends one JSON object per line and flushes it, so nothing written is lost on a crash."""

  def __init__(self, path: str, truncate_after_epoch: int | None = None, keep=None, say=None):
    """Resume: truncate_after_epoch drops the records of epochs not checkpointed (single runs), keep(record)
    -> bool the records of groups that will run again (sweeps); a line torn by a crash is dropped too, and
    say(line) tells of damaged lines before the last (their records are lost). `kept` holds the records that
    stay (to rewrite what TensorBoard missed)."""
    self.path, self.kept = path, []
    if (truncate_after_epoch is not None or keep is not None) and os.path.exists(path):
      with open(path) as f:
        lines = [l for l in f if l.strip()]
      parsed = [_json_or_none(l) for l in lines]
      records = [r for r in parsed if isinstance(r, dict)]
      torn = [n for n, (l, r) in enumerate(zip(lines, parsed), 1) if not isinstance(r, dict) and n < len(lines)]
      if torn and say is not None:
        say(f"{path}: dropped {len(torn)} damaged line(s) (line {', '.join(map(str, torn[:5]))}"
            f"{', ...' if len(torn) > 5 else ''} of {len(lines)}); their metrics are lost")
      self.kept = [r for r in records if (truncate_after_epoch is None or r.get("epoch", 0) <= truncate_after_epoch)
                   and (keep is None or keep(r))]
      write_atomic(path, "".join(to_json(r) + "\n" for r in self.kept))
    self._f = open(path, "a")

  def write(self, record: Mapping):
    self._f.write(to_json(dict(record)) + "\n")
    self._f.flush()

  def close(self):
    self._f.close()


# metrics.jsonl key -> TensorBoard scalar tag (one point per epoch; the step is the epoch)
SCALAR_TAGS = {"train_loss": "loss/train", "train_accuracy": "accuracy/train", "test_loss": "loss/test",
               "test_accuracy": "accuracy/test", "val_loss": "loss/val", "val_accuracy": "accuracy/val",
               "learning_rate": "learning_rate"}
_HPARAMS_PLUGIN = "hparams"


def _finite(v) -> float | None:
  try:
    v = float(v)
  except (TypeError, ValueError):
    return None
  return v if math.isfinite(v) else None


def epoch_scalars(record: Mapping) -> dict:
  """tag -> value of one metrics.jsonl record (non-finite and missing values left out)."""
  return {tag: v for k, tag in SCALAR_TAGS.items() if (v := _finite(record.get(k))) is not None}


def read_events(path: str):
  """The Events of one TFRecord event file, without TensorFlow; a record torn by a kill ends the file."""
  with open(path, "rb") as f:
    data = f.read()
  i = 0
  while i + 12 <= len(data):
    (n,) = struct.unpack("<Q", data[i:i + 8])
    if i + 12 + n + 4 > len(data):
      return
    try:
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
    except Exception:  # (a damaged record: the rest of the file is not trusted)
      return
    yield event
    i += 12 + n + 4


def _event_files(run_dir: str) -> list:
  return sorted(glob.glob(os.path.join(glob.escape(run_dir), "*tfevents*")))


class TensorBoard:
  """One tensorboardX run per model (seed / trial x seed) under WORKDIR/tensorboard/<run>, and HParams sessions.

  Scalars are written synchronously (tensorboardX's EventsWriter, not SummaryWriter's queue and writer
  thread, whose flush() does not wait for the queue) and flushed by every write_scalars call (one per model
  per epoch), so a killed process (kill -9, SIGTERM) loses at most the epoch it was in. A resume (`resume`)
  makes each run's scalars again exactly one point per epoch that metrics.jsonl kept: TensorBoard draws
  every point it reads, so a step written twice would be drawn twice."""

  def __init__(self, logdir: str):
    self.logdir = logdir
    self._scalars = {}  # run -> EventsWriter (scalars)

  def _new_writer(self, run: str) -> EventsWriter:
    d = os.path.join(self.logdir, run)
    os.makedirs(d, exist_ok=True)
    # Event files are named by the second and host; the suffix keeps this process's file apart from another's
    return EventsWriter(os.path.join(d, "events"), f".{os.getpid()}.{next(_WRITER_IDS)}")

  def _s(self, run: str) -> EventsWriter:
    if run not in self._scalars:
      self._scalars[run] = self._new_writer(run)
    return self._scalars[run]

  @staticmethod
  def _write(w: EventsWriter, step: int, scalars: Mapping[str, float], now: float):
    for k, v in scalars.items():
      if (v := _finite(v)) is not None:
        w.write_event(event_pb2.Event(wall_time=now, step=int(step), summary=scalar(k, v)))

  def write_scalars(self, run: str, step: int, scalars: Mapping[str, float]):
    if run not in self._scalars:  # this process's first point of the run: points from `step` on are a former
      self._reconcile(run, {}, before=int(step))  # process's (a model trained again) and go
    w = self._s(run)
    self._write(w, step, scalars, time.time())
    w.flush()

  def _scalar_events(self, run: str):
    """(files, events) of the run's event files that hold scalars (not HParams sessions)."""
    files, events = [], []
    for p in _event_files(os.path.join(self.logdir, run)):
      evs = list(read_events(p))
      if not any(v.metadata.plugin_data.plugin_name == _HPARAMS_PLUGIN for e in evs for v in e.summary.value):
        files.append(p)
        events += evs
    return files, events

  def _reconcile(self, run: str, points: dict, before: int | None = None) -> None:
    """The run's scalars made equal to `points` ((tag, step) -> value), or with before: to the points already
    there at steps < before. Files holding each point at most once and nothing else only get the missing
    points; otherwise a complete new file is written and then the old ones removed (a kill in between leaves
    a duplicate, which the next resume removes)."""
    files, events = self._scalar_events(run)
    seen = collections.Counter((v.tag, e.step) for e in events for v in e.summary.value if v.HasField("simple_value"))
    if before is not None:
      if all(s < before for _, s in seen) and all(n == 1 for n in seen.values()):
        return
      points = {(v.tag, e.step): v.simple_value for e in events for v in e.summary.value
                if v.HasField("simple_value") and e.step < before}
    if all(n == 1 for n in seen.values()) and set(seen) <= set(points):
      missing, files = {k: v for k, v in points.items() if k not in seen}, []
    else:
      missing = points
    if missing:
      w, now = self._new_writer(run), time.time()
      for step in sorted({s for _, s in missing}):
        self._write(w, step, {t: v for (t, s), v in missing.items() if s == step}, now)
      w.close()
    for p in files:
      os.remove(p)

  def resume(self, records, run_name) -> None:
    """Resume: the scalars of each run with kept metrics.jsonl records (the source of truth) made equal to
    them: points a killed process had not flushed are written, points written twice or past the kept epochs
    (trained after the last checkpoint) removed. Runs trained again from their first epoch, without kept
    records, are cleared by their first write_scalars (only the runs this process writes are touched: sweep
    shards share the folder)."""
    want = {}
    for r in records:
      for tag, v in epoch_scalars(r).items():
        want.setdefault(run_name(r), {})[(tag, int(r["epoch"]))] = v
    for run, points in sorted(want.items()):
      self._reconcile(run, points)

  def write_hparams(self, run: str, hparams: Mapping, metrics: Mapping[str, float], step: int = 0):
    """The HParams session `run` (a row of the HParams dashboard): hparams (str, bool, int or float; None left
    out) and metrics (scalars at `step`; non-finite ones left out). It replaces the session written there
    before (a rerun), and leaves the run's scalar files alone.

    No experiment summary is written: TensorBoard then builds the columns from every session under its
    --logdir (several workdirs under one logdir show all their fields), numbers as numeric axes, strings as
    categories; the metrics are the scalar tags of the session runs (so sessions hold only hparam/* tags)."""
    hp = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items() if v is not None}
    mt = {k: f for k, v in metrics.items() if (f := _finite(v)) is not None}
    scalar_files = self._scalar_events(run)[0]
    old = [p for p in _event_files(os.path.join(self.logdir, run)) if p not in scalar_files]
    _, start, end = hparams_summary(hp, mt)
    w, now = self._new_writer(run), time.time()
    w.write_event(event_pb2.Event(wall_time=now, step=int(step), summary=start))
    self._write(w, step, mt, now)
    w.write_event(event_pb2.Event(wall_time=now, step=int(step), summary=end))
    w.close()
    for p in old:
      os.remove(p)

  def flush(self):
    for w in self._scalars.values():
      w.flush()

  def close(self):
    for w in self._scalars.values():
      w.close()
    self._scalars = {}
