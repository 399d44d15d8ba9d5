"""The resolved config as text (`python -m mlexp.main --config=... --show`, `mlexp.show(config)`): every field
with its value, where the value came from, a one-line comment and the allowed values (config/fields.py).
Pure and jax-free: no data, no JAX (a built-in model's spec imports neither).

Sources: default (base_config, mlexp/config/defaults.py), spec (the model's spec, mlexp/models/<family>/spec.py),
tuned (the spec's tuned values in the shipped configs), image_config / sequence_config (the shipped baseline,
defaults.py BASELINES), file (the config file or your code), flag (--config.<field>=...).
"""
from __future__ import annotations

import ml_collections

from mlexp.config import fields as F
from mlexp.config.hparams import optimizer_value
from mlexp.config.overrides import shown, space_spec

WIDTH = 38  # of "field = value" before the source column


def fmt(v) -> str:
  """A value as you would write it after --config.<field>=: tuples as (256, 256), never YAML."""
  if isinstance(v, (tuple, list)):
    inner = ", ".join(fmt(x) if not isinstance(x, str) else repr(x) for x in v)
    return f"({inner},)" if len(v) == 1 else f"({inner})"
  if isinstance(v, str):
    return v if v else "''"
  return repr(v)


def _walk(c, prefix=""):
  for k in c.keys():
    v = c[k]
    if isinstance(v, ml_collections.ConfigDict):
      yield from _walk(v, f"{prefix}{k}.")
    else:
      yield f"{prefix}{k}", v


BLOCKS = ("", "data", "model", "optimizer", "schedule", "early_stopping", "eval", "checkpoint", "sweep")
ORDER = {f: i for i, f in enumerate(F.FIELDS)}


def _leaves(c):
  """(field, value) of every field of c, blocks in BLOCKS order, fields in the order of config/fields.py."""
  def key(item):
    path = item[0]
    head = path.partition(".")[0] if "." in path else ""
    return (BLOCKS.index(head) if head in BLOCKS else len(BLOCKS), head, ORDER.get(path, len(ORDER)), path)
  return sorted(_walk(c), key=key)


def _norm(v):
  if isinstance(v, (tuple, list)):
    return tuple(_norm(x) for x in v)
  return v


def _get(d: dict, path: str, missing=KeyError):
  node = d
  for part in path.split("."):
    if not isinstance(node, dict) or part not in node:
      return missing
    node = node[part]
  return node


def sources(config, flags=()) -> dict:
  """field -> where its value came from: flag, spec, tuned, default, image_config / sequence_config, file."""
  from mlexp.config.defaults import base_config, baseline_of
  kind = config.model.get("kind") if "model" in config else None
  try:
    from mlexp.models.specs import spec as model_spec
    spec = model_spec(kind)
  except Exception:  # noqa: BLE001  (an unknown kind: validate says so; here every value is the file's)
    spec = None
  try:
    base = base_config(kind, config.data.name).to_dict()
  except Exception:  # noqa: BLE001
    base = {}
  if "sweep" in config:
    from mlexp.config.defaults import sweep_block
    base["sweep"] = sweep_block((), algorithm=config.sweep.get("algorithm", "auto")).to_dict()
  bname, baseline = baseline_of(config) if spec else (None, {})
  flags = set(flags)
  out = {}
  for path, v in _leaves(config):
    v = _norm(v)
    key = path.partition(".")[2]
    if path in flags:
      out[path] = "flag"
    elif spec and path.startswith("model.") and key in spec.defaults and v == _norm(spec.defaults[key]):
      out[path] = "spec"
    elif spec and path in spec.tuned and v == _norm(spec.tuned[path]):
      out[path] = "tuned"
    elif path == "model.kind" and base:
      out[path] = "file"
    elif _get(base, path) is not KeyError and v == _norm(_get(base, path)):
      out[path] = "default"
    elif path in baseline and v == _norm(baseline[path]):
      out[path] = bname
    else:
      out[path] = "file"
  return out


def baseline_line(config) -> str:
  """One line: the shipped baseline (image_config / sequence_config) this config's kind has, and the fields
  where it differs from it."""
  from mlexp.config.defaults import baseline_of
  name, baseline = baseline_of(config)
  if not name:
    return "baseline: none (your own model: every value is base_config's or the config's)"
  files = "configs/mlp.py, cnn.py" if name == "image_config" else "configs/gru.py, lstm.py, linear.py"
  diff = []
  for path, want in baseline.items():
    have = _get(config.to_dict(), path)
    if have is not KeyError and _norm(have) != _norm(want):
      diff.append(f"{path} {fmt(have)} (baseline {fmt(want)})")
  if not diff:
    return f"baseline: {name} ({files}), unchanged"
  return f"baseline: differs from {name} ({files}) in " + ", ".join(diff)


def _note(config, path, v) -> str:
  """The value as it is used, where None means "the optimizer's own"."""
  name = config.optimizer.get("name") if "optimizer" in config else None
  if path == "optimizer.momentum" and name not in ("sgd", "momentum"):
    return f"{fmt(v)} (not used by {name})"
  if v is None and path in ("optimizer.momentum", "optimizer.weight_decay"):
    used = optimizer_value(config.optimizer, path.partition(".")[2])
    return f"None (= {used:g} for {name})"
  return fmt(v)


def describe(config, flags=(), title: str = "") -> str:
  """The text of --show: a header, then one line per field grouped by block."""
  src = sources(config, flags)
  kind = config.model.get("kind", "?") if "model" in config else "?"
  data = config.data.get("name", "?") if "data" in config else "?"
  lines = [f"{title or 'config'}: model {kind} on {data}" + (" (a sweep)" if "sweep" in config else ""),
           "source: default = base_config (mlexp/config/defaults.py); spec, tuned = the model's spec "
           "(mlexp/models/<family>/spec.py);",
           "  image_config, sequence_config = the shipped baseline; file = the config file or your code; "
           "flag = --config.<field>=...; * = the fields changed most",
           baseline_line(config),
           "change any field with --config.<field>=<value> (tuples: --config.model.units='(512,256)'), or in "
           "the config file"]
  block = None
  for path, v in _leaves(config):
    head = path.partition(".")[0] if "." in path else ""
    if head != block:
      block = head
      lines.append(f"{head}:" if head else "")
    mark = "*" if F.normalize(path) in F.MAIN else " "
    if path == "sweep.space":
      lines.append(f" {mark} {'sweep.space':<{WIDTH}} {src.get(path, ''):<16} {F.comment(path)}")
      lines.extend(f"      {shown(space_spec(s))}" for s in v)
      continue
    text = f"{path} = {_note(config, path, v)}"
    comment = F.comment(path) or ("a field of your model" if path.startswith("model.") else "")
    allowed = F.allowed(path)
    if allowed and not isinstance(v, bool):
      comment += f" [{' | '.join(map(str, allowed))}]"
    lines.append(f" {mark} {text:<{WIDTH}} {src.get(path, ''):<16} {comment}".rstrip())
  return "\n".join(lines)


def cli_show(config, argv, title: str):
  """--show: (the text, the one-line error of validate or None). The flags of argv are the "flag" sources."""
  from mlexp.config.checks import ConfigError
  from mlexp.config.overrides import split_flags
  from mlexp.config.validate import validate
  text = describe(config, [path for _, path, _ in split_flags(argv)], title)
  try:
    validate(config)
  except ConfigError as e:
    return text, str(e)
  return text, None
