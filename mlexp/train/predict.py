"""Predicted labels of every member of a Group, and their classification metrics (summary.json).

`predict(group, params)` runs the group's model on a split already on the device (the group's test
buckets by default) as one jitted program: members vmapped (or `lax.map`ped, as the group's epoch is),
examples in chunks of `eval_batch_size` (as `program.evaluate`). `classification(group, params, dataset)`
turns the predictions into one `mlexp.metrics.classification_report` dict per member.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mlexp import metrics
from mlexp.data.types import Split


def _bucket_predictor(model, eval_batch: int):
  """params, x [N, ...], lengths [N] | None -> predicted labels int32 [N] (one member)."""
  def one(params, x, lengths):
    n = x.shape[0]
    chunk = min(eval_batch, n)
    steps = -(-n // chunk)
    idx = jnp.minimum(jnp.arange(steps * chunk), n - 1).reshape(steps, chunk)

    def body(i):
      logits = model.apply({"params": params}, x[i], None if lengths is None else lengths[i], train=False)
      return jnp.argmax(logits, -1).astype(jnp.int32)
    return jax.lax.map(body, idx).reshape(-1)[:n]
  return one


def _buckets(group, split):
  if split is None:
    return group.test
  if isinstance(split, Split):
    from mlexp.train.group import put_split
    return put_split(split)
  return split


def predict(group, params, split=None) -> tuple[np.ndarray, np.ndarray]:
  """(y_true int [N], y_pred int [M, N]) for the stacked `params` (e.g. `state.best_params`).

  split: None (the group's test buckets), a `data.Split`, or buckets of device arrays ((x, y, lengths), ...).
  Examples come in bucket order (sequences are grouped by length), the same order for y_true and y_pred.
  M = the group's members when `params` holds the group's padded members, else every row of `params`.
  """
  one = _bucket_predictor(group.program.model, int(group.config.eval_batch_size))
  if getattr(group, "member_loop", "vmap") == "map":
    all_members = lambda p, x, l: jax.lax.map(lambda q: one(q, x, l), p)
  else:
    all_members = jax.vmap(one, in_axes=(0, None, None))
  fn = jax.jit(all_members)
  ys, preds = [], []
  for x, y, lengths in _buckets(group, split):
    preds.append(np.asarray(jax.device_get(fn(params, x, lengths))))
    ys.append(np.asarray(jax.device_get(y)))
  y_pred = np.concatenate(preds, axis=1)
  if y_pred.shape[0] == getattr(group, "slots", -1):
    y_pred = y_pred[: group.size]
  return np.concatenate(ys), y_pred


def classification(group, params, dataset, split=None) -> list[dict]:
  """One `metrics.classification_report` dict per member (summary.json's "classification" entry),
  with the data set's class names ("0".."K-1" when it has none)."""
  y_true, y_pred = predict(group, params, split)
  return [metrics.classification_report(y_true, p, dataset.num_classes, dataset.class_names) for p in y_pred]
