"""mlexp.train.predict: the predicted labels of a group's members agree with the group's own evaluation
and with the model applied directly, per member, in any bucket order and member loop."""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import tiny
from mlexp import metrics
from mlexp.train import optim, predict
from mlexp.train.group import Group, Member, device_splits

SEEDS = (3, 4, 5)


def trained(kind, buckets=1, member_loop="auto", epochs=2):
  cfg = tiny.config(kind, **{"data.num_buckets": buckets})
  cfg.member_loop = member_loop
  ds = tiny.dataset_for(kind)
  train, test = device_splits(ds, buckets)
  hp = optim.hparams_of(cfg)
  lrs = (0.5, 0.05, 1.0)  # members that differ
  group = Group(cfg, train, test, ds.num_classes, [Member(seed=s, hparams={**hp, "learning_rate": lr})
                                                   for s, lr in zip(SEEDS, lrs)])
  state = group.init()
  for _ in range(epochs):
    state, _, _ = group.epoch(state)
  return cfg, ds, group, state


@pytest.fixture(scope="module", params=[("mlp", 1), ("gru", 2)], ids=["mlp", "gru-2-buckets"])
def run(request):
  return trained(*request.param)


def direct(group, params, split):
  """Predictions of each member from model.apply on the whole (unbucketed) split."""
  out = []
  for i in range(group.size):
    p = jax.tree.map(lambda a: a[i], params)
    logits = group.program.model.apply({"params": p}, split.x, split.lengths, train=False)
    out.append(np.asarray(logits).argmax(-1))
  return np.stack(out)


def test_predictions_match_direct_apply_and_group_accuracy(run):
  cfg, ds, group, state = run
  y_true, y_pred = predict.predict(group, state.best_params)
  assert y_pred.shape == (len(SEEDS), len(ds.test)) and y_true.shape == (len(ds.test),)
  assert sorted(y_true.tolist()) == sorted(ds.test.y.tolist())  # bucket order, same examples
  _, acc = group.evaluate(state.best_params, group.test)
  np.testing.assert_allclose((y_pred == y_true).mean(axis=1), acc, atol=1e-6)
  want = direct(group, state.best_params, ds.test)
  for i in range(len(SEEDS)):  # confusion matrices are order-free: compare them
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred[i], ds.num_classes),
                                  metrics.confusion_matrix(ds.test.y, want[i], ds.num_classes))
  # a host Split in original order gives the direct predictions exactly
  y2, p2 = predict.predict(group, state.best_params, ds.test)
  np.testing.assert_array_equal(y2, ds.test.y)
  np.testing.assert_array_equal(p2, want)


def test_classification_per_member(run):
  cfg, ds, group, state = run
  named = dataclasses.replace(ds, class_names=("cat", "dog", "bird"))
  reports = predict.classification(group, state.best_params, named)
  _, acc = group.evaluate(state.best_params, group.test)
  assert len(reports) == len(SEEDS)
  for r, a in zip(reports, acc):
    assert r["class_names"] == ["cat", "dog", "bird"] and r["n"] == len(ds.test)
    assert r["accuracy"] == pytest.approx(float(a), abs=1e-6)
    assert sum(map(sum, r["confusion"])) == len(ds.test)
  assert predict.classification(group, state.best_params, ds)[0]["class_names"] == ["0", "1", "2"]


def test_map_and_vmap_member_loops_agree():
  _, ds, g_map, s_map = trained("mlp", member_loop="map", epochs=1)
  _, _, g_vmap, s_vmap = trained("mlp", member_loop="vmap", epochs=1)
  assert g_map.member_loop == "map" and g_vmap.member_loop == "vmap"
  params = s_map.best_params
  np.testing.assert_array_equal(predict.predict(g_map, params)[1], predict.predict(g_vmap, params)[1])
