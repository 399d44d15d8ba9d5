"""The CNN family: spec.py (jax-free: fields, defaults, checks, counts), geometry.py (feature-map sizes, used by
both) and model.py (the flax Module)."""
