"""Batch size as data: members of different batch sizes share one compiled program (each runs the training
loop of its own batch size, a lax.switch) and train exactly as the same configs run alone; the planner
puts them in one program on CPU and keeps them apart where it should."""
from __future__ import annotations

import jax
import numpy as np
import pytest

import tiny
from mlexp.config import sweep_block
from mlexp.sweeps import widths
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.space import choice, expand, randint_tuple
from mlexp.training import optim
from mlexp.training.group import Member, branches

EPOCHS = 3
SIZES = (3, 6, 16, 3)  # 16 = all of tiny's training examples; 3 and 6 leave a wrapped-around last batch

CASES = {  # name -> (kind, config overrides)
    "mlp_adam_dropout": ("mlp", {"optimizer.name": "adam", "optimizer.learning_rate": 0.01, "model.dropout": 0.3}),
    "gru_cosine": ("gru", {"optimizer.name": "adamw", "optimizer.learning_rate": 0.02, "schedule.name": "cosine",
                           "optimizer.weight_decay": 0.01}),
    "mlp_plateau_vmap": ("mlp", {"schedule.name": "plateau", "member_loop": "vmap"}),
}


def _run(cfg, members):
  return tiny.run_group(cfg, members, EPOCHS)


@pytest.fixture(scope="module", params=list(CASES))
def mixed_and_alone(request):
  kind, overrides = CASES[request.param]
  cfg = tiny.config(kind, batch_size=max(SIZES), **overrides)
  hp = optim.hparams_of(cfg)
  members = [Member(seed=5 + i, hparams=hp, trial=i, batch_size=b) for i, b in enumerate(SIZES)]
  mixed = _run(cfg, members)
  alone = [_run(tiny.config(kind, batch_size=b, **overrides), [Member(seed=5 + i, hparams=hp, trial=i)])
           for i, b in enumerate(SIZES)]
  return request.param, mixed, alone


def test_a_member_trains_exactly_as_its_config_alone(mixed_and_alone):
  case, (group, state, metrics), alone = mixed_and_alone
  assert branches(group.members) == ((3, ()), (6, ()), (16, ()))
  assert np.asarray(group.hp["branch"]).tolist()[:len(SIZES)] == [0, 1, 2, 0]
  for i, (_, state_alone, metrics_alone) in enumerate(alone):
    assert int(state.step[i]) == int(state_alone.step[0]) == EPOCHS * -(-tiny.N_TRAIN // SIZES[i])
    for e in range(EPOCHS):
      for k in ("train_loss", "test_loss", "test_accuracy", "learning_rate"):
        np.testing.assert_allclose(metrics[e][k][i], metrics_alone[e][k][0], rtol=1e-6, atol=1e-7,
                                   err_msg=f"{case} member {i} epoch {e + 1} {k}")
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(state_alone.params)):
      np.testing.assert_allclose(a[i], b[0], rtol=1e-6, atol=1e-7, err_msg=f"{case} member {i} params")


def _space_base(platform_sizes=(32, 64, 128)):
  c = tiny.config("mlp")
  c.sweep = sweep_block((randint_tuple("model.units", 4, 40, 1, 2), choice("batch_size", *platform_sizes)),
                        num_trials=12)
  return c, expand(c.sweep.space, 12, 0)


def _cost(platform="cpu", compile_s=5.0):
  return lambda cfg: widths.CostModel(feature_shape=(tiny.HW, tiny.HW, 1), num_classes=tiny.CLASSES,
                                       n_train=1000, epochs=3, platform=platform, compile_s=compile_s,
                                       kind=str(cfg.model.kind))


def test_cpu_plans_trials_of_different_batch_sizes_into_one_program():
  base, trials = _space_base()
  plans = plan_groups(base, trials, 1, 64, padding="auto", cost=_cost("cpu", compile_s=1e6))
  assert len(plans) == 1
  p = plans[0]
  assert {m.batch_size for m in p.members} == {t["batch_size"] for t in trials}
  for m in p.members:  # each member keeps its own trial's batch size; the group config holds the largest
    assert m.batch_size == trials[m.trial]["batch_size"]
  assert p.config.batch_size == max(t["batch_size"] for t in trials)


@pytest.mark.parametrize("padding,platform", [("none", "cpu"), ("auto", "gpu"), ("max", "tpu")])
def test_batch_sizes_stay_apart_without_padding_or_off_cpu(padding, platform):
  """padding none keeps today's exact groups; on GPU / TPU members are vmapped (every branch would run)."""
  base, trials = _space_base()
  plans = plan_groups(base, trials, 1, 64, padding=padding, cost=_cost(platform, compile_s=1e6))
  for p in plans:
    assert len({trials[t]["batch_size"] for t in p.trials}) == 1
    assert all(m.batch_size == 0 for m in p.members)
    assert p.config.batch_size == trials[p.trials[0]]["batch_size"]


def test_member_loop_vmap_keeps_batch_sizes_apart_on_cpu():
  base, trials = _space_base()
  base.member_loop = "vmap"
  plans = plan_groups(base, trials, 1, 64, padding="auto", cost=_cost("cpu", compile_s=1e6))
  assert len(plans) == len({t["batch_size"] for t in trials})
  assert all(m.batch_size == 0 for p in plans for m in p.members)


def test_group_ids_differ_by_the_batch_sizes_they_hold():
  base, trials = _space_base()
  one = plan_groups(base, trials, 1, 64, padding="max", cost=_cost())
  base2, trials2 = _space_base((32, 128))
  two = plan_groups(base2, trials2, 1, 64, padding="max", cost=_cost())
  assert one[0].gid != two[0].gid


def test_an_extra_batch_size_is_priced_as_a_share_of_a_compile():
  """Two trials of one shape and two batch sizes: one program when a compile costs more than the branch
  share, and the estimate says so."""
  base, _ = _space_base()
  trials = [{"model.units": (8,), "batch_size": 32}, {"model.units": (8,), "batch_size": 64}]
  cost = _cost("cpu", compile_s=10.0)
  assert len(plan_groups(base, trials, 1, 64, padding="auto", cost=cost)) == 1
  models = [base.model for _ in trials]
  one, _ = widths.partition_cost(models, "auto", cost(base), [32, 64])
  assert one == pytest.approx(10.0 * (1 + widths.BRANCH_SHARE["mlp"]) + sum(
      cost(base).train_seconds(m, None, b) for m, b in zip(models, (32, 64))))


def test_the_printed_plan_says_which_programs_run_several_batch_sizes():
  from mlexp.sweeps.plan import SweepPlan, describe
  base, trials = _space_base()
  base.sweep.padding = "max"
  plans = plan_groups(base, trials, 1, 64, padding="max", cost=_cost())
  line = describe(SweepPlan(trials, [], plans), base, lambda cfg: tiny.dataset_for("mlp"), "cpu")
  assert "1 program(s) of 12 model(s); 1 of them run several batch sizes" in line


def test_compile_price_grows_with_length_buckets_and_batch_sizes():
  one = widths.CostModel(feature_shape=(3,), num_classes=2, n_train=10, kind="lstm")
  three = widths.CostModel(feature_shape=(3,), num_classes=2, n_train=10, kind="lstm", length_buckets=3)
  assert one.compile_seconds == widths.COMPILE_S_CPU["lstm"]
  assert three.compile_seconds == pytest.approx(one.compile_seconds * (1 + 2 * widths.LENGTH_BUCKET_SHARE))
  assert three.program_seconds(3) == pytest.approx(three.compile_seconds * (1 + 2 * widths.BRANCH_SHARE["lstm"]))
  gpu = widths.CostModel(feature_shape=(3,), num_classes=2, n_train=10, kind="lstm", length_buckets=3,
                          platform="gpu")
  assert gpu.compile_seconds == widths.COMPILE_S["gpu"]
