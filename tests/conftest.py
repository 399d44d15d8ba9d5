"""Shared setup for the engine tests (tests/test_*.py): CPU only, one compilation cache per session."""
from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _session_compile_cache(tmp_path_factory):
  """A fresh persistent compilation cache for this session only.

  Groups that compile the same program (same config and shapes; seeds and hyperparameters are data)
  then compile it once per session instead of once per Group. It starts empty, so every test run
  still compiles everything it checks.
  """
  import jax
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  old = {n: getattr(jax.config, n) for n in names}
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield
  for n, v in old.items():
    jax.config.update(n, v)
