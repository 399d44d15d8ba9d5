"""Model zoo: `build_model(model_cfg, num_classes)` returns a flax.linen Module.

Every model is called as `model.apply(variables, x, lengths, train=..., dropout_rate=..., rngs=...)`;
image models ignore `lengths`. `dropout_rate` is data (an array), so it can be vmapped over trials.
The kinds are declared in mlexp/models/specs/ (jax-free); importing this package loads no flax.
"""
from __future__ import annotations

from mlexp.models.specs import IMAGE_MODELS, MODEL_KINDS, MODELS, SEQUENCE_MODELS, spec


def build_model(m, num_classes: int):
  return spec(m.kind).build(m, num_classes)


__all__ = ["build_model", "MODELS", "MODEL_KINDS", "IMAGE_MODELS", "SEQUENCE_MODELS"]
