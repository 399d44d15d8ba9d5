"""The compiled programs kept across runs: JAX's persistent compilation cache, and which of a sweep's programs
it holds.

`mlexp/io/runtime.py` (`enable_compilation_cache`) points JAX's persistent compilation cache at `location()`
(~/.cache/mlexp/jax; MLEXP_COMPILATION_CACHE: another folder, '' = off) and caches every program, however fast
it compiled. A program's cache entry is keyed by JAX on its lowered HLO, the jaxlib version, the XLA flags
and the devices, so a rerun, another seed of the same space or the same sweep with more trials finds the
programs it compiled before: widths come from a fixed ladder and member slots too (mlexp/sweeps/widths.py).

JAX's key is known only once a program is traced and lowered. So that the plan line can say, before anything
compiles, how many of its programs are in the cache, a group that compiled its epoch program notes that
program's `fingerprint` (its config without the vmapped knobs and the fields that do not reach the program,
its branches, member slots, devices and the jax version) as an empty file in `<location>/mlexp-programs/`;
`found` counts a plan's programs noted there. The count is the planner's word; JAX's own count of hits and
compiles in this process is `counts()` (its monitoring events).

  python -m mlexp.cache            where the cache is, its size, the programs noted
  python -m mlexp.cache clear      empties it (JAX's entries and the notes)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading

DEFAULT = os.path.join("~", ".cache", "mlexp", "jax")
NOTES = "mlexp-programs"
# config fields that never reach a compiled program (seeds are data: each member's key)
NOT_IN_PROGRAM = ("name", "seed", "seeds", "sweep", "checkpoint", "hang_timeout_s", "cpu_devices")

_lock = threading.Lock()
_counts = {"requests": 0, "hits": 0, "writes": 0}
_local = threading.local()
_listening = False

HIT = "/jax/compilation_cache/cache_hits"
REQUEST = "/jax/compilation_cache/compile_requests_use_cache"
WRITE = "/jax/compilation_cache/cache_misses"  # recorded when JAX writes an entry (none for host callbacks)


def location() -> str:
  """The cache folder ('' when MLEXP_COMPILATION_CACHE='' turns it off)."""
  path = os.environ.get("MLEXP_COMPILATION_CACHE", DEFAULT)
  return os.path.expanduser(path) if path else ""


def active() -> str:
  """The folder JAX's persistent cache writes to in this process ('' when it is off or JAX not imported)."""
  jax = sys.modules.get("jax")
  return (getattr(jax.config, "jax_compilation_cache_dir", "") or "") if jax is not None else ""


def _on_event(event: str, **kwargs) -> None:
  key = {HIT: "hits", REQUEST: "requests", WRITE: "writes"}.get(event)
  if key is None:
    return
  with _lock:
    _counts[key] += 1
  mine = getattr(_local, "counts", None)
  if mine is not None:
    mine[key] += 1


def listen() -> None:
  """Counts JAX's persistent-cache requests and hits from now on (once per process)."""
  global _listening
  with _lock:
    if _listening:
      return
    _listening = True
  import jax
  jax.monitoring.register_event_listener(_on_event)


def counts() -> dict:
  """This process's programs compiled through the persistent cache: {"requests", "hits", "writes", "compiled"}."""
  with _lock:
    return {**_counts, "compiled": _counts["requests"] - _counts["hits"]}


class track:
  """Counts the cache requests, hits and writes of the compiles this thread makes inside the block. `kept`: every
  program compiled in it is in the cache now (loaded from it or written to it)."""

  def __enter__(self):
    self.outer = getattr(_local, "counts", None)
    _local.counts = {"requests": 0, "hits": 0, "writes": 0}
    return self

  @property
  def kept(self) -> bool:
    return self.requests > 0 and self.hits + self.writes >= self.requests

  def __exit__(self, *exc):
    mine = _local.counts
    self.requests, self.hits, self.writes = mine["requests"], mine["hits"], mine["writes"]
    _local.counts = self.outer
    if self.outer is not None:
      for k in mine:
        self.outer[k] += mine[k]
    return False


def fingerprint(config, members, slots: int, n_devices: int, platform: str, member_loop: str,
                branches=None, device: int = 0) -> str:
  """What decides a group's compiled programs, as a stable hash: the config without its vmapped knobs and the
  fields that never reach the program, whether members are padded or drop out, their branches (batch sizes,
  narrower widths, optimizers), the member slots (padded to the devices), the devices and the jax version.
  device: the one device of a group on another than the first (a sweep's lane; JAX's key holds it on CPU)."""
  import jax
  from mlexp.config.hparams import without_hparams
  from mlexp.models.specs import spec
  c = without_hparams(config)
  for f in NOT_IN_PROGRAM:
    c.pop(f, None)
  padded = any(m.dims for m in members)
  dropout = spec(config.model.kind).user or any(float(m.hparams["dropout"]) > 0 for m in members)
  found = sorted(branches or {(int(m.batch_size), tuple(m.branch)) + ((m.optimizer,) if m.optimizer else ())
                              for m in members})
  branches = [(b[0] or int(config.batch_size), list(b[1]), *b[2:]) for b in found] if len(found) > 1 else None
  n = max(len(members), int(slots))
  slots = -(-n // max(1, int(n_devices))) * max(1, int(n_devices))
  parts = [c, padded, dropout, branches, slots, int(n_devices), platform, member_loop, jax.__version__]
  text = json.dumps(parts + ([int(device)] if device else []), sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()[:20]


def note(fp: str) -> None:
  """Marks program `fp` as compiled into the cache (a group built it with the cache on)."""
  root = active()
  if not root:
    return
  try:
    os.makedirs(os.path.join(root, NOTES), exist_ok=True)
    open(os.path.join(root, NOTES, fp), "a").close()
  except OSError:  # a read-only or full cache folder: the count on the plan line is only a forecast
    pass


def found(fps) -> int:
  """How many of these programs are noted in the cache this process uses."""
  root = active()
  if not root:
    return 0
  return sum(1 for fp in set(fps) if os.path.exists(os.path.join(root, NOTES, fp)))


def stats(root: str | None = None) -> dict:
  root = location() if root is None else root
  files = size = 0
  if root and os.path.isdir(root):
    for d, _, names in os.walk(root):
      if os.path.basename(d) == NOTES:
        continue
      for n in names:
        files += 1
        try:
          size += os.path.getsize(os.path.join(d, n))
        except OSError:
          pass
  notes = os.path.join(root, NOTES) if root else ""
  programs = len(os.listdir(notes)) if notes and os.path.isdir(notes) else 0
  return {"location": root, "entries": files, "bytes": size, "programs": programs}


def clear(root: str | None = None) -> dict:
  """Empties the cache folder (JAX's entries and mlexp's notes); returns what it held."""
  root = location() if root is None else root
  before = stats(root)
  if root and os.path.isdir(root):
    for name in os.listdir(root):
      p = os.path.join(root, name)
      shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
  return before


def main(argv=None) -> int:
  args = list(sys.argv[1:] if argv is None else argv)
  cmd = args[0] if args else "show"
  if cmd not in ("show", "clear") or len(args) > 1:
    print("usage: python -m mlexp.cache [show | clear]", file=sys.stderr)
    return 2
  s = stats()
  if not s["location"]:
    print("compilation cache: off (MLEXP_COMPILATION_CACHE='')")
    return 0
  if cmd == "clear":
    clear()
    print(f"compilation cache {s['location']}: removed {s['entries']} entries ({s['bytes'] / 2**20:.1f} MiB), "
          f"{s['programs']} program(s) noted")
    return 0
  print(f"compilation cache {s['location']}: {s['entries']} entries ({s['bytes'] / 2**20:.1f} MiB), "
        f"{s['programs']} sweep program(s) noted; empty it with: python -m mlexp.cache clear")
  return 0


if __name__ == "__main__":
  sys.exit(main())
