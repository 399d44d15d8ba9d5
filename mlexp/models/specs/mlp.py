"""Multilayer perceptron (mlexp/models/mlp.py)."""
from mlexp.config import checks as C
from mlexp.models.specs import ACTIVATION_NAMES, ModelSpec


def check(c):
  C.int_list(c, "model.units", 1)
  C.choice(c, "model.activation", ACTIVATION_NAMES)


def build(m, num_classes):
  from mlexp.models.mlp import MLP
  return MLP(num_classes, units=tuple(int(u) for u in m.units), activation=m.activation)


SPECS = (ModelSpec(
    kind="mlp", data="image", check=check, build=build,
    defaults={"units": (256, 256),  # one Dense layer per entry: (256, 256, 128) adds a layer
              "activation": "relu", "dropout": 0.0},
    smoke={"units": (32, 32)}),)
