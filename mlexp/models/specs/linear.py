"""The sequence baseline: masked mean over time, one linear layer (mlexp/models/linear.py)."""
from mlexp.models.specs import ModelSpec


def build(m, num_classes, stacked=False):
  from mlexp.models.linear import MeanLinear
  return MeanLinear(num_classes)


SPECS = (ModelSpec(kind="linear", data="sequence", check=lambda c: None, build=build, defaults={"dropout": 0.0},
                   tuned={"optimizer.learning_rate": 1e-2},
                   count=lambda m, shape, k: int(shape[-1]) * k + k, dims=lambda bucket, true: {}),)
