"""mlexp: many small classifiers trained at once with JAX, reproducible from their configs.

The Python API (mlexp/api.py), for notebooks and scripts:
  mlexp.get_config(name_or_path, **variant_args), mlexp.show(config) (every field, its source and comment),
  mlexp.train(config) -> Run, mlexp.sweep(config) -> Sweep,
  mlexp.load(workdir) -> Run | Sweep, mlexp.compare(*runs); errors: mlexp.ConfigError, mlexp.DataError.
`mlexp.train` and `mlexp.sweep` are also the packages mlexp/train/ and mlexp/sweep/: calling them runs the API
function (see _callable_package); importing mlexp loads neither JAX nor the packages.
"""

from mlexp.version import __version__  # noqa: F401 (one place; records import it without the package API)

import importlib
import sys
import types

_API = ("get_config", "show", "load", "compare", "Run", "Sweep")
__all__ = ["get_config", "show", "train", "sweep", "load", "compare", "Run", "Sweep", "ConfigError", "DataError"]


class _callable_package(types.ModuleType):
  """mlexp.train / mlexp.sweep: the package, callable as mlexp.api.train / mlexp.api.sweep."""

  def __call__(self, *args, **kwargs):
    from mlexp import api
    return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


def __getattr__(name):
  if name in _API:
    return getattr(importlib.import_module("mlexp.api"), name)
  if name in ("train", "sweep", "data", "config"):  # (mlexp.data.arrays, mlexp.config.base_config)
    return importlib.import_module(f"mlexp.{name}")
  if name == "ConfigError":
    from mlexp.config import ConfigError
    return ConfigError
  if name == "DataError":
    from mlexp.data.errors import DataError
    return DataError
  raise AttributeError(f"module 'mlexp' has no attribute {name!r}")
