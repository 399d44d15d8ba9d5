"""The optimizer as data: members of different optimizers (sgd, momentum, adam, adamw, rmsprop) share one compiled
program, one training loop per batch size and optimizer family (optim.mixed: sgd / momentum, adam / adamw, rmsprop;
optax's updates on one state, the member's own knobs as data), and train as the same configs run alone (to float
rounding); the planner puts them in one program on CPU and keeps them apart where a program holds no branches."""
from __future__ import annotations

import jax
import numpy as np
import pytest

import tiny
from mlexp.config import sweep_block
from mlexp.sweeps import widths
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.space import expand, grid
from mlexp.training import optim
from mlexp.training.group import Member, branches

EPOCHS = 3
NAMES = ("sgd", "momentum", "adam", "adamw", "rmsprop", "sgd")

CASES = {  # name -> (kind, config overrides)
    "mlp_constant": ("mlp", {"optimizer.learning_rate": 0.05, "model.dropout": 0.2}),
    "gru_plateau": ("gru", {"optimizer.learning_rate": 0.02, "schedule.name": "plateau"}),
    "mlp_cosine_weight_decay": ("mlp", {"schedule.name": "cosine", "optimizer.weight_decay": 0.01}),
}


@pytest.fixture(scope="module", params=list(CASES))
def mixed_and_alone(request):
  kind, overrides = CASES[request.param]
  alone_cfgs = [tiny.config(kind, **{**overrides, "optimizer.name": n}) for n in NAMES]
  members = [Member(seed=5 + i, hparams=optim.hparams_of(c), trial=i, optimizer=n)
             for i, (n, c) in enumerate(zip(NAMES, alone_cfgs))]
  mixed = tiny.run_group(tiny.config(kind, **{**overrides, "optimizer.name": "adam"}), members, EPOCHS)
  alone = [tiny.run_group(c, [Member(seed=5 + i, hparams=optim.hparams_of(c), trial=i)], EPOCHS)
           for i, c in enumerate(alone_cfgs)]
  return request.param, mixed, alone


def test_a_member_trains_exactly_as_its_optimizer_alone(mixed_and_alone):
  case, (group, state, metrics), alone = mixed_and_alone
  names = ("adam", "adamw", "momentum", "rmsprop", "sgd")  # one branch each (the group's batch size)
  assert [b[2] for b in branches(group.members)] == list(names)
  assert np.asarray(group.hp["branch"]).tolist()[:len(NAMES)] == [names.index(n) for n in NAMES]
  finals = set()
  for i, (_, state_alone, metrics_alone) in enumerate(alone):
    for e in range(EPOCHS):
      for k in ("train_loss", "test_loss", "test_accuracy", "learning_rate"):
        np.testing.assert_allclose(metrics[e][k][i], metrics_alone[e][k][0], rtol=1e-6, atol=1e-7,
                                   err_msg=f"{case} member {i} ({NAMES[i]}) epoch {e + 1} {k}")
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(state_alone.params)):
      # (1e-6: rmsprop's rsqrt, fused otherwise inside the switch, differs from the program alone by float rounding)
      np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6, err_msg=f"{case} member {i} params")
    finals.add(round(float(metrics[-1]["train_loss"][i]), 6))
  assert len(finals) >= 4, f"{case}: the optimizers should train differently, got final losses {finals}"


@pytest.mark.parametrize("cosine", [False, True])
def test_mixed_is_each_optimizer_alone(cosine):
  """optim.mixed over each family's names (sgd / momentum, adam / adamw, rmsprop), each member's kind in turn (as
  data: a traced argument), gives make_optimizer(its name)'s parameters after a few steps (with L2 / decoupled
  weight decay and momentum), the constant or a scheduled learning rate; it refuses two families at once."""
  from mlexp.config.hparams import OPTIMIZER_FAMILY
  rng = np.random.default_rng(0)
  params = {"w": jax.numpy.asarray(rng.normal(size=(6, 3)), jax.numpy.float32),
            "b": jax.numpy.asarray(rng.normal(size=(3,)), jax.numpy.float32)}
  grads = [jax.tree.map(lambda v: jax.numpy.asarray(rng.normal(size=v.shape), jax.numpy.float32), params)
           for _ in range(4)]
  lr = (lambda count: 0.05 * 0.9 ** count) if cosine else None
  finals = []
  for name in OPTIMIZER_FAMILY:
    names = tuple(n for n in OPTIMIZER_FAMILY if OPTIMIZER_FAMILY[n] == OPTIMIZER_FAMILY[name])
    hp = {"learning_rate": 0.05, "weight_decay": 0.02, "momentum": 0.9 if name == "momentum" else 0.0}
    alone = optim.make_optimizer(name, hp, lr)
    pa, sa, pm, sm = params, alone.init(params), params, optim.mixed(names, 0, hp, lr).init(params)
    step = jax.jit(lambda g, s, p, kind: optim.apply(optim.mixed(names, kind, hp, lr), g, s, p))
    for g in grads:
      pa, sa = optim.apply(alone, g, sa, pa)
      pm, sm = step(g, sm, pm, jax.numpy.asarray(names.index(name)))
    for key in params:
      np.testing.assert_allclose(pm[key], pa[key], rtol=1e-6, atol=1e-7, err_msg=f"{name} {key}")
    finals.append(float(pm["w"].sum()))
  assert len(set(finals)) == len(OPTIMIZER_FAMILY), finals  # the kind chooses: each moved the parameters its way
  with pytest.raises(ValueError, match="one family"):
    optim.mixed(("sgd", "adam"), 0, {"learning_rate": 0.1, "weight_decay": 0.0, "momentum": 0.0})


def test_members_of_one_optimizer_family_share_one_training_loop():
  """A group of one batch size whose members name sgd, momentum, adam and adamw traces two training loops (one
  per family): as many scans as a group of sgd and adam, more than a group of one optimizer, fewer than three
  families."""
  from mlexp.training.group import Group, device_splits
  cfg = tiny.config("mlp", **{"optimizer.learning_rate": 0.05})
  ds = tiny.dataset_for("mlp")
  train, test = device_splits(ds, 1)

  def scans(names):
    members = [Member(seed=i, hparams=optim.hparams_of(cfg), trial=i, optimizer=n) for i, n in enumerate(names)]
    g = Group(cfg, train, test, ds.num_classes, members)
    one = lambda tree: jax.tree.map(lambda a: a[0], tree)  # noqa: E731
    epoch = lambda s, h: g.program.epoch(s, h, train, None, test)  # noqa: E731
    return str(jax.make_jaxpr(epoch)(one(g.init()), one(g.hp))).count("scan[")

  two = scans(("sgd", "adam"))
  assert scans(("sgd", "momentum", "adam", "adamw")) == two > scans(("adam", "adam", "adam")) >= 1
  assert scans(("sgd", "adam", "rmsprop")) > two


def _cost(platform="cpu"):
  return lambda cfg: widths.CostModel(feature_shape=(tiny.HW, tiny.HW, 1), num_classes=tiny.CLASSES,
                                       n_train=1000, epochs=3, platform=platform, compile_s=5.0,
                                       kind=str(cfg.model.kind))


def _base():
  c = tiny.config("mlp")
  c.sweep = sweep_block((grid("optimizer.name", "sgd", "adam", "rmsprop"), grid("optimizer.learning_rate", 0.1, 0.01)))
  return c, expand(c.sweep.space, 6, 0)


def test_cpu_plans_trials_of_different_optimizers_into_one_program():
  base, trials = _base()
  plans = plan_groups(base, trials, 2, 64, padding="auto", cost=_cost("cpu"))
  assert len(plans) == 1
  for m in plans[0].members:
    assert m.optimizer == trials[m.trial]["optimizer.name"]


@pytest.mark.parametrize("padding,platform", [("none", "cpu"), ("auto", "gpu")])
def test_one_program_per_optimizer_without_branches(padding, platform):
  base, trials = _base()
  plans = plan_groups(base, trials, 2, 64, padding=padding, cost=_cost(platform))
  assert sorted(p.config.optimizer.name for p in plans) == ["adam", "rmsprop", "sgd"]
  assert all(m.optimizer == "" for p in plans for m in p.members)


def test_a_batch_naming_fewer_optimizers_than_its_programs_branches_trains_as_alone():
  # a TPE batch of the MLP space: its members all name adam and rmsprop, the canonical program's branches
  # hold sgd too (it failed with "tuple.index(x): x not in tuple" when the program's optimizers were the members')
  from mlexp.training.group import Group, device_splits, optimizers
  cfg = tiny.config("mlp", **{"optimizer.learning_rate": 0.05})
  ds = tiny.dataset_for("mlp")
  train, test = device_splits(ds, 1)
  b = int(cfg.batch_size)
  keys = ((b, (), "adam"), (b, (), "rmsprop"), (b, (), "sgd"))
  members = [Member(seed=5 + i, hparams=optim.hparams_of(cfg), trial=i, optimizer=n, batch_size=b)
             for i, n in enumerate(("adam", "rmsprop"))]
  assert optimizers(members, keys) == ("adam", "rmsprop", "sgd") and optimizers(members) == ("adam", "rmsprop")
  g = Group(cfg, train, test, ds.num_classes, members, branches=keys)
  state = g.init()
  for _ in range(EPOCHS):
    state, m, _ = g.epoch(state)
  for i, n in enumerate(("adam", "rmsprop")):
    c = tiny.config("mlp", **{"optimizer.learning_rate": 0.05, "optimizer.name": n})
    _, _, alone = tiny.run_group(c, [Member(seed=5 + i, hparams=optim.hparams_of(c), trial=i)], EPOCHS)
    np.testing.assert_allclose(m["train_loss"][i], alone[-1]["train_loss"][0], rtol=1e-5, err_msg=n)


def test_a_group_shrunk_to_members_of_fewer_optimizers_keeps_training_as_alone():
  # ASHA stops every sgd member and the group continues with the adam ones in a smaller group (drop_frozen):
  # the rebuilt program keeps the branches, so the optimizer state still fits it (it failed with "The number of
  # updates and states has to be the same in chain" on the MLP search)
  from mlexp.training.group import Group, device_splits
  from mlexp.training.loop import Training
  from mlexp.training.program import CUT
  cfg = tiny.config("mlp", **{"optimizer.learning_rate": 0.05})
  ds = tiny.dataset_for("mlp")
  train, test = device_splits(ds, 1)
  names = ("sgd", "adam", "sgd", "adam")
  members = [Member(seed=5 + i, hparams=optim.hparams_of(cfg), trial=i, optimizer=n) for i, n in enumerate(names)]
  rebuild = lambda ms, branches=(): Group(cfg, train, test, ds.num_classes, ms, branches=branches)  # noqa: E731
  run = Training(rebuild(members), None, members)
  run.state = run.group.init()
  run.state, _, _ = run.group.epoch(run.state)
  status = run.group.member_status(run.state)
  status[[0, 2]] = CUT
  run.state = run.group.set_status(run.state, status)
  run.drop_frozen((), rebuild)
  assert run.group.size == 2 and run.pos == [1, 3]
  for _ in range(EPOCHS - 1):
    run.state, m, _ = run.group.epoch(run.state)
  c = tiny.config("mlp", **{"optimizer.learning_rate": 0.05, "optimizer.name": "adam"})
  for j, i in enumerate(run.pos):
    _, _, alone = tiny.run_group(c, [Member(seed=5 + i, hparams=optim.hparams_of(c), trial=i)], EPOCHS)
    np.testing.assert_allclose(m["train_loss"][j], alone[-1]["train_loss"][0], rtol=1e-5, err_msg=f"member {i}")
