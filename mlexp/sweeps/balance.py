"""Running members spread over the devices by their work, as pure functions.

On CPU with several devices a group's member axis is split into equal blocks of slots, one block a device,
and each device runs its members one after another (training/programs.py, member_loop=map); a stopped member
costs nothing. When ASHA or early stopping leaves most of the running members in one block, that device
works while the other waits (the course's GRU search: 4 of 5 survivors on one device, 1.9 s an epoch
where 3 + 2 takes 1.35 s). `balanced_order` gives a reordering of the slots that spreads the running
members' work (longest first onto the least loaded device); the group applies it to its state and
hyperparameters without a recompile (loop.Training.reorder). A member's results do not depend on its slot.
"""
from __future__ import annotations

from typing import Optional, Sequence

from mlexp.sweeps.plan_types import training_loops


def blocks(n_slots: int, n_dev: int) -> list[range]:
  """The slots of each device: equal contiguous blocks (the member sharding's split)."""
  per = n_slots // n_dev
  return [range(d * per, (d + 1) * per) for d in range(n_dev)]


def device_loads(order: Sequence[int], running: Sequence[bool], cost: Sequence[float], n_dev: int) -> list[float]:
  """The running work on each device when slot s holds member order[s] (members past len(running) are the
  device padding: never running)."""
  out = []
  for b in blocks(len(order), n_dev):
    out.append(sum(float(cost[order[s]]) for s in b if order[s] < len(running) and running[order[s]]))
  return out


def balanced_order(running: Sequence[bool], cost: Sequence[float], n_dev: int, n_slots: int,
                   min_gain: float = 0.1, slot_of: Optional[Sequence[int]] = None) -> Optional[list[int]]:
  """A reordering of the slots (new slot s takes the member of old slot order[s]) that evens out the
  running members' cost over the devices, or None when it would not cut the busiest device's work by at
  least `min_gain` (a share). Member j of the group's len(running) sits in slot slot_of[j] (None: the leading
  slots, j); the other slots are device padding, which stays where it is (each device keeps its number of
  member slots)."""
  size = len(running)
  slot_of = list(range(size)) if slot_of is None else [int(s) for s in slot_of]
  if n_dev < 2 or n_slots % n_dev or size > n_slots:
    return None
  per = n_slots // n_dev
  dev = [s // per for s in slot_of]
  member_at = [size] * n_slots  # (size: device padding)
  for j, s in enumerate(slot_of):
    member_at[s] = j
  now = max(device_loads(member_at, running, cost, n_dev))
  places = [[j for j in range(size) if dev[j] == d] for d in range(n_dev)]  # member positions of each device
  load = [0.0] * n_dev
  assigned: list[list[int]] = [[] for _ in range(n_dev)]
  busy = sorted((i for i in range(size) if running[i]), key=lambda i: (-float(cost[i]), i))
  for i in busy:  # longest first, each to the least loaded device with a free slot
    d = min((d for d in range(n_dev) if len(assigned[d]) < len(places[d])),
            key=lambda d: (load[d], len(assigned[d]), d))
    assigned[d].append(i)
    load[d] += float(cost[i])
  if not busy or max(load) > now * (1.0 - min_gain):
    return None
  idle = [i for i in range(size) if not running[i]]
  order = list(range(n_slots))
  for d in range(n_dev):
    mine = sorted(assigned[d])
    while len(mine) < len(places[d]):
      mine.append(idle.pop(0))
    for j, i in zip(places[d], mine):
      order[slot_of[j]] = slot_of[i]
  return order


def member_cost(group_model, member, feature_shape, num_classes: int, batch: int = 0) -> float:
  """The work per example of a member of a group: its true model at the sizes it trains at (the group's
  padded sizes, or its branch's narrower ones; layers past its depth are skipped), as the planner's CPU
  seconds (costs.CostModel: FLOPs; a CNN by memory; an MLP's optimizer steps at its own batch size `batch`,
  so batch 4 costs ~4x batch 128 where FLOPs say 1x). Only ratios between the members of one group matter."""
  from mlexp.models import PADDED_FIELDS, resized
  from mlexp.sweeps.costs import CostModel
  sizes = {f: group_model[f] for f in PADDED_FIELDS.get(group_model.kind, ()) if f in group_model}
  sizes.update(dict(member.branch))
  true = resized(group_model, dict(member.dims)) if member.dims else group_model
  padded_sizes = sizes if member.dims or member.branch else None
  b = int(member.batch_size or batch or 0)
  n = 100 * max(b, 1)  # (a whole number of steps: the per-example step cost is per_step / batch)
  steps = int(feature_shape[0]) if len(feature_shape) == 2 else 1
  cost = CostModel(feature_shape=tuple(feature_shape), num_classes=int(num_classes), n_train=n, steps=steps,
                   epochs=1.0, kind=str(group_model.kind))
  return cost.train_seconds(true, padded_sizes, b) / n


def lanes_for(sw, plans, n_devices: int) -> dict:
  """`lanes` where the sweep block `sw` allows them (sweep.lanes, default on): only where no decision depends on
  the order groups finish in (rung-synchronous ASHA, mode full; asynchronous ASHA ranks a group against those
  before it)."""
  order_free = sw.get("mode", "asha") != "asha" or bool(sw.asha.sync)
  return lanes(plans, n_devices) if order_free and sw.get("lanes", True) else {}


def lanes(plans, n_devices: int) -> dict:
  """gid -> device index of the groups narrower than the devices (fewer member slots than devices): each runs
  whole on one device, beside the groups on the others (sweeps/executors/local.py), where it would otherwise
  leave every other device idle. Groups of one program share a lane (one compile); programs go to the least
  loaded lane by their members, in plan order (deterministic: a rerun places them alike, as JAX's persistent
  cache needs on CPU, where a program's device is part of its key). Wider groups split over all devices."""
  if n_devices < 2:
    return {}
  load, of_program, out = [0] * n_devices, {}, {}
  for p in plans:
    if max(len(p.members), int(p.slots)) >= n_devices:
      continue
    key = p.program or p.gid
    if key not in of_program:
      of_program[key] = min(range(n_devices), key=lambda d: (load[d], d))
    out[p.gid] = of_program[key]
    load[out[p.gid]] += len(p.members)
  return out


def train_order(plans) -> list:
  """The plans in the order a local executor trains them: by the number of training loops of their program
  (batch sizes, narrower widths: each one more costs a share of a compile), fewest first,
  else in plan order. The program that compiles fastest starts training first, while the bigger ones compile
  in worker threads (before, a study's 54-model program of ~20 branches compiled 14 s with one core idle, and its
  small 3-model program trained last, alone, on 2 + 1 members)."""
  return sorted(plans, key=training_loops)
