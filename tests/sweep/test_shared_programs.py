"""Chunks of one group share one compiled program: a bucket too big for one program (sweep.max_group_size,
or memory) is dealt into chunks of equal member slots (the spare slots stopped from the start), so the
second chunk takes the first one's compiled epoch instead of compiling again; and a member trains the same
in a chunk with spare slots as in a program of exactly its chunk's members."""
from __future__ import annotations

import math

import jax
import numpy as np
from hypothesis import given, strategies as st

import sweep_util as u
import tiny
from mlexp.config import base_config, sweep_block
from mlexp.sweeps.grouping import even_chunks, plan_groups
from mlexp.sweeps.space import expand, grid
from mlexp.training import optim
from mlexp.training.group import Member
from mlexp.training.program import CUT

EPOCHS = 2


@given(n=st.integers(1, 600), most=st.integers(1, 80))
def test_even_chunks_are_the_fewest_and_differ_by_at_most_one(n, most):
  sizes = even_chunks(n, most)
  assert sum(sizes) == n
  assert len(sizes) == math.ceil(n / most)
  assert max(sizes) <= most and max(sizes) - min(sizes) <= 1
  assert sizes == sorted(sizes, reverse=True)


def test_the_chunks_of_one_group_have_equal_slots_and_one_program_id():
  space = (grid("optimizer.learning_rate", *[10.0 ** -k for k in range(1, 6)]),  # one group of 5 trials
           grid("model.hidden", 8, 16))  # ... and another of 5
  base = base_config("gru", "japanese_vowels")
  base.seeds = 3
  base.sweep = sweep_block(space)
  plans = plan_groups(base, expand(space, 0), seeds=3, max_members=7)  # 2 trials (6 models) a chunk at most
  by_width = {}
  for p in plans:
    by_width.setdefault(int(p.config.model.hidden), []).append(p)
  assert sorted(by_width) == [8, 16]
  for width, chunks in by_width.items():
    assert [len(p.members) for p in chunks] == [6, 6, 3]  # 5 trials x 3 seeds in ceil(5 / 2) chunks
    assert {p.slots for p in chunks} == {6}
    assert len({p.program for p in chunks}) == 1 and len({p.gid for p in chunks}) == 3
  assert by_width[8][0].program != by_width[16][0].program
  # a group that fits in one program keeps exactly its members' slots
  single = plan_groups(base, expand(space, 0), seeds=3, max_members=64)
  assert [p.slots for p in single] == [0, 0]


def _members(lrs, seed0=3):
  return [Member(seed=seed0 + i, hparams={**optim.hparams_of(tiny.config("mlp")), "learning_rate": lr}, trial=i)
          for i, lr in enumerate(lrs)]


def test_a_chunk_with_spare_slots_reuses_the_compiled_program_and_trains_as_exactly_its_members():
  from mlexp.training.group import Group, device_splits
  cfg = tiny.config("mlp", **{"member_loop": "map"})
  ds = tiny.dataset_for("mlp")
  train, test = device_splits(ds, 1)

  def run(members, slots):
    g = Group(cfg, train, test, ds.num_classes, members, slots=slots)
    state = g.init()
    g.compile(state)
    ms = []
    for _ in range(EPOCHS):
      state, m, _ = g.epoch(state)
      ms.append(m)
    return g, jax.device_get(state), ms

  full, _, _ = run(_members([0.5, 0.2, 0.1]), 3)
  part, part_state, part_m = run(_members([0.05, 0.3], seed0=11), 3)
  assert part._epoch is full._epoch  # the same compiled executable: no second compile
  assert part.size == 2 and part.slots == 3
  assert np.asarray(part_state.status)[2] == CUT  # the spare slot never trains
  assert int(part_state.step[2]) == 0
  assert all(len(m["test_loss"]) == 2 for m in part_m)  # only the chunk's members are reported
  exact, exact_state, exact_m = run(_members([0.05, 0.3], seed0=11), 0)
  assert exact._epoch is not part._epoch  # 2 slots: another program
  for e in range(EPOCHS):
    for k in ("train_loss", "test_loss", "test_accuracy"):
      np.testing.assert_array_equal(part_m[e][k], exact_m[e][k], err_msg=f"epoch {e + 1} {k}")
  for a, b in zip(jax.tree.leaves(part_state.params), jax.tree.leaves(exact_state.params)):
    np.testing.assert_array_equal(a[:2], b)


def test_a_sweep_in_chunks_is_planned_as_one_program_and_gives_the_results_of_one_big_group(tmp_path):
  lrs = (0.02, 0.05, 0.1, 0.2, 0.4)
  chunked = u.lr_sweep(lrs, **{"seeds": 2, "sweep.max_group_size": 4})  # 2 trials a chunk: 2 + 2 + 1
  whole = u.lr_sweep(lrs, **{"seeds": 2})
  s1, text = u.run(chunked, tmp_path / "chunked")
  s2, _ = u.run(whole, tmp_path / "whole")
  assert "plan (padding auto): 1 program(s) run as 3 groups of 4, 4, 2 model(s)" in text
  rows = {(r["trial"], r["seed"]): r for r in u.read_csv(tmp_path / "chunked" / "results.csv")}
  ref = {(r["trial"], r["seed"]): r for r in u.read_csv(tmp_path / "whole" / "results.csv")}
  assert len({r["group"] for r in rows.values()}) == 3 and len({r["group"] for r in ref.values()}) == 1
  assert rows.keys() == ref.keys() and len(rows) == 10
  for key, r in rows.items():
    for col in ("test_accuracy", "best_test_loss", "train_loss", "epochs_run", "param_count"):
      np.testing.assert_allclose(float(r[col]), float(ref[key][col]), rtol=1e-5, atol=1e-6, err_msg=f"{key} {col}")


def test_a_reused_program_still_prices_a_rebuild_at_what_compiling_it_cost():
  from mlexp.training.group import Group, device_splits
  cfg = tiny.config("mlp", **{"member_loop": "map", "model.units": (6,)})
  ds = tiny.dataset_for("mlp")
  train, test = device_splits(ds, 1)
  groups = []
  for lrs in ([0.5, 0.2], [0.1, 0.05]):
    g = Group(cfg, train, test, ds.num_classes, _members(lrs))
    g.compile(g.init())
    groups.append(g)
  first, second = groups
  assert second._epoch is first._epoch
  assert second.compile_s < first.compile_s  # it compiled nothing itself ...
  assert second.recompile_s == first.recompile_s >= first.compile_s > 0  # ... but a rebuild would


def test_configs_that_differ_only_in_vmapped_knobs_share_a_program():
  """(a TPE batch's group config carries its first trial's knobs; the members carry their own)"""
  from mlexp.training.group import Group, device_splits
  ds = tiny.dataset_for("mlp")
  train, test = device_splits(ds, 1)
  built = []
  for lr, wd in ((0.5, 0.0), (0.1, 0.01)):
    cfg = tiny.config("mlp", **{"member_loop": "map", "model.units": (5,), "optimizer.learning_rate": lr,
                                "optimizer.weight_decay": wd})
    g = Group(cfg, train, test, ds.num_classes, _members([0.3, 0.2]))
    g.build()
    built.append(g)
  assert built[1]._epoch is built[0]._epoch
  other = Group(tiny.config("mlp", **{"member_loop": "map", "model.units": (7,)}), train, test, ds.num_classes,
                _members([0.3, 0.2]))
  assert other._shared is not built[0]._shared  # a width is the program's


SPREAD = r"""
import json, sys
sys.path.insert(0, {here!r})
import jax, numpy as np
import tiny
from mlexp.training import optim
from mlexp.training.group import Group, Member, device_splits
from mlexp.training.loop import Training
cfg = tiny.config("mlp", **{{"member_loop": "map"}})
ds = tiny.dataset_for("mlp")
train, test = device_splits(ds, 1)
members = [Member(seed=11 + i, hparams={{**optim.hparams_of(cfg), "learning_rate": lr}}, trial=i)
           for i, lr in enumerate([0.05, 0.3, 0.1])]
out = {{}}
for name, slots in (("spread", 8), ("exact", 0)):
  g = Group(cfg, train, test, ds.num_classes, members, devices=jax.devices()[:2], slots=slots)
  run = Training(g, g.init(), members)
  g.compile(run.state)
  ms = []
  for e in range(2):
    if e == 1 and name == "spread":  # members move between slots (the balancer): results follow the members
      run.reorder([4, 0, 2, 3, 1, 5, 6, 7])
    run.state, m, _ = g.epoch(run.state)
    ms.append({{k: [float(m[k][run.pos.index(i)]) for i in range(3)] for k in ("train_loss", "test_loss")}})
  out[name] = {{"slots": [int(s) for s in g.slot_of], "metrics": ms,
               "status": [int(s) for s in np.asarray(run.state.status)],
               "members": [m.seed for m in g.members], "pos": run.pos}}
print(json.dumps(out))
"""


def test_spare_slots_split_over_the_devices_and_members_train_as_in_a_program_of_exactly_them(tmp_path):
  import json
  import os
  import subprocess
  import sys
  p = subprocess.run([sys.executable, "-c", SPREAD.format(here=os.path.dirname(os.path.abspath(tiny.__file__)))],
                     cwd=u.ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu", "MLEXP_COMPILATION_CACHE": "",
                                      "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
                     capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, p.stderr[-3000:]
  out = json.loads(p.stdout.strip().splitlines()[-1])
  assert out["spread"]["slots"] == [0, 1, 4]  # 2 members on the first device, 1 on the second (not 3 + 0)
  assert out["exact"]["slots"] == [0, 1, 2]
  assert [s == CUT for s in out["spread"]["status"]] == [False, False, True, True, False, True, True, True]
  # after the reorder slot 0 holds member 2, slot 1 member 0, slot 4 member 1
  assert out["spread"]["members"] == [13, 11, 12] and out["spread"]["pos"] == [2, 0, 1]
  for e in range(2):
    for k in ("train_loss", "test_loss"):
      np.testing.assert_array_equal(out["spread"]["metrics"][e][k], out["exact"]["metrics"][e][k], err_msg=f"{e} {k}")
