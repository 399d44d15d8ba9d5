"""Multilayer perceptron (mlexp/models/mlp/model.py)."""
import math
import re

import numpy as np

from mlexp.config import checks as C
from mlexp.models.specs import ACTIVATION_NAMES, ModelSpec


def check(c):
  C.int_list(c, "model.units", 1)
  C.choice(c, "model.activation", ACTIVATION_NAMES)


def build(m, num_classes, stacked=False):
  from mlexp.models.mlp.model import MLP
  return MLP(num_classes, units=tuple(int(u) for u in m.units), activation=m.activation, stacked=stacked)


def count(m, feature_shape, num_classes):
  total, prev = 0, math.prod(feature_shape)
  for u in m.units:
    total += prev * int(u) + int(u)
    prev = int(u)
  return int(total + prev * num_classes + num_classes)


def dims(bucket, true):
  units = [int(u) for u in true.get("units", bucket.units)]
  full = units + [0] * (len(bucket.units) - len(units))
  return {"units": np.asarray(full, np.int32), "layers": np.asarray(len(units), np.int32)}


def layer_of(name):
  """dense{l}_kernel / dense{l}_bias -> l for the layers after the first (the ones a member may not have)."""
  m = re.fullmatch(r"dense(\d+)_(kernel|bias)", name)
  return int(m.group(1)) if m and int(m.group(1)) > 0 else None


SPECS = (ModelSpec(
    kind="mlp", data="image", check=check, build=build,
    defaults={"units": (256, 256),  # one Dense layer per entry: (256, 256, 128) adds a layer
              "activation": "relu", "dropout": 0.0},
    smoke={"units": (32, 32)}, padded_fields=("units",), count=count, dims=dims, layer_of=layer_of, tabular=True),)
