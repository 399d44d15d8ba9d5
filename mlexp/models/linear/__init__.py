"""The sequence baseline (mean over time, then linear layers): spec.py (jax-free: fields, defaults, checks,
counts) and model.py (the flax Module)."""
