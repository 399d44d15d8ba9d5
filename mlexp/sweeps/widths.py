"""Width buckets: which trials of a sweep share one padded program (pure).

Widths (MLP units, RNN hidden size and Conv1d filters, CNN filters and dense units) change array
shapes; depth (MLP and RNN layers) is data inside a program (mlexp.models). Trials that agree on
everything else are sorted by width and cut into contiguous buckets; a bucket is one compiled program
whose sizes are the maxima of its members, each member keeping its own true sizes (`Member.dims`).

The cut is chosen by dynamic programming to minimise the estimated time
  (number of programs) x compile seconds  +  sum over members of padded training seconds,
with padded work priced by the device: on CPU members run one after another, so padding costs its
FLOPs (and layers past a member's depth cost nothing: they are skipped); on GPU/TPU members are vmapped
and padding is nearly free (the prices: mlexp/sweeps/costs.py). Bucket widths are rounded up to a fixed
ladder (LADDER), so the same programs recur across searches. `sweep.padding`: auto (this optimum), none (one program per exact shape),
max (one padded program per group key).
"""
from __future__ import annotations

import dataclasses
import math

# the cost model the cut is priced with (mlexp/sweeps/costs.py), under its old names here too
from mlexp.sweeps.costs import (ACCEL_FLOPS, BRANCH_SHARE, CNN_S_CPU, COMPILE_S, COMPILE_S_CPU, CPU_FLOPS,  # noqa: F401
                               CPU_FLOPS_KIND, LENGTH_BUCKET_SHARE, START_S_CPU, STEP_PARAM_S_CPU, CostModel,
                               busiest_share, cnn_cpu_seconds, expected_epochs, flops, wall_seconds)

PADDING_MODES = ("auto", "none", "max")
# Widths as data (CPU): inside a program, members of these kinds may train at narrower padded sizes, a branch
# each (mlexp.training.program; a branch's parameters are the leading blocks of the program's). The program runs
# RNN branches too (tested), but the planner leaves them off: a GRU branch costs 0.65 of a compile, and the
# course search's buckets never gained from one.
BRANCH_KINDS = ("mlp",)


# Bucket widths come from one fixed ladder, round(2 ** (k / 2)): ..., 16, 23, 32, 45, 64, 91, 128, 181, 256, 362,
# 512, 724, 1024, ... (at most ~41 % wider than the widest member), so that the same padded program recurs
# across searches of one space (another seed, more trials) and comes from the persistent compilation cache.
LADDER = tuple(sorted({int(round(2 ** (k / 2))) for k in range(0, 61)}))


def ladder(width: int) -> int:
  """The smallest ladder width >= width."""
  w = int(width)
  return next((x for x in LADDER if x >= w), w)


@dataclasses.dataclass(frozen=True)
class Shape:
  """The sizes of one model that matter for cost: kind, widths per layer and depth (true or padded)."""
  kind: str
  widths: tuple  # per hidden layer (mlp units, rnn hidden per layer, cnn filters + dense)
  depth: int
  extra: tuple = ()  # (conv_filters,) for rnn
  kernel: int = 0  # a CNN's kernel size (paddable: mlexp.models.cnn.spec.paddable_kernel)


def shape_of(model) -> Shape:
  k = model.kind
  if k == "mlp":
    u = tuple(int(x) for x in model.units)
    return Shape(k, u, len(u))
  if k in ("gru", "lstm"):
    return Shape(k, (int(model.hidden),) * int(model.layers), int(model.layers), (int(model.conv_filters),))
  if k == "cnn":
    return Shape(k, tuple(int(x) for x in model.filters) + tuple(int(x) for x in model.dense), len(model.filters),
                 (), int(model.kernel_size))
  return Shape(k, (), 0)


def sort_width(model) -> int:
  """The width a trial is sorted and bucketed by."""
  s = shape_of(model)
  return max(s.widths + s.extra, default=0)


def sort_key(model) -> tuple:
  """The order buckets are cut in: by kernel size (a CNN's, whose padding costs the most), then by width."""
  return (shape_of(model).kernel, sort_width(model))


def bucket_model(models: list, depth: int = 0, round_up=ladder) -> dict:
  """The padded model fields of a bucket: the maximum of every width, rounded up to the LADDER (`round_up`;
  int: the plain maximum); MLP: the first layer its own width, the later layers one shared width, the deepest
  member's depth (depth is data; `depth`: at least that many layers, as a branch of a deeper program has); RNN
  the largest hidden, layers and front end; CNN the largest filters and units per layer and kernel size."""
  k, r = models[0].kind, round_up
  if k == "mlp":  # the first layer's own width, then one width for the stack (inputs to it included)
    depth = max([len(m.units) for m in models] + [depth])
    w0 = r(max(int(m.units[0]) for m in models))
    if depth == 1:
      return {"units": (w0,)}
    ws = r(max([int(u) for m in models for u in (m.units if len(m.units) > 1 else ())], default=1))
    return {"units": (w0,) + (ws,) * (depth - 1)}
  if k in ("gru", "lstm"):
    cf = max(int(m.conv_filters) for m in models)
    return {"hidden": r(max(int(m.hidden) for m in models)), "layers": max(int(m.layers) for m in models),
            "conv_filters": r(cf) if cf else 0}
  if k == "cnn":
    return {"filters": tuple(r(max(int(m.filters[i]) for m in models)) for i in range(len(models[0].filters))),
            "dense": tuple(r(max(int(m.dense[i]) for m in models)) for i in range(len(models[0].dense))),
            "kernel_size": max(int(m.kernel_size) for m in models)}
  return {}


def _train_memo(models: list, cost: CostModel, batches=None):
  """train(i, padded_sizes) -> cost.train_seconds of model i at those sizes (None: exact), each pair computed
  once (the dynamic programs below ask for the same pairs many times)."""
  memo: dict = {}

  def train(i, padded_sizes):
    key = (i, None if padded_sizes is None else tuple(sorted(padded_sizes.items())))
    if key not in memo:
      memo[key] = cost.train_seconds(models[i], padded_sizes, batches[i] if batches else 0)
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
  order = sorted(range(len(models)), key=lambda i: (sort_key(models[i]), i))
  n = len(order)
  train = _train_memo(models, cost, batches)
  shapes = [shape_of(m) for m in models]

  def bucket_cost(idx):  # these members in one program
    padded_sizes = bucket_model([models[i] for i in idx]) if len({shapes[i] for i in idx}) > 1 else None
    branches = len({batches[i] for i in idx}) if batches else 1
    return cost.program_seconds(branches) + sum(train(i, padded_sizes) for i in idx)

  if padding == "max" or n <= 1:
    return bucket_cost(order), [order]
  if padding == "none":
    by_shape: dict = {}
    for i in order:
      by_shape.setdefault(shapes[i], []).append(i)
    return sum(bucket_cost(b) for b in by_shape.values()), list(by_shape.values())
  total, cuts = _segments(n, lambda a, b: bucket_cost(order[a:b]))
  return total, [order[a:b] for a, b in cuts]


def branch_cut(models: list, idx: list, cost: CostModel, batches=None, exact: bool = False) -> list[list[int]]:
  """The members `idx` of one program (sorted by width) cut into contiguous branches, each trained at the
  padded sizes of its own members (bucket_model at the program's depth): minimises BRANCH_SHARE of a compile
  per extra branch (one per batch size in it) plus the members' training at their branch's sizes. exact: a
  branch per shape, whatever it compiles, at its own widths, not the ladder's (a study: every model trains and is
  timed at its own sizes)."""
  n = len(idx)
  depth = max((len(models[i].units) for i in idx), default=0) if models[idx[0]].kind == "mlp" else 0
  share = 1e-9 if exact else BRANCH_SHARE.get(cost.kind, 0.5) * cost.compile_seconds
  train = _train_memo(models, cost, batches)

  def sub_cost(a, b):
    ms = [models[i] for i in idx[a:b]]
    padded_sizes = bucket_model(ms, depth, int if exact else ladder)
    nb = len({batches[i] for i in idx[a:b]}) if batches else 1
    return share * nb + sum(train(i, padded_sizes) for i in idx[a:b])

  return [list(idx[a:b]) for a, b in _segments(n, sub_cost)[1]]


def overhead(models: list, padded_sizes: dict, cost: CostModel, batches=None) -> float:
  """Padded training time over the members' exact training time, minus 1 (0.25 = 25% more compute)."""
  b = batches or [0] * len(models)
  exact = sum(cost.train_seconds(m, None, bi) for m, bi in zip(models, b))
  pad = sum(cost.train_seconds(m, padded_sizes, bi) for m, bi in zip(models, b))
  return pad / exact - 1.0 if exact > 0 else 0.0
