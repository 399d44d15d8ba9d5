"""Runs one group of models that share every shape, as one compiled program per epoch.

A group is M members (seeds x float hyperparameters). The data are put on the device once and shared;
`epoch` is `jit(vmap(program.epoch))` (or lax.map: programs.py, which also keeps the compiled programs that
groups share). With more than one local device the member axis is sharded over the devices (members are
padded to a multiple of the device count with frozen copies).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mlexp.config.hparams import without_hparams
from mlexp import cache as program_cache
from mlexp.data import bucketize
from mlexp.models import count_params, member_dims
from mlexp.models.specs import spec as model_spec
from mlexp.io.watchdog import watchdog
from mlexp.sweeps.plan_types import Member, auto_buckets, member_loop, member_model  # noqa: F401 (the plan's)
from mlexp.training import optim, programs
from mlexp.training.member_clock import building as _building  # noqa: F401 (tests use _building)
from mlexp.training.member_clock import training as _training
from mlexp.training.programs import clear_programs  # noqa: F401 (tests, benchmarks)
from mlexp.training.state import CUT, RUNNING, param_count


@dataclasses.dataclass(frozen=True)
class DataShape:
  """What a program is built for of its data: the class count and the examples per train bucket."""
  num_classes: int
  train_sizes: tuple


def device_splits(dataset, num_buckets: int, validation: bool = False):
  """Train and test splits as tuples of (x, y, lengths) buckets of device arrays; validation=True adds a third,
  the validation split's (None when the data set has none)."""
  num_buckets = auto_buckets(dataset, num_buckets)

  def put(split):
    buckets = bucketize(split, num_buckets) if split.lengths is not None else [split]
    return tuple((jnp.asarray(b.x, jnp.float32), jnp.asarray(b.y, jnp.int32),
                  None if b.lengths is None else jnp.asarray(b.lengths, jnp.int32)) for b in buckets)
  if validation:
    val = getattr(dataset, "validation", None)
    return put(dataset.train), put(dataset.test), None if val is None else put(val)
  return put(dataset.train), put(dataset.test)


def put_split(split):
  """One split (e.g. a moved / rotated test set) as buckets of device arrays."""
  return ((jnp.asarray(split.x, jnp.float32), jnp.asarray(split.y, jnp.int32),
           None if split.lengths is None else jnp.asarray(split.lengths, jnp.int32)),)


def branch_of(m: Member) -> tuple:
  """The branch a member trains in: (batch size, narrower sizes[, optimizer])."""
  return (int(m.batch_size), tuple(m.branch)) + ((m.optimizer,) if m.optimizer else ())


def branches(members: Sequence[Member]):
  """The sorted distinct (batch size, narrower sizes[, optimizer]) of the members when they differ (widths, batch
  size and optimizer as data, mlexp.training.program), else None. Batch size 0: the group's; sizes (): the group's;
  the optimizer only where members name their own (Member.optimizer)."""
  found = sorted({branch_of(m) for m in members})
  return tuple(found) if len(found) > 1 else None


def optimizers(members: Sequence[Member], branch_keys=None):
  """The sorted distinct optimizer names of the members, and of the program's branches where a plan gives them
  (a TPE batch's members may name fewer than its canonical program's branches), when they differ (the
  optimizer as data), else None."""
  found = {m.optimizer for m in members} | {k[2] for k in branch_keys or () if len(k) > 2}
  found = sorted(found - {""}) if len(found) > 1 else sorted(found)
  return tuple(found) if len(found) > 1 else None


def stack_hparams(members: Sequence[Member], model_cfg=None, found=None) -> dict:
  """The members' float knobs as [M] arrays; with model_cfg (a padded group's bucket sizes), also
  hp["dims"]: each member's true widths and depth as int arrays (mlexp.models.member_dims); when the
  members' batch sizes or narrower sizes differ, hp["branch"]: each member's own, as an index into branches()
  (`found`: the program's branches, when a plan gives them)."""
  hp = {k: jnp.asarray([m.hparams[k] for m in members], jnp.float32) for k in optim.HPARAMS}
  found = branches(members) if found is None else found
  if found is not None and len(found) > 1:
    hp["branch"] = jnp.asarray([found.index(branch_of(m)) for m in members], jnp.int32)
  if model_cfg is not None:
    dims = [member_dims(model_cfg, dict(m.dims)) for m in members]
    hp["dims"] = {k: jnp.asarray(np.stack([d[k] for d in dims]), jnp.int32) for k in dims[0]}
  return hp


@functools.partial(jax.jit, static_argnums=2)
def _permuted(tree, idx, sharding):
  """tree's leaves with their member axis permuted (slot s takes old slot idx[s]), on the devices, in the
  member sharding (a host round trip of mlp_course's 2.5 GB state took 9 s a reorder; a device_put of another
  sharding takes JAX's slow path through the host)."""
  keep = (lambda a: a) if sharding is None else (lambda a: jax.lax.with_sharding_constraint(a, sharding))
  return jax.tree.map(lambda a: keep(a[idx]), tree)


def member_slots(size: int, slots: int, n_dev: int, spread: bool = True) -> np.ndarray:
  """The slot of each of `size` members among `slots` split over n_dev devices in equal contiguous blocks.
  spread: the members split as evenly as they can be over the devices, each device's in the leading slots
  of its block, the spare slots at the ends of the blocks (on CPU a spare slot costs nothing, so a program
  with more slots than members, e.g. a sweep's canonical program, still keeps every device busy); else the
  members fill the leading slots."""
  if not spread or n_dev < 2 or slots % n_dev or size >= slots:
    return np.arange(size)
  per = slots // n_dev
  caps = [size // n_dev + (1 if d < size % n_dev else 0) for d in range(n_dev)]
  return np.array([d * per + k for d, c in enumerate(caps) for k in range(c)], int)


class Group:
  """The compiled programs of one group and its data, on the device. Groups whose program would be the same
  (the same config, data shapes, member slots, devices and branches: a sweep's chunks of one bucket) share
  one compile in this process (programs.py).

  slots: member slots of the program (at least len(members); the spare ones are stopped from the start),
  so that chunks of different sizes still share one program. val: the validation buckets that select the best
  epoch, plateau and early stopping (None: the test buckets select)."""

  def __init__(self, config, train, test, num_classes: int, members: Sequence[Member],
               devices: Optional[Sequence] = None, slots: int = 0, val=None, branches: tuple = ()):
    self.config = config
    self.members = list(members)
    # the program's branches: a plan's (the same program for other draws of its space) or its members'
    self.branch_keys = tuple(sorted(branches)) if branches else None
    self.train, self.test, self.val = train, test, val
    self.n_train = int(sum(int(b[0].shape[0]) for b in train))
    spec = DataShape(num_classes, tuple(int(b[0].shape[0]) for b in train))
    self.num_classes = num_classes
    self.feature_shape = tuple(int(d) for d in train[0][0].shape[1:])
    # width_padded: members of different widths / depths share this program (config.model = bucket sizes)
    self.width_padded = any(m.dims for m in self.members)
    # (a user's module runs its training calls with train=True: its own dropout, whatever model.dropout says)
    use_dropout = model_spec(config.model.kind).user or any(float(m.hparams["dropout"]) > 0 for m in self.members)
    self.devices = list(devices) if devices else [jax.devices()[0]]
    n_dev = len(self.devices)
    # a narrow group's own device (a sweep's lane) when it is not the first: its index, else 0
    self.lane = jax.local_devices().index(self.devices[0]) if n_dev == 1 and self.devices[0] in jax.local_devices() else 0
    self.size = len(self.members)
    self.slots = -(-max(self.size, int(slots)) // n_dev) * n_dev  # member slots, a multiple of the devices
    # member j sits in slot slot_of[j]: spare slots asked for (a sweep's ladder) end every device's block
    self.slot_of = member_slots(self.size, self.slots, n_dev, spread=int(slots) > self.size)
    self._spare = np.setdiff1d(np.arange(self.slots), self.slot_of)
    pad = [self.members[-1]] * self.slots  # (spare slots: copies of the last member, stopped from the start)
    for j, s in enumerate(self.slot_of):
      pad[s] = self.members[j]
    self.hp = stack_hparams(pad, config.model if self.width_padded else None, self._found())
    self.keys = jnp.stack([jax.random.PRNGKey(m.seed) for m in pad])
    self._sharding = None
    mesh = None
    if n_dev > 1:
      mesh = jax.sharding.Mesh(np.array(self.devices), ("members",))
      self._sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("members"))
    elif self.devices[0] != jax.local_devices()[0]:  # a narrow group on its own device (a sweep's lane)
      self._sharding = jax.sharding.SingleDeviceSharding(self.devices[0])
    if self._sharding is not None:
      self.hp = jax.device_put(self.hp, self._sharding)
      self.keys = jax.device_put(self.keys, self._sharding)
    self.member_loop = member_loop(config, self.devices)
    # (the config without its vmapped knobs: members of any values of them share a program, mlexp.config.hparams)
    key = (json.dumps(without_hparams(config), sort_keys=True, default=str), spec, self.width_padded, use_dropout,
           repr(self._branches()), optimizers(self.members, self.branch_keys), self.slots,
           tuple(str(d) for d in self.devices),
           self.member_loop,
           programs.signature((train, val, test)))
    self._shared = programs.shared(key, lambda: programs.build(
        config, spec, padded=self.width_padded, use_dropout=use_dropout, branches=self._branches(),
        member_loop=self.member_loop, mesh=mesh, optimizers=optimizers(self.members, self.branch_keys)))
    self.program = self._shared.program
    self._init, self._epoch, self._eval = self._shared.init, self._shared.epoch, self._shared.evaluate
    self.compile_s = 0.0
    self.hang_timeout = float(config.hang_timeout_s)
    self._longest_epoch = 0.0

  def _found(self):
    return self.branch_keys if self.branch_keys and len(self.branch_keys) > 1 else branches(self.members)

  def program_branches(self) -> tuple:
    """The program's branches as a plan gives them (GroupPlan.branches), () when it has none."""
    return tuple(self._found() or ())

  def _branches(self):
    found = self._found()
    return None if found is None else [(b[0] or int(self.config.batch_size), dict(b[1]), *b[2:]) for b in found]

  def take(self, state, index):
    """The members `index` (positions in this group) of a state, unpadded (for `adopt` by a smaller group)."""
    idx = self.slot_of[np.asarray(list(index), int)]
    return jax.tree.map(lambda a: a[idx], state)

  def adopt(self, state):
    """A state of exactly this group's members (e.g. from `take`), padded for the devices and placed."""
    if self.slots > self.size:
      idx = np.full(self.slots, self.size - 1)
      idx[self.slot_of] = np.arange(self.size)
      state = jax.tree.map(lambda a: a[idx], state)
      status = np.asarray(state.status).copy()
      status[self._spare] = CUT
      state = state.replace(status=jnp.asarray(status))
    return self._place(state)

  def member_order(self, order) -> list:
    """For a reordering of the slots (slot s takes old slot order[s]; spare slots keep theirs): the member
    position each new position j takes (its old position)."""
    old_pos = {int(s): j for j, s in enumerate(self.slot_of)}
    return [old_pos[int(order[s])] for s in self.slot_of]

  def reorder(self, state, order):
    """The state with this group's member slots reordered (slot s takes the member of old slot order[s]; the
    spare slots keep theirs); the hyperparameters and keys move with their members, and the compiled
    programs stay (the same shapes and sharding). For spreading running members over the devices."""
    idx = jnp.asarray(np.asarray(order), jnp.int32)
    self.hp, self.keys = _permuted(self.hp, idx, self._sharding), _permuted(self.keys, idx, self._sharding)
    self.members = [self.members[i] for i in self.member_order(order)]
    return _permuted(state, idx, self._sharding)

  def member_values(self, a) -> np.ndarray:
    """A per-slot array (host side) as one value per member, in member order."""
    return np.asarray(a)[self.slot_of]

  def _place(self, state):
    return jax.device_put(state, self._sharding) if self._sharding is not None else state

  def init(self):
    # (under the program's lock: a group of the same program initialising in another thread compiles the init
    # program once; the wait is not this group's compile)
    with self._shared.lock, watchdog(self.hang_timeout, "initialising the models"):
      t = time.perf_counter()
      state = self._init(self.keys, self.hp, self.train)
      state = self._init_fixups(state)
      jax.block_until_ready(state)
      self.compile_s += time.perf_counter() - t
    return state

  def _init_fixups(self, state):
    if self.slots > self.size:  # padding members never train
      status = np.asarray(state.status).copy()
      status[self._spare] = CUT
      state = state.replace(status=jnp.asarray(status))
    return self._place(state)  # every leaf on the member sharding (init leaves some replicated)

  def _put(self, a):
    a = jnp.asarray(a)
    return jax.device_put(a, self._sharding) if self._sharding is not None else a

  def set_status(self, state, status: np.ndarray):
    """The state with a new status per member (host side: ASHA cuts, completion)."""
    full = np.asarray(state.status).copy()
    full[self.slot_of] = status
    return state.replace(status=self._put(full.astype(np.int32)))

  def build(self):
    """init, then compile: the initial state, with the program ready. A group of the same program building in
    another thread is waited for as a whole, so one of them compiles both programs and the other none."""
    with _building(), self._shared.lock:
      state = self.init()
      self.compile(state)
    return state

  def compile(self, state):
    """Compiles the epoch program ahead of time (so its seconds are measured apart from training), or takes
    the one a group with the same program compiled (waiting while another thread compiles it)."""
    args = (state, self.hp, self.train, self.val, self.test)
    fingerprint = lambda: program_cache.fingerprint(self.config, self.members, self.slots, len(self.devices),
                                                    self.devices[0].platform, self.member_loop, self.branch_keys,
                                                    self.lane)
    self._epoch, seconds, self.cache_hit = programs.compile_epoch(self._shared, args, self.hang_timeout,
                                                                  self.compile_s, fingerprint)
    self.compile_s += seconds

  @property
  def recompile_s(self) -> float:
    """What compiling this group's program costs (measured when it was built, also when this group reused
    it): the price of a rebuild."""
    return max(self.compile_s, self._shared.compile_s)

  def epoch(self, state):
    """One epoch of every running member; returns (state, metrics as numpy [M], seconds)."""
    t = time.perf_counter()
    limit = max(self.hang_timeout, 20 * self._longest_epoch) if self.hang_timeout > 0 else 0
    with watchdog(limit, "an epoch"), _training():  # (timed members see other groups' epochs: member_clock)
      state, metrics = self._epoch(state, self.hp, self.train, self.val, self.test)
      metrics = jax.device_get(metrics)  # the one host round trip of the epoch
    dt = time.perf_counter() - t
    self._longest_epoch = max(self._longest_epoch, dt)
    return state, {k: self.member_values(v) for k, v in metrics.items()}, dt

  def evaluate(self, params, split):
    loss, acc, _ = jax.device_get(self._eval(params, split, self.hp.get("dims")))
    return self.member_values(loss), self.member_values(acc)

  def param_count(self, state) -> int:
    return param_count(jax.tree.map(lambda x: x[0], state.params))

  def param_counts(self, state=None) -> np.ndarray:
    """The true parameter count of each member: the model its config names (padding never counted)."""
    return np.array([count_params(member_model(self.config.model, m.dims), self.feature_shape, self.num_classes)
                     for m in self.members], np.int64)

  def member_status(self, state) -> np.ndarray:
    """Each member's status (a host copy, in member order)."""
    return self.member_values(state.status)  # (fancy indexing: a copy)

  def running(self, state) -> np.ndarray:
    return self.member_values(state.status) == RUNNING
