"""Hyperparameter sweeps: search spaces (space.py), grouping by program shape (grouping.py),
ASHA early stopping (asha.py), and the runner that executes groups as vmapped programs (runner.py)."""
