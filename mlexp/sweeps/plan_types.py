"""What a plan is made of (pure, JAX-free): the members of a group, a group's plan, and the planning facts
that training shares with the planner (a member's true model; the number of length buckets; how a program
loops over its members).

Search (space.py, tpe.py, asha.py) and planning (grouping.py, widths.py, balance.py, plan.py) build these;
execution (execute.py, executors/) and a single run (training/trainer.py) consume them.
"""
from __future__ import annotations

import dataclasses

from mlexp.config.hparams import OPTIMIZER_FAMILY
from mlexp.models import resized


@dataclasses.dataclass(frozen=True)
class Member:
  seed: int
  hparams: dict  # the float knobs (optim.HPARAMS) of this member
  trial: int = 0
  dims: tuple = ()  # (field, value) pairs of this member's true shape knobs (widths, depth) when its group pads them
  batch_size: int = 0  # its own batch size when the group's members differ in it (0: the group's batch_size)
  branch: tuple = ()  # (field, value) pairs of narrower padded sizes it trains at inside its group (): the group's
  optimizer: str = ""  # its own optimizer.name when the group's members differ in it ("": the group's)
  epochs: int = 0  # its own epochs when the group's members differ in it (0: the group's, the most of them)


@dataclasses.dataclass(frozen=True)
class GroupPlan:
  gid: str  # stable id: hash of the static config + chunk index
  config: object  # the group's config (static fields; float knobs of its first trial)
  members: tuple  # Member(seed, hparams, trial)
  trials: tuple  # trial ids in this group
  slots: int = 0  # member slots of its program (>= len(members); 0: len(members)): equal across chunks
  program: str = ""  # groups with the same program id run one compiled program (chunks of one group)
  branches: tuple = ()  # its program's branches (train.group.branch_of of each), when they are not its members'


def training_loops(plan_or_members) -> int:
  """The training loops a program compiles: one per (batch size, narrower sizes, optimizer family) of its branches
  (a GroupPlan's, else its members'; mlexp.training.optim.mixed)."""
  keys = getattr(plan_or_members, "branches", ())
  if not keys:
    keys = {(m.batch_size, tuple(m.branch), m.optimizer) for m in getattr(plan_or_members, "members", plan_or_members)}
  return len({(k[0], tuple(k[1]), OPTIMIZER_FAMILY.get(k[2]) if len(k) > 2 else None) for k in keys})


def member_model(model_cfg, dims) -> object:
  """The model config a member names: the group's (bucket) model config with the member's true sizes."""
  return resized(model_cfg, dims)


def auto_buckets(dataset, num_buckets: int) -> int:
  """num_buckets, or for 0 (auto): 1 when sequences are at most 100 steps (padding is cheaper than
  compiling a program per bucket), else 3."""
  if num_buckets:
    return num_buckets
  lengths = dataset.train.lengths
  return 1 if lengths is None or int(lengths.max()) <= 100 else 3


def member_loop(config, devices) -> str:
  """'vmap' or 'map' for config.member_loop. 'auto': map on CPU, where XLA's batched small matmuls are
  slower than the same matmuls one model at a time (measured: docs/program.md, "Choices"), vmap on
  GPU / TPU. With several devices each runs its share of members."""
  mode = config.member_loop
  if mode != "auto":
    return mode
  return "map" if all(d.platform == "cpu" for d in devices) else "vmap"
