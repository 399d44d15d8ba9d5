"""The merged evaluation (mlexp.training.evaluation.evaluate_splits: the buckets of the test and validation
splits in one scan per shape) equals a plain evaluation of each split: images, and sequences in several
length buckets whose time axes differ (padded to share a scan where the model allows it, else kept apart)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tiny
from mlexp.data import Split
from mlexp.data.length_buckets import bucketize
from mlexp.models import build_model
from mlexp.training import evaluation
from mlexp.training.program import TIME_PADDING_SAFE

CLASSES = tiny.CLASSES


def buckets_of(split: Split, num_buckets: int):
  parts = bucketize(split, num_buckets) if split.lengths is not None else [split]
  return tuple((jnp.asarray(b.x), jnp.asarray(b.y), None if b.lengths is None else jnp.asarray(b.lengths))
               for b in parts)


def splits_of(kind: str, num_buckets: int):
  """(model, params, test buckets, validation buckets): the tiny data's train split serves as validation.
  kind "gru_conv": a GRU with a Conv1d front end (its 'SAME' padding reads past the last valid step)."""
  ds = tiny.dataset_for(kind.split("_")[0])
  cfg = tiny.config("gru", **{"model.conv_filters": 2}) if kind == "gru_conv" else tiny.config(kind)
  model = build_model(cfg.model, CLASSES)
  x0, l0 = ds.train.x[:1], None if ds.train.lengths is None else ds.train.lengths[:1]
  params = model.init({"params": jax.random.PRNGKey(1)}, x0, l0)["params"]
  return model, params, buckets_of(ds.test, num_buckets), buckets_of(ds.train, num_buckets)


def reference(model, params, buckets):
  """(mean loss, accuracy, confusion) of a split, each bucket at once (no chunks, no padding)."""
  loss, hits, confusion, n = 0.0, 0.0, np.zeros((CLASSES, CLASSES)), 0
  for x, y, lengths in buckets:
    logits = model.apply({"params": params}, x, lengths)
    loss += float(optax.softmax_cross_entropy_with_integer_labels(logits, y).sum())
    pred = np.asarray(jnp.argmax(logits, -1))
    hits += float((pred == np.asarray(y)).sum())
    np.add.at(confusion, (np.asarray(y), pred), 1.0)
    n += x.shape[0]
  return loss / n, hits / n, confusion


def check(found, expected):
  loss, acc, conf = found
  np.testing.assert_allclose(float(loss), expected[0], rtol=1e-5)
  assert float(acc) == pytest.approx(expected[1], abs=1e-6)
  np.testing.assert_array_equal(np.asarray(conf), expected[2])


@pytest.mark.parametrize("kind,num_buckets,pad_time", [
    ("cnn", 1, False), ("mlp", 1, False), ("gru", 3, True), ("gru", 3, False), ("gru_conv", 3, True),
    ("linear", 3, True)])
@pytest.mark.parametrize("eval_batch", [5, 1000])
def test_merged_evaluation_equals_each_split_alone(kind, num_buckets, pad_time, eval_batch):
  model, params, test, val = splits_of(kind, num_buckets)
  if num_buckets > 1:
    assert len({b[0].shape for b in test + val}) > 2  # several time axes: some must be padded or kept apart
  merged = jax.jit(lambda p: evaluation.evaluate_splits(model, p, (test, val), num_classes=CLASSES,
                                                         eval_batch=eval_batch, pad_time=pad_time))(params)
  check(merged[0], reference(model, params, test))
  check(merged[1], reference(model, params, val))
  alone = evaluation.evaluate(model, params, val, num_classes=CLASSES, eval_batch=eval_batch, pad_time=pad_time)
  check(alone, reference(model, params, val))


def test_buckets_share_a_scan_only_where_allowed():
  """Images: the two splits are one scan. Sequences: one scan per rank with time padding, else per shape."""
  _, _, test, val = splits_of("cnn", 1)
  assert len(evaluation.groups((test, val))) == 1
  _, _, test, val = splits_of("gru", 3)
  assert len(evaluation.groups((test, val), pad_time=True)) == 3
  shapes = {b[0].shape[1:] for b in test + val}
  assert len(evaluation.groups((test, val), pad_time=False)) == len(shapes)


def test_time_padding_only_for_models_that_mask_it():
  assert isinstance(build_model(tiny.config("gru").model, CLASSES), TIME_PADDING_SAFE)
  assert isinstance(build_model(tiny.config("linear").model, CLASSES), TIME_PADDING_SAFE)


def test_a_non_finite_loss_stays_in_its_split():
  """A test example with non-finite logits makes the test loss nan and leaves the validation loss as alone."""
  model, params, test, val = splits_of("mlp", 1)
  (x, y, lengths), = test
  test = ((x.at[0].set(jnp.nan), y, lengths),)
  merged = evaluation.evaluate_splits(model, params, (test, val), num_classes=CLASSES, eval_batch=5)
  assert np.isnan(float(merged[0][0]))
  check(merged[1], reference(model, params, val))
