"""The MLP family: spec.py (jax-free: fields, defaults, checks, counts) and model.py (the flax Module)."""
