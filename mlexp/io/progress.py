"""Progress of a run: one line per epoch with the time left (the CLI), or one updating bar (`tqdm.auto`:
a widget in Jupyter, a console bar in a terminal) chosen by the Python API with `use("bar")`. Output to a
file or a pipe always gets lines: a bar redraws itself with carriage returns, which pile up there."""
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


def interactive(stream) -> bool:
  """Whether a bar can redraw in place on `stream`: a terminal, or the output of a Jupyter kernel."""
  try:
    if stream.isatty():
      return True
  except (AttributeError, ValueError):  # (no isatty, or a closed stream)
    pass
  ipython = sys.modules.get("IPython")
  shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
  return shell is not None and hasattr(shell, "kernel") and stream in (sys.stdout, sys.stderr)


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
    if self.mode == "bar" and not interactive(self.stream):
      self.mode = "lines"
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


def extra_tests_line(summary: dict) -> str | None:
  """The end-of-run line of the extra test sets (an image run's moved / rotated digits): their accuracies
  with the best epoch's parameters, mean ± std over the seeds; None without extra test sets."""
  names = sorted(k.split("/", 1)[1] for k in summary.get("mean", {}) if k.startswith("test_accuracy/"))
  if not names:
    return None
  pm = lambda k: f" ± {100 * summary['std'][k]:.2f}" if len(summary.get("runs", [])) > 1 else ""
  return "extra test sets (best epoch of each model): " + ", ".join(
      f"{n} {100 * summary['mean'][f'test_accuracy/{n}']:.2f}%{pm(f'test_accuracy/{n}')}" for n in names)
