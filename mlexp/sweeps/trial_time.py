"""results.csv `train_s`: the seconds of training a trial's own model costs on this device (pure).

In a sweep, models share compiled programs: batch sizes as branches of one program, widths padded into
buckets, seeds and float knobs as members. The program's time shared out among its members says nothing about
one member (batch 4 and 128, or 16 and 1024 units, got nearly the same share). So:

- CPU (members one after another, lax.map): every member's epochs are timed inside the program between two
  host clock stamps (training/member_clock.py timed_epoch): `member_s`, the member's own seconds. A member trained at
  its own sizes ("measured") keeps them. A member trained at padded sizes (a width bucket) costs more there
  than its own model would: its measured seconds are scaled by estimated own work / estimated padded work
  ("measured x own/padded work"), the work from `epoch_seconds` below.
- Otherwise (vmapped members, GPU / TPU; or rows of an older sweep): the group's measured training seconds
  shared by each member's estimated own work over the group's estimated padded work ("estimated").

A member's epoch includes its evaluation on the test (and validation) set, as a single run's epoch_s does.
"""
from __future__ import annotations

import math
import statistics

# One member-epoch on CPU, seconds (one XLA:CPU device, the other busy too): FLOPs at FLOP_S each, every
# training step STEP_S (the loop, the optimizer's passes, dispatch of small ops: measured 0.2 ms a step with a
# 16-unit MLP at batch 4, where the FLOPs take 0.01 ms), every step of a recurrent scan (per layer, forward
# and backward) SCAN_S, every evaluation chunk and epoch EPOCH_S. Fitted on single runs of the week-1 MLP
# (batch 4..128, units 16..1024; docs/sweeps.md, "train_s"); checked on the week-3 GRU (hidden 16 / 64: 0.21
# measured under load, 0.23 estimated). Only ratios between the members of one program are used (own vs padded
# sizes, or shares of a group's measured time), never the absolute value.
FLOP_S = 1 / 39e9
STEP_S = 2.0e-4
SCAN_S = 4.0e-6
EPOCH_S = 3.5e-3
# A recurrent layer past a member's own depth in a deeper program (depth as data) is skipped, but not for free:
# about this share of one of its layers (fitted on the week-3 study's layers knob, 1..7 layers in one 7-layer
# program: a 1-layer member measured 0.68 of the 2-layer baseline there, 0.47 in single runs; per layer the
# study's slope was 0.74 of the single runs')
# Per cell: benchmarks/skip_cost.py (a 2-layer member in a 6-layer program against a program of its own depth,
# hidden 64, 3 rounds): GRU 0.07 (rounds -0.02..0.07), LSTM 0.25 (0.14..0.27).
SKIP_SHARE = {"gru": 0.1, "lstm": 0.25}

MEASURED, SCALED, ESTIMATED = "measured", "measured x own/padded work", "estimated"
BUSY = ", while other programs compiled or trained / slowdown"


def forward_flops(model, padded_sizes, feature_shape, num_classes: int) -> float:
  """Forward FLOPs per example of `model` (its true sizes) at `padded_sizes` (None: its own)."""
  from mlexp.sweeps.costs import cnn_cpu_seconds, flops
  if model.kind == "cnn":  # priced by memory on CPU (seconds per training example): as forward FLOPs at FLOP_S
    return cnn_cpu_seconds(model, padded_sizes, feature_shape, num_classes) / (3.0 * FLOP_S)
  steps = int(feature_shape[0]) if len(feature_shape) == 2 else 1
  return flops(model, padded_sizes, feature_shape, num_classes, steps)


def epoch_seconds(model, padded_sizes, feature_shape, num_classes: int, n_train: int, n_eval: int, batch: int,
                  eval_batch: int = 1000, eval_sizes=None) -> float:
  """Estimated seconds of one member-epoch: training on n_train examples in batches of `batch` (forward +
  backward ~ 3x forward FLOPs) and evaluation of n_eval examples in chunks of eval_batch (at `eval_sizes`
  where they differ: a branch trains at narrower sizes and evaluates at its program's)."""
  f = forward_flops(model, padded_sizes, feature_shape, num_classes)
  fe = f if eval_sizes is None else forward_flops(model, eval_sizes, feature_shape, num_classes)
  steps = -(-int(n_train) // max(int(batch), 1))
  chunks = -(-int(n_eval) // max(int(eval_batch), 1)) if n_eval else 0
  scan = 0.0
  if model.kind in ("gru", "lstm"):  # one scan step per time step and layer: forward + backward, evaluation
    t_len = int(feature_shape[0]) if len(feature_shape) == 2 else 1
    scan = t_len * int(model.layers) * (2 * steps + chunks)
  layers = (FLOP_S * (3.0 * f * n_train + fe * n_eval) + STEP_S * steps + SCAN_S * scan)
  if model.kind in ("gru", "lstm") and padded_sizes and "layers" in padded_sizes:
    skipped = max(0, int(padded_sizes["layers"]) - int(model.layers))  # (each: SKIP_SHARE of a mean layer)
    layers *= 1.0 + SKIP_SHARE[model.kind] * skipped / max(int(model.layers), 1)
  return layers + EPOCH_S * (1 + chunks)


def _paces(row: dict) -> tuple:
  """(mean seconds of its later epochs while no group compiled, how many; the same while one did, how many;
  mean of all its measured epochs or nan; the share of those busy epochs' seconds during which a group was
  compiling: 1 for rows that do not say). The first measured epoch is left out where there are others: the
  member that runs first in a new program carries its first-run overhead (0.1-0.2 s on CPU)."""
  measured, n = float(row.get("member_s") or 0.0), int(row.get("member_epochs") or 0)
  first = float(row.get("member_first_s") or 0.0)
  busy_s, busy_n = float(row.get("member_busy_s") or 0.0), int(row.get("member_busy_n") or 0)
  free_n = n - 1 - busy_n if n > 1 else 0
  free_s = measured - first - busy_s
  overlap = row.get("member_overlap_s")
  share = min(1.0, float(overlap) / busy_s) if overlap is not None and busy_s > 0 else 1.0
  return (free_s / free_n if free_n > 0 else math.nan, free_n, busy_s / busy_n if busy_n > 0 else math.nan, busy_n,
          measured / n if n > 0 and measured > 0 else math.nan, share)


def cpu_share(devices: int, cores: int) -> float:
  """The slowdown expected while one program compiles beside training on every device: (devices + 1 compiling
  thread) / cores, at least 1 (2 CPU devices on 2 cores: 1.5; measured 1.44 on the week-1 study's 1024-unit
  models against single runs)."""
  return max(1.0, (int(devices) + 1) / max(int(cores), 1))


def single_run_share(seeds: int, devices: int, contention: float = 1.0) -> float:
  """A model's share of a single run's training, in seconds of one member at the pace of members sharing the
  machine: a single run of a config trains its `seeds` members one after another on each of `devices` devices,
  floor(S/D) members each side by side, then one more on r = S mod D devices with the others idle, where a member
  runs faster (`contention`: c times, one device busy; 1 + (c - 1)(D - r)/(D - 1) with r busy); per model,
  over S. 3 seeds on 2 devices: (1 + 1/c) / 3. Members timed in a study, at the shared pace, times this share are
  the training seconds per model of a single run of their config (its summary's train_s / models)."""
  s, d, c = max(int(seeds), 1), max(int(devices), 1), max(float(contention), 1.0)
  r = s % d
  pace = 1.0 + (c - 1.0) * (d - r) / (d - 1) if d > 1 else 1.0
  return (s // d + (1.0 / pace if r else 0.0)) / s


def slowdown(rows) -> float:
  """How much slower members ran while other programs compiled in worker threads or trained (they share the
  cores): the median over models with epochs both ways of their ratio, at least 1; where no model has both,
  the CPU share the rows recorded (`busy_share`: cpu_share); 1 without either."""
  # (a busy epoch overlapped a compile for `share` of its seconds: the slowdown while overlapped is larger)
  r = [1.0 + (busy / free - 1.0) / share for free, fn, busy, bn, _, share in map(_paces, rows)
       if fn and bn and free > 0 and share > 0.05]
  if r:
    return max(1.0, statistics.median(r))
  shares = [float(row["busy_share"]) for row in rows if row.get("busy_share")]
  return max(1.0, statistics.median(shares)) if shares else 1.0


def train_seconds(row: dict, own_s: float, padded_s: float, group_train_s: float = math.nan,
                  group_padded_s: float = math.nan, slow: float = 1.0) -> tuple[float, str]:
  """(train_s, method) of one result row: its measured pace (seconds of an epoch: _paces; epochs run while other
  programs compiled only where it has no other, divided by `slow`: slowdown) x its epochs_run x its share of a
  single run (`single_share`: single_run_share; 1 where the row has none), scaled from its padded sizes to its own
  by the estimate (own_s / padded_s: seconds of one epoch each); without a measurement, its estimated share of the
  group's measured training seconds (group_padded_s: the estimated seconds of every member-epoch the group
  trained)."""
  epochs = int(row.get("epochs_run") or 0)
  free, free_n, busy, busy_n, mean, share = _paces(row)
  if epochs <= 0:
    return 0.0, MEASURED if math.isfinite(mean) else ESTIMATED
  if math.isfinite(mean):
    if free_n:
      per, note = free, ""
    elif busy_n:  # only the overlapped share of its busy epochs ran slower
      per, note = busy * (1.0 - share + share / slow), BUSY
    else:
      per, note = mean, ""
    per *= float(row.get("single_share") or 1.0)
    same = padded_s <= 0 or abs(own_s / padded_s - 1.0) < 1e-9
    return (per * epochs, MEASURED + note) if same else (per * epochs * own_s / padded_s, SCALED + note)
  if group_padded_s > 0 and math.isfinite(group_train_s):
    return group_train_s * epochs * own_s / group_padded_s, ESTIMATED
  return math.nan, ESTIMATED


def group_rows(rows: list, works: list, group_train_s: float, busy_share: float = 1.0, single=None) -> list:
  """The rows of one group with what assign() needs (each one's own and padded estimated epoch seconds, the
  group's measured and estimated training seconds, the CPU share while a program compiles: cpu_share, its share
  of a single run where `single` = (seeds, devices): single_run_share at its measured contention), and
  train_s / train_s_method so far (no sweep-wide slowdown yet); works: each row's (own, padded) epoch seconds."""
  total = sum(int(r.get("epochs_run") or 0) * p for r, (_, p) in zip(rows, works))
  share = lambda r: single_run_share(*single, float(r.get("member_contention") or 1.0)) if single else 1.0  # noqa: E731
  out = [{**r, "work_own_s": own_s, "work_padded_s": padded_s, "group_train_s": group_train_s,
          "group_padded_s": total, "busy_share": float(busy_share), "single_share": share(r),
          "single_run": list(single) if single else None}
         for r, (own_s, padded_s) in zip(rows, works)]
  return assign(out, 1.0)


def assign(rows: list, slow: float | None = None) -> list:
  """rows (in place, and returned) with train_s and train_s_method from the fields group_rows stored; slow: the
  compile slowdown (None: slowdown(rows), the sweep's, and the rows of programs whose models never ran alone (no
  contention measured: as many members on every device) take the sweep's median contention for their share of a
  single run, which has one alone where its seeds do not fill the devices). Rows without those fields (an older
  sweep) keep theirs."""
  if slow is None:
    found = [float(r["member_contention"]) for r in rows if r.get("member_contention_n")]
    for r in rows:
      if r.get("single_run") and "member_contention_n" in r and not r["member_contention_n"]:
        r["single_share"] = single_run_share(*r["single_run"], statistics.median(found) if found else 1.0)
  slow = slowdown(rows) if slow is None else slow
  for r in rows:
    if "work_own_s" in r:
      r["train_s"], r["train_s_method"] = train_seconds(r, float(r["work_own_s"]), float(r["work_padded_s"]),
                                                        float(r["group_train_s"]), float(r["group_padded_s"]), slow)
  return rows


def method_text(methods) -> str:
  """How the train_s of a results table were found, in words (for the report and the summary)."""
  found = sorted({str(m) for m in methods if isinstance(m, str) and m})
  words = {MEASURED: "measured inside the shared program for each model (its own epochs; seconds it ran alone on "
                     "the machine at the pace of models sharing it)",
           SCALED: "measured for each model at its padded width bucket, scaled to its own sizes by the "
                   "trial's work estimate (own / padded FLOPs, steps and evaluation)",
           ESTIMATED: "estimated from the trial's work x the throughput measured for its program"}
  busy = (" Models that only trained while other programs compiled or trained (they share the cores) are divided by "
          "the slowdown the other models measured then, or where none measured one, by the CPU share "
          "((devices + 1 compiling thread) / cores).") if any(BUSY in m for m in found) else ""
  found = sorted({m.replace(BUSY, "") for m in found})
  single = (" Measured seconds are per model as a single run of the config takes them, its seeds side by side on "
            "this machine's devices (a lone member runs faster; trial_time.single_run_share).") if (
      {MEASURED, SCALED} & set(found)) else ""
  return "; ".join(f"{m}: {words.get(m, m)}" for m in found) + busy + single if found else ""


def member_works(cfg, members, feature_shape, num_classes: int, n_train: int, n_eval: int) -> list:
  """Each member's (own, padded) estimated epoch seconds in a group of config `cfg` (its model: the bucket's
  sizes; a member's `dims`: its true sizes; its `branch`: the narrower sizes it trains at)."""
  from mlexp.models import resized
  out = []
  for m in members:
    true = resized(cfg.model, dict(m.dims)) if m.dims else cfg.model
    padded_sizes = _own_depth(true, {**cfg.model.to_dict(), **dict(m.branch)}) if m.dims else None
    batch = int(m.batch_size or cfg.batch_size)
    args = (feature_shape, num_classes, n_train, n_eval, batch, int(cfg.get("eval_batch_size", 1000)))
    # (a branch evaluates at the program's sizes)
    full = _own_depth(true, cfg.model.to_dict()) if m.dims and m.branch else None
    out.append((epoch_seconds(true, None, *args), epoch_seconds(true, padded_sizes, *args, eval_sizes=full)))
  return out


def _own_depth(model, sizes: dict) -> dict:
  """An MLP's padded sizes cut to its own depth: a layer past it is skipped (a lax.cond, members one after
  another: models/mlp), so it costs nothing."""
  if model.kind == "mlp" and "units" in sizes and len(model.units):
    return {**sizes, "units": tuple(sizes["units"])[:len(model.units)]}
  return sizes


def eval_examples(group) -> int:
  """Examples a group evaluates each epoch: its test buckets and validation buckets (x arrays first)."""
  return sum(int(b[0].shape[0]) for split in (group.test, group.val or ()) for b in split)
