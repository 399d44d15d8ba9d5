"""The pure training program and its vmapped groups: training moves every parameter, members are
independent (vmapped == standalone, divergence stays in its member), early stopping, best parameters
and learning-rate schedules."""
from __future__ import annotations

import io
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tiny
from mlexp.data import Split
from mlexp.training import optim, trainer
from mlexp.training.group import Group, Member, device_splits
from mlexp.training.program import DIVERGED, RUNNING, STATUS_NAMES, STOPPED_EARLY

# The group configs of the vmapped == standalone checks (test_vmapped_members_equal_standalone_runs).
# gru uses adam, plateau and dropout between its layers, so optimizer state, plateau state and
# per-member dropout keys are all part of what must not mix between members.
GROUP_CONFIGS = {
    "mlp": dict(),
    "gru": {"optimizer.name": "adam", "optimizer.learning_rate": 0.05, "schedule.name": "plateau",
            "schedule.patience": 1, "model.dropout": 0.2},
}
SEEDS = (3, 4, 5)
EPOCHS = 2


def host(tree):
  """A numpy copy of a pytree (the group donates its state buffers to the next epoch)."""
  return jax.tree.map(lambda a: np.array(a, copy=True), tree)


def member(tree, i):
  return jax.tree.map(lambda a: a[i], tree)


def run_group(cfg, dataset, members, epochs):
  """Trains a Group; returns (group, [state after init, after epoch 1, ...] on host, [metrics per epoch])."""
  train, test = device_splits(dataset, int(cfg.data.num_buckets))
  group = Group(cfg, train, test, dataset.num_classes, members)
  state = group.init()
  states, metrics = [host(state)], []
  for _ in range(epochs):
    state, m, _ = group.epoch(state)
    states.append(host(state))
    metrics.append(m)
  return group, states, metrics


def members_of(cfg, seeds, **hparams):
  hp = optim.hparams_of(cfg)
  out = []
  for i, s in enumerate(seeds):
    out.append(Member(seed=s, hparams={**hp, **{k: v[i] for k, v in hparams.items()}}))
  return out


@pytest.fixture(scope="module")
def group_runs():
  """kind -> (vmapped run of SEEDS, {seed: standalone run}); each run is (group, states, metrics)."""
  out = {}
  for kind, overrides in GROUP_CONFIGS.items():
    cfg = tiny.config(kind, **overrides)
    ds = tiny.dataset_for(kind)
    vmapped = run_group(cfg, ds, members_of(cfg, SEEDS), EPOCHS)
    alone = {s: run_group(cfg, ds, members_of(cfg, [s]), EPOCHS) for s in SEEDS}
    out[kind] = (cfg, vmapped, alone)
  return out


@pytest.fixture(scope="module")
def one_step_runs(group_runs):
  """kind -> (state after init, state after one epoch of one step), one member each."""
  out = {kind: (alone[SEEDS[0]][1][0], alone[SEEDS[0]][1][1]) for kind, (_, _, alone) in group_runs.items()}
  extra = {"cnn": {}, "lstm": {"model.conv_filters": 2, "model.readout": "mean"}, "linear": {}}
  for kind, overrides in extra.items():
    cfg = tiny.config(kind, **overrides)
    _, states, _ = run_group(cfg, tiny.dataset_for(kind), members_of(cfg, [0]), 1)
    out[kind] = (states[0], states[1])
  return out


@pytest.mark.parametrize("kind", ["mlp", "cnn", "gru", "lstm", "linear"])
def test_one_train_step_changes_every_parameter(one_step_runs, kind):
  before, after = one_step_runs[kind]
  assert int(after.step[0]) == 1 and int(after.epoch[0]) == 1  # batch_size = n_train: one step per epoch
  assert int(after.status[0]) == RUNNING
  flat_before = jax.tree_util.tree_leaves_with_path(before.params)
  flat_after = jax.tree.leaves(after.params)
  assert len(flat_before) == len(flat_after) >= 2
  for (path, b), a in zip(flat_before, flat_after):
    assert np.all(np.isfinite(a)), jax.tree_util.keystr(path)
    assert not np.array_equal(a, b), f"{kind}: {jax.tree_util.keystr(path)} did not change"


TIMING = {"member_s", "member_busy", "member_overlap_s"}


@pytest.mark.parametrize("kind", list(GROUP_CONFIGS))
def test_vmapped_members_equal_standalone_runs(group_runs, kind):
  _, (group, states, metrics), alone = group_runs[kind]
  assert group.size == len(SEEDS)
  for i, seed in enumerate(SEEDS):
    _, s_states, s_metrics = alone[seed]
    for e in range(1, EPOCHS + 1):
      got, want = member(states[e], i), member(s_states[e], 0)
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
      for k, v in metrics[e - 1].items():
        if k in TIMING:  # wall-clock seconds measured inside the program (training/member_clock.py timed_epoch)
          continue
        np.testing.assert_allclose(v[i], s_metrics[e - 1][k][0], rtol=1e-5, atol=1e-6, err_msg=k)
  # the members really are different models (so the check above is not trivially true)
  p = states[-1].params
  assert not np.allclose(jax.tree.leaves(member(p, 0))[0], jax.tree.leaves(member(p, 1))[0])
  assert len(set(np.round(metrics[-1]["test_loss"], 6))) == len(SEEDS)


def test_train_and_evaluate_summary_equals_standalone_runs(group_runs, monkeypatch, tmp_path):
  """Through the trainer: the seeds of one run report what each seed reports alone."""
  cfg, _, alone = group_runs["mlp"]
  ds = tiny.dataset_for("mlp")
  monkeypatch.setattr(trainer, "load_data", lambda config: ds)

  def summary(seed, seeds):
    c = ml_collections.ConfigDict(cfg.to_dict())
    c.seed, c.seeds = seed, seeds
    return trainer.train_and_evaluate(c, str(tmp_path / f"s{seed}_{seeds}"), stream=io.StringIO())

  together = summary(SEEDS[0], len(SEEDS))
  assert [r["seed"] for r in together["runs"]] == list(SEEDS)
  for i, seed in enumerate(SEEDS[:2]):
    r = together["runs"][i]
    ref = summary(seed, 1)["runs"][0] if i else None
    _, s_states, _ = alone[seed]
    last = s_states[-1]
    assert r["status"] == "completed" and r["epochs_run"] == EPOCHS
    assert r["best_epoch"] == int(last.best_epoch[0])
    assert math.isclose(r["best_test_loss"], float(last.best_loss[0]), rel_tol=1e-5)
    assert math.isclose(r["test_accuracy"], float(last.best_accuracy[0]), rel_tol=1e-5)
    if ref is not None:
      assert math.isclose(r["best_test_loss"], ref["best_test_loss"], rel_tol=1e-5)
      assert r["best_epoch"] == ref["best_epoch"]


DIVERGING_LR = 1e30


@pytest.fixture(scope="module")
def divergence_runs():
  cfg = tiny.config("mlp")  # the sgd config of GROUP_CONFIGS["mlp"]: compiled once
  ds = tiny.dataset_for("mlp")
  seeds = [0, 1, 2]
  bad = run_group(cfg, ds, members_of(cfg, seeds, learning_rate=[1e-3, DIVERGING_LR, 1e-3]), 4)
  good = run_group(cfg, ds, members_of(cfg, seeds, learning_rate=[1e-3, 1e-2, 1e-3]), 4)
  return bad, good


def test_a_diverging_member_is_flagged_and_frozen_with_finite_params(divergence_runs):
  (_, states, metrics), _ = divergence_runs
  final = states[-1]
  assert int(final.status[1]) == DIVERGED and STATUS_NAMES[DIVERGED] == "diverged"
  assert [int(s) for s in final.status[[0, 2]]] == [RUNNING, RUNNING]
  for leaf in jax.tree.leaves(member(final.params, 1)):
    assert np.all(np.isfinite(leaf))
  # the epoch it diverged in reports a NaN train loss; later epochs do not train it and change nothing
  diverged_at = next(e for e, m in enumerate(metrics) if m["status"][1] == DIVERGED)
  assert np.isnan(metrics[diverged_at]["train_loss"][1])
  assert all(m["trained"][1] == (e <= diverged_at) for e, m in enumerate(metrics))
  for later in states[diverged_at + 2:]:
    for a, b in zip(jax.tree.leaves(member(later, 1)), jax.tree.leaves(member(states[diverged_at + 1], 1))):
      np.testing.assert_array_equal(a, b)


def test_divergence_never_touches_the_other_members(divergence_runs):
  (_, bad, bad_m), (_, good, good_m) = divergence_runs
  assert int(good[-1].status[1]) == RUNNING
  for i in (0, 2):
    for e in range(len(bad)):
      for a, b in zip(jax.tree.leaves(member(bad[e], i)), jax.tree.leaves(member(good[e], i))):
        assert np.array_equal(a, b)
    for m_bad, m_good in zip(bad_m, good_m):
      for k in set(m_bad) - TIMING:
        assert np.array_equal(m_bad[k][i], m_good[k][i]), k


@pytest.fixture(scope="module")
def early_stopping_run():
  """An absurd setup: the test set holds the training inputs with shifted labels, so the test loss
  rises as the training loss falls."""
  cfg = tiny.config("mlp", **{"early_stopping.patience": 1, "schedule.name": "plateau", "schedule.patience": 1,
                              "schedule.factor": 0.25, "optimizer.name": "adam", "optimizer.learning_rate": 0.05})
  ds = tiny.dataset_for("mlp")
  absurd = ds.__class__(**{**ds.__dict__, "test": Split(ds.train.x, (ds.train.y + 1) % ds.num_classes)})
  return cfg, run_group(cfg, absurd, members_of(cfg, [0]), 5)


def test_early_stopping_freezes_a_member_whose_test_loss_rises(early_stopping_run):
  _, (_, states, metrics) = early_stopping_run
  statuses = [int(m["status"][0]) for m in metrics]
  stop = statuses.index(STOPPED_EARLY)
  assert statuses[:stop] == [RUNNING] * stop and STATUS_NAMES[STOPPED_EARLY] == "stopped_early"
  test_loss = [float(m["test_loss"][0]) for m in metrics[:stop + 1]]
  assert test_loss[stop] > min(test_loss[:stop])  # patience 1: the first epoch without improvement stops it
  assert [bool(m["trained"][0]) for m in metrics] == [True] * (stop + 1) + [False] * (len(metrics) - stop - 1)
  for later in states[stop + 2:]:  # frozen: nothing changes after it stopped
    for a, b in zip(jax.tree.leaves(later), jax.tree.leaves(states[stop + 1])):
      np.testing.assert_array_equal(a, b)


def test_best_params_are_those_of_the_best_epoch(early_stopping_run):
  _, (group, states, metrics) = early_stopping_run
  final = states[-1]
  best_epoch = int(final.best_epoch[0])
  losses = [float(m["test_loss"][0]) for m in metrics if m["trained"][0]]
  assert best_epoch == 1 + int(np.argmin(losses))
  assert best_epoch < int(final.epoch[0])  # the best is not the last, so this checks something
  for a, b in zip(jax.tree.leaves(final.best_params), jax.tree.leaves(states[best_epoch].params)):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(jax.tree.leaves(final.best_params)[0], jax.tree.leaves(final.params)[0])
  np.testing.assert_allclose(final.best_loss[0], min(losses), rtol=1e-6)
  loss, acc = group.evaluate(jax.tree.map(jnp.asarray, final.best_params), group.test)
  np.testing.assert_allclose(loss[0], final.best_loss[0], rtol=1e-5)
  np.testing.assert_allclose(acc[0], final.best_accuracy[0], rtol=1e-6)
  np.testing.assert_allclose(final.best_accuracy[0], metrics[best_epoch - 1]["test_accuracy"][0], rtol=1e-6)


def test_plateau_reduces_the_learning_rate_in_a_run(early_stopping_run):
  cfg, (_, _, metrics) = early_stopping_run
  lr = [float(m["learning_rate"][0]) for m in metrics if m["trained"][0]]
  base, factor = cfg.optimizer.learning_rate, cfg.schedule.factor
  # patience 1: the first epoch (an improvement over inf) keeps the rate, the epoch that stopped cuts it
  assert lr[0] == pytest.approx(base)
  assert lr[-1] == pytest.approx(base * factor)


def _reference_plateau(losses, patience, rtol=1e-4):
  """Number of reductions after each loss, as the config documents: lr *= factor after `patience`
  epochs without (relative) improvement of the test loss."""
  best, bad, reductions, out = math.inf, 0, 0, []
  for v in losses:
    if v < (1 - rtol) * best:
      best, bad = v, 0
    else:
      bad += 1
      if bad == patience:
        reductions, bad = reductions + 1, 0
    out.append(reductions)
  return out


@settings(max_examples=25, deadline=None, derandomize=True)
@given(patience=st.integers(1, 3), factor=st.sampled_from([0.1, 0.3, 0.5, 0.9]),
       losses=st.lists(st.sampled_from([2.0, 1.5, 1.0, 1.0, 0.9999, 0.5, math.inf]), min_size=1, max_size=10))
def test_plateau_schedule_matches_reference(patience, factor, losses):
  plateau = optim.make_plateau(patience)
  schedule = ml_collections.ConfigDict({"name": "plateau"})
  hp = {"learning_rate": jnp.float32(0.2), "plateau_factor": jnp.float32(factor)}
  state = plateau.init(jnp.zeros(()))
  for v, n in zip(losses, _reference_plateau(losses, patience)):
    _, state = plateau.update(updates=jnp.zeros(()), state=state, value=jnp.float32(v))
    lr = float(optim.learning_rate(schedule, hp, state, 0, 10))
    assert lr == pytest.approx(0.2 * factor ** n, rel=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(base=st.floats(1e-4, 1.0), frac=st.floats(0.0, 1.0), total=st.integers(1, 500))
def test_cosine_schedule_goes_from_base_to_min_lr(base, frac, total):
  schedule = ml_collections.ConfigDict({"name": "cosine", "min_lr": base * frac})
  hp = {"learning_rate": jnp.float32(base), "plateau_factor": jnp.float32(0.1)}
  lr = lambda step: float(optim.learning_rate(schedule, hp, None, step, total))
  assert lr(0) == pytest.approx(base, rel=1e-5)
  assert lr(total) == pytest.approx(base * frac, rel=1e-4, abs=1e-9)
  steps = sorted({0, total // 3, total // 2, total - 1, total})
  values = [lr(s) for s in steps]
  assert all(a >= b - 1e-7 for a, b in zip(values, values[1:]))


def test_constant_schedule():
  schedule = ml_collections.ConfigDict({"name": "constant"})
  hp = {"learning_rate": jnp.float32(0.3), "plateau_factor": jnp.float32(0.1)}
  assert float(optim.learning_rate(schedule, hp, None, 7, 10)) == pytest.approx(0.3)
