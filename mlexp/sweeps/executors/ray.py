"""RayExecutor: the groups of a sweep as Ray tasks (sweeps/ray_backend.py has the Ray plumbing, sweeps/segment.py
the work of a task). The driver (this process) writes every file; workers only compute and ship results back.

* advance(groups, until): a task per group for its next segment (to `until`), biggest group first (the
  planner's estimate); results stream back as they finish (`ray.wait`): their metric lines and TensorBoard
  calls are replayed into this process's writers, the group's Snapshot kept for its next segment (a lost
  worker's task is retried by Ray from the last Snapshot shipped back). A rung decision (`cut`) travels with
  the group's next segment.
* advance(groups, None): a task per group, to its end; ASHA's rung values are shared live through one named
  actor (ray_backend._RungBoard). When that actor is lost, the driver puts up a new one from the values it has
  seen (the history before this batch and the rung values of the groups finished since), and each worker
  asking it gives it that group's own earlier reports again (ray_backend.RayBoard).
"""
from __future__ import annotations

import copy
import uuid

from mlexp.sweeps import ray_backend, segment
from mlexp.sweeps.execute import FinishedGroup, save_best_params
from mlexp.sweeps.executors import Step


class RayExecutor:
  """The executor interface (executors/__init__.py) on Ray: one connection for every batch of the sweep."""

  def __init__(self, res):
    self.res, self.sw, self.say = res, res.sweep.config.sweep, res.say
    self.ray, self.started = None, False
    self.board = None

  def begin(self, groups) -> None:
    if self.ray is None:
      self.ray, self.started = ray_backend.connect(self.sw, self.say)
    ray, res = self.ray, self.res
    ctx = segment.Context(res.sweep.config, list(res.sweep.trials), list(res.sweep.fields), res.data.datasets(),
                          run_id=uuid.uuid4().hex)
    self.run_id, self.ctx = ctx.run_id, ray.put(ctx)
    self.cpus = int(self.sw.get("ray_cpus_per_group", 1))
    gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0  # one group per GPU
    self.remote = ray.remote(ray_backend._task).options(num_cpus=0 if gpus else self.cpus, num_gpus=gpus,
                                                         max_retries=int(self.sw.get("ray_max_retries", 3)))
    est = {p.gid: res.estimate(p) for p in groups}
    self.order = ray_backend.biggest_first(list(groups), lambda p: est[p.gid])
    per = f"{self.cpus} CPU(s)" if not gpus else "a GPU"
    self.say(f"ray: {len(self.order)} group(s), biggest first (planner's estimate "
             f"{est[self.order[0].gid]:.0f}s .. {est[self.order[-1].gid]:.0f}s); {per} per group")
    self.snaps, self.decisions, self.outs, self.used, self.work = {}, {}, {}, {}, {}
    self.board, self.board_history, self.seen, self.ping = None, None, [], None

  def advance(self, groups, until):
    ray = self.ray
    board = None
    if until is None and self.sw.mode == "asha":  # asynchronous ASHA: one shared board for the batch
      self.board_name = f"mlexp-rung-board-{self.run_id}"
      self.board_history = copy.deepcopy(self.res.history)
      board = self.board = ray_backend.new_board(ray, self.board_name, self.board_history)
    mine = {p.gid for p in groups}
    refs = {self.remote.remote(self.ctx, p, self.snaps.get(p.gid), until, self.decisions.pop(p.gid, None), board,
                               self.cpus, self.board_name if board is not None else None): p
            for p in self.order if p.gid in mine}
    for p, out in self._stream(refs):
      self.used[p.gid] = out["used"]
      if out["finished"]:
        self.outs[p.gid] = out
        self.work[p.gid] = sum(out["times"][k] for k in ("train_s", "eval_s", "write_s"))
        yield p, Step(True)
      else:
        self.snaps[p.gid] = out["snapshot"]
        self.work[p.gid] = sum(out["snapshot"].times[k] for k in ("train_s", "eval_s", "write_s"))
        yield p, Step(False, out["rung"])

  def _stream(self, refs: dict):
    """(plan, result) of the tasks `refs` (ref -> plan) as each finishes; its lines written first."""
    ray = self.ray
    while refs:
      ready, _ = ray.wait(list(refs), num_returns=1, timeout=None if self.board is None else 1.0)
      self._watch_board()
      if not ready:
        continue
      p = refs.pop(ready[0])
      try:
        out = ray.get(ready[0])
      except ray.exceptions.RayError as e:  # a Python error on the worker, or retries used up
        raise ray_backend.failure(ray, e, p.gid, self.sw) from None
      segment.replay(out["calls"], self.res.jsonl, self.res.tb)
      yield p, out
    self._watch_board(final=True)  # (a board lost after the last ask: found now, not left to chance)

  def _watch_board(self, final: bool = False) -> None:
    """Asynchronous ASHA: a rung board found lost (its ping fails) is put up again from the values seen. final:
    the batch's tasks are done: wait for the answer (up to 10 s) instead of looking again on the next call."""
    if self.board is None:
      return
    ray = self.ray
    if self.ping is None:
      self.ping = self.board.ping.remote()
      if not final:
        return
    if not ray.wait([self.ping], timeout=10.0 if final else 0)[0]:
      return
    try:
      ray.get(self.ping)
    except ray.exceptions.RayActorError:
      self.board = ray_backend.new_board(ray, self.board_name, copy.deepcopy(self.board_history), self.seen)
      self.say(f"ray: the ASHA rung board was lost; put up again from the values of {len(self.seen)} rung "
               "report(s) of finished groups and the groups before them")
    self.ping = None

  def cut(self, gid, epoch, values, losers) -> None:
    self.decisions[gid] = (epoch, values, sorted(losers))

  def finished(self, p) -> bool:
    return p.gid in self.outs

  def finish(self, p) -> FinishedGroup:
    """A group's last result: its best member's parameters to checkpoints/ (shipped with its last segment)."""
    o = self.outs.pop(p.gid)
    out = FinishedGroup(o["rows"], o["rungs"], o["times"], o["used"], o["best"])
    save_best_params(self.res.sweep.workdir, self.res.ckpt_name, out, p)
    out.wall_s = sum(out.times.values())
    reports = [(int(e), p.gid, list(vs), None) for e, vs in out.rungs.items()]
    self.seen.extend(reports)
    if self.board is not None:  # (a board put up again learns a finished group's values now)
      self.board.restore.remote(reports)
    return out

  def progress(self) -> tuple:
    return sum(self.used.values()), sum(self.work.values())

  def close(self) -> None:
    """Stops the local Ray this executor started (a cluster it connected to keeps running)."""
    if self.started:
      self.ray.shutdown()
    self.ray, self.started = None, False
