"""Plans that depend on a search's space, not on its draws (pure, JAX-free).

A random or TPE search's buckets, member slots and branches come from its space drawn `num_trials` times with
seed 0 (`canonical_trials`): another seed of the same space, a rerun with more trials of the same buckets,
or TPE's later batches fall into the same programs, found in the process's and JAX's persistent compilation
cache (mlexp/cache.py). A draw that fits no canonical bucket gets a bucket of its own, as without them.
"""
from __future__ import annotations

from mlexp.sweeps import widths
from mlexp.sweeps.space import expand


def canonical_trials(sweep) -> list | None:
  """The draws that fix a search's buckets, whatever its seed: its space drawn `num_trials` times with seed 0
  (random and TPE searches; None for grids and studies, whose trials do not depend on a seed). A search of the
  same space with another seed, or TPE's later batches, fall into these buckets: the same programs (found
  in the process's and JAX's persistent compilation cache)."""
  if sweep is None or sweep.get("algorithm", "auto") not in ("auto", "random", "tpe"):
    return None
  if all(s.get("kind") in ("grid", "choice") for s in sweep.space) and sweep.get("algorithm") != "tpe":
    return None
  return expand(sweep.space, int(sweep.num_trials), 0)


def fits(model, members: list, sizes) -> bool:
  """Whether `model` fits a bucket of `members` (the bucket's padded sizes do not grow; sizes None: an exact
  bucket, whose one shape it must have)."""
  if sizes is None:
    return widths.shape_of(model) == widths.shape_of(members[0])
  return widths.bucket_model(members + [model]) == sizes


def partition(items, canon, padding: str, costs, batches) -> list:
  """[(indices of items, the canonical draws (trial, cfg) of their bucket or None)]: the items cut as the canonical draws
  of the search are (`canon`: their (trial, cfg) of this static key and part), each item in the first canonical
  bucket it fits; items that fit none (and every item without canon) cut by their own costs."""
  models = [cfg.model for _, cfg in items]
  if not canon:
    return [(idx, None) for idx in widths.partition(models, padding, costs, batches)]
  cm = [cfg.model for _, cfg in canon]
  cb = [int(cfg.batch_size) for _, cfg in canon] if batches else None
  buckets = []
  for idx in widths.partition(cm, padding, costs, cb):
    members = [canon[i] for i in idx]
    many = len({widths.shape_of(cm[i]) for i in idx}) > 1
    buckets.append((members, widths.bucket_model([cm[i] for i in idx]) if many else None, []))
  left = []
  for i in sorted(range(len(items)), key=lambda i: (widths.sort_key(models[i]), i)):
    home = next((b for b in buckets if fits(models[i], [c.model for _, c in b[0]], b[1])), None)
    (home[2] if home else left).append(i)
  out = [(idx, members) for members, _, idx in buckets if idx]
  if left:
    sub = [models[i] for i in left]
    out += [([left[j] for j in idx], None)
            for idx in widths.partition(sub, padding, costs, [batches[i] for i in left] if batches else None)]
  return out


def canon_part(canon, part, branching: bool = False):
  """The canonical draws of a static key that belong with `part` (of the same batch size and optimizer where a
  program holds one of each; all of them where it holds branches: a TPE batch of one batch size still plans
  the buckets of the whole space)."""
  if not canon:
    return None
  if branching:
    return list(canon)
  kinds = {(int(cfg.batch_size), str(cfg.optimizer.name)) for _, cfg in part}
  sizes, names = {k[0] for k in kinds}, {k[1] for k in kinds}
  return [(t, cfg) for t, cfg in canon if (len(sizes) > 1 or int(cfg.batch_size) in sizes)
          and (len(names) > 1 or str(cfg.optimizer.name) in names)] or None


def program_branches(chunk, canon_members, canon_cuts, real_cuts, full, batch_sizes=(), optimizer_names=()) -> tuple:
  """(the program's branch keys, each member's narrower sizes) of a bucket of `chunk` (trial, cfg) whose canonical
  draws are `canon_members` (trial, cfg), cut into narrower branches as `canon_cuts` (their narrower sizes, ()
  for the program's; `real_cuts`: the chunk's own cut, for a member that fits no canonical branch), and a branch
  at the program's sizes for each of `batch_sizes` (those the space draws) and `optimizer_names` (the same: a
  later TPE batch may draw an optimizer the bucket's canonical draws lack). A key is
  (batch size, narrower sizes[, optimizer]) as train.group.branch_of gives it; a member trains in the narrowest
  canonical branch of its batch size and optimizer that holds it."""
  names = {str(c.optimizer.name) for _, c in list(canon_members) + list(chunk)} | set(optimizer_names)
  key = lambda cfg, cut: (int(cfg.batch_size), tuple(cut)) + ((str(cfg.optimizer.name),) if len(names) > 1 else ())
  keys = {key(c, cut) for (_, c), cut in zip(canon_members, canon_cuts)}
  for b in batch_sizes:  # every batch size the space draws (`batch_sizes`), at the program's sizes
    for o in names if len(names) > 1 else ("",):
      keys.add((int(b), ()) + ((o,) if o else ()))
  chosen = []
  for (_, cfg), own in zip(chunk, real_cuts):
    fit = [k for k in keys if k[0] == int(cfg.batch_size) and k[2:] == key(cfg, ())[2:]
           and _inside(cfg.model, dict(k[1]), full)]
    best = min(fit, key=lambda k: _width(dict(k[1]) or full)) if fit else key(cfg, own)
    keys.add(best)
    chosen.append(best[1])
  return tuple(sorted(keys)), chosen


def _flat(v) -> tuple:
  return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),)


def _width(sizes: dict) -> int:
  return sum(sum(_flat(v)) for v in sizes.values())


def _inside(model, sizes: dict, full: dict) -> bool:
  """Whether a member's model fits narrower padded sizes ({}: the program's own, which hold every member)."""
  own = widths.bucket_model([model], len(full.get("units", ())))
  for f, v in sizes.items():
    mine, theirs = _flat(own.get(f, v)), _flat(v)
    if len(mine) != len(theirs) or any(a > b for a, b in zip(mine, theirs)):
      return False
  return True
