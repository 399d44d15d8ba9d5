"""Model zoo: `build_model(model_cfg, num_classes)` returns a flax.linen Module.

Every model is called as `model.apply(variables, x, lengths, train=..., dropout_rate=..., dims=..., rngs=...)`;
image models ignore `lengths`. `dropout_rate` is data (an array), so it can be vmapped over trials;
`dims` (None, or a member's true widths and depth as arrays) lets members of different sizes share one
padded program (mlexp.sweeps.widths). The kinds are declared in mlexp/models/<family>/spec.py (jax-free);
importing this package loads no flax.
"""
from __future__ import annotations

from mlexp.models.specs import IMAGE_MODELS, MODEL_KINDS, MODELS, SEQUENCE_MODELS, spec

# the model fields a padded group may vary between members (widths and depth); everything else is static
PADDED_FIELDS = {k: s.padded_fields for k, s in MODELS.items()}


def build_model(m, num_classes: int, stacked: bool = False):
  """stacked: the MLP's layers after the first as one scan over stacked parameters (padded groups)."""
  return spec(m.kind).build(m, num_classes, stacked)


def count_params(m, feature_shape, num_classes: int) -> int:
  """The parameter count of the model a config names (its true sizes; padding is never counted)."""
  return int(spec(m.kind).count(m, tuple(feature_shape), num_classes))


def layer_of(m):
  """For a padded group's model: parameter name -> the index of the hidden layer it belongs to (None: every
  member has it), or None when the model's layers are not separate parameters (mlexp.training.optim.by_layer)."""
  return spec(m.kind).layer_of


def resized(model_cfg, sizes) -> object:
  """A copy of the model config with some size fields replaced ((field, value) pairs or a dict): a member's true
  sizes inside its group's bucket, or a branch's narrower padded sizes."""
  import ml_collections
  m = ml_collections.ConfigDict(model_cfg.to_dict())
  for k, v in dict(sizes).items():
    m[k] = tuple(v) if isinstance(v, (list, tuple)) else v
  return m


def member_dims(bucket, true: dict) -> dict:
  """A member's true sizes as int arrays, in the layout its padded model reads (`dims=`): bucket is the
  group's model config (the padded sizes), true the member's own values of PADDED_FIELDS."""
  return spec(bucket.kind).dims(bucket, dict(true))


__all__ = ["build_model", "count_params", "layer_of", "member_dims", "resized", "MODELS", "MODEL_KINDS", "IMAGE_MODELS",
           "SEQUENCE_MODELS", "PADDED_FIELDS", "spec"]
