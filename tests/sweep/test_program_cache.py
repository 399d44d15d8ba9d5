"""Compiled programs kept across runs (mlexp/cache.py): a group's epoch program comes back from JAX's persistent
compilation cache once its caches in memory are gone (as in a new process), the plan counts the programs an
earlier run compiled, and `python -m mlexp.cache` shows and empties the cache folder."""
from __future__ import annotations

import copy
import dataclasses
import os

import jax
import pytest

import tiny
from mlexp import cache
from mlexp.sweeps import widths
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.space import randint


def _plans(seed: int, num_trials: int = 5):
  """A padded CNN search (widths and kernel 3 / 5) as a sweep plans it on CPU: one program."""
  c = tiny.config("cnn")
  c.model.filters = (4, 4)
  c.sweep = {"seed": seed}
  trials = [{"model.filters[0]": f, "model.kernel_size": k, "optimizer.learning_rate": 0.1 * (1 + i)}
            for i, (f, k) in enumerate([(3, 3), (5, 5), (2, 3), (4, 5), (3, 5), (5, 3)][:num_trials])]
  cost = lambda cfg: widths.CostModel(feature_shape=(tiny.HW, tiny.HW, 1), num_classes=tiny.CLASSES,
                                       n_train=tiny.N_TRAIN, epochs=2.0)
  return plan_groups(c, trials, 1, 64, padding="max", cost=cost)


def _fingerprint(p, n_devices=1):
  return cache.fingerprint(p.config, p.members, p.slots, n_devices, "cpu", "map")


def test_the_fingerprint_is_what_reaches_the_program():
  (a,), (b,), (more,) = _plans(0), _plans(1), _plans(0, 6)
  assert _fingerprint(a) == _fingerprint(b)  # another sweep seed: the same program
  assert a.slots == more.slots == 6 and _fingerprint(a) == _fingerprint(more)  # one trial more: slots from the ladder
  c = dataclasses.replace(a, config=tiny.override(copy.deepcopy(a.config), **{"model.dense": (7,)}))
  assert _fingerprint(c) != _fingerprint(a)
  assert _fingerprint(a, 2) != _fingerprint(a)


def test_notes_are_counted_and_cleared(tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("MLEXP_COMPILATION_CACHE", str(tmp_path))
  monkeypatch.setattr(cache, "active", lambda: str(tmp_path))
  (tmp_path / "jit_epoch-abc").write_bytes(b"x" * 100)
  assert cache.found(["f1", "f2"]) == 0
  cache.note("f1")
  assert cache.found(["f1", "f2", "f1"]) == 1
  assert cache.main([]) == 0
  assert "1 entries" in capsys.readouterr().out and cache.stats()["programs"] == 1
  assert cache.main(["clear"]) == 0
  assert cache.stats() == {"location": str(tmp_path), "entries": 0, "bytes": 0, "programs": 0}
  assert cache.found(["f1"]) == 0 and os.path.isdir(tmp_path)
  assert cache.main(["nonsense"]) == 2


def test_a_rebuilt_program_comes_from_the_persistent_cache():
  """The program a planned group builds is noted under the fingerprint the plan computes, and built again
  without the process's caches (a later run) it is loaded, not compiled."""
  from mlexp.sweeps.plan import cached_programs
  from mlexp.training import group as group_mod
  from mlexp.training import loop
  if not cache.active():
    pytest.skip("no persistent compilation cache in this session")
  cache.listen()
  (p,) = _plans(3)
  data = loop.DataCache()
  ds, splits = data.get(p.config)

  def build():
    group_mod.clear_programs()
    jax.clear_caches()
    g = loop.build_group(p.config, ds, splits, list(p.members), p.slots)
    g.build()
    return g

  build()
  # (JAX writes no cache entry for a program with host callbacks, jax.pure_callback: the epoch must have none)
  assert p.gid in cached_programs([p]), "the epoch program was not written to JAX's persistent cache"
  before = cache.counts()
  again = build()
  assert again.cache_hit, "the epoch program was compiled again"
  after = cache.counts()
  assert after["hits"] > before["hits"] and after["compiled"] == before["compiled"]


def test_the_plan_and_its_group_agree_on_the_fingerprint():
  """What the plan line looks up is what a built group notes (training/group.py, Group.compile)."""
  from mlexp.sweeps.plan import cached_programs
  from mlexp.training import loop
  (p,) = _plans(4)
  ds, splits = loop.DataCache().get(p.config)
  g = loop.build_group(p.config, ds, splits, list(p.members), p.slots)
  devices = loop.member_devices(max(len(p.members), p.slots))
  assert g.slots >= p.slots == widths.ladder(len(p.members))
  plan_side = cache.fingerprint(p.config, p.members, p.slots, len(devices), devices[0].platform, g.member_loop)
  group_side = cache.fingerprint(g.config, g.members, g.slots, len(g.devices), g.devices[0].platform, g.member_loop)
  assert plan_side == group_side
  if cache.active():
    cache.note(group_side)
    assert p.gid in cached_programs([p])
