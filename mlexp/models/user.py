"""Your own model: `config.model.kind` names any `flax.linen.Module` class, and mlexp trains it like its own.

A reference is "FILE.py:Class" (a path: absolute, or relative to the config file's folder, then the working
directory) or "package.module:Class"; a class defined in a notebook is registered by passing it
(`mlexp.train(config, model=Net)`, `base_config(Net, data)`) and is named "module:Class" (e.g. "__main__:Net").

The contract (README "Your own model"):
  images / tabular: `__call__(self, x, *, train)`; sequences: `__call__(self, x, lengths, *, train)`;
  it returns logits [batch, num_classes]; dropout is flax's `nn.Dropout(rate)(y, deterministic=not train)`
  (mlexp provides the "dropout" rng); a `dropout_rate` keyword of `__call__` makes `model.dropout` a vmapped
  knob (data); every other field is static (part of the program). The fields `num_classes` and, if the class
  has them, `input_shape` (features of one example or step) / `num_features` (its last axis) come from the data.

This module reads such a class (its reference, fields, data kind and dropout knob); mlexp/models/adapter.py
runs it, and mlexp/models/specs gives its ModelSpec (neither is imported here).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback

from mlexp.config.checks import ConfigError

DATA_FIELDS = ("num_classes", "input_shape", "num_features")  # filled from the data, never config fields
_REGISTERED: dict = {}  # "module:Class" -> class, for classes passed as objects (a notebook's)
_GENERATION = [0]  # how many registrations so far: the caches of what a class gives (specs, adapter) key on it


def is_reference(kind) -> bool:
  return isinstance(kind, str) and ":" in kind


def reference_of(cls) -> str:
  """The reference naming a class passed as an object (registered, so it resolves in this process)."""
  _check_module_class(cls, f"{getattr(cls, '__qualname__', cls)!r}")
  ref = f"{cls.__module__}:{cls.__qualname__}"
  module = sys.modules.get(cls.__module__)
  file = getattr(module, "__file__", None) if module is not None else None
  if cls.__module__ != "__main__" and file and file.endswith(".py") and _importable(cls.__module__, cls):
    return ref  # an importable module: the reference works in any process
  register(ref, cls)
  return ref


def register(ref: str, cls) -> None:
  """Makes `ref` (e.g. a saved run's "__main__:Net") resolve to cls in this process."""
  _check_module_class(cls, f"{getattr(cls, '__qualname__', cls)!r}")
  _REGISTERED[ref] = cls
  _GENERATION[0] += 1
  _info.cache_clear()


def generation() -> int:
  """Changes with every registration (a notebook cell run again): what is cached of a class is read anew."""
  return _GENERATION[0]


def _importable(module_name, cls) -> bool:
  try:
    return getattr(importlib.import_module(module_name), cls.__qualname__, None) is cls
  except Exception:  # noqa: BLE001
    return False


def _caller_dirs() -> list:
  """The folder of the first caller outside mlexp (a config file calling base_config), if it is a file."""
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for frame in inspect.stack()[1:]:
    f = os.path.abspath(frame.filename)
    if not f.startswith(here + os.sep) and os.path.isfile(f):
      return [os.path.dirname(f)]
  return []


def absolute(ref: str, search_dirs=()) -> str:
  """A "FILE.py:Class" reference with an absolute path (searched in search_dirs, then the working directory);
  other references as they are. ConfigError when the file is nowhere."""
  path, _, name = ref.rpartition(":")
  if not path.endswith(".py") or os.path.isabs(path):
    return ref
  dirs = [d for d in search_dirs if d] + [os.getcwd()]
  for d in dirs:
    p = os.path.join(d, path)
    if os.path.isfile(p):
      return f"{os.path.abspath(p)}:{name}"
  raise ConfigError("model.kind", ref, f"no file {path} in {' or '.join(dict.fromkeys(dirs))}; give "
                    "FILE.py:Class with a path relative to the config file's folder or the working directory, "
                    "or package.module:Class")


def resolve(ref: str):
  """The class a reference names; ConfigError (one line naming the file and what was expected) otherwise."""
  if ref in _REGISTERED:
    return _REGISTERED[ref]
  path, _, name = ref.rpartition(":")
  if not path or not name:
    raise ConfigError("model.kind", ref, "a model reference is FILE.py:Class or package.module:Class")
  if path.endswith(".py"):
    path = absolute(ref).rpartition(":")[0]
    key = "mlexp_user_" + hashlib.sha1(path.encode()).hexdigest()[:12]
    module = sys.modules.get(key)
    if module is None or getattr(module, "__mlexp_mtime__", None) != os.path.getmtime(path):
      spec = importlib.util.spec_from_file_location(key, path)
      module = importlib.util.module_from_spec(spec)
      sys.modules[key] = module
      try:
        spec.loader.exec_module(module)
      except Exception as e:  # noqa: BLE001
        del sys.modules[key]
        raise ConfigError("model.kind", ref, f"{path} raised {type(e).__name__}: {first_line(e)}"
                          f"{line_in(e, path)}") from None
      module.__mlexp_mtime__ = os.path.getmtime(path)
    where = path
  else:
    if path == "__main__" or path.startswith("__main__."):
      raise ConfigError("model.kind", ref, f"{name} was defined in a notebook or script: pass the class, "
                        f"mlexp.train(config, model={name}) (or mlexp.load(workdir, model={name}))")
    try:
      module = importlib.import_module(path)
    except Exception as e:  # noqa: BLE001
      raise ConfigError("model.kind", ref, f"cannot import {path}: {type(e).__name__}: {first_line(e)}") from None
    where = getattr(module, "__file__", path)
  cls = module
  for part in name.split("."):
    cls = getattr(cls, part, None)
    if cls is None:
      found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and _is_module(v))
      raise ConfigError("model.kind", ref, f"{where} has no class {name}"
                        + (f"; its flax Modules: {', '.join(found)}" if found else "; it defines no flax Module"))
  _check_module_class(cls, f"{name} in {where}")
  return cls


def _is_module(cls) -> bool:
  import flax.linen as nn
  return isinstance(cls, type) and issubclass(cls, nn.Module)


def _check_module_class(cls, what: str) -> None:
  if not _is_module(cls):
    raise ConfigError("model.kind", what, "is not a flax.linen.Module subclass (class Net(nn.Module): ...)")


def first_line(e: BaseException) -> str:
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  return lines[0] if lines else type(e).__name__


def line_in(e: BaseException, path: str) -> str:
  lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) == path]
  return f" (line {lines[-1]})" if lines else ""


@dataclasses.dataclass(frozen=True)
class Info:
  """What mlexp reads from a user's class: its data kind, its config fields and defaults, its dropout knob."""
  cls: type
  sequence: bool  # __call__(self, x, lengths, *, train)
  fields: dict  # config field -> default (None: required); the data fields left out
  data_fields: tuple  # the DATA_FIELDS the class has
  dropout_default: float | None  # __call__'s dropout_rate default: model.dropout is a vmapped knob; None: no such


@functools.lru_cache(maxsize=None)
def _info(ref: str) -> Info:
  cls = resolve(ref)
  name = f"{cls.__qualname__} ({ref.rpartition(':')[0]})"
  try:
    sig = inspect.signature(cls.__call__)
  except (TypeError, ValueError):
    raise ConfigError("model.kind", ref, f"{name}: its __call__ has no signature mlexp can read") from None
  params = list(sig.parameters.values())[1:]
  positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
  keywords = {p.name: p for p in params}
  want = ("images: __call__(self, x, *, train); sequences: __call__(self, x, lengths, *, train)")
  if "train" not in keywords or not positional or positional[0] == "train" or len(
      [p for p in positional if p != "train"]) > 2:
    raise ConfigError("model.kind", ref, f"{name}.__call__{sig} does not fit the contract: {want}")
  sequence = len([p for p in positional if p != "train"]) == 2
  dr = keywords.get("dropout_rate")
  dropout_default = None if dr is None else float(dr.default if dr.default is not inspect.Parameter.empty else 0.0)
  fields, data_fields = {}, []
  for f in dataclasses.fields(cls):
    if f.name in ("parent", "name") or not f.init:
      continue
    if f.name in DATA_FIELDS:
      data_fields.append(f.name)
      continue
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    fields[f.name] = tuple(default) if isinstance(default, list) else default
  if dropout_default is not None and "dropout" in fields:
    raise ConfigError("model.kind", ref, f"{name} has a field `dropout` and a __call__ keyword `dropout_rate`: "
                      "model.dropout would mean both; rename the field")
  return Info(cls, sequence, fields, tuple(data_fields), dropout_default)


def info(ref: str) -> Info:
  return _info(ref)


def defaults(ref: str) -> dict:
  """config.model's fields for this class (kind excluded): its own fields, and `dropout` for a dropout_rate knob."""
  i = _info(ref)
  out = dict(i.fields)
  if i.dropout_default is not None:
    out["dropout"] = i.dropout_default
  return out


def check(c) -> None:
  """ConfigError for a field of config.model the class does not have, or a required one not set."""
  i = _info(c.model.kind)
  known = set(defaults(c.model.kind))
  for k in c.model.keys():
    if k == "kind":
      continue
    if k in DATA_FIELDS:
      raise ConfigError(f"model.{k}", c.model[k], "comes from the data; remove it from the config")
    if k not in known:
      import difflib
      close = difflib.get_close_matches(k, sorted(known), 1)
      hint = f' (did you mean "{close[0]}"?)' if close else ""
      raise ConfigError(f"model.{k}", c.model[k], f"is not a field of {i.cls.__qualname__}{hint}; its fields: "
                        f"{', '.join(sorted(known)) or 'none'} (mlexp.config.base_config(kind, data) lists them)")
  for k, v in i.fields.items():
    if v is None and c.model.get(k) is None:
      raise ConfigError(f"model.{k}", None, f"{i.cls.__qualname__}.{k} has no default: set it in the config")


def short_name(ref: str) -> str:
  """A name for workdirs and logs: the class name."""
  return ref.rpartition(":")[2].rpartition(".")[2] or "model"
