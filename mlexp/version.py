"""The version of mlexp (one place: mlexp/__init__.py re-exports it; records name it: mlexp/summary.py)."""

__version__ = "0.1.0"
