"""Failure modes (issue 11; docs/failures.md): the workdir lock (WORKDIR/.lock, fcntl.flock): who holds it,
a killed holder's lock taken over, shards of one sweep, a second process refused at once."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import ml_collections
import pytest

import tiny
from mlexp import main as cli_main
from mlexp.io.lock import WorkdirBusy, WorkdirLock, holder, lock_name
from test_failures import HOST, assert_one_line, cli, env



def test_lock_names_holder_pid_and_host(tmp_path):
  with WorkdirLock(str(tmp_path)):
    with pytest.raises(WorkdirBusy) as e:
      WorkdirLock(str(tmp_path)).acquire()
    assert f"process {os.getpid()} on host {HOST}" in str(e.value) and "\n" not in str(e.value)
    assert holder(str(tmp_path)) == f"process {os.getpid()} on host {HOST}"
  assert holder(str(tmp_path)) is None
  assert os.listdir(tmp_path) == []  # released: the lock file is gone
  WorkdirLock(str(tmp_path)).acquire().release()


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
  code = (f"import time; from mlexp.io.lock import WorkdirLock; WorkdirLock({str(tmp_path)!r}).acquire(); "
          "print('locked', flush=True); time.sleep(60)")
  p = subprocess.Popen([sys.executable, "-c", code], env=env(), stdout=subprocess.PIPE, text=True)
  assert p.stdout.readline().strip() == "locked"
  with pytest.raises(WorkdirBusy, match=f"process {p.pid} on host {HOST}"):
    WorkdirLock(str(tmp_path)).acquire()
  p.kill()
  p.wait()
  assert os.path.exists(tmp_path / ".lock")  # left behind by kill -9 ...
  lock = WorkdirLock(str(tmp_path)).acquire()  # ... and taken over
  assert lock.taken_over == f"{p.pid} {HOST}"
  assert open(tmp_path / ".lock").read().split() == [str(os.getpid()), HOST]
  lock.release()


def test_shards_of_one_sweep_take_one_lock_each(tmp_path):
  c = tiny.config("mlp")
  assert lock_name(c) == ".lock"
  sweep = lambda i, n: {"sweep": {"shard_index": i, "num_shards": n}}
  names = [lock_name(ml_collections.ConfigDict(sweep(i, 2))) for i in (0, 1)]
  assert names == [".lock.shard0", ".lock.shard1"]
  assert lock_name(ml_collections.ConfigDict(sweep(0, 1))) == ".lock"
  a, b = (WorkdirLock(str(tmp_path), n).acquire() for n in names)  # both shards run in the workdir
  with pytest.raises(WorkdirBusy):  # but not the same shard twice
    WorkdirLock(str(tmp_path), names[1]).acquire()
  assert holder(str(tmp_path)) == f"process {os.getpid()} on host {HOST}"
  a.release()
  b.release()


def test_a_whole_run_and_the_shards_of_a_sweep_keep_each_other_off_one_workdir(tmp_path):
  from mlexp.io.lock import acquire
  wd = str(tmp_path)
  shard = acquire(wd, ".lock.shard0")
  with pytest.raises(WorkdirBusy, match="a shard of a sweep"):  # a whole run while a shard runs
    acquire(wd, ".lock")
  other = acquire(wd, ".lock.shard1")  # the other shard is welcome
  shard.release()
  other.release()
  run = acquire(wd, ".lock")
  with pytest.raises(WorkdirBusy, match="a run"):  # a shard while the whole run runs
    acquire(wd, ".lock.shard0")
  run.release()
  acquire(wd, ".lock.shard0").release()  # and once the run is gone, the shard can start


def test_a_second_process_on_a_locked_workdir_exits_at_once(tmp_path):
  wd = tmp_path / "run"
  wd.mkdir()
  with WorkdirLock(str(wd)):
    t0 = time.time()
    rc, out, err = cli("--config=configs/linear.py:smoke", f"--workdir={wd}")
    assert rc == cli_main.EXIT_BUSY == 4
    assert_one_line(err, f"process {os.getpid()} on host {HOST}", str(wd), "another --workdir")
    assert time.time() - t0 < 120
    assert os.listdir(wd) == [".lock"]  # nothing written by the second process


