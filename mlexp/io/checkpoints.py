"""Orbax checkpoints of a group: the latest epochs (full training state, to resume) and the best one.

WORKDIR/checkpoints/latest/<epoch>: the whole TrainState of every member of the last two epochs (resumed
automatically). A checkpoint that cannot be restored (a truncated file, garbage metadata, an emptied step
folder, files changed after the save: each step folder holds the sha256 of its files, mlexp_sha256.txt) is
moved to WORKDIR/checkpoints/damaged/ and the one before it is used, or the run starts afresh when there is
none; one line says which.
WORKDIR/checkpoints/best/<epoch>: per member, the parameters of its best epoch (lowest test loss),
with best_epoch and best test loss / accuracy; damaged or missing, a resume rebuilds it from the latest
checkpoint (whose best_params are those). A resume also trains again the epochs whose metrics.jsonl records
were lost (`resume`'s metrics).
WORKDIR/checkpoints/best_trial/<n>: a sweep's best single model's parameters (`save_params`).
"""
from __future__ import annotations

import gc
import hashlib
import logging
import os
import re
import shutil
import sys
import time
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp


class _NotOrbax(logging.Filter):
  """Drops Orbax's own log records (its warnings and the tracebacks of its worker threads): a damaged or
  unwritable checkpoint reaches mlexp as an exception, which becomes one line."""

  def filter(self, record):
    return "orbax" not in record.pathname.replace("\\", "/").split("/")


def quiet() -> None:
  """Silences Orbax's absl logging and asyncio's ("Event loop is closed") for this process; idempotent."""
  absl_logger = logging.getLogger("absl")
  if not any(isinstance(f, _NotOrbax) for f in absl_logger.filters):
    absl_logger.addFilter(_NotOrbax())
  logging.getLogger("asyncio").setLevel(logging.CRITICAL)
  if not getattr(sys.unraisablehook, "_mlexp", False):
    sys.unraisablehook = _closed_loop_hook(sys.unraisablehook)


def _closed_loop_hook(previous):
  """sys.unraisablehook without the "Event loop is closed" errors of TensorStore's callbacks when Orbax's
  loop has gone after a failed save or restore."""
  def hook(u):
    if not (isinstance(u.exc_value, RuntimeError) and str(u.exc_value) == "Event loop is closed"):
      previous(u)
  hook._mlexp = True
  return hook


quiet()


class Checkpoints:

  def __init__(self, directory: str):
    directory = os.path.abspath(directory)
    self.directory = directory
    self._unsealed = []  # (which, step) saved without a checksum yet (Orbax writes in the background)
    self.latest = self._manager("latest")
    self.best = self._manager("best")

  def _manager(self, which: str) -> ocp.CheckpointManager:
    keep = KEEP if which == "latest" else 1
    return ocp.CheckpointManager(os.path.join(self.directory, which),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def save(self, epoch: int, state, improved: bool):
    self.seal()  # the previous epoch's checkpoints (Orbax waits for them before a new save anyway)
    self.latest.save(epoch, args=ocp.args.StandardSave(state))
    self._unsealed.append(("latest", epoch))
    if improved or self.best.latest_step() is None:
      self.best.save(epoch, args=ocp.args.StandardSave(best_of(state)))
      self._unsealed.append(("best", epoch))

  def seal(self):
    """Waits for the checkpoints being written and writes each one's checksum file after its data."""
    if not self._unsealed:
      return
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    for which, step in self._unsealed:
      write_checksum(os.path.join(self.directory, which, str(step)))
    self._unsealed = []

  def latest_epoch(self):
    return self.latest.latest_step()

  def resume(self, template, say=print, relayout=None, metrics=None):
    """(state, epoch) from the newest latest checkpoint that restores, else (template, 0). Damaged ones are
    moved aside to checkpoints/damaged/, with one line each; best checkpoints newer than the epoch resumed
    from are moved aside too (that epoch will be trained again). relayout(state) -> template's layout: for a
    checkpoint of another number of member slots (saved on another number of devices). metrics: (metrics.jsonl,
    seeds): checkpoints after an epoch whose records that file lacks (torn, cut) are removed, so the epochs
    from there on are trained again and their records written anew (the same: training is deterministic)."""
    steps = sorted(self.latest.all_steps(), reverse=True)
    workdir = os.path.dirname(self.directory)
    from mlexp.io.workdir import first_missing_epoch
    gap = first_missing_epoch(metrics[0], metrics[1], steps[0]) if metrics is not None and steps else None
    if gap is not None:
      for step in [s for s in steps if s >= gap]:
        self.latest.close()
        shutil.rmtree(os.path.join(self.directory, "latest", str(step)), ignore_errors=True)
        self.latest = self._manager("latest")
      steps = [s for s in steps if s < gap]
      again = f"the checkpoint of epoch {steps[0]}" if steps else "scratch"
      say(f"{metrics[0]} is damaged: it lacks the records of epoch {gap}; training again from {again} to write "
          "them anew")
    for k, step in enumerate(steps):
      try:
        verify_checksum(os.path.join(self.directory, "latest", str(step)))
        state = self._restore(step, template, relayout)
      except Exception as e:  # noqa: BLE001  (Orbax/TensorStore raise many kinds for damaged files)
        moved = self._move_aside("latest", step)
        older = [s for s in steps[k + 1:]]
        then = (f"resuming from the checkpoint of epoch {older[0]} instead" if older
                else "no older checkpoint: starting from scratch")
        say(f"checkpoint of epoch {step} is damaged ({type(e).__name__}: {_first_line(e)}); moved it to "
            f"{moved}; {then}")
        _collect_quietly()
        continue
      for b in self.best.all_steps():
        if b > step:
          self._move_aside("best", b)
      say(f"resuming from the checkpoint of epoch {step} in {workdir}")
      self._repair_best(state, step, say)
      return state, step
    for b in self.best.all_steps():
      self._move_aside("best", b)
    return template, 0

  def _repair_best(self, state, step: int, say) -> None:
    """best/ rebuilt from the resumed state when it is missing or damaged: the state's best_params are those of
    its best epoch up to `step`, exactly what best/ held (a finished run's rerun repairs it so)."""
    b = self.best.latest_step()
    if b is not None:
      try:
        check_step(os.path.join(self.directory, "best", str(b)))
        return
      except Exception as e:  # noqa: BLE001  (as in resume: Orbax raises many kinds for damaged files)
        moved = self._move_aside("best", b)
        say(f"best checkpoint {os.path.join(self.directory, 'best', str(b))} is damaged ({type(e).__name__}: "
            f"{_first_line(e)}); moved it to {moved}; rebuilt it from the checkpoint of epoch {step}")
    at = max(1, min(step, int(np.max(jax.device_get(state.best_epoch)))))  # (the step of its best epoch)
    self.best.save(at, args=ocp.args.StandardSave(best_of(state)))
    self._unsealed.append(("best", at))
    self.seal()

  def _restore(self, step: int, template, relayout):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      return self.latest.restore(step, args=ocp.args.StandardRestore(abstract))
    except ValueError as e:
      stored = re.search(r"stored shape: \((\d+)", str(e))
      if relayout is None or stored is None:
        raise
    _collect_quietly()
    slots, now = int(stored.group(1)), _slots(template)
    one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    old = jax.tree.map(lambda a: jax.ShapeDtypeStruct((slots, *a.shape[1:]) if a.ndim and a.shape[0] == now
                                                      else a.shape, a.dtype, sharding=one), template)
    return relayout(self.latest.restore(step, args=ocp.args.StandardRestore(old)))

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
    self.seal()
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    self.latest.close()
    self.best.close()


KEEP = 2  # latest checkpoints kept: the one before the newest is the fallback when the newest is damaged


def _collect_quietly() -> None:
  """An aborted Orbax restore leaves read coroutines (such as Store._get_array_metadatas) un-awaited, some of
  them in its worker threads, freed whenever the garbage collector gets to them, which may be epochs later;
  Python then warns "coroutine ... was never awaited" on stderr. From a failed restore on, this process ignores
  that warning (the damage has its one line already), and what is collectable now is collected now."""
  warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
  gc.collect()


def _first_line(e: BaseException) -> str:
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  return (lines[0] if lines else repr(e))[:160]


CHECKSUM = "mlexp_sha256.txt"  # in a step folder, written after the data: sha256 of every other file in it


def folder_digest(step_dir: str) -> str:
  """sha256 over the relative paths and bytes of every file under step_dir except the checksum file."""
  h = hashlib.sha256()
  files = sorted(os.path.relpath(os.path.join(d, f), step_dir) for d, _, fs in os.walk(step_dir) for f in fs)
  for rel in files:
    if rel.startswith(CHECKSUM):
      continue
    h.update(rel.encode() + b"\0")
    with open(os.path.join(step_dir, rel), "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
  return h.hexdigest()


def write_checksum(step_dir: str) -> None:
  if os.path.isdir(step_dir):  # (gone when Orbax's max_to_keep removed it already)
    digest = folder_digest(step_dir)
    tmp = os.path.join(step_dir, CHECKSUM + ".tmp")
    with open(tmp, "w") as f:
      f.write(digest + "\n")
    os.replace(tmp, os.path.join(step_dir, CHECKSUM))


def verify_checksum(step_dir: str) -> None:
  """ValueError when the step's files differ from its checksum (a step saved before checksums: unchecked)."""
  file = os.path.join(step_dir, CHECKSUM)
  if not os.path.isfile(file):
    return
  with open(file) as f:
    want = f.read().strip()
  if folder_digest(step_dir) != want:
    raise ValueError(f"checksum mismatch: the files of {step_dir} changed after they were saved")


def check_step(step_dir: str) -> None:
  """Raises when a saved step is damaged: its checksum disagrees, or (a step without one: saved by an older
  mlexp, or killed between its data and its checksum) Orbax cannot read it."""
  if not os.path.isdir(step_dir) or not os.listdir(step_dir):
    raise FileNotFoundError(f"{step_dir} is missing or empty")
  if os.path.isfile(os.path.join(step_dir, CHECKSUM)):
    verify_checksum(step_dir)
    return
  restore_saved(os.path.dirname(step_dir))  # (the latest step of its folder, which keeps one)


def _slots(template) -> int:
  """The member slots of a state: the leading axis of its leaves (the most common one)."""
  sizes = [a.shape[0] for a in jax.tree.leaves(template) if getattr(a, "ndim", 0)]
  return max(set(sizes), key=sizes.count)


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
  write_checksum(os.path.join(d, str(step)))
  return d


def restore_saved(directory: str):
  """The latest step of an Orbax checkpoint in directory, as saved (no template: arrays as the checkpoint
  holds them): `save_params`' parameters, or a best/ checkpoint's dict (mlexp.api's predict)."""
  d, step = _latest(directory, "not found: no checkpoint there")
  verify_checksum(os.path.join(d, str(step)))
  with ocp.CheckpointManager(d) as mgr:
    try:
      return mgr.restore(step, args=ocp.args.StandardRestore())
    except ValueError as e:
      if "topology" not in str(e).lower():
        raise
  _collect_quietly()
  return _restore_here(os.path.join(d, str(step), "default"))


def _latest(directory: str, missing: str) -> tuple:
  """(the absolute folder, its latest checkpoint step); FileNotFoundError when it is missing or holds none."""
  d = os.path.abspath(directory)
  if not os.path.isdir(d):
    raise FileNotFoundError(f"{d} {missing}")
  with ocp.CheckpointManager(d) as mgr:
    step = mgr.latest_step()
  if step is None:
    raise FileNotFoundError(f"{d} holds no checkpoint")
  return d, step


def _restore_here(item_dir: str):
  """A checkpoint saved on other devices (another core count), restored onto this process's first device."""
  one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  with ocp.StandardCheckpointer() as c:
    tree = getattr(c.metadata(item_dir), "item_metadata", None)
    tree = getattr(tree, "tree", tree)
    abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one), tree)
    return c.restore(item_dir, abstract)


def check_saved(directory: str) -> None:
  """Raises when `save_params`' folder (or best/) holds no checkpoint, or its latest one is damaged."""
  d, step = _latest(directory, "is missing")
  check_step(os.path.join(d, str(step)))
