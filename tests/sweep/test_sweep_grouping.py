"""Grouping trials by static config (pure): float knobs are vmapped, everything else splits groups."""
from __future__ import annotations

import ml_collections

from mlexp.config import base_config, sweep_block
from mlexp.sweeps.grouping import VMAPPED_FIELDS, plan_groups, static_key
from mlexp.sweeps.space import expand, get_field, grid, set_field, trial_config, uniform
from mlexp.training import optim


def gru_base(space, seeds=1):
  c = base_config("gru", "japanese_vowels")
  c.seed = 10
  c.seeds = seeds
  c.sweep = sweep_block(space)
  return c


def test_trials_differing_only_in_vmapped_knobs_share_a_group():
  space = (grid("optimizer.learning_rate", 1e-3, 1e-2, 1e-1), grid("model.dropout", 0.0, 0.3))
  base = gru_base(space, seeds=2)
  trials = expand(space, 0)
  plans = plan_groups(base, trials, seeds=2, max_members=64)
  assert len(plans) == 1
  p = plans[0]
  assert p.trials == tuple(range(6))
  assert len(p.members) == 12
  # each member carries its own trial's knobs and seed
  for m in p.members:
    t = trials[m.trial]
    assert m.hparams["learning_rate"] == t["optimizer.learning_rate"]
    assert m.hparams["dropout"] == t["model.dropout"]
  assert sorted((m.trial, m.seed) for m in p.members) == [(t, s) for t in range(6) for s in (10, 11)]


def test_different_hidden_sizes_are_different_groups():
  space = (grid("model.hidden", 8, 16), uniform("optimizer.learning_rate", 1e-3, 1e-2))
  base = gru_base(space)
  trials = expand(space, 3, seed=0)
  plans = plan_groups(base, trials, seeds=1, max_members=64)
  assert len(plans) == 2
  assert len({p.gid for p in plans}) == 2
  for p in plans:
    hidden = {trials[t]["model.hidden"] for t in p.trials}
    assert len(hidden) == 1 and p.config.model.hidden == hidden.pop()
    assert len(p.trials) == 3
  assert sorted(t for p in plans for t in p.trials) == list(range(6))


def test_group_ids_are_stable():
  space = (grid("model.hidden", 8, 16), grid("optimizer.learning_rate", 1e-3, 1e-2))
  trials = expand(space, 0)
  a = plan_groups(gru_base(space), trials, 1, 64)
  b = plan_groups(gru_base(space), trials, 1, 64)
  assert [p.gid for p in a] == [p.gid for p in b]
  assert [p.trials for p in a] == [p.trials for p in b]


def test_chunks_keep_the_seeds_of_a_trial_together():
  space = (grid("optimizer.learning_rate", *[10.0 ** -k for k in range(1, 6)]),)
  trials = expand(space, 0)
  plans = plan_groups(gru_base(space, seeds=3), trials, seeds=3, max_members=7)
  # 7 // 3 = 2 trials (6 models) per chunk: 2 + 2 + 1
  assert [p.trials for p in plans] == [(0, 1), (2, 3), (4,)]
  assert [len(p.members) for p in plans] == [6, 6, 3]
  assert all(len(p.members) <= 7 for p in plans)
  for p in plans:
    for t in p.trials:
      assert sorted(m.seed for m in p.members if m.trial == t) == [10, 11, 12]
  assert len({p.gid for p in plans}) == 3
  # fewer members allowed than seeds: still one whole trial per group
  plans = plan_groups(gru_base(space, seeds=3), trials, seeds=3, max_members=2)
  assert [p.trials for p in plans] == [(t,) for t in range(5)]
  assert all(len(p.members) == 3 for p in plans)


def _float_fields(c, prefix=""):
  for k, v in c.items():
    if isinstance(v, ml_collections.ConfigDict):
      yield from _float_fields(v, f"{prefix}{k}.")
    elif isinstance(v, float):
      yield f"{prefix}{k}"


def test_vmapped_fields_are_exactly_the_optimizer_hparams():
  assert len(VMAPPED_FIELDS) == len(optim.HPARAMS) == len(set(VMAPPED_FIELDS))
  for kind, data in (("gru", "japanese_vowels"), ("mlp", "mnist_5k"), ("cnn", "mnist_5k")):
    c = base_config(kind, data)
    c.optimizer.weight_decay, c.optimizer.momentum = 0.0, 0.0  # (None by default: the optimizer's own)
    # the float fields of a config that change hparams_of are exactly VMAPPED_FIELDS
    affects = set()
    for field in _float_fields(c):
      d = trial_config(c, {})
      set_field(d, field, get_field(c, field) * 0.5 + 0.0123)
      changed = {k for k in optim.HPARAMS if optim.hparams_of(d)[k] != optim.hparams_of(c)[k]}
      assert len(changed) <= 1, field
      if changed:
        affects.add(field)
        # ... and they do not change the group key
        assert static_key(d) == static_key(c), field
      else:
        assert static_key(d) != static_key(c), field
    assert affects == set(VMAPPED_FIELDS), kind


def test_every_other_field_splits_groups():
  c = base_config("gru", "japanese_vowels")
  for field, value in (("model.layers", 3), ("batch_size", 16), ("optimizer.name", "sgd"), ("epochs", 3),
                       ("data.name", "basic_motions"), ("schedule.name", "cosine")):
    d = trial_config(c, {field: value})
    assert static_key(d) != static_key(c), field


def test_memory_cap_splits_groups_and_scales_with_model_size():
  from mlexp.sweeps.plan import member_bytes, members_that_fit
  base = gru_base((grid("optimizer.learning_rate", 1e-3, 2e-3, 3e-3, 4e-3, 5e-3),))
  trials = expand(base.sweep.space, 0)
  plans = plan_groups(base, trials, 1, 64, member_cap=lambda cfg: 2)
  assert [len(p.members) for p in plans] == [2, 2, 1]
  small, big = trial_config(base, {}), trial_config(base, {"model.hidden": 256})
  assert member_bytes(big) > 4 * member_bytes(small)
  assert members_that_fit(big, 1e-6) == 1  # never zero: one member always runs
  assert members_that_fit(small, 1.0) > members_that_fit(big, 1.0)


def test_spread_order_deals_sorted_members_evenly_over_contiguous_device_blocks():
  """A group's members come sorted by width and are split over the devices in contiguous blocks: in
  spread_order every block of a split into 2 (or 4, n a power of two) holds narrow and wide members alike."""
  from mlexp.sweeps.grouping import spread_order
  for n in range(1, 65):
    order = spread_order(n)
    assert sorted(order) == list(range(n))
    for k in (2, 4):  # two devices (this project's CPU machines) for every n; four for powers of two
      if n < 2 * k or (k == 4 and n & (n - 1)):
        continue
      size = -(-n // k)
      blocks = [order[j * size:(j + 1) * size] for j in range(k)]
      means = [sum(b) / len(b) for b in blocks if b]
      # at most half the spread of the block means of the sorted order (~n(k-1)/k)
      assert max(means) - min(means) <= n * (k - 1) / (2 * k), (n, k, blocks)
      if n % k == 0 and n & (n - 1) == 0:  # a power of two: block j holds exactly the ranks = j' (mod k)
        assert sorted({r % k for r in blocks[0]}) == [0] and all(len({r % k for r in b}) == 1 for b in blocks)


def test_an_mlp_without_hidden_layers_gets_a_program_of_its_own():
  # units () beside (8,) and (16, 8) under padding max (one padded program per group key): the planner cut
  # every MLP into one bucket and failed reading the first layer of (); now () is a group key of its own
  from mlexp.sweeps.plan import plan_sweep
  from mlexp.sweeps.space import choice
  c = base_config("mlp", "mnist_5k")
  c.model.units = (16,)
  c.sweep = sweep_block((choice("model.units", (8,), (16, 8), ()),), num_trials=6)
  c.sweep.padding = "max"
  plan = plan_sweep(c)
  empty = [p for p in plan.groups if any(plan.trials[t]["model.units"] == () for t in p.trials)]
  assert empty and all(plan.trials[t]["model.units"] == () for p in empty for t in p.trials)
  assert all(tuple(p.config.model.units) == () for p in empty)
  others = [p for p in plan.groups if p not in empty]
  assert len(others) == 1 and len(others[0].config.model.units) == 2  # (8,) and (16, 8): one padded program


def test_the_cut_prices_padding_for_every_seed_of_a_trial():
  # a CNN study: kernel 5 padded to 7 costs each of a trial's seeds the difference; with 3 seeds that is more than
  # a program's compile (the CNN study compiled kernels 5 and 7 as one program: 305 s against 253 s apart)
  from mlexp.sweeps import widths
  c = base_config("cnn", "mnist_5k")
  c.model.filters, c.model.dense, c.epochs = (32, 64), (128,), 3
  trials = [{"model.kernel_size": 5}, {"model.kernel_size": 7}]
  cost = lambda cfg: widths.CostModel(feature_shape=(28, 28, 1), num_classes=10, n_train=3200, epochs=3.0,
                                      platform="cpu", kind="cnn")
  one = cost(c).train_seconds(trial_config(c, trials[0]).model, {"kernel_size": 7})
  own = cost(c).train_seconds(trial_config(c, trials[0]).model, None)
  assert one - own < cost(c).compile_seconds < 3 * (one - own)  # (what makes the case)
  assert [len(p.members) for p in plan_groups(c, trials, 1, 64, padding="auto", cost=cost)] == [2]
  assert sorted(len(p.members) for p in plan_groups(c, trials, 3, 64, padding="auto", cost=cost)) == [3, 3]
