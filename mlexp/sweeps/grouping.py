"""Groups trials by what changes array shapes or the program (pure).

Trials whose configs differ only in float hyperparameters (learning rate, weight decay, momentum,
dropout rate, plateau factor) share one compiled program: their values are vmapped as data. Every
other field (model kind and widths, depth, batch size, optimizer kind, data set, epochs, ...) is part
of the group key. Large groups are split into chunks of at most `max_members` members; the seeds of
a trial always stay in one chunk. The chunks of one group are dealt evenly and given the same number of
member slots (the spare ones stopped from the start), so they run one compiled program (`program`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from mlexp.models import PADDED_FIELDS
from mlexp.models.cnn.spec import paddable_kernel
from mlexp.sweeps import widths
from mlexp.sweeps import canonical
from mlexp.sweeps.space import set_field, trial_config
from mlexp.sweeps.plan_types import GroupPlan, Member
from mlexp.config.hparams import VMAPPED_FIELDS, hparams_of, without_hparams


def static_key(config, padded: bool = False) -> str:
  """What must be equal for trials to share a program. padded: widths and depth are not part of it (they
  are bucketed and data), only the number of CNN blocks / dense layers, whether an RNN has a front end and
  whether an MLP has hidden layers;
  nor is a CNN's kernel size where a smaller kernel is a larger one with a zero border (`paddable_kernel`),
  nor the batch size, the optimizer's name or the number of epochs where the learning rate does not depend on it
  (all but a cosine schedule): `_parts` cuts by those."""
  c = without_hparams(config)
  if padded:
    c["batch_size"] = None
    c["optimizer"]["name"] = None
    if config.schedule.name != "cosine":
      c["epochs"] = None
    m = c["model"]
    for f in PADDED_FIELDS.get(m["kind"], ()):
      v = m[f]
      if f == "kernel_size" and not paddable_kernel(config.model):  # VALID, even, smaller than the stride
        continue
      # (an MLP without hidden layers, units (), has nothing to pad: a program of its own)
      m[f] = len(v) if (isinstance(v, (tuple, list)) and m["kind"] == "cnn") else (
          bool(v) if f == "conv_filters" or (f == "units" and m["kind"] == "mlp") else None)
  return json.dumps(c, sort_keys=True, default=str)


def _parts(items, padding: str, cost, value) -> list:
  """[items]: the trials of one static key cut into the parts that may share programs, by a field the key leaves
  out (`value(config)`): all of them where a program may hold branches (CPU, members one after another), else
  one part per value. The fields: the batch size (a real branch per batch size, mlexp.training.program), the
  optimizer's name (each member updates with its own, mlexp.training.optim), the epochs (a member that has
  trained its own is completed and its later epochs skipped, training/loop.py; not with a cosine schedule, whose
  learning rate follows the epochs: static_key keeps them then)."""
  by_value: dict = {}
  for it in items:
    by_value.setdefault(value(it[1]), []).append(it)
  if len(by_value) == 1 or not _branching(items, padding, cost):
    return list(by_value.values())
  return [items]


PART_FIELDS = (lambda c: int(c.epochs), lambda c: str(c.optimizer.name), lambda c: int(c.batch_size))


def _branching(items, padding: str, cost) -> bool:
  """Whether a program of these trials may hold branches (a training loop per batch size or narrower padded
  sizes): on CPU with a cost model, where members run one after another (vmapped, every member would run
  every branch)."""
  vmapped = items[0][1].get("member_loop", "auto") == "vmap"
  return padding != "none" and cost is not None and not vmapped and cost(items[0][1]).platform == "cpu"


def _buckets(items, padding: str, cost, sweep=None, canon=None) -> list:
  """[(group config, [(trial, cfg, dims, branch)])] for the trials of one static key and batch part. When a
  bucket's trials differ in batch size, its config's batch_size is the largest (what memory is estimated
  with); each member keeps its own (`Member.batch_size`). On CPU (padding auto) an MLP program's members may
  train at narrower padded sizes than the program's (`Member.branch`, widths.branch_cut), priced at the epochs
  a trial is expected to train under the sweep's early stopping (`sweep`: the sweep block). canon: the
  canonical draws of this key and part (`canonical_trials`): the buckets are theirs, and a bucket's program is
  its canonical one (padded as the canonical members are) when the draws of this run would pad less.
  -> [(group config, members, the number of canonical draws in its bucket (or 0), the program's branch keys
  (canonical.program_branches; None: its members'))]"""
  if padding == "none" or cost is None:
    return [(items[0][1], [(t, cfg, (), ()) for t, cfg in items], 0, None)]
  models, batches = [cfg.model for _, cfg in items], [int(cfg.batch_size) for _, cfg in items]
  drawn = sorted({int(c.batch_size) for _, c in canon or ()})  # the batch sizes the space draws
  drawn_names = sorted({str(c.optimizer.name) for _, c in canon or ()})  # and its optimizers
  # and its epochs where they are data: a TPE batch's program is the bucket's, whatever epochs its members draw
  drawn_epochs = {int(c.epochs) for _, c in canon or ()} if _branching(items, padding, cost) else set()
  # (priced at the program's epochs: the buckets cut the same whatever epochs the first item draws)
  costs = cost(trial_config(items[0][1], {"epochs": max(drawn_epochs)}) if drawn_epochs else items[0][1])
  out = []
  for idx, members in canonical.partition(items, canon, padding, costs, batches):
    chunk = [items[i] for i in idx]
    fields = PADDED_FIELDS.get(chunk[0][1].model.kind, ())
    true = [tuple((f, _plain(cfg.model[f])) for f in fields) for _, cfg in chunk]
    sizes = {int(cfg.batch_size) for _, cfg in chunk} | {int(c.batch_size) for _, c in members or ()}
    epochs = {int(cfg.epochs) for _, cfg in chunk} | drawn_epochs
    cms = [c.model for _, c in members or ()]
    canon_padded = len({widths.shape_of(m) for m in cms}) > 1
    if len(set(true)) == 1 and len(sizes) == 1 and len(epochs) == 1 and not canon_padded:  # the exact program
      out.append((chunk[0][1], [(t, cfg, (), ()) for t, cfg in chunk], len(members or ()), None))
      continue
    gcfg = trial_config(chunk[0][1], {"batch_size": max(sizes), "epochs": max(epochs)})
    if len(drawn_names) > 1 and _branching(chunk, padding, cost):  # the optimizer as data: one program whatever
      gcfg.optimizer.name = drawn_names[0]  # optimizer the chunk's first member names (each member runs its own)
    branch, keys = [()] * len(chunk), None
    full = None
    if len(set(true)) > 1 or canon_padded:
      full = widths.bucket_model(cms if canon_padded else [cfg.model for _, cfg in chunk])
      for f, v in full.items():
        gcfg.model[f] = v
      if padding == "auto" and gcfg.model.kind in widths.BRANCH_KINDS and _branching(chunk, padding, cost):
        exact = gcfg.get("time_members") == "on"  # (a study times each model: at its own sizes, not scaled)
        branch = _branches_of(models, batches, idx, _expected(costs, sweep, int(gcfg.epochs)), full, exact)
        if members:
          cut = _branches_of(cms, [int(c.batch_size) for _, c in members], range(len(cms)),
                             _expected(costs, sweep, int(gcfg.epochs)), full, exact)
          keys, branch = canonical.program_branches(chunk, members, cut, branch, full, drawn, drawn_names)
    else:
      true = [()] * len(chunk)
    if members and keys is None and _branching(chunk, padding, cost):  # batch sizes / optimizers: the canon's
      keys, _ = canonical.program_branches(chunk, members, [()] * len(members), [()] * len(chunk), full or {}, drawn,
                                           drawn_names)
    out.append((gcfg, [(t, cfg, d, b) for (t, cfg), d, b in zip(chunk, true, branch)], len(members or ()), keys))
  return out


def _spare_slots_free(cfg, cost) -> bool:
  """Whether member slots past a program's members cost nothing: on CPU, where members run one after another
  and a stopped one skips its epoch (vmapped on GPU / TPU, every slot computes). There a program's slots are
  rounded up to the width ladder (widths.ladder), and to the canonical bucket's (or a TPE batch's) count, so
  another seed, a later TPE batch or more trials of the same space run the same program (in this process, or
  found in the persistent compilation cache)."""
  return cost is not None and cfg.get("member_loop", "auto") != "vmap" and cost(cfg).platform == "cpu"


def _ladder_slots(need: int, n_canon: int, per_chunk: int, seeds: int, cap: int, sw) -> int:
  """A program's member slots where spare ones cost nothing (_spare_slots_free), at least `need`, at most `cap`
  where that holds them: ladder rounded; at least twice the canonical bucket's count (another seed's draws of
  the space fit the same program: a bucket's count varies from seed to seed, 7 to 12 of 30 draws); under TPE a
  batch's worth (tpe_batch x seeds), so a bucket's program is the same in every batch. The spare slots end
  every device's block (training.group.member_slots), so each device keeps its share of the members."""
  want = widths.ladder(need)
  if n_canon:
    want = max(want, widths.ladder(2 * min(n_canon, per_chunk) * seeds))
  if sw is not None and sw.get("algorithm") == "tpe":
    want = widths.ladder(min(int(sw.tpe_batch), per_chunk) * seeds)
  return max(need, min(want, cap))


def _expected(cost, sweep, epochs: int):
  """The cost model with the epochs a trial trains on average under the sweep's ASHA (all of them without), from
  the trial's `epochs` (plan.plan_trials prices them so already: this is the same number)."""
  if sweep is None or sweep.get("mode", "full") != "asha":
    return cost
  return dataclasses.replace(cost, epochs=widths.expected_epochs(int(epochs), "asha", int(sweep.asha.grace),
                                                                   int(sweep.asha.factor)))


def _branches_of(models, batches, idx, cost, full: dict, exact: bool = False) -> list:
  """Each member's narrower padded sizes inside its program (as (field, value) pairs; () = the program's)."""
  cuts = widths.branch_cut(models, list(idx), cost, batches, exact)
  if len(cuts) == 1:
    return [()] * len(idx)
  depth = len(full["units"]) if "units" in full else 0
  of = {}
  for part in cuts:
    sizes = widths.bucket_model([models[i] for i in part], depth, int if exact else widths.ladder)
    for i in part:
      of[i] = () if sizes == full else tuple((f, _plain(v)) for f, v in sorted(sizes.items()))
  return [of[i] for i in idx]


def spread_order(n: int) -> list:
  """The positions 0..n-1 in bit-reversed order. A group's members come sorted by width, and its member axis
  is split over the devices in contiguous blocks (CPU cores: mlexp.training.group); in this order both halves
  (and every quarter, eighth, ... when n is a power of two) hold narrow and wide members alike, so the devices get similar work, and
  after an ASHA cut the survivors (mostly the wider models) stay spread over the devices instead of all
  running on one while the others wait."""
  bits = max(1, (n - 1).bit_length())
  return sorted(range(n), key=lambda i: int(format(i, f"0{bits}b")[::-1], 2))


def _plain(v):
  return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else int(v)


def even_chunks(n: int, most: int) -> list[int]:
  """Sizes of the fewest chunks of at most `most` that hold n items, as equal as they can be (largest first)."""
  k = max(1, -(-int(n) // max(1, int(most))))
  return [n // k + (1 if i < n % k else 0) for i in range(k)]


def plan_groups(base, trials: list, seeds: int, max_members: int, member_cap=None, padding: str = "none",
                cost=None) -> list[GroupPlan]:
  """member_cap(config) -> int: optional further limit on a group's members (e.g. what fits in memory).
  padding: auto | none | max (mlexp.sweeps.widths); cost(config) -> widths.CostModel for auto."""
  padded = padding != "none"
  if cost is not None and int(seeds) > 1:  # the cut prices trials: padding a trial pads each of its seeds
    per_model = cost
    cost = lambda cfg: dataclasses.replace(per_model(cfg), copies=int(seeds))  # noqa: E731
  by_key: dict = {}
  for t, values in enumerate(trials):
    cfg = trial_config(base, values)
    by_key.setdefault(static_key(cfg, padded), []).append((t, cfg))
  canon_by_key: dict = {}
  draws = canonical.canonical_trials(base.get("sweep")) if padding == "auto" and cost is not None else None
  for values in draws or ():
    cfg = trial_config(base, values)
    canon_by_key.setdefault(static_key(cfg, padded), []).append((-1, cfg))
  plans = []
  for key, items in by_key.items():
    parts = [items]
    for value in PART_FIELDS:  # epochs, optimizer name, batch size: data where a program may hold branches
      parts = [q for part in parts for q in _parts(part, padding, cost, value)]
    for gcfg, bucket, n_canon, keys in (b for part in parts for b in _buckets(
        part, padding, cost, base.get("sweep"),
        canonical.canon_part(canon_by_key.get(key), part, _branching(part, padding, cost)))):
      cap = min(int(max_members), int(member_cap(gcfg))) if member_cap else int(max_members)
      per_chunk = max(1, cap // max(1, int(seeds)))
      # the id: the group config's exact static key (the bucket sizes), marked when members are padded
      padded_bucket = any(d for _, _, d, _ in bucket)
      keys = keys if keys and len(keys) > 1 else None  # (one branch: none)
      sizes = sorted({int(cfg.batch_size) for _, cfg, _, _ in bucket} if keys is None else {k[0] for k in keys})
      mixed = len(sizes) > 1 or keys is not None  # batch size as data: each member keeps its own
      narrower = sorted({b for _, _, _, b in bucket if b} if keys is None else {k[1] for k in keys if k[1]})
      names = sorted({str(cfg.optimizer.name) for _, cfg, _, _ in bucket} if keys is None or len(keys[0]) < 3
                     else {k[2] for k in keys})  # the optimizer as data
      # epochs as data: each member its own where they differ, or differ from the program's (the canonical max)
      epochs = sorted({int(cfg.epochs) for _, cfg, _, _ in bucket})
      own_epochs = len(epochs) > 1 or epochs[0] != int(gcfg.epochs)
      h = hashlib.sha1((static_key(gcfg) + ("|padded" if padded_bucket else "") +
                        (f"|batches{sizes}" if mixed else "") + (f"|optimizers{names}" if len(names) > 1 else "") +
                        (f"|branches{narrower}" if narrower else "")).encode()).hexdigest()[:10]
      chunks = even_chunks(len(bucket), per_chunk)
      slots = max(chunks) * int(seeds) if len(chunks) > 1 else 0
      if _spare_slots_free(gcfg, cost):  # slots from the ladder: the same program recurs
        slots = _ladder_slots(max(chunks) * int(seeds), n_canon, per_chunk, int(seeds), cap, base.get("sweep"))
      c0 = 0
      for k, n in enumerate(chunks):
        chunk, c0 = bucket[c0:c0 + n], c0 + n
        members = tuple(Member(seed=int(cfg.seed) + s, hparams=hparams_of(cfg), trial=t, dims=dims,
                               batch_size=int(cfg.batch_size) if mixed else 0, branch=branch,
                               optimizer=str(cfg.optimizer.name) if len(names) > 1 else "",
                               epochs=int(cfg.epochs) if own_epochs else 0)
                        for t, cfg, dims, branch in chunk for s in range(int(seeds)))
        members = tuple(members[i] for i in spread_order(len(members)))
        plans.append(GroupPlan(gid=f"{h}-{k}", config=gcfg, members=members,
                               trials=tuple(t for t, _, _, _ in chunk), slots=slots,
                               program=f"{h}x{slots or len(members)}", branches=keys or ()))
  return plans


__all__ = ["GroupPlan", "VMAPPED_FIELDS", "even_chunks", "plan_groups", "static_key", "set_field"]
