"""Width buckets: which trials of a sweep share one padded program (pure).

Widths (MLP units, RNN hidden size and Conv1d filters, CNN filters and dense units) change array
shapes; depth (MLP and RNN layers) is data inside a program (mlexp.models). Trials that agree on
everything else are sorted by width and cut into contiguous buckets; a bucket is one compiled program
whose sizes are the maxima of its members, each member keeping its own true sizes (`Member.dims`).

The cut is chosen by dynamic programming to minimise the estimated time
  (number of programs) x compile seconds  +  sum over members of padded training seconds,
with padded work priced by the device: on CPU members run one after another, so padding costs its
FLOPs (and layers past a member's depth cost nothing: they are skipped); on GPU/TPU members are vmapped
and padding is nearly free. The CPU compile seconds are calibrated on a 2-core x86 machine
(COMPILE_S_CPU). `sweep.padding`: auto (this optimum), none (one program per exact shape),
max (one padded program per group key).
"""
from __future__ import annotations

import dataclasses
import math

PADDING_MODES = ("auto", "none", "max")
# rough throughput for the estimate (FLOP/s of small matmuls) and compile seconds per program; on CPU an
# MLP's larger matmuls run faster (measured 0.29-0.36 s per member-epoch where 20e9 says 0.5-0.8)
CPU_FLOPS = 20e9
# An MLP on CPU: matmul FLOPs at ~180 GFLOP/s per core plus 4 ns per parameter per optimizer step (Adam's
# passes over the parameters and the small batch's slower matmuls): fitted on mlp_course's groups at batch
# 32 / 64 / 128 (0.52 / 0.77 / 1.27 CPU s per member-epoch of a 2.0M-parameter member, 4000 examples).
CPU_FLOPS_KIND = {"mlp": 180e9}
STEP_PARAM_S_CPU = {"mlp": 4e-9}
ACCEL_FLOPS = 2e12
# A CNN on CPU is priced by memory, not FLOPs: its convolutions are im2col + one matmul each, and the time goes
# with the im2col elements and the activation elements per example (per training example, evaluation of as
# many test examples included). Fitted on single-member epochs of 1000 mnist_5k images, filters 8..48 in both
# blocks, kernel 3 and 5 (0.22-2.26 s; within 26 %, where FLOPs were off 0.3x-3x: (48, 8) took 4x (8, 48)).
CNN_S_CPU = {"patch": 6.0e-9, "activation": 1.27e-8}
COMPILE_S = {"cpu": 6.0, "gpu": 6.0, "tpu": 10.0}
# On CPU, by model kind: building one program (trace, lower, XLA compile of init + epoch) takes ~5 CPU seconds
# for an MLP and ~9-10 for a GRU (cold cache), and all programs must be built before the first ASHA rung.
# Fitted on the course GRU search timed cold at 6, 4, 3 and 1 programs: one more program cost ~11 s of wall
# time, one estimated training second ~1 s (docs/sweeps.md, "The planner"); the MLP price by the same ratio to its
# compile CPU seconds, checked on configs/sweeps/mlp_course.py.
COMPILE_S_CPU = {"linear": 3.0, "mlp": 10.0, "cnn": 12.0, "gru": 12.0, "lstm": 12.0}
# Batch size as data (CPU): one program holds the training loop of each batch size of its members, and the
# rest once (evaluation, bookkeeping, init); one more batch size costs this share of a program's compile, by
# model kind (measured: mlp_course's 3 batch sizes in one program 13.6 CPU s to build, each alone 7.5-8.7;
# an LSTM with a Conv1d front end on 3 length buckets 48.7 against 19.3-23.1: the training loop is most of it).
BRANCH_SHARE = {"linear": 0.35, "mlp": 0.35, "cnn": 0.5, "gru": 0.65, "lstm": 0.65}
# Each more length bucket of a sequence data set (one more training scan and evaluation loop) adds this share
# of a program's CPU compile (the LSTM above: ~21 CPU s on 3 buckets, a GRU of the course ~10 on 1).
LENGTH_BUCKET_SHARE = 0.45
# Widths as data (CPU): inside a program, members of these kinds may train at narrower padded sizes, a branch
# each (mlexp.train.program; a branch's parameters are the leading blocks of the program's). The program runs
# RNN branches too (tested), but the planner leaves them off: a GRU branch costs 0.65 of a compile, and the
# course search's buckets never gained from one.
BRANCH_KINDS = ("mlp",)


@dataclasses.dataclass(frozen=True)
class Shape:
  """The sizes of one model that matter for cost: kind, widths per layer and depth (true or padded)."""
  kind: str
  widths: tuple  # per hidden layer (mlp units, rnn hidden per layer, cnn filters + dense)
  depth: int
  extra: tuple = ()  # (conv_filters,) for rnn


def shape_of(model) -> Shape:
  k = model.kind
  if k == "mlp":
    u = tuple(int(x) for x in model.units)
    return Shape(k, u, len(u))
  if k in ("gru", "lstm"):
    return Shape(k, (int(model.hidden),) * int(model.layers), int(model.layers), (int(model.conv_filters),))
  if k == "cnn":
    return Shape(k, tuple(int(x) for x in model.filters) + tuple(int(x) for x in model.dense), len(model.filters))
  return Shape(k, (), 0)


def sort_width(model) -> int:
  """The width a trial is sorted and bucketed by."""
  s = shape_of(model)
  return max(s.widths + s.extra, default=0)


def bucket_model(models: list, depth: int = 0) -> dict:
  """The padded model fields of a bucket: the maximum of every width; MLP: the first layer its own width, the
  later layers one shared width, the deepest member's depth (depth is data; `depth`: at least that many
  layers, as a branch of a deeper program has); RNN the largest hidden, layers and front end."""
  k = models[0].kind
  if k == "mlp":  # the first layer's own width, then one width for the stack (inputs to it included)
    depth = max([len(m.units) for m in models] + [depth])
    w0 = max(int(m.units[0]) for m in models)
    if depth == 1:
      return {"units": (w0,)}
    ws = max([int(u) for m in models for u in (m.units if len(m.units) > 1 else ())], default=1)
    return {"units": (w0,) + (ws,) * (depth - 1)}
  if k in ("gru", "lstm"):
    return {"hidden": max(int(m.hidden) for m in models), "layers": max(int(m.layers) for m in models),
            "conv_filters": max(int(m.conv_filters) for m in models)}
  if k == "cnn":
    return {"filters": tuple(max(int(m.filters[i]) for m in models) for i in range(len(models[0].filters))),
            "dense": tuple(max(int(m.dense[i]) for m in models) for i in range(len(models[0].dense)))}
  return {}


def flops(model, padded: dict | None, feature_shape, num_classes: int, steps: int) -> float:
  """Forward FLOPs per example of `model` (true sizes) inside a program of `padded` sizes (None: exact)."""
  k = model.kind
  p = dict(padded or {})
  if k == "mlp":
    true = [int(u) for u in model.units]
    w = p.get("units", true)
    widths = [int(w[i]) if i < len(w) else u for i, u in enumerate(true)]
    n_in, total = math.prod(feature_shape), 0.0
    for u in widths:
      total += 2.0 * n_in * u
      n_in = u
    return total + 2.0 * n_in * num_classes
  if k in ("gru", "lstm"):
    g = 3 if k == "gru" else 4
    h = int(p.get("hidden", model.hidden))
    cf = int(p.get("conv_filters", model.conv_filters))
    f = int(feature_shape[-1])
    total = 0.0
    if int(model.conv_filters):
      total += 2.0 * steps * int(model.conv_kernel) * f * cf
      f = cf
    total += steps * (2.0 * f * g * h + 2.0 * h * g * h)
    total += (int(model.layers) - 1) * steps * 4.0 * h * g * h
    return total + 2.0 * h * num_classes
  if k == "cnn":
    hw = list(feature_shape[:2])
    c, total = int(feature_shape[2]), 0.0
    filters = p.get("filters", tuple(model.filters))
    for fo in filters:
      hw = [-(-x // int(model.strides)) for x in hw]
      total += 2.0 * hw[0] * hw[1] * int(model.kernel_size) ** 2 * c * int(fo)
      c = int(fo)
      if int(model.pool) > 1:
        hw = [max(x // int(model.pool), 1) for x in hw]
    n_in = hw[0] * hw[1] * c
    for u in p.get("dense", tuple(model.dense)):
      total += 2.0 * n_in * int(u)
      n_in = int(u)
    return total + 2.0 * n_in * num_classes
  return 2.0 * float(feature_shape[-1]) * num_classes


@dataclasses.dataclass(frozen=True)
class CostModel:
  """What the planner knows of the run: data sizes, epochs each member is expected to train, device."""
  feature_shape: tuple
  num_classes: int
  n_train: int
  steps: int = 1  # sequence length (1 for images)
  epochs: float = 10.0  # expected epochs per member (ASHA cuts most trials early)
  platform: str = "cpu"
  compile_s: float = 0.0  # 0 = the default of the platform (and model kind on CPU)
  kind: str = ""  # the model kind of the group
  length_buckets: int = 1  # train length buckets (sequences): one training scan each

  def program_seconds(self, batch_sizes: int = 1) -> float:
    """The compile price of one program holding `batch_sizes` training loops."""
    return self.compile_seconds * (1.0 + BRANCH_SHARE.get(self.kind, 0.5) * (batch_sizes - 1))

  @property
  def compile_seconds(self) -> float:
    if self.compile_s:
      return self.compile_s
    if self.platform == "cpu":
      return COMPILE_S_CPU.get(self.kind, COMPILE_S["cpu"]) * (1.0 + LENGTH_BUCKET_SHARE * (self.length_buckets - 1))
    return COMPILE_S.get(self.platform, COMPILE_S["cpu"])

  def train_seconds(self, model, padded, batch: int = 0) -> float:
    """Training seconds of one member (forward + backward ~ 3x forward) in a program of `padded` sizes;
    on CPU an MLP's optimizer step also costs per parameter (STEP_PARAM_S_CPU x its batches, `batch`)."""
    if self.platform == "cpu" and model.kind == "cnn":
      return cnn_cpu_seconds(model, padded, self.feature_shape, self.num_classes) * self.n_train * self.epochs
    rate = CPU_FLOPS_KIND.get(model.kind, CPU_FLOPS) if self.platform == "cpu" else ACCEL_FLOPS
    if self.platform != "cpu" and padded and model.kind in ("mlp", "gru", "lstm"):  # vmapped: every layer runs
      model = _with(model, padded)
    f = flops(model, padded, self.feature_shape, self.num_classes, self.steps)
    per_step = STEP_PARAM_S_CPU.get(model.kind, 0.0) if self.platform == "cpu" and batch else 0.0
    steps = -(-self.n_train // batch) if batch else 0
    # an MLP's forward FLOPs per example are ~2x its parameters
    return (3.0 * f * self.n_train / rate + per_step * steps * f / 2.0) * self.epochs


def cnn_cpu_seconds(model, padded, feature_shape, num_classes: int) -> float:
  """CPU seconds per training example of a CNN member (true depth, `padded` widths or its own): its im2col and
  activation elements (CNN_S_CPU), and its dense layers' FLOPs."""
  from mlexp.models.specs.cnn import out_size
  p = dict(padded or {})
  hw, c = list(feature_shape[:2]), int(feature_shape[2])
  k, s, pool = int(model.kernel_size), int(model.strides), int(model.pool)
  patch = act = 0.0
  for fo in p.get("filters", tuple(model.filters)):
    hw = [out_size(x, k, s, model.padding) for x in hw]
    patch += hw[0] * hw[1] * k * k * c
    act += hw[0] * hw[1] * int(fo)
    c = int(fo)
    if pool > 1 and min(hw) >= pool:
      hw = [x // pool for x in hw]
  n_in, dense = hw[0] * hw[1] * c, 0.0
  for u in p.get("dense", tuple(model.dense)):
    dense += 2.0 * n_in * int(u)
    n_in = int(u)
  dense += 2.0 * n_in * num_classes
  return CNN_S_CPU["patch"] * patch + CNN_S_CPU["activation"] * act + 3.0 * dense / CPU_FLOPS_KIND["mlp"]


def _with(model, padded):
  from mlexp.models import resized
  return resized(model, padded)


def expected_epochs(epochs: int, mode: str, grace: int, factor: int) -> float:
  """Epochs a trial trains on average: all of them without ASHA; with ASHA a 1/factor share of the trials
  goes on past each rung (grace * factor**k)."""
  if mode != "asha":
    return float(epochs)
  total, prev, share, rung = 0.0, 0, 1.0, grace
  while prev < epochs:
    stop = min(rung, epochs)
    total += share * (stop - prev)
    prev, share, rung = stop, share / factor, rung * factor
  return total


def _train_memo(models: list, cost: CostModel, batches=None):
  """train(i, padded) -> cost.train_seconds of model i at the padded sizes (None: exact), each pair computed
  once (the dynamic programs below ask for the same pairs many times)."""
  memo: dict = {}

  def train(i, padded):
    key = (i, None if padded is None else tuple(sorted(padded.items())))
    if key not in memo:
      memo[key] = cost.train_seconds(models[i], padded, batches[i] if batches else 0)
    return memo[key]
  return train


def _segments(n: int, cost) -> tuple[float, list]:
  """The cut of 0..n-1 into contiguous segments [a, b) that minimises the sum of cost(a, b) (dynamic
  programming): (total, [(a, b), ...])."""
  best, cut = [0.0] + [math.inf] * n, [0] * (n + 1)
  for b in range(1, n + 1):
    for a in range(b):
      c = best[a] + cost(a, b)
      if c < best[b]:
        best[b], cut[b] = c, a
  out, b = [], n
  while b > 0:
    out.append((cut[b], b))
    b = cut[b]
  return best[n], out[::-1]


def partition(models: list, padding: str, cost: CostModel, batches=None) -> list[list[int]]:
  """Indices of `models` (configs sharing a group key) cut into buckets, each sorted by width. batches:
  each model's batch size when they may differ inside a program (a program's compile grows by BRANCH_SHARE
  per extra batch size)."""
  return partition_cost(models, padding, cost, batches)[1]


def partition_cost(models: list, padding: str, cost: CostModel, batches=None) -> tuple[float, list[list[int]]]:
  """(estimated seconds, buckets): the cut of `partition` and what it costs (compile + padded training)."""
  order = sorted(range(len(models)), key=lambda i: (sort_width(models[i]), i))
  n = len(order)
  train = _train_memo(models, cost, batches)
  shapes = [shape_of(m) for m in models]

  def bucket_cost(idx):  # these members in one program
    padded = bucket_model([models[i] for i in idx]) if len({shapes[i] for i in idx}) > 1 else None
    branches = len({batches[i] for i in idx}) if batches else 1
    return cost.program_seconds(branches) + sum(train(i, padded) for i in idx)

  if padding == "max" or n <= 1:
    return bucket_cost(order), [order]
  if padding == "none":
    by_shape: dict = {}
    for i in order:
      by_shape.setdefault(shapes[i], []).append(i)
    return sum(bucket_cost(b) for b in by_shape.values()), list(by_shape.values())
  total, cuts = _segments(n, lambda a, b: bucket_cost(order[a:b]))
  return total, [order[a:b] for a, b in cuts]


def branch_cut(models: list, idx: list, cost: CostModel, batches=None) -> list[list[int]]:
  """The members `idx` of one program (sorted by width) cut into contiguous branches, each trained at the
  padded sizes of its own members (bucket_model at the program's depth): minimises BRANCH_SHARE of a compile
  per extra branch (one per batch size in it) plus the members' training at their branch's sizes."""
  n = len(idx)
  depth = max((len(models[i].units) for i in idx), default=0) if models[idx[0]].kind == "mlp" else 0
  share = BRANCH_SHARE.get(cost.kind, 0.5) * cost.compile_seconds
  train = _train_memo(models, cost, batches)

  def sub_cost(a, b):
    ms = [models[i] for i in idx[a:b]]
    padded = bucket_model(ms, depth)
    nb = len({batches[i] for i in idx[a:b]}) if batches else 1
    return share * nb + sum(train(i, padded) for i in idx[a:b])

  return [list(idx[a:b]) for a, b in _segments(n, sub_cost)[1]]


def overhead(models: list, padded: dict, cost: CostModel, batches=None) -> float:
  """Padded training time over the members' exact training time, minus 1 (0.25 = 25% more compute)."""
  b = batches or [0] * len(models)
  exact = sum(cost.train_seconds(m, None, bi) for m, bi in zip(models, b))
  pad = sum(cost.train_seconds(m, padded, bi) for m, bi in zip(models, b))
  return pad / exact - 1.0 if exact > 0 else 0.0
