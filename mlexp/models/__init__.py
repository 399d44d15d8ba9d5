"""Model zoo: `build_model(model_cfg, num_classes)` returns a flax.linen Module.

Every model is called as `model.apply(variables, x, lengths, train=..., dropout_rate=..., dims=..., rngs=...)`;
image models ignore `lengths`. `dropout_rate` is data (an array), so it can be vmapped over trials;
`dims` (None, or a member's true widths and depth as arrays) lets members of different sizes share one
padded program (mlexp.sweep.buckets).
"""
from __future__ import annotations

import math

from mlexp.models import cnn, linear, mlp, rnn
from mlexp.models.cnn import CNN
from mlexp.models.linear import MeanLinear
from mlexp.models.mlp import MLP
from mlexp.models.rnn import RNNClassifier

MODEL_KINDS = ("mlp", "cnn", "gru", "lstm", "linear")
IMAGE_MODELS = ("mlp", "cnn")
SEQUENCE_MODELS = ("gru", "lstm", "linear")


def build_model(m, num_classes: int, stacked: bool = False):
  """stacked: the MLP's layers after the first as one scan over stacked parameters (padded groups)."""
  kind = m.kind
  if kind == "mlp":
    return MLP(num_classes, units=tuple(int(u) for u in m.units), activation=m.activation, stacked=stacked)
  if kind == "cnn":
    return CNN(num_classes, filters=tuple(int(f) for f in m.filters), kernel_size=int(m.kernel_size),
               strides=int(m.strides), padding=m.padding, pool=int(m.pool),
               dense=tuple(int(u) for u in m.dense), activation=m.activation)
  if kind in ("gru", "lstm"):
    return RNNClassifier(num_classes, cell=kind, hidden=int(m.hidden), layers=int(m.layers),
                         conv_filters=int(m.conv_filters), conv_kernel=int(m.conv_kernel),
                         readout=m.readout, unroll=int(m.unroll))
  if kind == "linear":
    return MeanLinear(num_classes)
  raise ValueError(f"unknown model.kind {kind!r}; allowed: {', '.join(MODEL_KINDS)}")


def count_params(m, feature_shape, num_classes: int) -> int:
  """The parameter count of the model a config names (its true sizes; padding is never counted)."""
  kind = m.kind
  if kind == "mlp":
    return mlp.count_params([int(u) for u in m.units], int(math.prod(feature_shape)), num_classes)
  if kind == "cnn":
    return cnn.count_params(tuple(feature_shape[:2]), int(feature_shape[2]), [int(f) for f in m.filters],
                            int(m.kernel_size), int(m.strides), m.padding, int(m.pool), [int(u) for u in m.dense],
                            num_classes)
  if kind in ("gru", "lstm"):
    return rnn.count_params(kind, int(m.hidden), int(m.layers), int(m.conv_filters), int(m.conv_kernel),
                            int(feature_shape[-1]), num_classes)
  if kind == "linear":
    return linear.count_params(int(feature_shape[-1]), num_classes)
  raise ValueError(f"unknown model.kind {kind!r}; allowed: {', '.join(MODEL_KINDS)}")


# the model fields a padded group may vary between members (widths and depth); everything else is static
PADDED_FIELDS = {"mlp": ("units",), "cnn": ("filters", "dense"), "gru": ("hidden", "layers", "conv_filters"),
                 "lstm": ("hidden", "layers", "conv_filters"), "linear": ()}


def member_dims(bucket, true: dict) -> dict:
  """A member's true sizes as int arrays, in the layout its padded model reads (`dims=`): bucket is the
  group's model config (the padded sizes), true the member's own values of PADDED_FIELDS."""
  import numpy as np
  get = lambda k: true.get(k, bucket[k])
  if bucket.kind == "mlp":
    units = [int(u) for u in get("units")]
    full = units + [0] * (len(bucket.units) - len(units))
    return {"units": np.asarray(full, np.int32), "layers": np.asarray(len(units), np.int32)}
  if bucket.kind == "cnn":
    return {"filters": np.asarray([int(f) for f in get("filters")], np.int32),
            "dense": np.asarray([int(u) for u in get("dense")], np.int32)}
  if bucket.kind in ("gru", "lstm"):
    return {k: np.asarray(int(get(k)), np.int32) for k in ("hidden", "layers", "conv_filters")}
  return {"none": np.zeros((), np.int32)}
