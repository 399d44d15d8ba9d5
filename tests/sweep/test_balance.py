"""Running members spread over the devices by their work (mlexp/sweeps/balance.py): pure checks."""
from __future__ import annotations

import pytest

from hypothesis import given, settings, strategies as st

from mlexp.sweeps.balance import balanced_order, blocks, device_loads


def test_four_of_five_on_one_device_are_spread():
  # the course search's survivors: 4 of the 5 running members in the first device's block
  running = [True, False, False, True, True, True, False, False, False, False, True, False, False]
  cost = [4, 2, 3, 4, 4, 3, 2, 4, 2, 3, 3, 2, 2]
  order = balanced_order(running, cost, n_dev=2, n_slots=14)
  assert sorted(order) == list(range(14)) and order[13] == 13
  before = device_loads(list(range(14)), running, cost, 2)
  after = device_loads(order, running, cost, 2)
  assert before == [15.0, 3.0] and max(after) == 10.0 and sum(after) == 18.0


def test_already_even_gives_none():
  assert balanced_order([True, True, True, True], [1, 1, 1, 1], n_dev=2, n_slots=4) is None
  assert balanced_order([True, False, True, False], [1, 1, 1, 1], n_dev=2, n_slots=4) is None
  assert balanced_order([True, True], [1, 1], n_dev=1, n_slots=2) is None


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_valid_reordering_that_never_loads_the_busiest_device_more(data):
  n_dev = data.draw(st.sampled_from([2, 3, 4]))
  size = data.draw(st.integers(1, 20))
  n_slots = -(-size // n_dev) * n_dev
  running = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))
  cost = data.draw(st.lists(st.integers(1, 50), min_size=size, max_size=size))
  order = balanced_order(running, cost, n_dev, n_slots)
  before = max(device_loads(list(range(n_slots)), running, cost, n_dev))
  if order is None:
    return
  assert sorted(order) == list(range(n_slots))  # a permutation of the slots
  assert order[size:] == list(range(size, n_slots))  # the device padding stays at the end
  loads = device_loads(order, running, cost, n_dev)
  assert max(loads) <= 0.9 * before  # only when it cuts the busiest device's work by a tenth
  assert sum(loads) == sum(c for c, r in zip(cost, running) if r)
  busy = [c for c, r in zip(cost, running) if r]
  # list scheduling's bound: no device above the mean by more than one member
  assert max(loads) <= sum(busy) / n_dev + max(busy) + 1e-9
  for b in blocks(n_slots, n_dev):  # every device holds whole members, none twice
    assert len({order[s] for s in b}) == len(b)


def test_a_members_work_follows_what_it_runs_in_its_program():
  """member_cost: a deeper member of a padded GRU program works more (layers past its depth are skipped); in
  a padded CNN program every member runs the padded filters (its price, by memory, is the same)."""
  from mlexp.config import base_config
  from mlexp.sweeps.balance import member_cost
  from mlexp.training.group import Member
  gru = base_config("gru", "japanese_vowels").model
  gru.hidden, gru.layers = 124, 4
  depth = lambda d: member_cost(gru, Member(0, {}, dims=(("hidden", 104), ("layers", d), ("conv_filters", 0))),
                                (26, 12), 9)
  assert depth(2) < depth(3) < depth(4)
  cnn = base_config("cnn", "mnist_5k").model
  cnn.filters = (48, 48)
  dense = ("dense", tuple(cnn.dense))
  narrow = member_cost(cnn, Member(0, {}, dims=(("filters", (8, 48)), dense)), (28, 28, 1), 10)
  assert narrow == member_cost(cnn, Member(0, {}, dims=(("filters", (48, 8)), dense)), (28, 28, 1), 10)
  assert narrow == member_cost(cnn, Member(0, {}), (28, 28, 1), 10)
  # an MLP's member at batch 4 runs 32x the optimizer steps of one at batch 128 (batch size as data): the week-1
  # study measured 2.72 s against 0.67 s for (256, 256); by FLOPs they were the same work
  mlp = base_config("mlp", "mnist_5k").model
  mlp.units = (256, 256)
  at = lambda b: member_cost(mlp, Member(0, {}, batch_size=b), (28, 28, 1), 10)
  assert at(4) / at(128) == pytest.approx(2.72 / 0.67, rel=0.25)
  assert member_cost(mlp, Member(0, {}), (28, 28, 1), 10, batch=4) == at(4)  # (the group's batch size)


def test_spare_slots_end_every_devices_block():
  from mlexp.training.group import member_slots
  assert list(member_slots(4, 8, 2)) == [0, 1, 4, 5]  # 2 members a device, not 4 on the first
  assert list(member_slots(5, 8, 2)) == [0, 1, 2, 4, 5]
  assert list(member_slots(5, 8, 2, spread=False)) == [0, 1, 2, 3, 4]
  assert list(member_slots(3, 4, 2)) == [0, 1, 2]  # no spare beyond the devices' rounding: as before
  assert list(member_slots(3, 12, 4)) == [0, 3, 6]
  assert list(member_slots(3, 3, 1)) == [0, 1, 2]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_with_spare_slots_a_reordering_keeps_each_devices_members_and_never_loads_the_busiest_more(data):
  from mlexp.training.group import member_slots
  n_dev = data.draw(st.sampled_from([2, 3, 4]))
  size = data.draw(st.integers(1, 16))
  n_slots = data.draw(st.integers(-(-size // n_dev), 3 * size)) * n_dev
  slot_of = [int(s) for s in member_slots(size, n_slots, n_dev)]
  running = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))
  cost = data.draw(st.lists(st.integers(1, 50), min_size=size, max_size=size))
  per = n_slots // n_dev
  counts = [sum(1 for s in slot_of if s // per == d) for d in range(n_dev)]
  assert max(counts) - min(counts) <= 1  # the members split evenly over the devices
  member_at = {s: j for j, s in enumerate(slot_of)}

  def loads(order):  # the running work of each device when slot s holds what old slot order[s] held
    out = [0.0] * n_dev
    for s in range(n_slots):
      j = member_at.get(order[s])
      if j is not None and running[j]:
        out[s // per] += cost[j]
    return out

  order = balanced_order(running, cost, n_dev, n_slots, slot_of=slot_of)
  if order is None:
    return
  assert sorted(order) == list(range(n_slots))  # a permutation of the slots
  assert all(order[s] == s for s in range(n_slots) if s not in member_at)  # spare slots stay
  assert all(order[s] in member_at for s in slot_of)  # members move between member slots only
  assert max(loads(order)) <= 0.9 * max(loads(list(range(n_slots)))) + 1e-9
