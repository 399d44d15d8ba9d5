"""mlexp: train classifiers from a config file.

  python -m mlexp.main --config=configs/mlp.py --show          every field: value, where it came from, comment
  python -m mlexp.main --config=configs/mlp.py --workdir=runs/mlp
  python -m mlexp.main --config=configs/gru.py:smoke --config.model.hidden=128 --config.seeds=8
  python -m mlexp.main --config=configs/mlp.py --config.optimizer.name=sgd --config.optimizer.momentum=0.9
  python -m mlexp.main --config=configs/sweeps/gru.py --workdir=runs/gru_sweep   (a sweep config)

--config=FILE[:ARG]   a config file (configs/*.py; :smoke = a seconds-long check)
--config.<field>=V    override one field: --config.epochs=30, --config.optimizer.learning_rate=3e-4,
                      --config.schedule.patience=4, tuples quoted: --config.model.units='(512,256)'
--show                print the resolved config (every field, its source, comment, allowed values) and exit;
                      needs no data and no JAX. The fields are listed there, not here.
--workdir=DIR         where the run is written (default runs/<name>-<time>); run again to resume.
Writes config.json, metrics.jsonl, TensorBoard runs (tensorboard --logdir WORKDIR), Orbax checkpoints
and summary.json into --workdir, and resumes from its latest checkpoint when run again.
Bad config values stop before any work with one line and exit status 2. Exit statuses: 0 done, 1 bad data,
2 bad config / flag / --workdir, 3 hang, 4 workdir in use by another process, 5 workdir not writable or
disk full, 6 a sweep group failed on Ray (sweep.backend=ray), 130 Ctrl-C, 143 SIGTERM (docs/failures.md "Failure
modes").
"""
from __future__ import annotations

import os
import signal
import sys

from mlexp.io import signals
from mlexp.io.runtime import configure_cpu_devices, default_workdir, enable_compilation_cache  # noqa: F401

# Exit statuses (docs/failures.md lists every case).
EXIT_OK = 0
EXIT_DATA = 1  # the data cannot be loaded or has bad values (DataError)
EXIT_CONFIG = 2  # a bad config file, config value, flag or --workdir
EXIT_HANG = 3  # a compiled call made no progress (mlexp.io.watchdog)
EXIT_BUSY = 4  # another process holds the workdir's lock
EXIT_IO = 5  # the workdir cannot be written: read-only, permission denied, disk full
EXIT_REMOTE = 6  # sweep.backend=ray: a group raised on a worker, or lost its worker past the retries
EXIT_INTERRUPTED = signals.EXIT_INTERRUPTED  # Ctrl-C (SIGINT), 130
EXIT_TERMINATED = signals.EXIT_TERMINATED  # SIGTERM, 143


_SIGNALS = signals.Signals(exit_before_start=True, exit_on_third=True)
if __name__ == "__main__":  # python -m mlexp.main: first thing, before the slow imports (an import of this
  _SIGNALS.install()        # module, by tests or tools, installs nothing: run() does)

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/gru.py or configs/gru.py:smoke; "
                                "override fields as --config.<field>=<value> (--show lists them).",
                                lock_config=True)
flags.DEFINE_bool("show", False, "Print the resolved config (every field with its value, source, comment and "
                  "allowed values) and exit; loads no data and no JAX.")
flags.DEFINE_string("workdir", None, "Output folder (default: runs/<config name>-<time>). "
                    "An existing workdir of the same config is resumed.")


def fail(msg: str, status: int = 2):
  print(f"mlexp: error: {msg}", file=sys.stderr, flush=True)
  sys.exit(status)


def fail_last(msg: str, status: int):
  """fail() when library threads may still print (Orbax's after a full disk): the line, then stderr to
  /dev/null, so that their tracebacks at exit do not follow it."""
  sys.stderr.flush()
  line = os.dup(2)
  os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
  os.write(line, f"mlexp: error: {msg}\n".encode())
  sys.exit(status)


_ARGV: list = []  # the command line, for the checks of overrides against a sweep's space


def _config_spec(argv) -> str | None:
  """The value of --config in argv (config_flags takes --config=V and --config V)."""
  for i, a in enumerate(argv[1:], 1):
    if a.startswith("--config="):
      return a.partition("=")[2]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _where(e: BaseException, path: str) -> str:
  """' (line N)' of the innermost frame of the traceback of e that is in the config file."""
  import traceback
  line = None
  for frame in traceback.extract_tb(e.__traceback__):
    if os.path.abspath(frame.filename) == os.path.abspath(path):
      line = frame.lineno
  return f" (line {line})" if line else ""


def check_config_file(spec: str):
  """The config of the file, loaded as config_flags will; one line (exit 2) when it cannot be loaded:
  missing file, syntax error, an exception or sys.exit, no get_config, get_config returning no ConfigDict."""
  import importlib.util
  import ml_collections
  path, colon, arg = spec.partition(":")
  call = f"get_config({arg!r})" if colon else "get_config()"
  if not path or not os.path.isfile(path):
    what = "is a folder" if path and os.path.isdir(path) else "does not exist"
    fail(f"config file {path!r} {what}; give a Python config file, e.g. --config=configs/mlp.py")
  try:
    mod_spec = importlib.util.spec_from_file_location("_mlexp_config_check", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
  except SystemExit as e:
    fail(f"config file {path} called sys.exit({e.code!r}) on import{_where(e, path)}; a config file must define "
         "get_config(arg=None) returning the config")
  except SyntaxError as e:
    fail(f"config file {path} has a syntax error at line {e.lineno}: {e.msg}")
  except Exception as e:  # noqa: BLE001  (whatever the user's file raises becomes one line)
    fail(f"config file {path} raised {type(e).__name__}: {_first_line(e)}{_where(e, path)}")
  get_config = getattr(module, "get_config", None)
  if not callable(get_config):
    fail(f"config file {path} has no get_config() function; it must define get_config(arg=None) returning "
         "the config (see configs/mlp.py)")
  try:
    config = get_config(*([arg] if colon else []))
  except SystemExit as e:
    fail(f"config file {path}: {call} called sys.exit({e.code!r}){_where(e, path)}; it must return the config "
         "(a ConfigDict)")
  except Exception as e:  # noqa: BLE001
    fail(f"config file {path}: {call} raised {type(e).__name__}: {_first_line(e)}{_where(e, path)}")
  if not isinstance(config, ml_collections.ConfigDict):
    what = "None" if config is None else f"a {type(config).__name__}"
    fail(f"config file {path}: {call} returned {what}; it must return the config (an ml_collections.ConfigDict)")
  return config


def _first_line(e: BaseException) -> str:
  from mlexp.config.checks import moved_hint  # (a renamed package a config imports: its new name)
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  return (lines[0] if lines else repr(e)) + moved_hint(e)


def parse_flags(argv):
  """absl flag parsing with one-line errors (wrong key, wrong type, bad config file) and exit status 2."""
  _ARGV[:] = list(argv)
  spec = _config_spec(argv)
  if spec is not None and not any(a.partition("=")[0] in ("--help", "-help", "-?", "--helpshort", "--helpfull")
                                  for a in argv[1:]):
    check_overrides(check_config_file(spec), argv)
  try:
    return FLAGS(argv)
  except SystemExit as e:  # absl exits 1 after printing the help it was asked for; asking is no error
    if e.code == 1 and any(a.partition("=")[0] in ("--help", "-help", "-?", "--helpshort", "--helpfull")
                           for a in argv[1:]):
      sys.exit(0)
    raise
  except flags.Error as e:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    msg = lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1]}"  # a config file's error is its last line
    fail(f"{msg} (see --help for the flags; --show lists the config's fields)")
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    # a KeyError's str() is the repr of its message: "'optimzer'\nDid you mean ..." from ml_collections
    msg = _unrepr(e.args[0] if isinstance(e, KeyError) and e.args and isinstance(e.args[0], str) else str(e))
    lines = [l.strip() for l in msg.splitlines() if l.strip()]
    hint = next((f"; {l[0].lower()}{l[1:]}" for l in lines[1:] if l.startswith("Did you mean")), "")
    text = lines[0].strip("\"'") if lines else ""
    bad = [a for a in argv[1:] if a.startswith("--config.") and text in a.partition("=")[0].split(".")]
    if bad:  # an override of a field the config does not have
      fail(f"{bad[0]}: config has no field {bad[0].partition('=')[0][2:]!r}{hint or ' (--show lists the fields)'}")
    fail(f"{lines[0]}{hint}" if lines else repr(e))


def check_overrides(config, argv) -> None:
  """The --config.<field>=<value> flags checked against the loaded config before absl parses them: one line
  that suggests the fix and exit 2 (an unknown field, a block, a value of the wrong type), warning lines for
  values that work but may not mean what they say (a scalar that becomes a tuple of one)."""
  from mlexp.config.checks import ConfigError
  from mlexp.config.overrides import check_flags
  try:
    for w in check_flags(config, argv):
      print(f"mlexp: warning: {w}", file=sys.stderr, flush=True)
  except ConfigError as e:
    fail(str(e))


def _unrepr(msg: str) -> str:
  """A message that is the repr of a string (ml_collections wraps KeyErrors in AttributeErrors), as that string."""
  import ast
  for _ in range(3):
    if len(msg) < 2 or msg[0] not in "'\"" or msg[-1] != msg[0]:
      break
    try:
      msg = ast.literal_eval(msg)
    except (ValueError, SyntaxError):
      break
  return msg


def check_sweep_overrides(config, argv) -> None:
  """A --config.<field>=... override of a field the sweep itself searches would be silently replaced by the
  sweep's values: an error naming the field (exit 2)."""
  if "sweep" not in config:
    return
  space = [dict(s)["field"] if not hasattr(s, "to_dict") else s.to_dict()["field"] for s in config.sweep.space]
  norm = lambda f: f.replace("[", ".").replace("]", "")
  for a in argv[1:]:
    if not a.startswith("--config."):
      continue
    field = a.partition("=")[0][len("--config."):]
    for f in space:
      if norm(f) == norm(field) or norm(f).startswith(norm(field) + ".") or norm(field).startswith(norm(f) + "."):
        fail(f"{a}: {f} is searched by this sweep (sweep.space), so the override would be ignored; change the "
             "sweep's space in the config file, or run the single config you want without the sweep")


from mlexp.io.oserrors import os_error_in as _os_error_in, os_error_message  # noqa: E402,F401  (one line an OS error)


def open_workdir(workdir: str, config):
  """Creates the workdir if needed and takes its lock: (lock, created). One line and exit 2/4/5 on failure."""
  from mlexp.io.lock import WorkdirBusy, acquire, lock_name
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    fail(f"--workdir={workdir} is a file; give a folder (a new one, or the workdir of a run to resume)")
  created = not os.path.exists(workdir)
  try:
    os.makedirs(workdir, exist_ok=True)
    lock = acquire(workdir, lock_name(config))
  except WorkdirBusy as e:
    fail(str(e), EXIT_BUSY)
  except OSError as e:
    fail(os_error_message(e, workdir), EXIT_CONFIG if e.errno in (20, 17) else EXIT_IO)
  if lock.taken_over:
    pid, _, host = lock.taken_over.partition(" ")
    print(f"mlexp: the previous process on {workdir} (pid {pid} on host {host}) ended without letting go of it "
          "(killed?); taking over", file=sys.stderr, flush=True)
  return lock, created


def interrupted_message(workdir: str, config) -> str:
  """What an interrupted run left: the epoch of its checkpoint, the finished groups of a sweep, or nothing."""
  import glob
  if "sweep" in config:
    n = len(glob.glob(os.path.join(workdir, "groups", "*.json")))
    if n:
      return f"{n} finished group(s) of the sweep are kept in {workdir} (run again to resume)"
    return f"no group of the sweep had finished, nothing to resume in {workdir} (run again to start over)"
  steps = [int(d) for d in _listdir(os.path.join(workdir, "checkpoints", "latest")) if d.isdigit()]
  if steps:
    return f"the checkpoint of epoch {max(steps)} and the metrics up to it are in {workdir} (run again to resume)"
  if not bool(config.get("checkpoint", {}).get("enabled", True)):
    return f"checkpoints are off (checkpoint.enabled=False): nothing to resume in {workdir}"
  return f"no epoch had been checkpointed yet, nothing to resume in {workdir} (run again to start over)"


def _listdir(path: str) -> list:
  try:
    return os.listdir(path)
  except OSError:
    return []


def _model_relative_to_config(config) -> None:
  """--config.model.kind=FILE.py:Class: the path relative to the config file's folder, then the working directory."""
  from mlexp.config.defaults import model_reference
  spec = _config_spec(_ARGV or sys.argv) or ""
  folder = os.path.dirname(os.path.abspath(spec.partition(":")[0])) if spec else None
  if "model" in config and isinstance(config.model.get("kind"), str):
    config.model.kind = model_reference(config.model.kind, [folder] if folder else [])


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; options look like --config.model.hidden=128")
  if FLAGS.config is None:
    fail("--config is required, e.g. --config=configs/mlp.py (or configs/mlp.py:smoke for a quick check)")
  config = FLAGS.config
  check_sweep_overrides(config, _ARGV or sys.argv)
  if FLAGS.show:  # before anything imports JAX
    from mlexp.config.show import cli_show
    _model_relative_to_config(config)
    text, error = cli_show(config, _ARGV or sys.argv, _config_spec(_ARGV or sys.argv) or "config")
    try:
      print(text, flush=True)
    except BrokenPipeError:  # --show | head
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if error:
      fail(error)
    sys.exit(EXIT_OK)
  configure_cpu_devices(config)  # before jax is imported: XLA reads its flags once
  logging.set_verbosity(logging.WARNING)  # orbax / tfds chatter; mlexp prints its own progress
  enable_compilation_cache()  # (imports jax after flag parsing, so --help is fast)
  from mlexp.config import ConfigError, validate
  from mlexp.data import DataError
  from mlexp.io.workdir import WorkdirError
  from mlexp.sweeps.ray_backend import GroupFailed  # (imports no Ray)
  try:
    _model_relative_to_config(config)
    validate(config)
  except ConfigError as e:
    fail(str(e))
  workdir = FLAGS.workdir or default_workdir(config)
  lock, created = open_workdir(workdir, config)
  _SIGNALS.running = True
  try:
    if "sweep" in config:
      from mlexp.sweeps.runner import run_sweep
      run_sweep(config, workdir)
    else:
      from mlexp.training.trainer import train_and_evaluate
      train_and_evaluate(config, workdir)
    if _SIGNALS.received:  # a signal that some library caught and dropped: still not a normal exit
      raise KeyboardInterrupt
  except (ConfigError, WorkdirError) as e:
    fail(str(e))
  except DataError as e:
    fail(str(e), status=EXIT_DATA)
  except KeyboardInterrupt:
    sig = _SIGNALS.received[0] if _SIGNALS.received else signal.SIGINT
    fail(f"{signals.words(sig)}; {interrupted_message(workdir, config)}", signals.status(sig))
  except Exception as e:  # noqa: BLE001
    if isinstance(e, GroupFailed):
      fail(str(e), EXIT_REMOTE)
    os_err = _os_error_in(e)
    if os_err is None:
      raise
    fail_last(os_error_message(os_err, workdir), EXIT_IO)
  finally:
    lock.release()
    if created and not _listdir(workdir):  # stopped before writing anything: leave no empty folder
      try:
        os.rmdir(workdir)
      except OSError:
        pass


def run():
  _SIGNALS.install()
  default_hook = sys.unraisablehook  # a signal's KeyboardInterrupt raised inside a gc callback is swallowed
  sys.unraisablehook = lambda u: None if issubclass(u.exc_type, KeyboardInterrupt) else default_hook(u)
  try:  # there by Python ("Exception ignored"): it is recorded in _SIGNALS.received, which ends the run
    app.run(main, flags_parser=parse_flags)
  except (KeyboardInterrupt, SystemExit) as e:  # after a signal: main's one line is printed; exit with its
    if not _SIGNALS.received:  # status now (a swallowed KeyboardInterrupt would otherwise end Python as -2)
      raise
    sys.stderr.flush()
    code = e.code if isinstance(e, SystemExit) and isinstance(e.code, int) else signals.status(_SIGNALS.received[0])
    os._exit(code)


if __name__ == "__main__":
  run()
