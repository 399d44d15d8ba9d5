"""A member's evaluation: mean loss, accuracy and confusion counts over the buckets of a split, in chunks of
eval_batch_size; and an epoch's evaluations (test, validation) with the loss that selects the best epoch.

Compile time: every `lax.scan` over chunks holds its own traced copy of the model's forward pass, so the
buckets of all splits evaluated together that share a shape are packed into one array and evaluated in one
scan, each example carrying its split's id (separate sums per split). Images and tabular data: the test and
validation splits are one scan. Sequences: buckets of the same trailing shape share a scan; for a model whose
prediction never depends on the zero padding past an example's length (`pad_time`), the k-th shortest
bucket of every split shares one, its time axis padded with zeros to the longest of them.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlexp.training.step import apply_model


def chunks(n: int, eval_batch: int):
  """Indices [steps, chunk] covering n examples in chunks of at most eval_batch, and weights (0 on the fill of
  the last chunk, which repeats the last example)."""
  chunk = min(eval_batch, n)
  steps = -(-n // chunk)
  idx = jnp.minimum(jnp.arange(steps * chunk), n - 1).reshape(steps, chunk)
  w = (jnp.arange(steps * chunk) < n).astype(jnp.float32).reshape(steps, chunk)
  return idx, w


def groups(splits, pad_time: bool = False) -> list:
  """The buckets of `splits` (each a tuple of (x, y, lengths) buckets) that share a scan: a list of lists of
  (split index, bucket). Without pad_time, buckets with the same shape beyond axis 0 (and dtype, and lengths
  or none); with it, buckets of lengths are grouped by rank of their time axis within their split."""
  found = {}
  for s, buckets in enumerate(splits):
    order = sorted(range(len(buckets)), key=lambda b: buckets[b][0].shape[1:2])
    for rank, b in enumerate(order):
      x, _, lengths = buckets[b]
      key = (("rank", rank, x.shape[2:], str(x.dtype)) if pad_time and lengths is not None
             else (x.shape[1:], str(x.dtype), lengths is None))
      found.setdefault(key, []).append((s, buckets[b]))
  return list(found.values())


def packed(group, eval_batch: int):
  """One group's examples as chunks: (x, y, lengths or None, split id, weight), each [steps, chunk, ...]; the
  time axes padded with zeros to the longest, the last chunk filled with the last example (of its split) at
  weight 0."""
  steps_t = max(x.shape[1] for _, (x, _, _) in group) if group[0][1][2] is not None else None
  pad = lambda x: x if steps_t is None or x.shape[1] == steps_t else jnp.pad(
      x, ((0, 0), (0, steps_t - x.shape[1])) + ((0, 0),) * (x.ndim - 2))
  n = sum(x.shape[0] for _, (x, _, _) in group)
  chunk = min(eval_batch, n)
  steps = -(-n // chunk)
  fill = steps * chunk - n

  def stack(parts):
    parts = list(parts)
    if fill:
      parts.append(jnp.broadcast_to(parts[-1][-1:], (fill,) + parts[-1].shape[1:]))
    a = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
    return a.reshape((steps, chunk) + a.shape[1:])

  x = stack(pad(x) for _, (x, _, _) in group)
  y = stack(y for _, (_, y, _) in group)
  lengths = None if steps_t is None else stack(l for _, (_, _, l) in group)
  sid = np.concatenate([np.full(b[0].shape[0], s, np.int32) for s, b in group]
                       + [np.full(fill, group[-1][0], np.int32)])
  w = (np.arange(steps * chunk) < n).astype(np.float32)
  return x, y, lengths, sid.reshape(steps, chunk), w.reshape(steps, chunk)


def evaluate_splits(net, params, splits, dims=None, *, num_classes: int, eval_batch: int, pad_time: bool = False):
  """[(mean loss, accuracy, confusion counts [classes, classes], rows true)] of `net`, one per split of
  `splits` (each a tuple of buckets), with one traced forward pass per group of buckets (`groups`)."""
  k = len(splits)
  sums = (jnp.zeros((k,)), jnp.zeros((k,)), jnp.zeros((k * num_classes, num_classes)))
  for group in groups(splits, pad_time):
    x, y, lengths, sid, w = packed(group, eval_batch)

    def body(acc, batch):
      xb, yb, lb, sb, wb = batch
      logits = apply_model(net, params, xb, lb, dims)
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
      pred = jnp.argmax(logits, -1)
      hit = (pred == yb).astype(jnp.float32)
      # per split: a where, not a matmul (a non-finite loss stays in its own split's sum, as alone)
      per_split = lambda v: jnp.where(jax.nn.one_hot(sb, k) > 0, (v * wb)[:, None], 0.0).sum(0)
      rows = jax.nn.one_hot(sb * num_classes + yb, k * num_classes) * wb[:, None]  # (split, true class)
      conf = rows.T @ jax.nn.one_hot(pred, num_classes)
      return (acc[0] + per_split(ce), acc[1] + per_split(hit), acc[2] + conf), None

    (ls, cs, cm), _ = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, sums), (x, y, lengths, sid, w))
    sums = (sums[0] + ls, sums[1] + cs, sums[2] + cm)
  counts = [sum(b[0].shape[0] for b in buckets) for buckets in splits]
  confusion = sums[2].reshape(k, num_classes, num_classes)
  return [(sums[0][s] / counts[s], sums[1][s] / counts[s], confusion[s]) for s in range(k)]


def evaluate(net, params, buckets, dims=None, *, num_classes: int, eval_batch: int, pad_time: bool = False):
  """(mean loss, accuracy, confusion counts [classes, classes], rows true) of `net` over all buckets of a split."""
  return evaluate_splits(net, params, (buckets,), dims, num_classes=num_classes, eval_batch=eval_batch,
                         pad_time=pad_time)[0]


class Evaluated(NamedTuple):
  """An epoch's evaluations; a non-finite loss counts as inf."""
  test_loss: jax.Array
  test_accuracy: jax.Array
  test_confusion: jax.Array
  val_loss: Optional[jax.Array]  # None: no validation split
  val_accuracy: jax.Array  # (0 without a validation split)
  selection_loss: jax.Array  # what selects the best epoch, plateau and early stopping: val_loss, else test_loss


def evaluate_epoch(evaluate_fn, params, test, val, dims) -> Evaluated:
  """The test and validation splits, evaluated together (val None, data.validation_fraction=0: selection on
  the test set). evaluate_fn: (params, splits, dims) -> [(loss, accuracy, confusion)] per split."""
  found = evaluate_fn(params, (test,) if val is None else (test, val), dims)
  test_loss, test_acc, test_conf = found[0]
  test_loss = jnp.where(jnp.isfinite(test_loss), test_loss, jnp.inf)
  if val is None:
    val_loss, val_acc, sel_loss = None, jnp.zeros((), jnp.float32), test_loss
  else:
    val_loss, val_acc, _ = found[1]
    val_loss = sel_loss = jnp.where(jnp.isfinite(val_loss), val_loss, jnp.inf)
  return Evaluated(test_loss, test_acc, test_conf, val_loss, val_acc, sel_loss)
