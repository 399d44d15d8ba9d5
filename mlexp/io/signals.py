"""SIGINT / SIGTERM around a run, and only around it.

The CLI installs `handle()` for the whole process (it exits anyway); the Python API installs it for the length
of one `mlexp.train` / `mlexp.sweep` call and restores whatever handlers were there before (a notebook kernel's
own), so outside a run Ctrl-C is Python's KeyboardInterrupt and never ends the process.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)
EXIT_TERMINATED = 143  # SIGTERM
_INSTALLED: list = []  # the Signals whose handler is installed (the CLI's; an API call's while it runs)


def words(signum) -> str:
  return "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"


def status(signum) -> int:
  return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


class Signals:
  """What a run does with SIGINT and SIGTERM. Before the run has started (`exit_before_start`, the CLI only)
  nothing is written, so the process ends at once with one line; during the run they raise KeyboardInterrupt,
  so files are closed and checkpoints finished on the way out. Every signal is recorded, so one that some
  library swallows still ends the run. A third signal while the run closes its files ends the process (CLI)."""

  def __init__(self, exit_before_start: bool, exit_on_third: bool):
    self.exit_before_start = exit_before_start
    self.exit_on_third = exit_on_third
    self.running = False
    self.received: list = []

  def handler(self, signum, frame):
    self.received.append(signum)
    if not self.running and self.exit_before_start:
      print(f"mlexp: {words(signum)} before the run started; nothing was written", file=sys.stderr, flush=True)
      os._exit(status(signum))
    if len(self.received) > 2 and self.exit_on_third:
      print(f"mlexp: {words(signum)} again; stopped without waiting for files to be closed (run again "
            "to resume from the last complete checkpoint)", file=sys.stderr, flush=True)
      os._exit(status(signum))
    raise KeyboardInterrupt

  def install(self) -> dict:
    """Installs the handler for SIGINT and SIGTERM; returns the previous handlers (for restore)."""
    _INSTALLED.append(self)
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous[sig] = signal.getsignal(sig)
      signal.signal(sig, self.handler)
    return previous


@contextlib.contextmanager
def during_api_run():
  """For one API call: a signal raises KeyboardInterrupt inside the run (a swallowed one is raised at its end),
  the previous handlers are back afterwards. Outside the main thread (signals cannot be handled there) it does
  nothing."""
  if threading.current_thread() is not threading.main_thread():
    yield None
    return
  sig = Signals(exit_before_start=False, exit_on_third=False)
  sig.running = True
  previous = sig.install()
  try:
    yield sig
    if sig.received:  # caught and dropped by some library: the run still did not finish normally
      raise KeyboardInterrupt
  finally:
    _INSTALLED.remove(sig)
    for s, h in previous.items():
      signal.signal(s, h if h is not None else signal.SIG_DFL)


def swallowed() -> bool:
  """Whether a signal reached an installed handler during a run (its KeyboardInterrupt may have been caught and
  dropped by some library: the run goes on)."""
  return any(s.running and s.received for s in _INSTALLED)


class SignalHook:
  """After every epoch (the last hook: that epoch's checkpoint is kept): a signal whose KeyboardInterrupt some
  library caught and dropped ends the run here, not after its last epoch (a 2-epoch run signalled in its first
  second had finished and written summary.json in 4 of 24 tries)."""
  time_kind = "write_s"

  def after_epoch(self, run, e, m, dt):
    if swallowed():
      raise KeyboardInterrupt
