"""Progress of a run: one line per epoch with the time left (the CLI), or one updating bar (`tqdm.auto`:
a widget in Jupyter, a console bar elsewhere) chosen by the Python API with `use("bar")`."""
from __future__ import annotations

import contextlib
import contextvars
import sys
import time

_MODE = contextvars.ContextVar("mlexp_progress_mode", default="lines")
MODES = ("lines", "bar")


@contextlib.contextmanager
def use(mode: str):
  """Progress objects made inside this block print `mode`: lines (one per epoch) or bar (one updating bar)."""
  if mode not in MODES:
    raise ValueError(f"progress mode {mode!r}; allowed: {', '.join(MODES)}")
  token = _MODE.set(mode)
  try:
    yield
  finally:
    _MODE.reset(token)


def fmt_seconds(s: float) -> str:
  s = max(0.0, float(s))
  if s < 60:
    return f"{s:.1f}s"
  if s < 3600:
    return f"{int(s // 60)}m{int(s % 60):02d}s"
  return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _tqdm():
  import warnings
  with warnings.catch_warnings():  # without ipywidgets tqdm.auto warns, then draws a text bar (fine in Jupyter)
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm
  return tqdm


class Progress:
  """Prints lines like `[epoch 3/10] ... | 2.1s/epoch | left ~15s`, estimating from the mean epoch time;
  in bar mode the same figures are the postfix of one bar, and `line` closes the bar before printing."""

  def __init__(self, total: int, what: str = "epoch", stream=None, mode: str | None = None):
    self.total, self.what = total, what
    self.stream = stream or sys.stdout
    self.mode = mode or _MODE.get()
    self.t0 = time.perf_counter()
    self.times = []
    self.bar = None

  def update(self, done: int, text: str, seconds: float):
    self.times.append(seconds)
    recent = self.times[-5:]
    left = (self.total - done) * sum(recent) / len(recent)
    if self.mode == "bar":
      self._bar(done, f"{text} | {fmt_seconds(seconds)}/{self.what} | left ~{fmt_seconds(left)}")
      return
    self.line(f"[{self.what} {done}/{self.total}] {text} | {fmt_seconds(seconds)}/{self.what} | "
              f"elapsed {fmt_seconds(time.perf_counter() - self.t0)} | left ~{fmt_seconds(left)}")

  def _bar(self, done: int, postfix: str):
    if self.bar is None:
      self.bar = _tqdm()(total=self.total, file=self.stream, leave=True, dynamic_ncols=True, initial=done,
                         bar_format=self.what + " {n_fmt}/{total_fmt} |{bar}| {desc}")
    self.bar.n = done
    self.bar.set_description_str(postfix, refresh=True)
    if done >= self.total:
      self.close()

  def close(self):
    """Ends the bar (a run stopped early ends at its last epoch, not as a failure)."""
    if self.bar is not None:
      self.bar.total = self.bar.n
      self.bar.close()
      self.bar = None

  def line(self, text: str):
    self.close()
    print(text, file=self.stream, flush=True)
