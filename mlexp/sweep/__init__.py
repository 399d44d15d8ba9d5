"""Hyperparameter sweeps: search spaces (space.py), grouping by program shape (grouping.py), ASHA (asha.py);
planning (plan.py), execution through the epoch loop (execute.py), outcome and merge (outcome.py), and the
runner that strings them together (runner.py)."""
