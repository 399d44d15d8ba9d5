"""mlexp: train classifiers from a config file.

  python -m mlexp.main --config=configs/mlp.py --workdir=runs/mlp
  python -m mlexp.main --config=configs/gru.py:smoke --config.model.hidden=128 --config.seeds=8
  python -m mlexp.main --config=configs/sweeps/gru.py --workdir=runs/gru_sweep   (a sweep config)

Every config field can be overridden as --config.<field>=<value>; see the config file for the fields.
Writes config.json, metrics.jsonl, TensorBoard runs (tensorboard --logdir WORKDIR), Orbax checkpoints
and summary.json into --workdir, and resumes from its latest checkpoint when run again.
Bad config values stop before any work with one line and exit status 2.
"""
from __future__ import annotations

import os
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/gru.py or configs/gru.py:smoke.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Output folder (default: runs/<config name>-<time>). "
                    "An existing workdir of the same config is resumed.")


def fail(msg: str, status: int = 2):
  print(f"mlexp: error: {msg}", file=sys.stderr, flush=True)
  sys.exit(status)


def parse_flags(argv):
  """absl flag parsing with one-line errors (wrong key, wrong type) and exit status 2."""
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
    fail(f"{msg} (see --helpfull for the flags; config fields are in the config file)")
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    text = str(e).strip().strip("\"'")
    bad = [a for a in argv[1:] if a.startswith("--config.") and text in a.partition("=")[0].split(".")]
    if bad:  # an override of a field the config does not have
      fail(f"{bad[0]}: config has no field {bad[0].partition('=')[0][2:]!r} (the fields are in the config file)")
    fail(str(e).strip().splitlines()[0] if str(e).strip() else repr(e))


def configure_cpu_devices(config) -> None:
  """Runs that train several models at once split them over one single-threaded XLA:CPU device per core
  (config.cpu_devices; 0 = auto: every core when there is more than one model, else one device with
  XLA's own threads); BUILD.md ("Several models on CPU") has the measurements.
  Does nothing when XLA_FLAGS already sets a device count; GPUs and TPUs are not affected."""
  n = int(config.cpu_devices)
  if n == 0:
    many = int(config.seeds) > 1 or "sweep" in config
    n = len(os.sched_getaffinity(0)) if many else 1
  flags_now = os.environ.get("XLA_FLAGS", "")
  if n > 1 and "xla_force_host_platform_device_count" not in flags_now:
    os.environ["XLA_FLAGS"] = (f"{flags_now} --xla_force_host_platform_device_count={n} "
                               "--xla_cpu_multi_thread_eigen=false").strip()


def enable_compilation_cache() -> None:
  """JAX's persistent compilation cache in ~/.cache/mlexp/jax (MLEXP_COMPILATION_CACHE: another folder, '' = off),
  so compiled programs are reused by later runs of the same shapes; a cache set up already is kept."""
  import jax
  cache = os.environ.get("MLEXP_COMPILATION_CACHE", os.path.expanduser("~/.cache/mlexp/jax"))
  if cache and not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def default_workdir(config) -> str:
  return os.path.join("runs", f"{config.get('name', 'run')}-{time.strftime('%Y%m%d-%H%M%S')}")


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; options look like --config.model.hidden=128")
  if FLAGS.config is None:
    fail("--config is required, e.g. --config=configs/mlp.py (or configs/mlp.py:smoke for a quick check)")
  config = FLAGS.config
  configure_cpu_devices(config)  # before jax is imported: XLA reads its flags once
  logging.set_verbosity(logging.WARNING)  # orbax / tfds chatter; mlexp prints its own progress
  enable_compilation_cache()  # (imports jax after flag parsing, so --help is fast)
  from mlexp.config import ConfigError, validate
  from mlexp.data import DataError
  from mlexp.io.workdir import WorkdirError
  try:
    validate(config)
  except ConfigError as e:
    fail(str(e))
  workdir = FLAGS.workdir or default_workdir(config)
  try:
    if "sweep" in config:
      from mlexp.sweep.runner import run_sweep
      run_sweep(config, workdir)
    else:
      from mlexp.train.trainer import train_and_evaluate
      train_and_evaluate(config, workdir)
  except (ConfigError, WorkdirError) as e:
    fail(str(e))
  except DataError as e:
    fail(str(e), status=1)
  except KeyboardInterrupt:
    fail(f"interrupted; the latest epoch's checkpoint and metrics are in {workdir} (run again to resume)", 130)


def run():
  app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
  run()
