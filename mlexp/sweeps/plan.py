"""Sweep planning: expand the space into trials, check them, group them by static config, chunk the
groups (by max_group_size and an estimate of memory). Nothing is trained or written here."""
from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from mlexp.config import ConfigError, validate
from mlexp.config.hparams import VMAPPED_FIELDS
from mlexp.models import spec
from mlexp.sweeps import asha, widths
from mlexp.sweeps.grouping import plan_groups
from mlexp.sweeps.plan_types import training_loops
from mlexp.sweeps.space import ALGORITHMS, field_names, get_field, scale_of, sweep_trials, trial_config

# input shapes of the memory estimate (a guess: planning happens before any data are loaded)
PROBE_SHAPE = {"image": (1, 28, 28, 1), "sequence": (1, 32, 16)}


def check_sweep(config, trials) -> None:
  """Validates the sweep block and every trial's config before any work."""
  sw = config.sweep
  if sw.mode not in ("asha", "full"):
    raise ConfigError("sweep.mode", sw.mode, "must be one of asha, full")
  if sw.metric not in asha.METRICS:
    raise ConfigError("sweep.metric", sw.metric, "must be one of " + ", ".join(asha.METRICS))
  if sw.metric.startswith("test_") and float(config.data.get("validation_fraction", 0.0) or 0.0) > 0:
    raise ConfigError("sweep.metric", sw.metric, "would select on the test set: use "
                      f"{sw.metric.replace('test_', 'val_')}, or set data.validation_fraction=0")
  for f, lo in (("grace", 1), ("factor", 2)):
    if not isinstance(sw.asha[f], int) or sw.asha[f] < lo:
      raise ConfigError(f"sweep.asha.{f}", sw.asha[f], f"must be an integer >= {lo}")
  if not isinstance(sw.compile_ahead, int) or sw.compile_ahead < 0:
    raise ConfigError("sweep.compile_ahead", sw.compile_ahead, "must be an integer >= 0")
  if not isinstance(sw.get("lanes", True), bool):
    raise ConfigError("sweep.lanes", sw.lanes, "must be True or False")
  if not isinstance(sw.asha.get("sync", True), bool):
    raise ConfigError("sweep.asha.sync", sw.asha.sync, "must be True or False")
  if sw.padding not in widths.PADDING_MODES:
    raise ConfigError("sweep.padding", sw.padding, "must be one of " + ", ".join(widths.PADDING_MODES))
  if not isinstance(sw.max_group_size, int) or sw.max_group_size < 1:
    raise ConfigError("sweep.max_group_size", sw.max_group_size, "must be an integer >= 1")
  alg = sw.get("algorithm", "auto")
  if alg not in ALGORITHMS:
    raise ConfigError("sweep.algorithm", alg, "must be one of " + ", ".join(ALGORITHMS))
  if alg == "tpe":
    if not isinstance(sw.tpe_batch, int) or sw.tpe_batch < 1:
      raise ConfigError("sweep.tpe_batch", sw.tpe_batch, "must be an integer >= 1")
    if not isinstance(sw.num_trials, int) or sw.num_trials < 1:
      raise ConfigError("sweep.num_trials", sw.num_trials, "must be an integer >= 1 with sweep.algorithm=tpe "
                        "(the number of trials TPE asks for)")
    if int(sw.num_shards) != 1:
      raise ConfigError("sweep.num_shards", sw.num_shards, "must be 1 with sweep.algorithm=tpe (each batch of "
                        "trials is asked with the results of the one before)")
  from mlexp.sweeps.executors import check_backend
  check_backend(sw)
  if not trials and len(tuple(sw.space)) and int(sw.num_trials) < 1:  # random fields drawn 0 times
    raise ConfigError("sweep.num_trials", sw.num_trials, "must be >= 1: the number of draws of the space's random "
                      "fields (0 only for a space of grid fields)")
  if not trials:
    raise ConfigError("sweep.space", "()", "must define at least one field")
  for t, values in enumerate(trials):
    try:
      for field in values:
        get_field(config, field)
      validate(trial_config(config, values))
    except (KeyError, AttributeError, IndexError, TypeError) as e:
      raise ConfigError("sweep.space", list(values), f"names a field that does not exist ({e})")
    except ConfigError as e:
      raise ConfigError(e.field, e.value, f"{e.allowed} (in trial {t} of the sweep: {values})")


def unsharded(config):
  """The config with sweep.shard_index / num_shards at their defaults (0 / 1) and without the backend fields:
  what config.json holds."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.sweep.shard_index, c.sweep.num_shards = 0, 1
  for f in ("backend", "ray_address", "ray_num_cpus", "ray_cpus_per_group", "ray_max_retries"):
    if f in c.sweep:  # where it runs is not what it is: a sweep resumes on either backend (and as before them)
      del c.sweep[f]
  return c


def member_bytes(cfg, num_classes: int = 20, input_shape=None, split: bool = False):
  """A generous estimate of one member's memory in a group: parameters x 6 (params, grads, two optimizer
  moments, best params, update) plus activations of one batch (x 3 for the backward pass). split: the two
  apart, (state bytes, activation bytes)."""
  from mlexp.models import count_params  # counted from the config (jax-free: no model is traced)
  image = spec(cfg.model.kind).data == "image"
  shape = input_shape or PROBE_SHAPE["image" if image else "sequence"]
  n_params = count_params(cfg.model, tuple(shape[1:]), num_classes)
  width = max([n_params // 1000, 1])  # activations scale with layer widths; a rough proxy
  state, act = 4 * 6 * n_params, 4 * 3 * int(cfg.batch_size) * width * 64
  return (state, act) if split else state + act


def members_that_fit(cfg, budget_gb: float, platform: str = "gpu") -> int:
  """How many members of this config fit in `budget_gb` (sweep.max_group_gb) at once. On CPU members
  train one after another (lax.map; one per device at a time): only their states add up."""
  budget = budget_gb * 2**30
  if platform == "cpu":
    state, act = member_bytes(cfg, split=True)
    return max(1, int((budget - 2 * act) // max(state, 1)))
  return max(1, int(budget // member_bytes(cfg)))


@dataclasses.dataclass(frozen=True)
class SweepPlan:
  trials: list  # trial id -> {field: value}
  fields: list  # swept field names
  groups: list  # GroupPlan, in run order

  def spec(self, config) -> dict:
    """sweep.json: what `merge` and the report need without the data or JAX."""
    sw = config.sweep
    alg = sw.get("algorithm", "auto")
    return {"fields": [{"name": (s.to_dict() if hasattr(s, "to_dict") else dict(s))["field"], "scale": scale_of(s)}
                       for s in sw.space],
            "num_trials": len(self.trials), "seeds": int(config.seeds), "mode": sw.mode,
            "metric": sw.metric, "asha": sw.asha.to_dict(), "groups": len(self.groups),
            "vmapped_fields": list(VMAPPED_FIELDS), "group_ids": [p.gid for p in self.groups],
            "algorithm": alg, **({"trials": self.trials} if alg == "tpe" else {})}


def plan_sweep(config, data=None, platform: str = "cpu") -> SweepPlan:
  """data(cfg) -> Dataset: what the bucket planner prices padded compute with (sweep.padding=auto).
  For the algorithms that list their trials before training (random, grid); tpe: mlexp/sweeps/tpe.py."""
  try:
    trials = sweep_trials(config.sweep, config)
  except ValueError as e:
    raise ConfigError("sweep.algorithm", config.sweep.get("algorithm", "auto"), str(e)) from None
  check_sweep(config, trials)
  return SweepPlan(trials, field_names(config), plan_trials(config, trials, data, platform))


def plan_trials(config, trials, data=None, platform: str = "cpu") -> list:
  """The GroupPlans of these trials (ids = their positions): grouped by static config, width buckets,
  chunked by max_group_size and memory."""
  sw = config.sweep
  # (priced at the epochs a trial is expected to train under the sweep's ASHA, as the plan line and the wall
  # estimate are: a trial's config has no sweep block)
  cost = None if data is None else (lambda cfg: cost_model(cfg, data(cfg), platform, sw))
  return plan_groups(config, trials, int(config.seeds), int(sw.max_group_size),
                     member_cap=lambda cfg: members_that_fit(cfg, float(sw.max_group_gb), platform),
                     padding=sw.padding, cost=cost)


def cost_model(cfg, ds, platform: str, sweep=None) -> widths.CostModel:
  """What the bucket planner knows of a group: data sizes, expected epochs under ASHA, device platform."""
  sw = sweep if sweep is not None else cfg.get("sweep")
  epochs = int(cfg.epochs) if sw is None else widths.expected_epochs(int(cfg.epochs), sw.mode, int(sw.asha.grace),
                                                                     int(sw.asha.factor))
  from mlexp.sweeps.plan_types import auto_buckets
  lengths = ds.train.lengths
  return widths.CostModel(feature_shape=tuple(ds.feature_shape), num_classes=int(ds.num_classes),
                           n_train=len(ds.train), steps=1 if lengths is None else int(np.max(lengths)),
                           epochs=epochs, platform=platform, kind=str(cfg.model.kind),
                           length_buckets=1 if lengths is None else auto_buckets(ds, int(cfg.data.num_buckets)))


def _compile_seconds(cost, members) -> float:
  """The planner's compile price of a program: more with each extra branch (batch size, narrower sizes)."""
  return cost.program_seconds(training_loops(members))


def _padded(group_model, m):
  """The padded sizes a member trains at: its branch's, else its group's (None: an exact program)."""
  return {**group_model.to_dict(), **dict(m.branch)} if m.dims else None


def estimate(group, config, data, platform: str, compiled: bool = False) -> float:
  """The planner's estimate of a group's seconds: one compile (none when its program is compiled already)
  plus its members' padded training."""
  cost = cost_model(group.config, data(group.config), platform, config.sweep)
  return (0.0 if compiled else _compile_seconds(cost, group.members)) + sum(
      _member_seconds(cost, group.config, m, config.sweep) for m in group.members)


def _member_seconds(cost, gcfg, m, sw, padded: bool = True) -> float:
  """A member's training seconds in its group's program (padded: at its padded sizes; else at its own), at its
  own batch size and epochs (a study's epochs knob: 3 and 5 in a 10-epoch program were priced at 10)."""
  from mlexp.sweeps.plan_types import member_model
  if m.epochs:
    cost = dataclasses.replace(cost, epochs=widths.expected_epochs(int(m.epochs), sw.mode, int(sw.asha.grace),
                                                                   int(sw.asha.factor)))
  return cost.train_seconds(member_model(gcfg.model, m.dims), _padded(gcfg.model, m) if padded else None,
                            m.batch_size or int(gcfg.batch_size))


def _first_of_program(groups):
  """(group, whether it is the first of its program), in order: a program compiles once (chunks of one
  bucket share it)."""
  seen = set()
  for g in groups:
    key = g.program or g.gid
    yield g, key not in seen
    seen.add(key)


def estimates(groups, config, data, platform: str) -> dict:
  """gid -> estimate, with each program's compile priced once."""
  return {g.gid: estimate(g, config, data, platform, compiled=not first) for g, first in _first_of_program(groups)}


def describe(plan: SweepPlan, config, data, platform: str) -> str:
  """One line before training: programs, models per program, padded compute, estimated compile and
  training time (the planner's estimates)."""
  exact = padded_s = compile_s = busiest = 0.0
  programs = 0
  cached = cached_programs(plan.groups, config.sweep)
  for p, first in _first_of_program(plan.groups):
    cost = cost_model(p.config, data(p.config), platform, config.sweep)
    if first:
      programs += 1
      compile_s += 0.0 if p.gid in cached else _compile_seconds(cost, p.members)
    group_s = sum(_member_seconds(cost, p.config, m, config.sweep) for m in p.members)
    exact += sum(_member_seconds(cost, p.config, m, config.sweep, padded=False) for m in p.members)
    padded_s += group_s
    busiest += group_s * widths.busiest_share(len(p.members), _devices())
  sizes = [len(p.members) for p in plan.groups]
  over = 100.0 * (padded_s / exact - 1.0) if exact else 0.0
  shown = ", ".join(map(str, sizes[:12])) + (", ..." if len(sizes) > 12 else "")
  mixed = sum(1 for p in plan.groups if len({m.batch_size for m in p.members}) > 1)
  narrow = sum(1 for p in plan.groups if any(m.branch for m in p.members))
  batches = f"; {mixed} of them run several batch sizes" if mixed else ""
  batches += f"; {narrow} of them run narrower widths for some models" if narrow else ""
  chunks = f" run as {len(plan.groups)} groups" if programs < len(plan.groups) else ""
  return (f"plan (padding {config.sweep.padding}): {programs} program(s){chunks} of {shown} model(s){batches}; "
          f"padded compute +{over:.0f}%; estimated compile ~{compile_s:.0f}s, training ~{padded_s:.0f}s, "
          f"wall ~{widths.wall_seconds(compile_s, padded_s, programs - len(cached), platform, _devices(), busiest):.0f}s"
          + _cache_note(len(cached), programs) + _static_note(config))


def _devices() -> int:
  import jax
  return len(jax.local_devices())


def cached_programs(groups, sw=None) -> set:
  """The gids of the groups (first of their program) whose program an earlier run compiled into JAX's persistent
  compilation cache (mlexp/cache.py: noted by its fingerprint when it was built). sw: the sweep block, whose
  lanes (balance.lanes_for) place narrow groups on other devices (on CPU part of the program's cache key)."""
  from mlexp import cache
  if not cache.active():
    return set()
  from mlexp.sweeps.plan_types import member_loop
  from mlexp.training.loop import member_devices
  from mlexp.sweeps.balance import lanes_for
  out, lane = set(), lanes_for(sw, groups, _devices()) if sw is not None else {}
  for g, first in _first_of_program(groups):
    if not first:
      continue
    devices = member_devices(max(len(g.members), int(g.slots)), lane.get(g.gid))
    fp = cache.fingerprint(g.config, g.members, g.slots, len(devices), devices[0].platform,
                           member_loop(g.config, devices), g.branches, lane.get(g.gid, 0))
    if cache.found([fp]):
      out.add(g.gid)
  return out


def _cache_note(found: int, programs: int) -> str:
  from mlexp import cache
  where = cache.active()
  if not where:
    return "; compilation cache off"
  return f"; {found} of {programs} program(s) in the compilation cache ({where.replace(os.path.expanduser('~'), '~', 1)})"


def _static_note(config) -> str:
  """For a user's module whose fields the sweep varies: why they are not padded into shared programs."""
  s = spec(config.model.kind)
  varied = [f for f in field_names(config) if f.startswith("model.")
            and not (f == "model.dropout" and s.dropout_data)]
  if not s.user or not varied:
    return ""
  return (f"\nplan: {', '.join(varied)} of your own model are static (width buckets need a built-in model's "
          "masked layers): one program per distinct value")
