"""What the planner knows of time on a device (pure): training seconds of a member at padded or its own sizes,
compile seconds of a program, and a search's wall time from them. Used by the bucket cut (sweeps/widths.py),
the plan line (sweeps/plan.py) and the device balance (sweeps/balance.py); docs/sweeps.md, "The planner"."""
from __future__ import annotations

import dataclasses
import math

# rough throughput for the estimate (FLOP/s of small matmuls) and compile seconds per program; on CPU an
# MLP's larger matmuls run faster (measured 0.29-0.36 s per member-epoch where 20e9 says 0.5-0.8)
CPU_FLOPS = 20e9
# An MLP on CPU: matmul FLOPs at ~100 GFLOP/s per core plus 4 ns per parameter per optimizer step (Adam's
# passes over the parameters and the small batch's slower matmuls): fitted on mlp_course's groups at batch
# 128 / 64 / 32 (0.52 / 0.77 / 1.27 CPU s per member-epoch of a 2.0M-parameter member, 4000 examples; now
# priced 0.65 / 0.86 / 1.26) and the week-1 study's members (rms log error 0.13; was 0.51 at 180 GFLOP/s and
# 4 ns on every parameter).
CPU_FLOPS_KIND = {"mlp": 100e9}
CNN_DENSE_FLOPS = 180e9  # a CNN's dense layers (CNN_S_CPU was fitted with them at this rate)
STEP_PARAM_S_CPU = {"mlp": 4e-9}
# ... but only for the parameters past what the cache holds (a member of 268k parameters, the week-1 baseline,
# measured 0.27 ms a step from batch 4 to 128, not the 1.1 ms 4 ns a parameter gives), plus a fixed cost per
# step (the loop, the small ops' dispatch: trial_time.STEP_S): fitted on the week-1 study's members (units 16 ..
# 1024, batch 4 .. 128), where 4 ns on every parameter priced batch 4 at 3.3x what it measured.
CACHED_PARAMS = 300_000
STEP_S_CPU = {"mlp": 2.5e-4}
ACCEL_FLOPS = 2e12
# A CNN on CPU is priced by memory, not FLOPs: its convolutions are im2col + one matmul each, and the time goes
# with the im2col elements and the activation elements per example (per training example, evaluation of as
# many test examples included). Fitted on single-member epochs of 1000 mnist_5k images, filters 8..48 in both
# blocks, kernel 3 and 5 (0.22-2.26 s; within 26 %, where FLOPs were off 0.3x-3x: (48, 8) took 4x (8, 48)).
CNN_S_CPU = {"patch": 6.0e-9, "activation": 1.27e-8}
COMPILE_S = {"cpu": 6.0, "gpu": 6.0, "tpu": 10.0}
# On CPU, by model kind: CPU seconds to build one program (trace, lower, XLA compile of init + epoch), cold cache:
# an MLP ~7.5-8.7 (mlp_course, one batch size), a GRU ~9-10, a CNN of two blocks ~10-11 (the held-back CNN search:
# 15 programs, 144-165 s of compile). Real seconds, since the program DP prices training at the epochs a trial is
# expected to train under ASHA, as the plan line does (before, the DP priced every epoch and these prices were
# inflated to match: 10 / 12 / 12 s). Checked against whole searches through `wall_seconds` (docs/sweeps.md).
COMPILE_S_CPU = {"linear": 3.0, "mlp": 8.0, "cnn": 11.0, "gru": 10.0, "lstm": 10.0}
# Batch size as data (CPU): one program holds the training loop of each batch size of its members, and the
# rest once (evaluation, bookkeeping, init); one more batch size costs this share of a program's compile, by
# model kind (measured: mlp_course's 3 batch sizes in one program 13.6 CPU s to build, each alone 7.5-8.7;
# an LSTM with a Conv1d front end on 3 length buckets 48.7 against 19.3-23.1: the training loop is most of it).
BRANCH_SHARE = {"linear": 0.35, "mlp": 0.35, "cnn": 0.5, "gru": 0.65, "lstm": 0.65}
# Each more length bucket of a sequence data set (one more training scan and evaluation loop) adds this share
# of a program's CPU compile (the LSTM above: ~21 CPU s on 3 buckets, a GRU of the course ~10 on 1).
LENGTH_BUCKET_SHARE = 0.45


def flops(model, padded_sizes: dict | None, feature_shape, num_classes: int, steps: int) -> float:
  """Forward FLOPs per example of `model` (true sizes) inside a program of `padded_sizes` (None: exact)."""
  k = model.kind
  p = dict(padded_sizes or {})
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
      total += 2.0 * hw[0] * hw[1] * int(p.get("kernel_size", model.kernel_size)) ** 2 * c * int(fo)
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
  copies: int = 1  # the members each priced model stands for (the planner cuts trials: each trains its seeds)

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

  def train_seconds(self, model, padded_sizes, batch: int = 0) -> float:
    """Training seconds of one member (forward + backward ~ 3x forward) in a program of `padded_sizes`, times
    `copies`; on CPU an MLP's optimizer step also costs (STEP_S_CPU, and STEP_PARAM_S_CPU per parameter past
    CACHED_PARAMS, x its batches: `batch`)."""
    return self.copies * self._member_seconds(model, padded_sizes, batch)

  def _member_seconds(self, model, padded_sizes, batch: int) -> float:
    if self.platform == "cpu" and model.kind == "cnn":
      return cnn_cpu_seconds(model, padded_sizes, self.feature_shape, self.num_classes) * self.n_train * self.epochs
    rate = CPU_FLOPS_KIND.get(model.kind, CPU_FLOPS) if self.platform == "cpu" else ACCEL_FLOPS
    if self.platform != "cpu" and padded_sizes and model.kind in ("mlp", "gru", "lstm"):  # vmapped: every layer runs
      model = _with(model, padded_sizes)
    f = flops(model, padded_sizes, self.feature_shape, self.num_classes, self.steps)
    steps = -(-self.n_train // batch) if batch and self.platform == "cpu" else 0
    # an MLP's forward FLOPs per example are ~2x its parameters
    per_step = (STEP_S_CPU.get(model.kind, 0.0)
                + STEP_PARAM_S_CPU.get(model.kind, 0.0) * max(0.0, f / 2.0 - CACHED_PARAMS))
    return (3.0 * f * self.n_train / rate + per_step * steps) * self.epochs


def cnn_cpu_seconds(model, padded_sizes, feature_shape, num_classes: int) -> float:
  """CPU seconds per training example of a CNN member (true depth; the widths of `padded_sizes`, or its own): its
  im2col and activation elements (CNN_S_CPU), and its dense layers' FLOPs."""
  from mlexp.models.cnn.geometry import out_size
  p = dict(padded_sizes or {})
  hw, c = list(feature_shape[:2]), int(feature_shape[2])
  k, s, pool = int(p.get("kernel_size", model.kernel_size)), int(model.strides), int(model.pool)
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
  return CNN_S_CPU["patch"] * patch + CNN_S_CPU["activation"] * act + 3.0 * dense / CNN_DENSE_FLOPS


def _with(model, padded_sizes):
  from mlexp.models import resized
  return resized(model, padded_sizes)


# The plan's wall time on CPU (`wall_seconds`): the process's start (imports, data, planning) plus the compiles and
# the training, each spread over the devices: programs compile in worker threads (sweep.compile_ahead) at one
# core each, members train one device (core) each. Fitted on the held-back searches (docs/sweeps.md, "The planner").
START_S_CPU = 8.0


def wall_seconds(compile_s: float, train_s: float, programs: int, platform: str = "cpu", devices: int = 1,
                 busiest: float | None = None) -> float:
  """The planner's estimate of a search's wall time from its compile and training seconds (their sums);
  busiest: the training seconds of each group's busiest device, summed (busiest_share), in place of train_s
  spread evenly over the devices."""
  if platform != "cpu":
    return compile_s + train_s
  n = max(1, int(devices))
  return START_S_CPU + compile_s / max(1, min(n, int(programs))) + (train_s / n if busiest is None else busiest)


def busiest_share(members: int, devices: int) -> float:
  """The share of a group's training seconds on its busiest device (CPU): its members split evenly over the
  devices (training/group.py's slot map), so 3 members on 2 devices leave one device 2 of them: 2/3, not 1/2
  (a CNN study of 3-seed groups ran 253 s where an even spread priced 178 s). A group narrower than the devices
  trains in a lane beside others (sweeps/balance.py): 1/devices."""
  n, d = max(1, int(members)), max(1, int(devices))
  return 1.0 / d if n < d else -(-n // d) / n


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


