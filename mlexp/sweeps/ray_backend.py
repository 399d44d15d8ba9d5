"""`sweep.backend=ray`: the Ray plumbing of the Ray executor (sweeps/executors/ray.py), on one machine or a
cluster (launch/README.md): connecting, the remote task (a segment of a group: sweeps/segment.py), ASHA's
shared rung board (an actor) and its worker-side client, and the one-line errors of a failed group.

The driver (this process, SweepRunner) plans, writes every file of its workdir and makes the rung-synchronous
ASHA decisions (executors/rungs.py, on the values the workers ship back: the same code and values as one
process, so the same decisions); workers only compute and ship results back, so they need no shared
filesystem. Asynchronous ASHA shares its rung values live through one named actor (_RungBoard); when it is
lost, the driver puts up a new one from the values it has seen and each worker gives it its own reports again.
Ray is imported only here and in executors/ray.py, and only with backend=ray; it is the optional extra `.[ray]`.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings

from mlexp.config import ConfigError
from mlexp.sweeps import segment

from mlexp.sweeps.executors import INSTALL, check_backend as check  # noqa: F401 (check: the backend's fields)


class GroupFailed(Exception):
  """A group could not be run on Ray: its code raised on a worker, or its worker was lost more often than
  sweep.ray_max_retries allows. mlexp.main prints it as one line (exit status 6); finished groups are kept."""


def failure(ray, err, gid: str, sw):
  """The exception to raise for a failed task `err` of group `gid`: the worker's own ConfigError / DataError
  as it is (one line and its exit status, as in one process), anything else a GroupFailed naming the group."""
  from mlexp.data import DataError
  cause = getattr(err, "cause", None)
  if isinstance(cause, (ConfigError, DataError)):
    return cause
  again = "finished groups are kept: rerun the same command to resume"
  if isinstance(err, ray.exceptions.RayTaskError):
    what = f"{type(cause).__name__}: {cause}" if cause is not None else str(err).splitlines()[0]
    return GroupFailed(f"group {gid} failed on a Ray worker: {what}; {again}")
  return GroupFailed(f"group {gid} lost its Ray worker more often than sweep.ray_max_retries="
                     f"{int(sw.get('ray_max_retries', 3))} allows ({type(err).__name__}); {again}")


@contextlib.contextmanager
def quiet_fork():
  """Ray starts its processes with subprocess (fork, then exec at once), which JAX's fork hook warns about as
  if the child went on running Python with JAX's threads: silenced around ray.init only."""
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    yield


def biggest_first(plans, seconds) -> list:
  """The plans in the order to submit them: the planner's biggest estimate first (longest-processing-time
  first: the big groups do not start last and leave the other workers idle); ties in plan order."""
  order = sorted(range(len(plans)), key=lambda k: (-float(seconds(plans[k])), k))
  return [plans[k] for k in order]


def connect(sw, say):
  """(ray, started): Ray connected to sweep.ray_address, or a local Ray started here (ray_num_cpus cores,
  0 = all) that the caller shuts down."""
  try:
    import ray
  except ImportError:
    raise ConfigError("sweep.backend", "ray", INSTALL) from None
  if ray.is_initialized():
    return ray, False
  addr = sw.get("ray_address", "") or None
  kw = {} if addr else {"num_cpus": int(sw.get("ray_num_cpus", 0)) or None}
  with quiet_fork():
    ray.init(address=addr, include_dashboard=False, log_to_driver=True, configure_logging=False, **kw)
  res = ray.cluster_resources()
  say(f"ray: {'connected to ' + addr if addr else 'local Ray started'}: {int(res.get('CPU', 0))} CPU(s), "
      f"{int(res.get('GPU', 0))} GPU(s), {len(ray.nodes())} node(s)")
  return ray, True


BOARD_WAIT_S = 120.0  # how long a worker waits for the driver to put up a lost rung board again


class _RungBoard:
  """The Ray actor (one per sweep batch, named) holding ASHA's rung values: asha.LocalBoard, shared. `reports`:
  (epoch, key, values, answer) reported to a board that was lost (asha.LocalBoard.restore)."""

  def __init__(self, history, reports=()):
    from mlexp.sweeps.asha import LocalBoard
    self.board = LocalBoard(history)
    self.board.restore(reports)

  def report_and_keep(self, epoch, values, factor, mode, key=None):
    return self.board.report_and_keep(epoch, values, factor, mode, key=key)

  def restore(self, reports) -> None:
    self.board.restore(reports)

  def count(self, epoch) -> int:
    return len(self.board.history.get(epoch, []))

  def ping(self) -> bool:
    return True


def new_board(ray, name, history, reports=(), wait_s: float = 30.0):
  """The rung board actor `name` (a lost one's name is free again a moment after it died)."""
  deadline = time.monotonic() + wait_s
  while True:
    try:
      return ray.remote(_RungBoard).options(num_cpus=0, name=name).remote(history, list(reports))
    except ValueError:  # the name is still taken by the lost actor
      if time.monotonic() > deadline:
        raise
      time.sleep(0.2)


class RayBoard:
  """AshaHook's board on a worker: each report is a call to the sweep's RungBoard actor. When the actor is lost
  (named boards: the driver puts up a new one under the same name from the values it has seen), the worker
  waits for the new one, gives it this group's earlier reports again and asks once more."""

  def __init__(self, actor, name=None):
    self.actor, self.name = actor, name
    self.sent = []  # (epoch, key, values, answer) of this group's reports

  def report_and_keep(self, epoch, values, factor, mode, key=None):
    import ray
    _fault(self, epoch)
    deadline = None
    while True:
      try:
        if deadline is not None:  # a board put up again: this group's reports first
          ray.get(self.actor.restore.remote(self.sent))
        kept = ray.get(self.actor.report_and_keep.remote(epoch, list(values), factor, mode, key=key))
        break
      except ray.exceptions.RayActorError:
        if self.name is None:
          raise
        deadline = deadline or time.monotonic() + BOARD_WAIT_S
        if time.monotonic() > deadline:
          raise
        time.sleep(0.2)
        with contextlib.suppress(ValueError):  # (no actor of that name yet)
          self.actor = ray.get_actor(self.name)
    self.sent.append((epoch, key, list(values), list(kept)))
    return kept


def _fault(board, epoch) -> None:
  """Tests only ($MLEXP_RAY_FAULT holds "board EPOCH"): the first report at EPOCH made when the board already
  holds values there kills the board actor (a lost board; segment.FAULT_ENV)."""
  path = os.environ.get(segment.FAULT_ENV, "")
  if not path or not os.path.exists(path):
    return
  with open(path) as f:
    parts = f.read().split()
  if parts[:1] != ["board"] or int(parts[1]) != epoch:
    return
  import ray
  if ray.get(board.actor.count.remote(epoch)) == 0:
    return
  try:
    os.rename(path, path + ".claimed")
  except OSError:
    return
  ray.kill(board.actor, no_restart=True)


def _task(ctx, plan, snap, until, decision, board_actor, cpus, board_name=None):
  """The remote function: one segment (sweeps/segment.py) on a worker."""
  board = RayBoard(board_actor, board_name) if board_actor is not None else None
  return segment.run_segment(ctx, plan, snap, until, decision, board, cpus)
