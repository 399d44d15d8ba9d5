"""Checks of what overrides a config's fields, with one line that suggests the fix (pure, jax-free):
`--config.<field>=<value>` flags (checked against the loaded config before absl parses them) and the fields
and values of a sweep's space. Unknown names get the nearest field names across blocks (`lr` ->
optimizer.learning_rate), values get the type their field expects ("epochs must be an integer, got 'ten'")."""
from __future__ import annotations

import ast
import difflib
import numbers

import ml_collections

from mlexp.config.checks import ConfigError
from mlexp.config.fields import SYNONYMS, normalize

BOOL_WORDS = ("true", "false", "1", "0", "t", "f")  # absl's BooleanParser, lower-cased


def leaves(c, prefix: str = "") -> list:
  """The dotted paths of every field of c, blocks included (before their fields); sweep.space as one field."""
  out = []
  for k in c.keys():
    v = c[k]
    path = f"{prefix}{k}"
    out.append(path)
    if isinstance(v, ml_collections.ConfigDict):
      out.extend(leaves(v, path + "."))
  return out


def nearest(c, path: str, n: int = 3) -> list:
  """The fields of c a misspelt or misplaced `path` most likely means: the same name in another block,
  synonyms (lr -> learning_rate, hidden -> units on an MLP), then close spellings."""
  paths = leaves(c)
  names = {p: p.rpartition(".")[2] for p in paths}
  last = path.rpartition(".")[2].lower()
  parent = path.rpartition(".")[0]
  found = []

  def closeness(p):  # the user's block first, then blocks spelt like it (scheduler -> schedule)
    return -difflib.SequenceMatcher(None, parent, p.rpartition(".")[0]).ratio() if parent else 0.0

  def add(ps):
    for p in sorted(ps, key=lambda p: (closeness(p), p.count("."), p)):
      if p not in found and p != path and not path.startswith(p + "."):
        found.append(p)

  add(p for p, name in names.items() if name == last)
  words = [last] + difflib.get_close_matches(last, list(SYNONYMS), 2, 0.8)  # hiden -> hidden -> units
  for target in (t for w in words for t in SYNONYMS.get(w, ())):
    add(p for p, name in names.items() if (p == target if "." in target else name == target))
  add(p for p, name in names.items() for close in difflib.get_close_matches(last, [name], 1, 0.75))
  add(difflib.get_close_matches(path, paths, n, 0.8))
  initials = lambda s: "".join(w[0] for w in s.split("_") if w)  # noqa: E731  (lr -> learning_rate)
  if len(last) >= 2:
    add(p for p, name in names.items() if "_" in name and initials(name) == last)
  return found[:n]


def _did_you_mean(c, path: str) -> str:
  near = nearest(c, path)
  return f"; did you mean {' or '.join(near)}?" if near else "; --show lists every field"


def _type_of(node, key):
  """The type a field of a ConfigDict takes (a None-valued field: the type of its FieldReference)."""
  try:
    ref = node._fields[key]  # noqa: SLF001  (ml_collections keeps the declared type of a None here)
    if isinstance(ref, ml_collections.FieldReference):
      return ref.get_type()
  except (AttributeError, KeyError):
    pass
  v = node[key]
  return type(v) if v is not None else type(None)


def _tuple_syntax(field: str, value) -> str:
  inner = ",".join(f'"{x}"' if isinstance(x, str) else repr(x) for x in value)
  return f"--config.{field}='({inner},)'" if len(value) == 1 else f"--config.{field}='({inner})'"


def check_flag(c, flag: str, path: str, raw: str | None) -> str | None:
  """Checks one `--config.<path>=<raw>` override against config c (raw None: a bare --config.<path>).
  ConfigError (one line that suggests the fix) for a field c has not, a block, or a value its field's type
  cannot read; a warning line (or None) for a value that works but may not mean what it says."""
  parts = path.split(".")
  node = c
  for i, part in enumerate(parts):
    here = ".".join(parts[:i + 1])
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      what = f"{'.'.join(parts[:i])} has no field {part}" if i else f"the config has no field {here}"
      raise ConfigError.plain(path, raw, f"{flag}: {what}{_did_you_mean(c, path)}")
    if i < len(parts) - 1:
      node = node[part]
  value = node[parts[-1]]
  if isinstance(value, ml_collections.ConfigDict):
    key = "kind" if "kind" in value else "name" if "name" in value else None
    if key and raw is not None:
      msg = f"{path} is a block: did you mean --config.{path}.{key}={raw}?"
    else:
      msg = f"{path} is a block; its fields: {', '.join(value.keys())}"
    raise ConfigError.plain(path, raw, f"{flag}: {msg}")
  kind = _type_of(node, parts[-1])
  if raw is None:  # --config.x alone: absl reads it as True for a bool field, else takes the next argument
    return None
  if kind is bool:
    if raw.lower() not in BOOL_WORDS:
      raise ConfigError.plain(path, raw, f"{flag}: {path} must be True or False, got {raw!r}")
  elif kind is int:
    try:
      int(raw, 0)
    except ValueError:
      raise ConfigError.plain(path, raw, f"{flag}: {path} must be an integer, got {raw!r}") from None
  elif kind is float:
    try:
      float(raw)
    except ValueError:
      raise ConfigError.plain(path, raw, f"{flag}: {path} must be a number, got {raw!r}") from None
  elif kind is tuple:
    try:
      parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      parsed = raw  # a bare word: config_flags makes it a tuple of one string
    if isinstance(parsed, list):
      parsed = tuple(parsed)
    if not isinstance(parsed, tuple):
      one = (parsed,)
      if parts[-1] in ("units", "filters", "dense"):
        return (f"{flag} became one layer: {path}={one!r}; write {_tuple_syntax(path, one)} for one layer, "
                f"{_tuple_syntax(path, one * 2)} for two")
      return f"{flag} became a tuple of one: {path}={one!r}; write {_tuple_syntax(path, one)} to say so"
  return None


def split_flags(argv) -> list:
  """The --config.<field> overrides in argv: [(flag as written, field, raw value or None)]."""
  out = []
  args = list(argv[1:])
  for i, a in enumerate(args):
    if not a.startswith("--config."):
      continue
    name, eq, raw = a[len("--config."):].partition("=")
    if not eq:
      nxt = args[i + 1] if i + 1 < len(args) else None
      raw = nxt if nxt is not None and not nxt.startswith("-") else None
    out.append((a, name, raw if eq or raw is not None else None))
  return out


def check_flags(c, argv) -> list:
  """Every --config override of argv checked against c: ConfigError for the first bad one, else the
  warning lines."""
  warnings = []
  for flag, path, raw in split_flags(argv):
    w = check_flag(c, flag, path, raw)
    if w:
      warnings.append(w)
  return warnings


# ---- sweep spaces ----

def space_spec(s) -> dict:
  return dict(s.to_dict() if isinstance(s, ml_collections.ConfigDict) else s)


def shown(s: dict) -> str:
  """A space field as a config writes it: grid('model.hidden', 16, 64)."""
  args = [repr(s["field"])]
  if "values" in s:
    args += [repr(v) for v in s["values"]]
  else:
    args += [repr(s[k]) for k in ("low", "high", "min_len", "max_len") if k in s]
  return f"{s.get('kind', '?')}({', '.join(args)})"


def _type_word(v) -> str:
  if isinstance(v, bool):
    return "a bool"
  if isinstance(v, numbers.Integral):
    return "an integer"
  if isinstance(v, numbers.Real):
    return "a float"
  if isinstance(v, (tuple, list)):
    return "a tuple"
  if isinstance(v, str):
    return "a string"
  return f"a {type(v).__name__}"


def _must(want) -> str:
  if isinstance(want, bool):
    return "True or False"
  if isinstance(want, numbers.Integral):
    return "an integer"
  if isinstance(want, numbers.Real):
    return "a number"
  return _type_word(want)


def _fits(v, want) -> bool:
  """Whether a space value v may be set on a field whose value is `want` (its type)."""
  if want is None:
    return True
  if isinstance(want, bool) or isinstance(v, bool):
    return isinstance(v, bool) and isinstance(want, bool)
  if isinstance(want, numbers.Integral):
    return isinstance(v, numbers.Integral)
  if isinstance(want, numbers.Real):
    return isinstance(v, numbers.Real)
  if isinstance(want, (tuple, list)):
    return isinstance(v, (tuple, list))
  return isinstance(v, type(want))


def check_space(c) -> None:
  """ConfigError (one line) for a space field c has not (with the nearest names) or a value of another
  type than its field's (grid("batch_size", 32.5, 64): batch_size is an integer, 32.5 a float)."""
  for raw in tuple(c.sweep.space):
    s = space_spec(raw)
    field = str(s.get("field", ""))
    base = normalize(field)
    try:
      node = c
      for part in base.split("."):
        node = node[part]
    except (KeyError, AttributeError, TypeError):
      raise ConfigError.plain("sweep.space", field, f"sweep.space: {shown(s)} names no config field "
                              f"{base!r}{_did_you_mean(c, base)}") from None
    want = node
    if field != base:  # model.units[0]: an element of a tuple field
      if not isinstance(node, (tuple, list)):
        raise ConfigError.plain("sweep.space", field, f"sweep.space: {shown(s)}: {base} is {_type_word(node)}, "
                                f"not a tuple; write {base!r} without [index]")
      want = node[0] if node else None
      if not isinstance(want, numbers.Number):
        want = None
    if want is None and field == base:  # a None field (optimizer.momentum): the type it is declared with
      parent, _, key = base.rpartition(".")
      want = {float: 0.0, int: 0, bool: False, str: "", tuple: ()}.get(_type_of(_walk(c, parent), key))
    kind = s.get("kind")
    values = list(s.get("values", ()))
    if kind in ("uniform", "loguniform"):
      values = [float(s["low"]), float(s["high"])]
      if isinstance(want, numbers.Integral) and not isinstance(want, bool):
        raise ConfigError.plain("sweep.space", field, f"sweep.space: {shown(s)}: {base} is an integer; draw it "
                                f"with randint({field!r}, low, high)")
    elif kind == "randint":
      values = [int(s["low"]), int(s["high"])]
    elif kind == "randint_tuple":
      values = [(int(s["low"]),)]
    for v in values:
      if not _fits(v, want):
        raise ConfigError.plain("sweep.space", field, f"sweep.space: {shown(s)}: {field} must be {_must(want)}, "
                                f"got {v!r} ({_type_word(v)})")


def _walk(c, path):
  node = c
  for part in filter(None, path.split(".")):
    node = node[part]
  return node
