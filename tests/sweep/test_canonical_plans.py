"""Plans that depend on the space, not on the draws: a random search's buckets and branches come from its space
drawn with seed 0 (canonical.canonical_trials), so another seed of the same space (or TPE's later batches) plans
the same bucket programs, and every member still fits its program."""
from __future__ import annotations

import pytest

import tiny
from mlexp.config import sweep_block
from mlexp.sweeps import widths
from mlexp.sweeps.canonical import canonical_trials
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.space import expand, grid, randint, sweep_trials, trial_config

TRIALS = 30


def _cost(cfg):
  return widths.CostModel(feature_shape=(tiny.C,), num_classes=tiny.CLASSES, n_train=1000, steps=20, epochs=10,
                          platform="cpu", compile_s=20.0, kind=str(cfg.model.kind))


def _base(seed, algorithm="random"):
  c = tiny.config("gru")
  c.sweep = sweep_block((randint("model.hidden", 4, 127), randint("model.layers", 1, 4), grid("model.dropout", 0.0)),
                        num_trials=TRIALS, algorithm=algorithm)
  c.sweep.seed = seed
  return c


def _shapes(plans):
  """What a program is built from besides its member slots: the bucket's sizes and the branches."""
  return {(str(p.config.model.to_dict()), p.branches) for p in plans}


def test_another_seed_of_the_same_space_plans_the_same_buckets():
  first, ids = None, {}
  for seed in range(5):
    base = _base(seed)
    trials = sweep_trials(base.sweep)
    plans = plan_groups(base, trials, 1, 64, padding="auto", cost=_cost)
    assert sum(len(p.members) for p in plans) == TRIALS
    for p in plans:  # every member fits its program's sizes
      for m in p.members:
        model = trial_config(base, trials[m.trial]).model
        assert widths.bucket_model([p.config.model, model]) == widths.bucket_model([p.config.model])
      # a bucket's program is the same for every seed, member slots included (the canonical slots; the spare
      # ones end each device's block: training.group.member_slots)
      ids.setdefault(str(p.config.model.to_dict()), set()).add(p.program)
    first = first or _shapes(plans)
    assert _shapes(plans) == first, seed
  assert all(len(v) == 1 for v in ids.values()), ids


def test_a_batch_of_draws_falls_into_the_search_buckets():
  base = _base(0, "tpe")
  full = _shapes(plan_groups(base, expand(base.sweep.space, TRIALS, 7), 1, 64, padding="auto", cost=_cost))
  batch = _shapes(plan_groups(base, expand(base.sweep.space, 6, 3), 1, 64, padding="auto", cost=_cost))
  assert batch <= full
  # the same programs, member slots included (a TPE batch's: tpe_batch x seeds, however many the bucket
  # holds): a later TPE batch reuses what an earlier one compiled
  programs = lambda trials: {str(p.config.model.to_dict()): p.program
                             for p in plan_groups(base, trials, 1, 64, padding="auto", cost=_cost)}
  first, later = programs(expand(base.sweep.space, 6, 3)), programs(expand(base.sweep.space, 10, 7))
  assert set(first) & set(later) and all(first[k] == later[k] for k in set(first) & set(later)), (first, later)


@pytest.mark.parametrize("algorithm", ["grid", "one_at_a_time"])
def test_grids_and_studies_plan_their_own_trials(algorithm):
  c = _base(0, algorithm)
  c.sweep.space = (grid("model.hidden", 8, 16),)
  assert canonical_trials(c.sweep) is None


def test_tpe_batches_of_an_mlp_space_plan_the_same_programs_whatever_they_draw():
  # batch sizes, optimizers and epochs as data: a bucket's program (its branches, epochs, optimizer and slots)
  # comes from the space, not from the batch (a later batch compiled 2 new programs of 25 and 36 s before)
  from mlexp.sweeps.space import choice, loguniform
  c = tiny.config("mlp", **{"model.units": (16, 16)})
  c.sweep = sweep_block((choice("model.units[0]", 16, 64, 256), choice("model.units[1]", 16, 64, 256),
                         choice("batch_size", 8, 32, 64), choice("epochs", 2, 3, 5),
                         choice("optimizer.name", "sgd", "adam", "rmsprop"),
                         loguniform("optimizer.learning_rate", 1e-4, 1e-2)), num_trials=30, algorithm="tpe")
  c.sweep.tpe_batch = 6
  cost = lambda cfg: widths.CostModel(feature_shape=(tiny.HW, tiny.HW, 1), num_classes=tiny.CLASSES, n_train=1000,
                                      epochs=int(cfg.epochs), platform="cpu", compile_s=5.0, kind="mlp")
  seen: dict = {}
  for seed in range(1, 6):
    trials = expand(c.sweep.space, 6, seed)
    for p in plan_groups(c, trials, 1, 64, padding="auto", cost=cost):
      seen.setdefault(str(p.config.model.to_dict()), set()).add(p.program)
      assert int(p.config.epochs) == 5 and str(p.config.optimizer.name) == "adam"
      assert p.slots == widths.ladder(6)  # a batch's worth
      for m in p.members:  # each member keeps its own epochs, batch size and optimizer
        t = trials[m.trial]
        assert (m.epochs or 5, m.batch_size, m.optimizer) == (t["epochs"], t["batch_size"], t["optimizer.name"])
  assert seen and all(len(v) == 1 for v in seen.values()), seen
