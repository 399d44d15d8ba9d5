"""Locates the data files shipped inside installed packages, without importing them."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os

from mlexp.data.errors import DataError

_INSTALL = 'pip install --no-deps -r requirements-data.txt'


def package_dir(package: str, dataset: str) -> tuple[str, str]:
  """(install folder, version) of package; DataError saying how to install it when missing."""
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise DataError(f'{dataset} is read from the data files of the {package} package, which is not installed; '
                    f'run: {_INSTALL}')
  try:
    version = importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    version = 'unknown version'
  return list(spec.submodule_search_locations)[0], version


def package_file(package: str, dataset: str, *parts: str) -> tuple[str, str]:
  """(path, package version) of a file inside package; DataError naming it when missing."""
  root, version = package_dir(package, dataset)
  path = os.path.join(root, *parts)
  if not os.path.isfile(path):
    raise DataError(f'{dataset}: file {path} is missing from {package} {version}; run: {_INSTALL}')
  return path, version
