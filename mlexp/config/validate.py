"""Checks every config value before any work starts. Pure: raises ConfigError, writes nothing."""
from __future__ import annotations

import math
import numbers

from mlexp.models import IMAGE_MODELS, MODEL_KINDS, SEQUENCE_MODELS
from mlexp.models.layers import ACTIVATIONS

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "plateau", "cosine")
TRANSFORMS = ("moved", "rotated")
IMAGE_DATA = ("mnist_5k", "fashion_mnist", "mnist", "synthetic_images")
SEQUENCE_DATA = ("japanese_vowels", "basic_motions", "pickup_gesture_wiimote_z", "spoken_arabic_digits",
                 "smartwatch_gestures", "synthetic_sequences")
NEEDS_PATH = ("spoken_arabic_digits", "smartwatch_gestures")


class ConfigError(ValueError):
  """One bad field: names the field, the value and what is allowed."""

  def __init__(self, field: str, value, allowed: str):
    self.field, self.value, self.allowed = field, value, allowed
    super().__init__(f"config.{field}={value!r} is not allowed: {allowed}")


def _int(c, field, lo=None, hi=None, value=None):
  v = _get(c, field) if value is None else value
  if isinstance(v, bool) or not isinstance(v, numbers.Integral):
    raise ConfigError(field, v, "must be an integer" + _range(lo, hi))
  if (lo is not None and v < lo) or (hi is not None and v > hi):
    raise ConfigError(field, v, "must be an integer" + _range(lo, hi))


def _float(c, field, lo=None, hi=None, lo_open=False, hi_open=False):
  v = _get(c, field)
  ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
  if ok and lo is not None:
    ok = v > lo if lo_open else v >= lo
  if ok and hi is not None:
    ok = v < hi if hi_open else v <= hi
  if not ok:
    lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo}"
    hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi}"
    raise ConfigError(field, v, "must be a finite number " + " and ".join(s for s in (lo_s, hi_s) if s))


def _choice(c, field, allowed):
  v = _get(c, field)
  if v not in allowed:
    raise ConfigError(field, v, "must be one of " + ", ".join(map(str, allowed)))


def _int_list(c, field, lo, allow_empty=True):
  v = _get(c, field)
  if not isinstance(v, (tuple, list)) or (not allow_empty and not v):
    raise ConfigError(field, v, f"must be a tuple of integers >= {lo}, e.g. (256, 256)")
  for i, u in enumerate(v):
    _int(c, f"{field}[{i}]", lo, value=u)


def _range(lo, hi):
  if lo is not None and hi is not None:
    return f" in [{lo}, {hi}]"
  if lo is not None:
    return f" >= {lo}"
  return "" if hi is None else f" <= {hi}"


def _get(c, field):
  for part in field.split("."):
    c = c[part]
  return c


def validate(c) -> None:
  """Raises ConfigError for the first impossible value in config c."""
  _int(c, "seed", 0)
  _int(c, "seeds", 1, 4096)
  _int(c, "epochs", 1)
  _int(c, "batch_size", 1)
  _int(c, "eval_batch_size", 1)
  _choice(c, "member_loop", ("auto", "vmap", "map"))
  _float(c, "hang_timeout_s", 0.0)
  _int(c, "cpu_devices", 0, 1024)

  _choice(c, "data.name", IMAGE_DATA + SEQUENCE_DATA)
  _float(c, "data.test_fraction", 0.0, 1.0, lo_open=True, hi_open=True)
  _int(c, "data.split_seed", 0)
  _int(c, "data.max_train", 0)
  _int(c, "data.max_test", 0)
  _int(c, "data.num_buckets", 0, 64)
  if c.data.name in NEEDS_PATH and not c.data.path:
    raise ConfigError("data.path", c.data.path,
                      f"{c.data.name} is read from files you have: set --config.data.path=FOLDER")

  m = c.model
  _choice(c, "model.kind", MODEL_KINDS)
  image_data = c.data.name in IMAGE_DATA
  if m.kind in IMAGE_MODELS and not image_data:
    raise ConfigError("data.name", c.data.name, f"model.kind={m.kind} needs image data: one of "
                      + ", ".join(IMAGE_DATA))
  if m.kind in SEQUENCE_MODELS and image_data:
    raise ConfigError("data.name", c.data.name, f"model.kind={m.kind} needs sequence data: one of "
                      + ", ".join(SEQUENCE_DATA))
  _float(c, "model.dropout", 0.0, 1.0, hi_open=True)
  if m.kind == "mlp":
    _int_list(c, "model.units", 1)
    _choice(c, "model.activation", tuple(ACTIVATIONS))
  elif m.kind == "cnn":
    _int_list(c, "model.filters", 1, allow_empty=False)
    _int(c, "model.kernel_size", 1, 28)
    _int(c, "model.strides", 1, 28)
    _choice(c, "model.padding", ("SAME", "VALID"))
    _int(c, "model.pool", 0, 28)
    _int_list(c, "model.dense", 1)
    _choice(c, "model.activation", tuple(ACTIVATIONS))
  elif m.kind in ("gru", "lstm"):
    _int(c, "model.hidden", 1)
    _int(c, "model.layers", 1, 64)
    _int(c, "model.conv_filters", 0)
    _int(c, "model.conv_kernel", 1)
    _choice(c, "model.readout", ("last", "mean"))
    _int(c, "model.unroll", 1, 64)

  _choice(c, "optimizer.name", OPTIMIZERS)
  _float(c, "optimizer.learning_rate", 0.0, lo_open=True)
  _float(c, "optimizer.weight_decay", 0.0)
  _float(c, "optimizer.momentum", 0.0, 1.0, hi_open=True)

  _choice(c, "schedule.name", SCHEDULES)
  _float(c, "schedule.factor", 0.0, 1.0, lo_open=True, hi_open=True)
  _int(c, "schedule.patience", 1)
  _float(c, "schedule.min_lr", 0.0)

  _int(c, "early_stopping.patience", 0)
  _float(c, "early_stopping.min_delta", 0.0)

  t = c.eval.transforms
  if isinstance(t, str) or not isinstance(t, (tuple, list)) or any(x not in TRANSFORMS for x in t):
    raise ConfigError("eval.transforms", t, "must be a tuple drawn from " + ", ".join(TRANSFORMS)
                      + ", e.g. --config.eval.transforms='(\"moved\",\"rotated\")'")
  if t and not image_data:
    raise ConfigError("eval.transforms", t, "moved/rotated test sets exist only for image data")
  _int(c, "eval.max_shift", 0, 27)
  _float(c, "eval.max_rotation", 0.0, 180.0)


def validate_against_data(c, n_train: int) -> None:
  """Checks the values that depend on the loaded data (before any training or writing)."""
  if c.batch_size > n_train:
    raise ConfigError("batch_size", c.batch_size, f"must be <= the {n_train} training examples of {c.data.name}")
