"""mlexp: many small classifiers trained at once with JAX, reproducible from their configs.

The Python API (mlexp/api.py), for notebooks and scripts:
  mlexp.get_config(name_or_path, **variant_args), mlexp.show(config) (every field, its source and comment),
  mlexp.train(config) -> Run, mlexp.sweep(config) -> Sweep,
  mlexp.load(workdir) -> Run | Sweep, mlexp.compare(*runs); errors: mlexp.ConfigError, mlexp.DataError.
Importing mlexp loads neither JAX nor the engine (mlexp/training/, mlexp/sweeps/).
"""

from mlexp.version import __version__  # noqa: F401 (one place; records import it without the package API)

import importlib

_API = ("get_config", "show", "train", "sweep", "load", "compare", "Run", "Sweep")
__all__ = ["get_config", "show", "train", "sweep", "load", "compare", "Run", "Sweep", "ConfigError", "DataError"]


def __getattr__(name):
  if name in _API:
    return getattr(importlib.import_module("mlexp.api"), name)
  if name in ("data", "config"):  # (mlexp.data.arrays, mlexp.config.base_config)
    return importlib.import_module(f"mlexp.{name}")
  if name == "ConfigError":
    from mlexp.config import ConfigError
    return ConfigError
  if name == "DataError":
    from mlexp.data.errors import DataError
    return DataError
  raise AttributeError(f"module 'mlexp' has no attribute {name!r}")
