"""The local executor's train order (sweeps/balance.py train_order): the program with the fewest training-loop
branches (the fastest compile) first, then plan order."""
from __future__ import annotations

from types import SimpleNamespace

from mlexp.sweeps.balance import train_order
from mlexp.sweeps.plan_types import Member


def plan(gid, batch_sizes=(0,), branches=()):
  members = tuple(Member(seed=i, hparams={}, batch_size=b) for i, b in enumerate(batch_sizes))
  return SimpleNamespace(gid=gid, members=members, branches=branches)


def test_fewest_branches_first_then_plan_order():
  big = plan("big", (4, 8, 16, 32))  # four batch sizes: four training loops
  small, other = plan("small"), plan("other", (0, 0))
  given = plan("given", branches=((4, (), "sgd"), (8, (), "adam")))  # the plan's own branches count
  assert [p.gid for p in train_order([big, small, given, other])] == ["small", "other", "given", "big"]
  assert train_order([]) == []
