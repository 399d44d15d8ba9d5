"""Groups trials by what changes array shapes or the program (pure).

Trials whose configs differ only in float hyperparameters (learning rate, weight decay, momentum,
dropout rate, plateau factor) share one compiled program: their values are vmapped as data. Every
other field (model kind and widths, depth, batch size, optimizer kind, data set, epochs, ...) is part
of the group key. Large groups are split into chunks of at most `max_members` members; the seeds of
a trial always stay in one chunk.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from mlexp.sweep.space import set_field, trial_config
from mlexp.train.group import Member
from mlexp.config.hparams import VMAPPED_FIELDS, hparams_of


@dataclasses.dataclass(frozen=True)
class GroupPlan:
  gid: str  # stable id: hash of the static config + chunk index
  config: object  # the group's config (static fields; float knobs of its first trial)
  members: tuple  # Member(seed, hparams, trial)
  trials: tuple  # trial ids in this group


def static_key(config) -> str:
  c = config.to_dict()
  for f in VMAPPED_FIELDS:
    a, b = f.split(".")
    c[a][b] = None
  return json.dumps(c, sort_keys=True, default=str)


def plan_groups(base, trials: list, seeds: int, max_members: int, member_cap=None) -> list[GroupPlan]:
  """member_cap(config) -> int: optional further limit on a group's members (e.g. what fits in memory)."""
  by_key: dict = {}
  for t, values in enumerate(trials):
    cfg = trial_config(base, values)
    by_key.setdefault(static_key(cfg), []).append((t, cfg))
  plans = []
  for key, items in by_key.items():
    cap = min(int(max_members), int(member_cap(items[0][1]))) if member_cap else int(max_members)
    per_chunk = max(1, cap // max(1, int(seeds)))
    h = hashlib.sha1(key.encode()).hexdigest()[:10]
    for c0 in range(0, len(items), per_chunk):
      chunk = items[c0:c0 + per_chunk]
      members = tuple(Member(seed=int(cfg.seed) + s, hparams=hparams_of(cfg), trial=t)
                      for t, cfg in chunk for s in range(int(seeds)))
      plans.append(GroupPlan(gid=f"{h}-{c0 // per_chunk}", config=chunk[0][1], members=members,
                             trials=tuple(t for t, _ in chunk)))
  return plans


__all__ = ["GroupPlan", "VMAPPED_FIELDS", "plan_groups", "static_key", "set_field"]
