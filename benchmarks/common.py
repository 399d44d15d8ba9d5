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


def timed_run(cmd, env, timeout, cwd=None) -> float:
  """Wall seconds of a child process (the repository root as its cwd); SystemExit with its stderr tail if it
  fails."""
  import os
  import subprocess
  import time
  t = time.perf_counter()
  p = subprocess.run(cmd, cwd=cwd or os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
                     capture_output=True, text=True, timeout=timeout)
  if p.returncode != 0:
    raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
  return time.perf_counter() - t
