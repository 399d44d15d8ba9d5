"""Check primitives for config values (pure, jax-free): each raises ConfigError naming the field, the value
and what is allowed. Used by config/validate.py and by the model specs (mlexp/models/<family>/spec.py)."""
from __future__ import annotations

import math
import numbers


class ConfigError(ValueError):
  """One bad field: names the field, the value and what is allowed."""

  def __init__(self, field: str, value, allowed: str, message: str | None = None):
    self.field, self.value, self.allowed = field, value, allowed
    super().__init__(message or f"config.{field}={value!r} is not allowed: {allowed}")

  @classmethod
  def plain(cls, field: str, value, message: str) -> "ConfigError":
    """A ConfigError whose one line is `message` as it is (a suggestion rather than a range)."""
    return cls(field, value, message, message=message)


MOVED = {"mlexp.sweep": "mlexp.sweeps", "mlexp.train": "mlexp.training"}  # packages renamed (a config's import)


def moved_hint(e: BaseException) -> str:
  """'; mlexp.sweep is now mlexp.sweeps (from mlexp.sweeps.space import grid, ...)' for an import of a renamed
  package, else ''."""
  name = getattr(e, "name", None) if isinstance(e, ImportError) else None
  old = next((o for o in MOVED if name and (name == o or name.startswith(o + "."))), None)
  if old is None:
    return ""
  return f"; {old} is now {MOVED[old]}" + (" (from mlexp.sweeps.space import grid, ...)" if old == "mlexp.sweep" else "")


def get(c, field):
  for part in field.split("."):
    c = c[part]
  return c


def _range(lo, hi):
  if lo is not None and hi is not None:
    return f" in [{lo}, {hi}]"
  if lo is not None:
    return f" >= {lo}"
  return "" if hi is None else f" <= {hi}"


def integer(c, field, lo=None, hi=None, value=None):
  v = get(c, field) if value is None else value
  if isinstance(v, bool) or not isinstance(v, numbers.Integral):
    raise ConfigError(field, v, "must be an integer" + _range(lo, hi))
  if (lo is not None and v < lo) or (hi is not None and v > hi):
    raise ConfigError(field, v, "must be an integer" + _range(lo, hi))


def real(c, field, lo=None, hi=None, lo_open=False, hi_open=False):
  v = get(c, field)
  ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
  if ok and lo is not None:
    ok = v > lo if lo_open else v >= lo
  if ok and hi is not None:
    ok = v < hi if hi_open else v <= hi
  if not ok:
    lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo}"
    hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi}"
    raise ConfigError(field, v, "must be a finite number " + " and ".join(s for s in (lo_s, hi_s) if s))


def choice(c, field, allowed):
  v = get(c, field)
  if v not in allowed:
    raise ConfigError(field, v, "must be one of " + ", ".join(map(str, allowed)))


def int_list(c, field, lo, allow_empty=True):
  v = get(c, field)
  if not isinstance(v, (tuple, list)) or (not allow_empty and not v):
    raise ConfigError(field, v, f"must be a tuple of integers >= {lo}, e.g. (256, 256)")
  for i, u in enumerate(v):
    integer(c, f"{field}[{i}]", lo, value=u)
