"""Orbax checkpoints of a group: the latest epoch (full training state, to resume) and the best one.

WORKDIR/checkpoints/latest/<epoch>: the whole TrainState of every member (resumed automatically).
WORKDIR/checkpoints/best/<epoch>: per member, the parameters of its best epoch (lowest test loss),
with best_epoch and best test loss / accuracy.
WORKDIR/checkpoints/best_trial/<n>: a sweep's best single model's parameters (`save_params`).
"""
from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpoints:

  def __init__(self, directory: str):
    directory = os.path.abspath(directory)
    opts = ocp.CheckpointManagerOptions(max_to_keep=1, create=True)
    self.latest = ocp.CheckpointManager(os.path.join(directory, "latest"), options=opts)
    self.best = ocp.CheckpointManager(os.path.join(directory, "best"), options=opts)

  def save(self, epoch: int, state, improved: bool):
    self.latest.save(epoch, args=ocp.args.StandardSave(state))
    if improved or self.best.latest_step() is None:
      self.best.save(epoch, args=ocp.args.StandardSave(best_of(state)))

  def latest_epoch(self):
    return self.latest.latest_step()

  def restore_latest(self, template):
    step = self.latest.latest_step()
    if step is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return self.latest.restore(step, args=ocp.args.StandardRestore(abstract))

  def close(self):
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    self.latest.close()
    self.best.close()


def best_of(state) -> dict:
  return {"params": state.best_params, "best_epoch": state.best_epoch, "best_loss": state.best_loss,
          "best_accuracy": state.best_accuracy}


def save_params(directory: str, params) -> str:
  """Saves one model's parameters as the next step of an Orbax checkpoint in directory (keeping one);
  returns the absolute directory."""
  d = os.path.abspath(directory)
  with ocp.CheckpointManager(d, options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True)) as mgr:
    step = (mgr.latest_step() or 0) + 1
    mgr.save(step, args=ocp.args.StandardSave(params))
    mgr.wait_until_finished()
  return d


def restore_saved(directory: str):
  """The latest step of an Orbax checkpoint in directory, as saved (no template: arrays as the checkpoint
  holds them): `save_params`' parameters, or a best/ checkpoint's dict (mlexp.api's predict)."""
  d = os.path.abspath(directory)
  if not os.path.isdir(d):
    raise FileNotFoundError(f"{d} not found: no checkpoint there")
  with ocp.CheckpointManager(d) as mgr:
    step = mgr.latest_step()
    if step is None:
      raise FileNotFoundError(f"{d} holds no checkpoint")
    return mgr.restore(step, args=ocp.args.StandardRestore())
