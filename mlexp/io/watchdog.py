"""A watchdog for compiled calls that stop making progress (XLA:CPU has been seen to hang in its thread
pool): instead of waiting forever, say so and exit, keeping what was written (checkpoints, metrics)."""
from __future__ import annotations

import contextlib
import os
import sys
import threading

EXIT_HANG = 3


@contextlib.contextmanager
def watchdog(seconds: float, what: str):
  """Exits the process with status 3 and a one-line message if the block runs longer than `seconds`
  (0 or less: no watchdog)."""
  if not seconds or seconds <= 0:
    yield
    return

  def fire():
    print(f"mlexp: error: {what} made no progress for {seconds:.0f}s (XLA:CPU can hang in its thread pool). "
          "Checkpoints and metrics so far are kept: run the same command again to resume; if it recurs set "
          "XLA_FLAGS=--xla_cpu_multi_thread_eigen=false, or raise --config.hang_timeout_s for very long epochs.",
          file=sys.stderr, flush=True)
    os._exit(EXIT_HANG)

  timer = threading.Timer(seconds, fire)
  timer.daemon = True
  timer.start()
  try:
    yield
  finally:
    timer.cancel()
