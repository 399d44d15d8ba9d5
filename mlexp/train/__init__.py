"""Training: the pure program (program.py: step.py, evaluation.py, bookkeeping.py, state.py, optim.py), compiled
programs shared in a process (programs.py), groups of models (group.py), single runs (trainer.py)."""

import sys as _sys

from mlexp import _callable_package

_sys.modules[__name__].__class__ = _callable_package  # mlexp.train(config, workdir=None): the Python API (mlexp/api.py)
