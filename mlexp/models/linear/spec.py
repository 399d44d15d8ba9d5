"""The sequence baseline: masked mean over time, then linear layers (mlexp/models/linear/model.py): `units` hidden
Dense layers (default none: one linear layer on the mean)."""
from mlexp.config import checks as C
from mlexp.models.specs import ACTIVATION_NAMES, ModelSpec


def check(c):
  C.int_list(c, "model.units", 1)
  C.choice(c, "model.activation", ACTIVATION_NAMES)


def build(m, num_classes, stacked=False):
  from mlexp.models.linear.model import MeanLinear
  return MeanLinear(num_classes, units=tuple(int(u) for u in m.get("units", ())),
                    activation=m.get("activation", "relu"))


def count(m, feature_shape, num_classes):
  total, prev = 0, int(feature_shape[-1])
  for u in m.get("units", ()):
    total += prev * int(u) + int(u)
    prev = int(u)
  return total + prev * num_classes + num_classes


SPECS = (ModelSpec(kind="linear", data="sequence", check=check, build=build,
                   defaults={"units": (),  # hidden Dense layers after the mean: (64,) adds one; () none
                             "activation": "relu", "dropout": 0.0},
                   tuned={"optimizer.learning_rate": 1e-2},
                   count=count, dims=lambda bucket, true: {}),)
