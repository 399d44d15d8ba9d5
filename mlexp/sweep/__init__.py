"""Hyperparameter sweeps: search spaces (space.py), grouping by program shape (grouping.py), ASHA (asha.py);
planning (plan.py), execution through the epoch loop (execute.py), outcome and merge (outcome.py), and the
runner that strings them together (runner.py)."""

import sys as _sys

from mlexp import _callable_package

_sys.modules[__name__].__class__ = _callable_package  # mlexp.sweep(config, workdir=None): the Python API (mlexp/api.py)
