"""A workdir lock held for the life of a run or sweep: an OS advisory lock (fcntl.flock) on WORKDIR/.lock.

The lock file holds "pid host" of its holder, so a second process can say who has the workdir. The kernel
drops a flock when its process dies (kill -9 included), so a lock file left by a killed process is simply
taken over by the next run; nothing has to guess whether the old pid is still alive. The holder deletes the
file when it lets go (after checking it still is the file it locked, so a third process cannot slip in).

Shards of one sweep (sweep.num_shards > 1) legitimately share a workdir: each takes WORKDIR/.lock.shard<i>.
flock is local to one machine: two hosts sharing a workdir over NFS are not kept apart.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time


class WorkdirBusy(Exception):
  """Another live process holds the workdir's lock; the message names its pid and host."""


class WorkdirLock:

  def __init__(self, workdir: str, name: str = ".lock"):
    self.path = os.path.join(workdir, name)
    self._fd = None
    self.taken_over = None  # "pid host" of a killed holder whose lock file this process took over

  def acquire(self) -> "WorkdirLock":
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError:
        os.close(fd)
        raise WorkdirBusy(f"{os.path.dirname(self.path) or '.'} is in use by {self._holder()} "
                          f"(lock {self.path}); wait for it to finish or use another --workdir") from None
      try:  # the file may have been deleted (and maybe recreated) by its holder between open and flock
        same = os.path.samestat(os.fstat(fd), os.stat(self.path))
      except FileNotFoundError:
        same = False
      if same:
        break
      os.close(fd)
    old = os.pread(fd, 256, 0).decode("utf-8", "replace").strip()
    self.taken_over = old or None
    me = f"{os.getpid()} {socket.gethostname()}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, me, 0)
    self._fd = fd
    return self

  def _holder(self) -> str:
    text = ""
    for _ in range(20):  # the holder writes its pid right after taking the lock
      try:
        with open(self.path) as f:
          text = f.read().strip()
      except OSError:
        text = ""
      if text:
        break
      time.sleep(0.05)
    pid, _, host = text.partition(" ")
    return f"process {pid} on host {host}" if pid else "another process"

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      os.unlink(self.path)  # while still locked: a process waiting on this file then sees it was replaced
    except OSError:
      pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def acquire(workdir: str, name: str = ".lock") -> WorkdirLock:
  """The lock `name` of workdir, and none of the conflicting ones held: a whole run (.lock) and the shards of a
  sweep (.lock.shard<i>) keep each other off one workdir; shards do not exclude each other."""
  lock = WorkdirLock(workdir, name).acquire()
  other = holder(workdir, exclude=name, shards=(name == ".lock"))
  if other is not None:
    lock.release()
    raise WorkdirBusy(f"{workdir} is in use by {other} ({'a shard of a sweep' if name == '.lock' else 'a run'}); "
                      "wait for it to finish or use another --workdir")
  return lock


def lock_name(config) -> str:
  """.lock, or .lock.shard<i> for shard i of a sweep run as several processes (they share the workdir)."""
  sweep = config.get("sweep") if hasattr(config, "get") else None
  if sweep is not None and int(sweep.get("num_shards", 1)) > 1:
    return f".lock.shard{int(sweep.get('shard_index', 0))}"
  return ".lock"


def holder(workdir: str, exclude: str | None = None, shards: bool | None = None) -> str | None:
  """"process PID on host HOST" of a live process holding a lock of workdir (the run's or a shard's), else None.
  exclude: a lock file not to look at; shards: only the shards' (True) or only the run's (False) lock."""
  try:
    names = sorted(n for n in os.listdir(workdir) if (n == ".lock" or n.startswith(".lock.shard")) and n != exclude
                   and (shards is None or n.startswith(".lock.shard") == shards))
  except OSError:
    return None
  for name in names:
    path = os.path.join(workdir, name)
    try:
      fd = os.open(path, os.O_RDONLY)
    except OSError:
      continue
    try:
      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
      return WorkdirLock(workdir, name)._holder()
    else:
      fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
      os.close(fd)
  return None
