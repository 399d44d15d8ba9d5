"""The Python API, for notebooks and scripts: no absl flags, errors are exceptions, progress is one bar.

  import mlexp
  config = mlexp.get_config("gru", smoke=True)      # configs/gru.py with get_config("smoke")
  run = mlexp.train(config)                          # -> Run (validated as the CLI does; ConfigError / DataError)
  run.summary, run.metrics, run.report(), run.predict(x, lengths)
  search = mlexp.sweep(mlexp.get_config("sweeps/gru", smoke=True))   # -> Sweep
  search.results, search.best, search.best_config, search.trial(3)
  mlexp.load("runs/gru-20261125-120000")             # -> Run | Sweep

The work is the CLI's (training/trainer.py, sweeps/runner.py); this module only wires it and reads the workdir.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import importlib.util
import os
import sys

import ml_collections

from mlexp.config import ConfigError
from mlexp.runs import Run, Sweep, TrialRun  # noqa: F401 (the objects of the API)

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _error(msg: str) -> ConfigError:
  """A ConfigError whose message is `msg` as it is (not about one config field)."""
  e = ConfigError("", None, msg)
  e.args = (msg,)
  return e


class NotAWorkdir(ConfigError, FileNotFoundError):
  """mlexp.load of a folder that is no mlexp workdir: a ConfigError, as every API error about its arguments (and a
  FileNotFoundError, as it was)."""

  def __init__(self, msg: str):
    Exception.__init__(self, msg)
    self.field, self.value, self.allowed = "workdir", None, msg


def config_dirs() -> list:
  """Where short config names are looked up: configs/ next to the mlexp package, then in the working folder."""
  dirs = [os.path.join(PACKAGE_ROOT, "configs"), os.path.join(os.getcwd(), "configs")]
  return [d for i, d in enumerate(dirs) if os.path.isdir(d) and d not in dirs[:i]]


def _resolve(name: str) -> str:
  tries = [name] + [os.path.join(r, name) for r in (PACKAGE_ROOT, *config_dirs())]
  for t in tries:
    for p in (t, t + ".py"):
      if os.path.isfile(p):
        return p
  known = sorted(os.path.relpath(p, d)[:-3] for d in config_dirs() for p in glob.glob(os.path.join(d, "**", "*.py"),
                                                                                       recursive=True))
  raise _error(f"no config {name!r}: not a file, nor a name in {', '.join(config_dirs()) or 'configs/'}; "
               f"names: {', '.join(known)}")


def _arg_string(args: dict) -> str:
  parts = []
  for k, v in args.items():
    s = str(v).lower() if isinstance(v, bool) else str(v)
    if "," in s or "=" in s:
      raise _error(f"config argument {k}={v!r}: values cannot contain ',' or '='")
    parts.append(f"{k}={s}")
  return ",".join(parts)


def get_config(name_or_path, **variant_args) -> ml_collections.ConfigDict:
  """The config of a file ("configs/gru.py") or short name ("gru", "sweeps/gru", "gru:smoke"), built by its
  get_config(arg) with the variant arguments as arg ("smoke=true,..."). Locked: setting a field that does
  not exist raises (as --config.x=y does). Unknown arguments raise ConfigError naming them."""
  name = os.fspath(name_or_path)
  arg = ""
  if ":" in name and not os.path.exists(name):
    name, _, arg = name.partition(":")
  path = _resolve(name)
  arg = ",".join(filter(None, [arg, _arg_string(variant_args)]))
  spec = importlib.util.spec_from_file_location(f"mlexp_config_{abs(hash(os.path.abspath(path)))}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as e:
    raise _error(f"config file {path} has a syntax error at line {e.lineno}: {e.msg}") from None
  except (Exception, SystemExit) as e:  # noqa: BLE001  (whatever the user's file raises: one line)
    raise _error(f"config file {path} raised {_what(e)}") from None
  if not hasattr(module, "get_config"):
    raise _error(f"{path} has no get_config(arg): not an mlexp config file")
  try:
    config = module.get_config(arg or None)
  except ConfigError:
    raise
  except ValueError as e:  # mlexp.config.parse_arg: an unknown argument or a value of the wrong type
    raise _error(f"{path}: {e}") from None
  except (Exception, SystemExit) as e:  # noqa: BLE001
    raise _error(f"config file {path}: get_config({arg or None!r}) raised {_what(e)}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise _error(f"config file {path}: get_config({arg or None!r}) returned "
                 f"{'None' if config is None else 'a ' + type(config).__name__}; it must return an "
                 "ml_collections.ConfigDict")
  if isinstance(config, ml_collections.ConfigDict) and "model" in config and "kind" in config.model:
    from mlexp.config.defaults import model_reference  # FILE.py:Class relative to the config file's folder
    config.model.kind = model_reference(config.model.kind, [os.path.dirname(os.path.abspath(path))])
  config.lock()
  return config


def show(config, file=None) -> None:
  """Prints the resolved config (a ConfigDict, or a name / path as get_config takes): every field with its value,
  where it came from (defaults, the model's spec, the shipped baseline, the config), a one-line comment and the
  allowed values (as `--show` does). No data, no JAX."""
  from mlexp.config.show import describe
  title = os.fspath(config) if isinstance(config, (str, os.PathLike)) else None
  if title is not None:
    config = get_config(config)
  print(describe(config, title=title or str(config.get("name", "config"))), file=file or sys.stdout)


def _what(e: BaseException) -> str:
  """'ZeroDivisionError: division by zero' (its first line), or 'sys.exit(3)'."""
  if isinstance(e, SystemExit):
    return f"sys.exit({e.code!r})"
  from mlexp.config.checks import moved_hint
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  return (f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__) + moved_hint(e)


def _jax_started() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge._backends)
  except (ImportError, AttributeError):
    return True


def with_model(config, model) -> ml_collections.ConfigDict:
  """config training `model` (a flax Module class, e.g. one defined in a notebook; registered so that this
  process finds it): model.kind names it; when the config was for another model, its model block is the class's
  fields and defaults, with the values of the fields of the same name kept."""
  from mlexp.config.defaults import model_config, model_reference
  ref = model_reference(model)
  if config.model.kind == ref:
    return config
  block = model_config(ref)
  for k in block.keys():
    if k != "kind" and k in config.model:
      block[k] = config.model[k]
  out = ml_collections.ConfigDict(config.to_dict())
  out.model = block
  if out.get("name") == config.model.kind or "name" not in out:
    from mlexp.models.user import short_name
    out.name = short_name(ref)
  out.lock()
  return out


def _data_file(workdir: str) -> str:
  return os.path.abspath(os.path.join(workdir, "data.npz"))


def _keep_arrays(data, workdir: str) -> None:
  """The arrays of `data=` kept in WORKDIR/data.npz (so a resume, a sweep's best_config.py and mlexp.load read
  the same arrays); a workdir that holds other arrays is refused (DataError)."""
  from mlexp.data import DataError
  from mlexp.data import npz
  path = _data_file(workdir)
  if os.path.exists(path):
    old = npz.read(path).fingerprint
    if old != data.fingerprint:
      raise DataError(f"workdir={workdir} was trained on other arrays (fingerprint {old}, now {data.fingerprint}); "
                      "use a new workdir, or the same arrays to resume")
    return
  data.save(path)


def _prepare(config, want_sweep: bool, workdir=None, model=None, data=None):
  """(config, workdir): what the CLI does before any work (mlexp/main.py): CPU devices (only before JAX has
  started: XLA reads its flags once), logging, the compilation cache, validation. model: a flax Module class
  to train; data: mlexp.data.arrays(...), read from WORKDIR/data.npz (data.name=npz)."""
  from absl import logging
  from mlexp.config import validate
  from mlexp.io import runtime
  if isinstance(config, (str, os.PathLike)):
    config = get_config(config)
  if not isinstance(config, ml_collections.ConfigDict):
    raise TypeError(f"config must be an ml_collections.ConfigDict (mlexp.get_config), got {type(config).__name__}")
  if model is not None:
    config = with_model(config, model)
  if ("sweep" in config) != want_sweep:
    raise _error("this config has a sweep block: use mlexp.sweep(config)" if want_sweep is False else
                 "this config has no sweep block: use mlexp.train(config), or a config of configs/sweeps/")
  if not _jax_started():
    runtime.configure_cpu_devices(config)
  logging.set_verbosity(logging.WARNING)
  runtime.enable_compilation_cache()
  workdir = os.fspath(workdir) if workdir else _default_workdir(config)
  if data is not None:
    config = ml_collections.ConfigDict(config.to_dict())
    config.data.name, config.data.path = "npz", _data_file(workdir)
    config.lock()
  validate(config)
  return config, workdir


def _default_workdir(config) -> str:
  """The CLI's runs/<name>-<time>, with -2, -3, ... when that exists (two runs within a second)."""
  from mlexp.io import runtime
  base = runtime.default_workdir(config)
  out, n = base, 1
  while os.path.exists(out):
    n += 1
    out = f"{base}-{n}"
  return out


_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def _running(config, workdir: str):
  """What the CLI holds around a run: the workdir's lock (WorkdirBusy when another process or call has it)
  and signal handlers that turn Ctrl-C / SIGTERM into KeyboardInterrupt inside the run only; the caller's
  handlers are back afterwards, so an interrupted run stays resumable and the notebook kernel lives. A full
  disk or an unwritable workdir raises an OSError of one line (mlexp.io.oserrors)."""
  from mlexp.io import signals
  from mlexp.io.lock import acquire, lock_name
  created = not os.path.exists(workdir)
  try:
    os.makedirs(workdir, exist_ok=True)
  except (FileExistsError, NotADirectoryError):
    raise _error(f"workdir={workdir} is a file or lies under one; give a folder (a new one, or the workdir of a "
                 "run to resume)") from None
  lock = acquire(workdir, lock_name(config))
  try:
    with signals.during_api_run():
      yield
  except Exception as e:  # noqa: BLE001  (a full disk, also Orbax's ValueError of one: a one-line OSError)
    from mlexp.io.oserrors import as_one_line
    err = as_one_line(e, workdir)
    if err is None or err.errno not in _WRITE_ERRNOS:
      raise
    raise err from None
  finally:
    lock.release()
    if created and not os.listdir(workdir):  # stopped before writing anything: leave no empty folder
      os.rmdir(workdir)


def train(config, workdir=None, *, model=None, data=None) -> Run:
  """A single run (config: a ConfigDict or a config name); resumes from the workdir's latest checkpoint.
  workdir: default runs/<name>-<time>, as the CLI's. model: your own flax Module class (e.g. defined in this
  notebook; README "Your own model"); data: your own arrays, mlexp.data.arrays(x_train, y_train, x_test, y_test)."""
  from mlexp.io import progress
  from mlexp.training.trainer import train_and_evaluate
  config, workdir = _prepare(config, False, workdir, model, data)
  with _running(config, workdir), progress.use("bar"):
    if data is not None:
      _keep_arrays(data, workdir)
    train_and_evaluate(config, workdir)
  return Run(workdir)


def sweep(config, workdir=None, *, model=None, data=None) -> Sweep:
  """A sweep (a config with a sweep block); resumes the groups already done in the workdir. model, data: as
  for mlexp.training."""
  from mlexp.io import progress
  from mlexp.sweeps.runner import run_sweep
  config, workdir = _prepare(config, True, workdir, model, data)
  with _running(config, workdir), progress.use("bar"):
    if data is not None:
      _keep_arrays(data, workdir)
    run_sweep(config, workdir)
  return Sweep(workdir)


def load(workdir, *, model=None) -> Run | Sweep:
  """The Run or Sweep an mlexp workdir holds. model: the flax Module class of a run of a class defined in a
  notebook (its config names it "__main__:Class", which no other process can import)."""
  from mlexp import results
  workdir = os.fspath(workdir)
  try:
    config = results.load_config(workdir)
  except FileNotFoundError as e:  # one line: no such folder, or no mlexp workdir
    raise NotAWorkdir(str(e)) from None
  if model is not None:
    from mlexp.models import user
    user.register(config["model"]["kind"], model)
  return Sweep(workdir) if "sweep" in config else Run(workdir)


def compare(*runs) -> "pd.DataFrame":
  """One row per run: workdir, model, data set, mean ± std test accuracy of its best trial, best test loss,
  wall seconds."""
  import pandas as pd
  rows = []
  for r in runs:
    s = r.summary
    rows.append({"workdir": r.workdir, "kind": s.get("kind"), "model": s.get("model"), "dataset": s.get("dataset"),
                 "test_accuracy": s["mean"]["test_accuracy"], "test_accuracy_std": s["std"]["test_accuracy"],
                 "best_test_loss": s["mean"].get("best_test_loss"), "wall_s": s.get("wall_s")})
  return pd.DataFrame(rows)
