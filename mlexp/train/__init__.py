"""Training: the pure program (program.py, optim.py), groups of models (group.py), single runs (trainer.py)."""

import sys as _sys

from mlexp import _callable_package

_sys.modules[__name__].__class__ = _callable_package  # mlexp.train(config, workdir=None): the Python API (mlexp/api.py)
