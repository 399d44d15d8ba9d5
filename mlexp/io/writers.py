"""Metric writing behind one small interface (as clu's metric_writers): JSON lines + TensorBoard."""
from __future__ import annotations

import itertools
import json
import math
import os
import time
from typing import Mapping

from tensorboardX import SummaryWriter
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto import event_pb2
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


class TensorBoard:
  """One tensorboardX run per model (seed / trial) under WORKDIR/tensorboard/<run>.

  Scalars are written synchronously (tensorboardX's EventsWriter, not SummaryWriter's queue and writer
  thread, whose flush() does not wait for the queue) and flushed by every write_scalars call (one per model
  per epoch), so a killed process (kill -9, SIGTERM) loses at most the epoch it was in."""

  def __init__(self, logdir: str):
    self.logdir = logdir
    self._writers = {}  # run -> SummaryWriter (HParams)
    self._scalars = {}  # run -> EventsWriter (scalars)

  def _s(self, run: str) -> EventsWriter:
    if run not in self._scalars:
      d = os.path.join(self.logdir, run)
      os.makedirs(d, exist_ok=True)
      self._scalars[run] = EventsWriter(os.path.join(d, "events"), f".{os.getpid()}.{next(_WRITER_IDS)}")
    return self._scalars[run]

  def _w(self, run: str) -> SummaryWriter:
    if run not in self._writers:
      # Event files are named by the second and host; the suffix keeps this writer's file apart from the
      # HParams writer's (add_hparams opens a second writer in the same folder) and from a resumed run's.
      self._writers[run] = SummaryWriter(os.path.join(self.logdir, run), flush_secs=10,
                                         filename_suffix=f".{os.getpid()}.{next(_WRITER_IDS)}")
    return self._writers[run]

  def write_scalars(self, run: str, step: int, scalars: Mapping[str, float]):
    w = self._s(run)
    now = time.time()
    for k, v in scalars.items():
      if v is not None and math.isfinite(float(v)):
        w.write_event(event_pb2.Event(wall_time=now, step=int(step), summary=scalar(k, float(v))))
    w.flush()

  def write_hparams(self, run: str, hparams: Mapping, metrics: Mapping[str, float]):
    """HParams dashboard entry (parallel coordinates) for one run."""
    hp = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}
    mt = {k: float(v) if v is not None and math.isfinite(float(v)) else float("nan") for k, v in metrics.items()}
    self._w(run).add_hparams(hp, mt, name=".", global_step=None)

  def flush(self):
    for w in (*self._scalars.values(), *self._writers.values()):
      w.flush()

  def close(self):
    for w in (*self._scalars.values(), *self._writers.values()):
      w.close()
    self._writers, self._scalars = {}, {}
