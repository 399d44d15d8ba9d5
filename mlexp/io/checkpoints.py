"""Orbax checkpoints of a group: the latest epochs (full training state, to resume) and the best one.

WORKDIR/checkpoints/latest/<epoch>: the whole TrainState of every member of the last two epochs (resumed
automatically). A checkpoint that cannot be restored (a truncated file, garbage metadata, an emptied step
folder) is moved to WORKDIR/checkpoints/damaged/ and the one before it is used, or the run starts afresh
when there is none; one line says which.
WORKDIR/checkpoints/best/<epoch>: per member, the parameters of its best epoch (lowest test loss),
with best_epoch and best test loss / accuracy.
WORKDIR/checkpoints/best_trial/<n>: a sweep's best single model's parameters (`save_params`).
"""
from __future__ import annotations

import os
import time

import jax
import orbax.checkpoint as ocp


class Checkpoints:

  def __init__(self, directory: str):
    directory = os.path.abspath(directory)
    self.directory = directory
    self.latest = self._manager("latest")
    self.best = self._manager("best")

  def _manager(self, which: str) -> ocp.CheckpointManager:
    keep = KEEP if which == "latest" else 1
    return ocp.CheckpointManager(os.path.join(self.directory, which),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def save(self, epoch: int, state, improved: bool):
    self.latest.save(epoch, args=ocp.args.StandardSave(state))
    if improved or self.best.latest_step() is None:
      self.best.save(epoch, args=ocp.args.StandardSave(best_of(state)))

  def latest_epoch(self):
    return self.latest.latest_step()

  def resume(self, template, say=print):
    """(state, epoch) from the newest latest checkpoint that restores, else (template, 0). Damaged ones are
    moved aside to checkpoints/damaged/, with one line each; best checkpoints newer than the epoch resumed
    from are moved aside too (that epoch will be trained again)."""
    steps = sorted(self.latest.all_steps(), reverse=True)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    workdir = os.path.dirname(self.directory)
    for k, step in enumerate(steps):
      try:
        state = self.latest.restore(step, args=ocp.args.StandardRestore(abstract))
      except Exception as e:  # noqa: BLE001  (Orbax/TensorStore raise many kinds for damaged files)
        moved = self._move_aside("latest", step)
        older = [s for s in steps[k + 1:]]
        then = (f"resuming from the checkpoint of epoch {older[0]} instead" if older
                else "no older checkpoint: starting from scratch")
        say(f"checkpoint of epoch {step} is damaged ({type(e).__name__}: {_first_line(e)}); moved it to "
            f"{moved}; {then}")
        continue
      for b in self.best.all_steps():
        if b > step:
          self._move_aside("best", b)
      say(f"resuming from the checkpoint of epoch {step} in {workdir}")
      return state, step
    for b in self.best.all_steps():
      self._move_aside("best", b)
    return template, 0

  def _move_aside(self, which: str, step: int) -> str:
    manager = getattr(self, which)
    src = os.path.join(self.directory, which, str(step))
    dst = os.path.join(self.directory, "damaged", f"{which}_{step}_{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    manager.close()
    if os.path.exists(src):
      os.replace(src, dst)
    setattr(self, which, self._manager(which))  # a new manager: Orbax infers the item layout from the steps
    return dst

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


KEEP = 2  # latest checkpoints kept: the one before the newest is the fallback when the newest is damaged


def _first_line(e: BaseException) -> str:
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  return (lines[0] if lines else repr(e))[:160]


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
