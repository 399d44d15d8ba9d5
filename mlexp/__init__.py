"""mlexp: many small classifiers trained at once with JAX, reproducible from their configs."""

__version__ = "0.1.0"
