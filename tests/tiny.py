"""Tiny data sets and configs for the engine tests (imported by tests/test_*.py)."""
from __future__ import annotations

import glob
import os
import struct

import numpy as np

from mlexp.config import base_config, validate
from mlexp.data import Dataset, Split
from mlexp.models import IMAGE_MODELS
from mlexp.sweeps.space import set_field

N_TRAIN, N_TEST, CLASSES = 16, 8, 3
HW, T, C = 6, 6, 3


def image_dataset(seed: int = 0) -> Dataset:
  rng = np.random.default_rng(seed)
  n = N_TRAIN + N_TEST
  y = np.arange(n, dtype=np.int32) % CLASSES
  x = rng.normal(size=(n, HW, HW, 1)).astype(np.float32)
  x[np.arange(n), y, y, 0] += 3.0  # a learnable signal
  return Dataset(name="tiny_images", source="tests", kind="image", num_classes=CLASSES,
                 feature_shape=(HW, HW, 1), train=Split(x[:N_TRAIN], y[:N_TRAIN]),
                 test=Split(x[N_TRAIN:], y[N_TRAIN:]), synthetic=True)


def sequence_dataset(seed: int = 0) -> Dataset:
  rng = np.random.default_rng(seed)
  n = N_TRAIN + N_TEST
  y = np.arange(n, dtype=np.int32) % CLASSES
  lengths = rng.integers(2, T + 1, n).astype(np.int32)
  lengths[0] = T
  x = rng.normal(size=(n, T, C)).astype(np.float32)
  x[np.arange(n), :, y] += 1.0
  x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0  # zero padding, as the data layer delivers
  return Dataset(name="tiny_sequences", source="tests", kind="sequence", num_classes=CLASSES,
                 feature_shape=(C,), train=Split(x[:N_TRAIN], y[:N_TRAIN], lengths[:N_TRAIN]),
                 test=Split(x[N_TRAIN:], y[N_TRAIN:], lengths[N_TRAIN:]), synthetic=True)


def dataset_for(kind: str, seed: int = 0) -> Dataset:
  return image_dataset(seed) if kind in IMAGE_MODELS else sequence_dataset(seed)


def config(kind: str, **overrides):
  """A validated config with a tiny model: sgd, constant schedule, one step per epoch, one bucket.

  overrides: dotted field -> value, e.g. config("gru", **{"model.conv_filters": 2}).
  """
  c = base_config(kind, "synthetic_images" if kind in IMAGE_MODELS else "synthetic_sequences")
  m = c.model
  if kind == "mlp":
    m.units = (8,)
  elif kind == "cnn":
    m.filters = (2,)
    m.dense = (4,)
  elif kind in ("gru", "lstm"):
    m.hidden = 4
    m.layers = 2
    m.unroll = 1
  c.epochs = 2
  c.batch_size = N_TRAIN
  c.eval_batch_size = 5  # not a divisor of N_TEST: exercises the padded last chunk
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.5
  c.schedule.name = "constant"
  c.data.num_buckets = 1
  c.checkpoint.enabled = False
  return override(c, **overrides)


def run_group(cfg, members, epochs: int):
  """A Group of `members` on the tiny data of cfg's model kind, trained `epochs` epochs:
  (group, final state on the host, [per-epoch metrics])."""
  import jax
  from mlexp.training.group import Group, device_splits
  ds = dataset_for(cfg.model.kind)
  train, test = device_splits(ds, 1)
  group = Group(cfg, train, test, ds.num_classes, members)
  state = group.init()
  metrics = []
  for _ in range(epochs):
    state, m, _ = group.epoch(state)
    metrics.append(m)
  return group, jax.device_get(state), metrics


def events(run_dir: str):
  """Every Event in the TFRecord event files under run_dir (read without TensorFlow)."""
  from tensorboardX.proto import event_pb2
  files = glob.glob(os.path.join(run_dir, "**", "events.out.tfevents.*"), recursive=True)
  assert files, f"no event files in {run_dir}"
  for path in files:
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])
      yield event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4


def read_tensorboard(run_dir: str) -> dict:
  """tag -> {step: value} of the scalars under run_dir."""
  out = {}
  for event in events(run_dir):
    for v in event.summary.value:
      if v.HasField("simple_value"):
        out.setdefault(v.tag, {})[event.step] = v.simple_value
  return out


def override(c, **fields):
  """c with dotted fields set (`**{"model.hidden": 8}`), validated."""
  for key, value in fields.items():
    set_field(c, key, value)
  validate(c)
  return c
