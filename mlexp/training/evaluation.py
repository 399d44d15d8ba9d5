"""A member's evaluation: mean loss, accuracy and confusion counts over the buckets of a split, in chunks of
eval_batch_size; and an epoch's evaluations (test, validation) with the loss that selects the best epoch."""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
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


def evaluate(net, params, buckets, dims=None, *, num_classes: int, eval_batch: int):
  """(mean loss, accuracy, confusion counts [classes, classes], rows true) of `net` over all buckets of a split."""
  loss_sum, correct, count = 0.0, 0.0, 0
  confusion = jnp.zeros((num_classes, num_classes), jnp.float32)
  for x, y, lengths in buckets:
    n = x.shape[0]
    idx, w = chunks(n, eval_batch)

    def body(acc, batch):
      i, wb = batch
      logits = apply_model(net, params, x[i], None if lengths is None else lengths[i], dims)
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, y[i])
      pred = jnp.argmax(logits, -1)
      hit = (pred == y[i]).astype(jnp.float32)
      conf = (jax.nn.one_hot(y[i], num_classes) * wb[:, None]).T @ jax.nn.one_hot(pred, num_classes)
      return (acc[0] + (ce * wb).sum(), acc[1] + (hit * wb).sum(), acc[2] + conf), None

    (ls, cs, cm), _ = jax.lax.scan(body, (jnp.zeros(()), jnp.zeros(()), confusion * 0), (idx, w))
    loss_sum, correct, count, confusion = loss_sum + ls, correct + cs, count + n, confusion + cm
  return loss_sum / count, correct / count, confusion


class Evaluated(NamedTuple):
  """An epoch's evaluations; a non-finite loss counts as inf."""
  test_loss: jax.Array
  test_accuracy: jax.Array
  test_confusion: jax.Array
  val_loss: Optional[jax.Array]  # None: no validation split
  val_accuracy: jax.Array  # (0 without a validation split)
  selection_loss: jax.Array  # what selects the best epoch, plateau and early stopping: val_loss, else test_loss


def evaluate_epoch(evaluate_fn, params, test, val, dims) -> Evaluated:
  """The test split, then the validation split (val None, data.validation_fraction=0: selection on the test
  set). evaluate_fn: (params, buckets, dims) -> (loss, accuracy, confusion)."""
  test_loss, test_acc, test_conf = evaluate_fn(params, test, dims)
  test_loss = jnp.where(jnp.isfinite(test_loss), test_loss, jnp.inf)
  if val is None:
    val_loss, val_acc, sel_loss = None, jnp.zeros((), jnp.float32), test_loss
  else:
    val_loss, val_acc, _ = evaluate_fn(params, val, dims)
    val_loss = sel_loss = jnp.where(jnp.isfinite(val_loss), val_loss, jnp.inf)
  return Evaluated(test_loss, test_acc, test_conf, val_loss, val_acc, sel_loss)
