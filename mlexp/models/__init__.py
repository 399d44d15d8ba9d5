"""Model zoo: `build_model(model_cfg, num_classes)` returns a flax.linen Module.

Every model is called as `model.apply(variables, x, lengths, train=..., dropout_rate=..., rngs=...)`;
image models ignore `lengths`. `dropout_rate` is data (an array), so it can be vmapped over trials.
"""
from __future__ import annotations

from mlexp.models.cnn import CNN
from mlexp.models.linear import MeanLinear
from mlexp.models.mlp import MLP
from mlexp.models.rnn import RNNClassifier

MODEL_KINDS = ("mlp", "cnn", "gru", "lstm", "linear")
IMAGE_MODELS = ("mlp", "cnn")
SEQUENCE_MODELS = ("gru", "lstm", "linear")


def build_model(m, num_classes: int):
  kind = m.kind
  if kind == "mlp":
    return MLP(num_classes, units=tuple(int(u) for u in m.units), activation=m.activation)
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
