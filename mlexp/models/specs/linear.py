"""The sequence baseline: masked mean over time, one linear layer (mlexp/models/linear.py)."""
from mlexp.models.specs import ModelSpec


def build(m, num_classes):
  from mlexp.models.linear import MeanLinear
  return MeanLinear(num_classes)


SPECS = (ModelSpec(kind="linear", data="sequence", check=lambda c: None, build=build, defaults={"dropout": 0.0},
                   tuned={"optimizer.learning_rate": 1e-2}),)
