"""Helpers shared by the benchmark scripts (run as `python benchmarks/<name>.py`)."""
from __future__ import annotations

import json


def emit(rec: dict, out_file=None) -> None:
  """One JSON line on stdout (and in out_file when given)."""
  line = json.dumps(rec)
  print(line, flush=True)
  if out_file:
    out_file.write(line + "\n")
    out_file.flush()


def kill_group(proc) -> None:
  """Kills a child started with start_new_session=True, and everything it started."""
  import os
  import signal
  try:
    os.killpg(proc.pid, signal.SIGKILL)
  except ProcessLookupError:
    pass
