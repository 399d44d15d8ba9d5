"""Convolutional classifier (mlexp/models/cnn.py)."""
from mlexp.config import checks as C
from mlexp.models.specs import ACTIVATION_NAMES, ModelSpec


def check(c):
  C.int_list(c, "model.filters", 1, allow_empty=False)
  C.integer(c, "model.kernel_size", 1, 28)
  C.integer(c, "model.strides", 1, 28)
  C.choice(c, "model.padding", ("SAME", "VALID"))
  C.integer(c, "model.pool", 0, 28)
  C.int_list(c, "model.dense", 1)
  C.choice(c, "model.activation", ACTIVATION_NAMES)


def build(m, num_classes):
  from mlexp.models.cnn import CNN
  return CNN(num_classes, filters=tuple(int(f) for f in m.filters), kernel_size=int(m.kernel_size),
             strides=int(m.strides), padding=m.padding, pool=int(m.pool),
             dense=tuple(int(u) for u in m.dense), activation=m.activation)


SPECS = (ModelSpec(
    kind="cnn", data="image", check=check, build=build,
    defaults={"filters": (32, 64),  # one conv block per entry
              "kernel_size": 3, "strides": 1, "padding": "SAME", "pool": 2, "dense": (128,),
              "activation": "relu", "dropout": 0.0},
    smoke={"filters": (8, 8), "dense": (16,)}),)
