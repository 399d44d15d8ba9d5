"""Search spaces as data in configs, and their expansion into trials (pure).

A sweep config is a normal config plus a `sweep` block whose `space` is a tuple of field specs made
with the helpers below, e.g.

  c.sweep.space = (grid("model.hidden", 16, 64, 256), loguniform("optimizer.learning_rate", 1e-4, 1e-2))

Grid fields form a Cartesian product; random fields (uniform, loguniform, randint, randint_tuple, choice) are
drawn `num_trials` times; the trials are the product of the two. Each trial is repeated over `seeds` seeds.
sweep.algorithm="one_at_a_time" (a study) varies each grid field alone from the config's own values instead.
Field names are dotted config paths; an element of a tuple field is `model.units[0]`. `randint_tuple` draws a
whole tuple field of random length, e.g. `randint_tuple("model.units", 16, 1024, 1, 3)`: 1-3 layers, each
of its own width.
"""
from __future__ import annotations

import copy
import itertools
import math
import re
from typing import Any

import ml_collections
import numpy as np

RANDOM_KINDS = ("uniform", "loguniform", "randint", "randint_tuple", "choice")
KINDS = ("grid",) + RANDOM_KINDS
# sweep.algorithm: auto = random when the space has random fields, else grid; tpe: mlexp/sweeps/tpe.py;
# one_at_a_time: a study, each grid field varied alone from the config's own values (one_at_a_time below)
ALGORITHMS = ("auto", "random", "grid", "tpe", "one_at_a_time")
BASELINE = "baseline"  # the knob of a study's baseline trial


def grid(field: str, *values) -> dict:
  return {"field": field, "kind": "grid", "values": tuple(values)}


def choice(field: str, *values) -> dict:
  return {"field": field, "kind": "choice", "values": tuple(values)}


def uniform(field: str, low: float, high: float) -> dict:
  return {"field": field, "kind": "uniform", "low": float(low), "high": float(high)}


def loguniform(field: str, low: float, high: float) -> dict:
  return {"field": field, "kind": "loguniform", "low": float(low), "high": float(high)}


def randint(field: str, low: int, high: int) -> dict:
  """An integer drawn uniformly from [low, high] (both included)."""
  return {"field": field, "kind": "randint", "low": int(low), "high": int(high)}


def randint_tuple(field: str, low: int, high: int, min_len: int, max_len: int) -> dict:
  """A tuple of min_len..max_len (both included, drawn uniformly) independent integers, each uniform in
  [low, high] (both included): e.g. the units of 1-3 Dense layers."""
  low, high, min_len, max_len = int(low), int(high), int(min_len), int(max_len)
  if high < low:
    raise ValueError(f"randint_tuple {field}: high {high} < low {low}")
  if not 1 <= min_len <= max_len:
    raise ValueError(f"randint_tuple {field}: lengths must satisfy 1 <= min_len <= max_len, got {min_len}, {max_len}")
  return {"field": field, "kind": "randint_tuple", "low": low, "high": high, "min_len": min_len,
          "max_len": max_len}


def _spec(s) -> dict:
  return dict(s.to_dict() if isinstance(s, ml_collections.ConfigDict) else s)


def scale_of(spec) -> str:
  """'log', 'linear' or 'categorical': how a report should draw the field."""
  s = _spec(spec)
  if s["kind"] == "loguniform":
    return "log"
  if s["kind"] in ("uniform", "randint"):
    return "linear"
  if s["kind"] == "randint_tuple":  # results.csv and the report show tuples as strings "(a,b)"
    return "categorical"
  vals = s["values"]
  if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) and len(vals) > 1:
    pos = [v for v in vals if v > 0]
    if len(pos) == len(vals) and max(vals) / min(vals) >= 16:
      return "log"
    return "linear"
  return "categorical"


def expand(space, num_trials: int, seed: int = 0) -> list[dict]:
  """The trials of a space: a list of {field: value} dicts, in a deterministic order."""
  specs = [_spec(s) for s in space]
  for s in specs:
    if s["kind"] not in KINDS:
      raise ValueError(f"sweep field {s['field']}: unknown kind {s['kind']!r}; allowed: {', '.join(KINDS)}")
  grids = [s for s in specs if s["kind"] == "grid"]
  randoms = [s for s in specs if s["kind"] != "grid"]
  grid_points = [dict(zip([g["field"] for g in grids], combo))
                 for combo in itertools.product(*[tuple(g["values"]) for g in grids])] or [{}]
  rng = np.random.default_rng(seed)
  draws = [{}]
  if randoms:
    draws = [{s["field"]: _draw(s, rng) for s in randoms} for _ in range(int(num_trials))]
  return [{**g, **d} for g in grid_points for d in draws]


def _norm(v):
  return tuple(_norm(x) for x in v) if isinstance(v, (tuple, list)) else v


def one_at_a_time(space, base) -> list[dict]:
  """The trials of a study: the baseline {} (the `base` config itself) first, then each grid field's values
  alone; a value equal to the base's own is the baseline trial, not a trial of its own."""
  specs = [_spec(s) for s in space]
  bad = [s["field"] for s in specs if s["kind"] != "grid"]
  if bad:
    raise ValueError(f"sweep.algorithm=one_at_a_time needs grid fields only, not {', '.join(bad)}")
  trials = [{}]
  for s in specs:
    try:
      own = _norm(get_field(base, s["field"]))
    except (KeyError, AttributeError, IndexError) as e:
      raise ValueError(f"sweep field {s['field']}: no such config field ({e})") from None
    for v in s["values"]:
      t = {s["field"]: _norm(v)}
      if _norm(v) != own and t not in trials:
        trials.append(t)
  return trials


def knob_value(trial: dict) -> dict:
  """A study trial's results.csv columns: knob (its field, or "baseline") and value (as value_str)."""
  if not trial:
    return {"knob": BASELINE, "value": ""}
  (field, v), = trial.items()
  return {"knob": field, "value": value_str(v)}


def sweep_trials(sw, base=None) -> list[dict]:
  """The trials of a sweep block whose algorithm lists them before training: random (grid fields x
  `num_trials` draws of the random ones; also auto), grid (every field a grid or choice: their product),
  one_at_a_time (a study of the `base` config: one_at_a_time)."""
  alg = sw.get("algorithm", "auto")
  if alg == "one_at_a_time":
    if base is None:
      raise ValueError("sweep.algorithm=one_at_a_time needs the base config for its baseline")
    return one_at_a_time(sw.space, base)
  if alg == "tpe":
    raise ValueError("sweep.algorithm=tpe samples its trials while the sweep runs (mlexp/sweeps/tpe.py)")
  if alg == "grid":
    specs = [_spec(s) for s in sw.space]
    bad = [f"{s['field']} ({s['kind']})" for s in specs if s["kind"] not in ("grid", "choice")]
    if bad:
      raise ValueError(f"sweep.algorithm=grid needs grid or choice fields only, not {', '.join(bad)}")
    return expand([{**s, "kind": "grid"} for s in specs], 0)
  return expand(sw.space, int(sw.num_trials), int(sw.seed))


def _draw(s: dict, rng) -> Any:
  k = s["kind"]
  if k == "uniform":
    return float(rng.uniform(s["low"], s["high"]))
  if k == "loguniform":
    return float(math.exp(rng.uniform(math.log(s["low"]), math.log(s["high"]))))
  if k == "randint":
    return int(rng.integers(s["low"], s["high"] + 1))
  if k == "randint_tuple":
    n = int(rng.integers(s["min_len"], s["max_len"] + 1))
    return tuple(int(v) for v in rng.integers(s["low"], s["high"] + 1, size=n))
  vals = tuple(s["values"])
  return vals[int(rng.integers(len(vals)))]


_INDEX = re.compile(r"^(.*)\[(\d+)\]$")


def set_field(config, field: str, value) -> None:
  """config.<field> = value, for dotted paths and tuple elements (`model.units[1]`)."""
  parts = field.split(".")
  node = config
  for p in parts[:-1]:
    node = node[p]
  last = parts[-1]
  m = _INDEX.match(last)
  if m:
    name, i = m.group(1), int(m.group(2))
    cur = list(node[name])
    if i >= len(cur):
      raise ValueError(f"sweep field {field}: {name} has only {len(cur)} entries")
    cur[i] = value
    node[name] = tuple(cur)
  else:
    if isinstance(node[last], tuple) and isinstance(value, list):
      value = tuple(value)
    if isinstance(node[last], float) and isinstance(value, int):
      value = float(value)
    node[last] = value


def get_field(config, field: str):
  parts = field.split(".")
  node = config
  for p in parts[:-1]:
    node = node[p]
  m = _INDEX.match(parts[-1])
  return node[m.group(1)][int(m.group(2))] if m else node[parts[-1]]


def trial_config(base, trial: dict):
  """The single-run config of one trial: the base without its sweep block, with the trial's values."""
  c = ml_collections.ConfigDict(copy.deepcopy(base.to_dict()))
  if "sweep" in c:
    if c.get("time_members") == "auto":  # a study measures each model's own seconds (config time_members)
      c.time_members = "on" if c.sweep.get("algorithm") == "one_at_a_time" else "off"
    del c["sweep"]
  if "model.kind" in trial and trial["model.kind"] != c.model.kind:  # another model kind: its own fields
    c.model = _model_of_kind(c.model, trial["model.kind"])
  # whole fields first, then tuple elements: ("model.units", (256, 256, 128)) then ("model.units[0]", 64)
  for field, value in sorted(trial.items(), key=lambda kv: "[" in kv[0]):
    set_field(c, field, value)
  return c


def _model_of_kind(model, kind):
  """The model block of `kind` (its spec's fields and defaults), with the values `model` has for the fields both
  kinds have: an LSTM for a GRU keeps hidden, layers and dropout; the linear baseline gets its units."""
  from mlexp.config.defaults import model_config
  new = model_config(kind)
  for field in new.keys():
    if field != "kind" and field in model:
      new[field] = model[field]
  return new


def field_names(config) -> list:
  return [dict(s)["field"] if not hasattr(s, "to_dict") else s.to_dict()["field"] for s in config.sweep.space]


def value_str(v):
  """A swept value as results.csv writes it: tuples as (a,b)."""
  return "(" + ",".join(str(x) for x in v) + ")" if isinstance(v, (tuple, list)) else v
