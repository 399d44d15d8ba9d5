"""Process set-up that the CLI and the Python API share: XLA:CPU devices, the compilation cache, the default
workdir. No flags and no signal handlers here (mlexp/io/signals.py; the CLI is mlexp/main.py)."""
from __future__ import annotations

import os
import time


def configure_cpu_devices(config) -> None:
  """Runs that train several models at once split them over one single-threaded XLA:CPU device per core
  (config.cpu_devices; 0 = auto: every core when there is more than one model, else one device with
  XLA's own threads); docs/program.md ("Choices") has the measurements.
  Does nothing when XLA_FLAGS already sets a device count; GPUs and TPUs are not affected."""
  n = int(config.cpu_devices)
  if n == 0:
    many = int(config.seeds) > 1 or "sweep" in config
    n = len(os.sched_getaffinity(0)) if many else 1
  if n > 1:
    set_cpu_devices(n)


def set_cpu_devices(n: int) -> None:
  """XLA_FLAGS for n single-threaded XLA:CPU devices (n = 1: one device, single-threaded), before jax is
  imported; an XLA_FLAGS that sets a device count already is kept."""
  flags_now = os.environ.get("XLA_FLAGS", "")
  if "xla_force_host_platform_device_count" not in flags_now:
    count = f" --xla_force_host_platform_device_count={n}" if n > 1 else ""
    os.environ["XLA_FLAGS"] = f"{flags_now}{count} --xla_cpu_multi_thread_eigen=false".strip()


def enable_compilation_cache() -> None:
  """JAX's persistent compilation cache in ~/.cache/mlexp/jax (MLEXP_COMPILATION_CACHE: another folder, '' = off),
  so compiled programs are reused by later runs of the same shapes; a cache set up already is kept. Every
  program is kept, however fast it compiled (JAX's default keeps those over 1 s: a rerun would still compile
  the small ones), and JAX's cache hits are counted (mlexp/cache.py: `python -m mlexp.cache` shows and clears it)."""
  import jax
  from mlexp import cache as program_cache
  path = program_cache.location()
  if path and not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  if jax.config.jax_compilation_cache_dir:
    program_cache.listen()


def default_workdir(config) -> str:
  return os.path.join("runs", f"{config.get('name', 'run')}-{time.strftime('%Y%m%d-%H%M%S')}")
