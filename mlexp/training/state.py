"""A member's training state (`TrainState`, one pytree per member; vmapped or mapped over a group) and its
status codes. A member runs while its status is RUNNING; any other status freezes it."""
from __future__ import annotations

import math
from typing import Any

import flax.struct
import jax

RUNNING, STOPPED_EARLY, DIVERGED, COMPLETED, CUT = 0, 1, 2, 3, 4
STATUS_NAMES = {RUNNING: "running", STOPPED_EARLY: "stopped_early", DIVERGED: "diverged",
                COMPLETED: "completed", CUT: "stopped_early"}


class TrainState(flax.struct.PyTreeNode):
  params: Any
  opt_state: Any
  plateau: Any
  best_params: Any
  best_loss: jax.Array  # the selection loss (validation; test when there is no validation split) at the best epoch
  best_accuracy: jax.Array  # test accuracy at the best epoch
  best_test_loss: jax.Array
  best_val_accuracy: jax.Array  # (0 when there is no validation split; no val_* metrics then)
  best_confusion: jax.Array  # [classes, classes] test confusion counts (rows true) at the best epoch
  best_epoch: jax.Array  # 1-based; 0 = none yet
  epoch: jax.Array  # epochs done
  step: jax.Array  # optimizer steps done
  bad_epochs: jax.Array  # epochs since the last improvement of the selection loss
  status: jax.Array  # RUNNING, STOPPED_EARLY, DIVERGED, COMPLETED, CUT
  key: jax.Array  # the member's key (from its seed)


def param_count(params) -> int:
  return int(sum(math.prod(x.shape) for x in jax.tree.leaves(params)))
