"""Where the groups of a sweep train: one rung loop (rungs.py) over one small interface, two implementations.

  local.py  LocalExecutor: in this process, the next groups compiled ahead in threads (sweeps/execute.py)
  ray.py    RayExecutor: each group (or each of its segments) a Ray task (sweeps/segment.py on the worker)

An executor is any object with these methods (the rung loop calls nothing else):

  begin(groups)                  a batch of GroupPlans to run (all of a random / grid sweep; a TPE batch)
  advance(groups, until)         trains `groups` to epoch `until` (None: to their end, ASHA's rungs decided by
                                 each group as it reaches them, against a board shared by the groups);
                                 yields (plan, Step) as each group's part is done
  cut(gid, epoch, values, losers)  a rung-synchronous decision for one group (applied at once, or with the
                                 group's next segment)
  finished(plan) -> bool         every member of the group has stopped
  finish(plan) -> FinishedGroup  a finished group's rows, rung values and times (execute.FinishedGroup), its best
                                 member saved to the best-trial checkpoint
  progress() -> (model-epochs trained, their seconds)   for the progress lines
  close()

A toy executor (a pool of processes, a queue, a scheduler) implements these and is chosen in
sweeps/runner.py:make_executor; everything else (decisions, files, progress) stays the rung loop's and the
runner's.
"""
from __future__ import annotations

import dataclasses
import importlib.util

INSTALL = 'needs Ray, an optional extra: pip install -e ".[ray]" (or pip install "ray==2.60.0")'


@dataclasses.dataclass
class Step:
  """A group's part of an `advance` done: whether it finished, and its (trials, values) at the rung it stopped
  at (rung-synchronous ASHA; None when it is not at a rung)."""
  finished: bool
  rung: tuple | None = None


@dataclasses.dataclass
class Resources:
  """What an executor gets from the runner: the sweep (execute.SweepContext), its data (train/loop.DataCache),
  ASHA's history (rung epoch -> values of finished groups), the writers of metrics.jsonl and TensorBoard, the
  best-trial checkpoint's name, the progress printer, the planner's estimate of a group's seconds and the
  seconds since the sweep started."""
  sweep: object
  data: object
  history: dict
  jsonl: object
  tb: object
  ckpt_name: str
  say: object
  estimate: object
  elapsed: object


def check_backend(sw) -> None:
  """Config validation of sweep.backend and the Ray fields (before any work; imports no Ray)."""
  from mlexp.config import ConfigError
  backend = sw.get("backend", "local")
  if backend not in ("local", "ray"):
    raise ConfigError("sweep.backend", backend, "must be one of local, ray")
  if backend != "ray":
    return
  if int(sw.get("num_shards", 1)) != 1:
    raise ConfigError("sweep.num_shards", sw.num_shards, "must be 1 with sweep.backend=ray (Ray places the groups; "
                      "shards are the way without Ray)")
  for f in ("ray_cpus_per_group", "ray_num_cpus", "ray_max_retries"):
    lo = 1 if f == "ray_cpus_per_group" else 0
    if not isinstance(sw.get(f, lo), int) or sw.get(f, lo) < lo:
      raise ConfigError(f"sweep.{f}", sw.get(f), f"must be an integer >= {lo}")
  if importlib.util.find_spec("ray") is None:
    raise ConfigError("sweep.backend", backend, INSTALL)
