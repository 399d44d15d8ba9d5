"""A member's end-of-epoch bookkeeping: the best epoch's parameters and metrics (decided on the selection
loss: validation, else test), reduce-on-plateau, early stopping and the status; the epoch's metrics dict, and
the metrics of a frozen member (stopped early, cut by ASHA, diverged: it skips the epoch's compute)."""
from __future__ import annotations

import jax.numpy as jnp

from mlexp.training.evaluation import Evaluated
from mlexp.training.state import DIVERGED, STOPPED_EARLY, TrainState
from mlexp.training.step import where


def best_metrics(state: TrainState) -> dict:
  """(the val_* metrics and best_val_accuracy exist only when a validation split selects)"""
  return {"best_epoch": state.best_epoch, "best_loss": state.best_loss, "best_accuracy": state.best_accuracy,
          "best_test_loss": state.best_test_loss, "best_val_accuracy": state.best_val_accuracy}


def frozen(state: TrainState, has_val: bool):
  """(state, metrics) of a member that does not run this epoch: the state as it is, nan for the epoch's values."""
  nan = jnp.full((), jnp.nan, jnp.float32)
  metrics = {"train_loss": nan, "train_accuracy": nan, "test_loss": nan, "test_accuracy": nan, "learning_rate": nan,
             "trained": jnp.zeros((), jnp.bool_), "status": state.status, "epoch": state.epoch,
             **best_metrics(state), **({"val_loss": nan, "val_accuracy": nan} if has_val else {})}
  return state, metrics


def end_of_epoch(state: TrainState, params, opt_state, step, running, diverged, ev: Evaluated, *, plateau,
                 es_patience: int, es_delta: float) -> TrainState:
  """The state after a running member's epoch: its trained params (after the divergence guard), the best epoch
  when the selection loss improved by more than es_delta, the plateau state, early stopping (es_patience
  epochs without improvement; 0: off) and the status (diverged, stopped early)."""
  epoch_no = state.epoch + 1
  improved = running & ~diverged & (ev.selection_loss < state.best_loss - es_delta)
  _, new_plateau = plateau.update(updates=jnp.zeros(()), state=state.plateau, value=ev.selection_loss)
  bad = jnp.where(improved, 0, state.bad_epochs + 1)
  status = jnp.where(diverged, DIVERGED, state.status)
  if es_patience > 0:
    status = jnp.where(running & ~diverged & (bad >= es_patience), STOPPED_EARLY, status)
  return TrainState(
      params=params, opt_state=opt_state, plateau=new_plateau,
      best_params=where(improved, params, state.best_params),
      best_loss=jnp.where(improved, ev.selection_loss, state.best_loss),
      best_accuracy=jnp.where(improved, ev.test_accuracy, state.best_accuracy),
      best_test_loss=jnp.where(improved, ev.test_loss, state.best_test_loss),
      best_val_accuracy=jnp.where(improved, ev.val_accuracy, state.best_val_accuracy),
      best_confusion=jnp.where(improved, ev.test_confusion, state.best_confusion),
      best_epoch=jnp.where(improved, epoch_no, state.best_epoch),
      epoch=epoch_no, step=step, bad_epochs=bad, status=status, key=state.key)


def epoch_metrics(new: TrainState, running, train_loss, train_acc, ev: Evaluated, learning_rate) -> dict:
  """The metrics of a running member's epoch (one host fetch per epoch for the whole group)."""
  metrics = {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": ev.test_loss,
             "test_accuracy": ev.test_accuracy, "learning_rate": learning_rate, "trained": running,
             "status": new.status, "epoch": new.epoch, **best_metrics(new)}
  if ev.val_loss is not None:
    metrics.update(val_loss=ev.val_loss, val_accuracy=ev.val_accuracy)
  return metrics
