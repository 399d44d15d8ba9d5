"""GRU and LSTM classifiers (mlexp/models/rnn/model.py)."""
import numpy as np

from mlexp.config import checks as C
from mlexp.models.specs import ModelSpec


def check(c):
  C.integer(c, "model.hidden", 1)
  C.integer(c, "model.layers", 1, 64)
  C.integer(c, "model.conv_filters", 0)
  C.integer(c, "model.conv_kernel", 1)
  C.choice(c, "model.readout", ("last", "mean"))
  C.integer(c, "model.unroll", 1, 64)
  C.choice(c, "model.first_apart", ("auto", "yes", "no"))


def builder(cell):
  def build(m, num_classes, stacked=False):
    from mlexp.models.rnn.model import RNNClassifier
    return RNNClassifier(num_classes, cell=cell, hidden=int(m.hidden), layers=int(m.layers),
                         conv_filters=int(m.conv_filters), conv_kernel=int(m.conv_kernel),
                         readout=m.readout, unroll=int(m.unroll), first_apart=m.get("first_apart", "auto") == "yes")
  return build


def counter(cell):
  def count(m, feature_shape, num_classes):
    g, h, n_in, total = GATES[cell], int(m.hidden), int(feature_shape[-1]), 0
    if int(m.conv_filters):
      total += int(m.conv_kernel) * n_in * int(m.conv_filters) + int(m.conv_filters)
      n_in = int(m.conv_filters)
    total += n_in * g * h + 2 * g * h + h * g * h
    total += (int(m.layers) - 1) * (2 * h * g * h + 2 * g * h)
    return total + h * num_classes + num_classes
  return count


def dims(bucket, true):
  return {k: np.asarray(int(true.get(k, bucket[k])), np.int32) for k in ("hidden", "layers", "conv_filters")}


GATES = {"gru": 3, "lstm": 4}
DEFAULTS = {
    "hidden": 64, "layers": 2,
    "dropout": 0.0,  # between recurrent layers (as torch.nn.GRU's dropout)
    "conv_filters": 0,  # > 0 puts a Conv1d front end with this many filters before the RNN
    "conv_kernel": 3,
    "readout": "last",  # last valid step, or "mean" (masked mean over time)
    "unroll": 1,  # steps of the time scan unrolled (a speed / compile-time knob; results are the same)
    # the first layer run apart at its input's width: faster epochs, a second copy of the recurrence to compile
    # (a speed / compile-time knob; the same parameters). auto: for a model of its own sizes trained on at
    # least FIRST_APART_MIN example-epochs (mlexp.training.program)
    "first_apart": "auto",
}
SPECS = tuple(ModelSpec(kind=cell, data="sequence", check=check, build=builder(cell), defaults=DEFAULTS,
                        smoke={"hidden": 16, "unroll": 1},
                        tuned={"optimizer.learning_rate": 3e-3, "early_stopping.patience": 8},
                        padded_fields=("hidden", "layers", "conv_filters"), count=counter(cell), dims=dims)
              for cell in ("gru", "lstm"))
