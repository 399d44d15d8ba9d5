"""`sweep.backend=ray`: the groups of a sweep as Ray tasks, on one machine or a cluster (launch/README.md).

The driver (this process, SweepRunner) plans, writes every file of its workdir and makes the ASHA
decisions; workers only compute (sweep/segment.py) and ship results back, so they need no shared
filesystem. Work units:

* rung-synchronous ASHA (`sweep.asha.sync`, the default): a task per group per segment (to the next rung).
  A rung's tasks are submitted biggest group first (the planner's estimate); results stream back as they
  finish (`ray.wait`): metric lines and TensorBoard scalars are written, the group's Snapshot kept. When
  every group is at the rung, the decision is sync.decide on the shipped values: the same code and values
  as one process, so the same decisions. The next segment gets the Snapshot: a lost worker's task is
  retried by Ray (`max_retries`) from the last Snapshot shipped back, not from the group's start.
* `sweep.asha.sync=False` or `mode=full`: a task per group, to its end; ASHA rung values are shared live
  through one actor (RungBoard), so a stop decision sees every group in flight. A retried task starts the
  group again; its rung reports are answered as the first time (asha.LocalBoard keys them by group).

A finished group: its rows, groups/<gid>.json and the best-trial checkpoint (the best member's parameters
ship with its last segment) are written by the driver as for one process; a rerun of the same command
skips the groups in groups/.
Ray is imported only here, and only with backend=ray; it is the optional extra `.[ray]`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import types
import uuid
import warnings

from mlexp.config import ConfigError
from mlexp.sweep import asha, segment, sync

INSTALL = 'needs Ray, an optional extra: pip install -e ".[ray]" (or pip install "ray==2.60.0")'


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


def check(sw) -> None:
  """Config validation of the backend fields (before any work)."""
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


class _RungBoard:
  """The Ray actor (one per sweep) holding ASHA's rung values: asha.LocalBoard, shared."""

  def __init__(self, history):
    from mlexp.sweep.asha import LocalBoard
    self.board = LocalBoard(history)

  def report_and_keep(self, epoch, values, factor, mode, key=None):
    return self.board.report_and_keep(epoch, values, factor, mode, key=key)


class RayBoard:
  """AshaHook's board on a worker: each report is a call to the sweep's RungBoard actor."""

  def __init__(self, actor):
    self.actor = actor

  def report_and_keep(self, epoch, values, factor, mode, key=None):
    import ray
    return ray.get(self.actor.report_and_keep.remote(epoch, list(values), factor, mode, key=key))


def _task(ctx, plan, snap, until, decision, board_actor, cpus):
  """The remote function: one segment (sweep/segment.py) on a worker."""
  board = RayBoard(board_actor) if board_actor is not None else None
  return segment.run_segment(ctx, plan, snap, until, decision, board, cpus)


class RayDriver:
  """Runs a list of groups of a SweepRunner's plan on Ray; `on_done(plan, rows, rung values, times)` as each
  group finishes (the runner writes groups/<gid>.json and results.csv)."""

  def __init__(self, runner, jsonl, tb, ckpt_name, history, on_done):
    self.runner, self.jsonl, self.tb, self.ckpt_name = runner, jsonl, tb, ckpt_name
    self.history, self.on_done, self.say = history, on_done, runner.say
    self.sw = runner.config.sweep
    self.ray, self.started = None, False

  def close(self) -> None:
    """Stops the local Ray this driver started (a cluster it connected to keeps running)."""
    if self.started:
      self.ray.shutdown()
    self.ray, self.started = None, False

  def run(self, todo) -> None:
    """The groups `todo` (all of a random / grid sweep; a batch of TPE's) to their end."""
    from mlexp.sweep.plan import estimate
    if self.ray is None:
      self.ray, self.started = connect(self.sw, self.say)
    ray = self.ray
    r = self.runner
    ctx = segment.Context(r.config, list(r.plan.trials), list(r.plan.fields), r.data.datasets(),
                          run_id=uuid.uuid4().hex)
    self.ctx = ray.put(ctx)
    cpus = int(self.sw.get("ray_cpus_per_group", 1))
    gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0  # one group per GPU
    self.cpus = cpus
    self.remote = ray.remote(_task).options(num_cpus=0 if gpus else cpus, num_gpus=gpus,
                                            max_retries=int(self.sw.get("ray_max_retries", 3)))
    est = {p.gid: estimate(p, r.config, r._dataset, r.platform) for p in todo}
    order = biggest_first(todo, lambda p: est[p.gid])
    per = f"{cpus} CPU(s)" if not gpus else "a GPU"
    self.say(f"ray: {len(order)} group(s), biggest first (planner's estimate "
             f"{est[order[0].gid]:.0f}s .. {est[order[-1].gid]:.0f}s); {per} per group")
    if self.sw.mode == "asha" and bool(self.sw.asha.sync):
      self._run_sync(ray, todo, order)
    else:
      self._run_whole(ray, order)

  def _submit(self, p, snap, until, decision, board):
    return self.remote.remote(self.ctx, p, snap, until, decision, board, self.cpus)

  def _finished(self, p, out) -> None:
    """A group's last result: its best member's parameters to checkpoints/, then the runner's on_done."""
    from mlexp.sweep.execute import _save_best_params
    acc, member, params = out["best"]
    best = types.SimpleNamespace(acc=acc, member=member, params=params)
    _save_best_params(self.runner.workdir, self.ckpt_name, out["rows"], best, p, list(p.members))
    self.on_done(p, out["rows"], out["rungs"], out["times"])

  def _stream(self, ray, refs: dict):
    """(plan, result) of the tasks `refs` (ref -> plan) as each finishes; its lines written first."""
    while refs:
      ready, _ = ray.wait(list(refs), num_returns=1)
      p = refs.pop(ready[0])
      try:
        out = ray.get(ready[0])
      except ray.exceptions.RayError as e:  # a Python error on the worker, or retries used up
        raise failure(ray, e, p.gid, self.sw) from None
      segment.replay(out["calls"], self.jsonl, self.tb)
      yield p, out

  def _run_whole(self, ray, order) -> None:
    board = None
    if self.sw.mode == "asha":
      board = ray.remote(_RungBoard).options(num_cpus=0).remote(self.history)
    refs = {self._submit(p, None, None, None, board): p for p in order}
    for p, out in self._stream(ray, refs):
      self._finished(p, out)

  def _run_sync(self, ray, todo, order) -> None:
    sw = self.sw
    factor, mode = int(sw.asha.factor), asha.metric_mode(sw.metric)
    max_epochs = max(int(p.config.epochs) for p in todo)
    rungs = set(sync.segments(int(sw.asha.grace), factor, max_epochs)[:-1])
    stops = sync.segments(int(sw.asha.grace), factor, max_epochs)
    snaps, decision, active, used = {}, {}, list(order), {}
    for stop in stops + [max_epochs]:  # (a last pass ends groups cut entirely at the last rung)
      if not active:
        break
      refs = {self._submit(p, snaps.get(p.gid), stop, decision.pop(p.gid, None), None): p for p in active}
      at_rung = {}
      for p, out in self._stream(ray, refs):
        used[p.gid] = out["used"]
        if out["finished"]:
          active.remove(p)
          self._finished(p, out)
        else:
          snaps[p.gid] = out["snapshot"]
          if out["rung"] is not None:
            at_rung[p.gid] = out["rung"]
      if stop in rungs:
        per_group = {p.gid: at_rung[p.gid] for p in todo if p.gid in at_rung}  # plan order, as one process
        for gid, (vs, losers) in sync.decide(per_group, stop, self.history, factor, mode).items():
          decision[gid] = (stop, vs, sorted(losers))
      self.say(f"[rung epoch {stop}] {len(active)} group(s) still running; {sum(used.values())} model-epochs "
               "trained so far")
