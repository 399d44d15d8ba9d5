"""Convolutional classifier (mlexp/models/cnn/model.py)."""
import numpy as np

from mlexp.config import checks as C
from mlexp.models.cnn.geometry import feature_map
from mlexp.models.specs import ACTIVATION_NAMES, ModelSpec


def check(c):
  C.int_list(c, "model.filters", 1, allow_empty=False)
  C.integer(c, "model.kernel_size", 1, 28)
  C.integer(c, "model.strides", 1, 28)
  C.choice(c, "model.padding", ("SAME", "VALID"))
  C.integer(c, "model.pool", 0, 28)
  C.int_list(c, "model.dense", 1)
  C.choice(c, "model.activation", ACTIVATION_NAMES)


def build(m, num_classes, stacked=False):
  from mlexp.models.cnn.model import CNN
  return CNN(num_classes, filters=tuple(int(f) for f in m.filters), kernel_size=int(m.kernel_size),
             strides=int(m.strides), padding=m.padding, pool=int(m.pool),
             dense=tuple(int(u) for u in m.dense), activation=m.activation)


def count(m, feature_shape, num_classes):
  k, total, c = int(m.kernel_size), 0, int(feature_shape[2])
  for f in m.filters:
    total += k * k * c * int(f) + int(f)
    c = int(f)
  h, w = feature_map(tuple(feature_shape[:2]), m.filters, k, int(m.strides), m.padding, int(m.pool))
  prev = h * w * c
  for u in m.dense:
    total += prev * int(u) + int(u)
    prev = int(u)
  return total + prev * num_classes + num_classes


def paddable_kernel(m) -> bool:
  """Whether a model's kernel size may differ inside one padded program: with 'SAME' padding, an odd k x k
  kernel at least as large as the stride is a larger odd kernel with a zero border (the same centre tap and
  the same output map), so it trains in a program of the larger size (mlexp/models/cnn/model.py, tap_mask)."""
  k = int(m.kernel_size)
  return m.padding == "SAME" and k % 2 == 1 and k >= int(m.strides)


def dims(bucket, true):
  return {"filters": np.asarray([int(f) for f in true.get("filters", bucket.filters)], np.int32),
          "dense": np.asarray([int(u) for u in true.get("dense", bucket.dense)], np.int32),
          "kernel": np.asarray(int(true.get("kernel_size", bucket.kernel_size)), np.int32)}


SPECS = (ModelSpec(
    kind="cnn", data="image", check=check, build=build,
    defaults={"filters": (32, 64),  # one conv block per entry
              "kernel_size": 3, "strides": 1, "padding": "SAME", "pool": 2, "dense": (128,),
              "activation": "relu", "dropout": 0.0},
    smoke={"filters": (8, 8), "dense": (16,)}, padded_fields=("filters", "dense", "kernel_size"), count=count,
    dims=dims),)
