"""Console progress: one line per epoch with the time left."""
from __future__ import annotations

import sys
import time


def fmt_seconds(s: float) -> str:
  s = max(0.0, float(s))
  if s < 60:
    return f"{s:.1f}s"
  if s < 3600:
    return f"{int(s // 60)}m{int(s % 60):02d}s"
  return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class Progress:
  """Prints lines like `[epoch 3/10] ... | 2.1s/epoch | left ~15s`, estimating from the mean epoch time."""

  def __init__(self, total: int, what: str = "epoch", stream=None):
    self.total, self.what = total, what
    self.stream = stream or sys.stdout
    self.t0 = time.perf_counter()
    self.times = []

  def update(self, done: int, text: str, seconds: float):
    self.times.append(seconds)
    recent = self.times[-5:]
    left = (self.total - done) * sum(recent) / len(recent)
    self.line(f"[{self.what} {done}/{self.total}] {text} | {fmt_seconds(seconds)}/{self.what} | "
              f"elapsed {fmt_seconds(time.perf_counter() - self.t0)} | left ~{fmt_seconds(left)}")

  def line(self, text: str):
    print(text, file=self.stream, flush=True)
