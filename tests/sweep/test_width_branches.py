"""Widths as data: members of a padded group may train at narrower padded sizes than the group's (a branch of
the epoch's `lax.switch`, like batch size as data). Each still trains exactly the model its config names
(equal, to float tolerance, to the same config run alone), its padded units stay exactly zero, and the
planner gives an MLP program narrower branches only where they pay for their compile."""
from __future__ import annotations

import jax
import numpy as np
import pytest

import tiny
from mlexp.sweeps import widths
from mlexp.training import optim
from mlexp.training.group import Member, branches

EPOCHS = 2

# name -> (kind, overrides, group sizes, [(true sizes, branch sizes or {}, batch size)])
CASES = {
    "mlp_adamw_dropout": (
        "mlp", {"model.dropout": 0.2, "optimizer.name": "adamw", "optimizer.weight_decay": 0.05,
                "optimizer.learning_rate": 0.01, "batch_size": 8},
        {"units": (10, 8, 8)},
        [({"units": (5,)}, {"units": (6, 1, 1)}, 8), ({"units": (4, 3)}, {"units": (8, 4, 4)}, 8),
         ({"units": (2, 7, 8)}, {}, 8), ({"units": (10,)}, {"units": (10, 1, 1)}, 4),
         ({"units": (4, 4)}, {"units": (8, 4, 4)}, 8)]),
    "gru_plateau": (
        "gru", {"optimizer.name": "adam", "optimizer.learning_rate": 0.05, "model.dropout": 0.3,
                "schedule.name": "plateau", "batch_size": 8},
        {"hidden": 8, "layers": 3, "conv_filters": 0},
        [({"hidden": 5, "layers": 2}, {"hidden": 6, "layers": 3, "conv_filters": 0}, 8),
         ({"hidden": 8, "layers": 3}, {}, 8), ({"hidden": 4, "layers": 1}, {"hidden": 6, "layers": 3, "conv_filters": 0}, 4)]),
}


@pytest.fixture(scope="module", params=list(CASES))
def branched_and_alone(request):
  kind, overrides, group, rows = CASES[request.param]
  gcfg = tiny.config(kind, **{**overrides, **{f"model.{k}": v for k, v in group.items()}})
  hp = optim.hparams_of(gcfg)
  members = [Member(seed=3 + i, hparams=hp, trial=i, dims=tuple(t.items()), batch_size=b,
                    branch=tuple(sorted(f.items()))) for i, (t, f, b) in enumerate(rows)]
  out = tiny.run_group(gcfg, members, EPOCHS)
  alone = [tiny.run_group(tiny.config(kind, **{**overrides, "batch_size": b,
                                               **{f"model.{k}": v for k, v in {**group, **t}.items()}}),
                          [Member(seed=3 + i, hparams=hp, trial=i)], EPOCHS) for i, (t, _, b) in enumerate(rows)]
  return request.param, out, alone


def test_a_member_of_a_narrower_branch_equals_its_config_alone(branched_and_alone):
  case, (group, state, ms), alone = branched_and_alone
  assert branches(group.members) is not None and group.width_padded
  for i, (g_alone, _, ms_alone) in enumerate(alone):
    assert group.param_counts()[i] == g_alone.param_counts()[0]
    for e in range(EPOCHS):
      for k in ("train_loss", "test_loss", "test_accuracy", "learning_rate"):
        np.testing.assert_allclose(ms[e][k][i], ms_alone[e][k][0], rtol=2e-4, atol=2e-5,
                                   err_msg=f"{case} member {i} epoch {e + 1} {k}")


def test_padded_units_stay_exactly_zero_in_every_branch(branched_and_alone):
  """Parameters and optimizer moments past a member's true sizes (inside and past its branch) are exactly zero
  after training: no more nonzero entries than its true parameter count, in params and in each moment."""
  case, (group, state, _), _ = branched_and_alone
  counts = group.param_counts()
  moments = [a for a in jax.tree.leaves(state.opt_state) if a.ndim > 1]
  for i in range(group.size):
    nonzero = sum(int(np.count_nonzero(a[i])) for a in jax.tree.leaves(state.params))
    assert counts[i] * 0.9 <= nonzero <= counts[i], (case, i, nonzero, counts[i])
    per_moment = [int(np.count_nonzero(a[i])) for a in moments]
    assert sum(per_moment) <= 2 * counts[i], (case, i, per_moment, counts[i])


# ---- the planner (pure: no JAX programs are built)

def _base(mode="full", epochs=10, **over):
  from mlexp.config import sweep_block
  from mlexp.sweeps.space import randint_tuple
  c = tiny.config("mlp", **over)
  c.epochs = epochs
  c.sweep = sweep_block((randint_tuple("model.units", 4, 400, 1, 3),), num_trials=16, mode=mode)
  from mlexp.sweeps.space import expand
  return c, expand(c.sweep.space, 16, 0)


def _cost(platform="cpu", compile_s=0.02, epochs=10):
  return lambda cfg: widths.CostModel(feature_shape=(28, 28, 1), num_classes=10, n_train=4000, epochs=epochs,
                                       platform=platform, compile_s=compile_s, kind=str(cfg.model.kind))


def _plan(base, trials, platform="cpu", padding="auto", compile_s=0.02):
  from mlexp.sweeps.grouping import plan_groups
  return plan_groups(base, trials, 1, 64, padding=padding, cost=_cost(platform, compile_s, int(base.epochs)))


def test_branches_are_narrower_prefixes_of_their_program():
  """Cheap compiles and long training: one program, its members cut into branches, each branch's sizes the
  padded sizes of its own members at the program's depth, never wider than the program."""
  base, trials = _base()
  plans = _plan(base, trials, compile_s=3.0)  # (branch sizes come from the width ladder too: 5 s gave none)
  narrow = [m for p in plans for m in p.members if m.branch]
  assert narrow, "training-bound full sweep: some members train at narrower widths"
  for p in plans:
    full = tuple(p.config.model.units)
    for m in p.members:
      if not m.branch:
        continue
      units = dict(m.branch)["units"]
      true = tuple(dict(m.dims)["units"])
      assert len(units) == len(full) and units != full
      assert all(b <= f for b, f in zip(units, full))
      assert units[0] >= true[0] and (len(true) == 1 or units[1] >= max(true)), (units, true)


def test_no_branches_where_a_compile_costs_more_than_the_padding():
  base, trials = _base(mode="asha", epochs=3)
  assert not any(m.branch for p in _plan(base, trials, compile_s=1e6) for m in p.members)


@pytest.mark.parametrize("platform,padding,loop", [("gpu", "auto", "auto"), ("cpu", "max", "auto"),
                                                   ("cpu", "none", "auto"), ("cpu", "auto", "vmap")])
def test_no_branches_off_cpu_with_padding_max_or_none_or_vmapped(platform, padding, loop):
  base, trials = _base(member_loop=loop)
  assert not any(m.branch for p in _plan(base, trials, platform, padding, compile_s=5.0) for m in p.members)


def test_asha_prices_branches_at_the_epochs_trials_are_expected_to_train():
  """The same space and compile price: a full sweep (every trial 27 epochs) gets more branches than an ASHA
  sweep (most trials stopped at the first rung)."""
  def count(mode):
    base, trials = _base(mode=mode, epochs=27)
    return len({(p.gid, m.branch) for p in _plan(base, trials, compile_s=8.0) for m in p.members})
  assert count("full") > count("asha")


def test_branch_cut_prices_a_branch_as_a_share_of_a_compile():
  base, trials = _base()
  models = [tiny.config("mlp", **{"model.units": u}).model for u in ((300, 300), (8, 8), (290, 300))]
  cost = _cost(compile_s=1e6)(base)
  assert widths.branch_cut(models, [1, 0, 2], cost) == [[1, 0, 2]]  # compile-bound: one branch
  cheap = _cost(compile_s=1e-6)(base)
  # training-bound: each its own branch, but for 290 and 300 units: one rung of the width ladder (362)
  assert widths.branch_cut(models, [1, 0, 2], cheap) == [[1], [0, 2]]


def test_the_plan_says_which_programs_run_narrower_widths_and_prices_their_branches():
  from mlexp.sweeps.plan import SweepPlan, _compile_seconds, describe
  base, trials = _base()
  plans = _plan(base, trials, compile_s=3.0)
  line = describe(SweepPlan(trials, [], plans), base, lambda cfg: tiny.dataset_for("mlp"), "cpu")
  assert "of them run narrower widths for some models" in line
  p = next(p for p in plans if any(m.branch for m in p.members))
  n = len({(m.batch_size, m.branch) for m in p.members})
  cost = _cost(compile_s=3.0)(p.config)
  assert _compile_seconds(cost, p.members) == pytest.approx(3.0 * (1 + widths.BRANCH_SHARE["mlp"] * (n - 1)))
