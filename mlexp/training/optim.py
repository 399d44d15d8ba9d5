"""Optimizers and learning-rate schedules, with every float knob as data (vmappable over trials).

The optimizer is built inside the compiled epoch from the member's hyperparameters (traced arrays: learning
rate, weight decay, momentum), so they are data, never Python constants baked into the program. (Not
`optax.inject_hyperparams`: rebuilding its state every step cost compile time and ~10% of an MLP epoch.)
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from mlexp.config.hparams import HPARAMS, OPTIMIZER_FAMILY, hparams_of  # noqa: F401 (HPARAMS: the vmapped knobs)

# Reduce-on-plateau runs with this reference factor; the member's own factor is applied as
# factor ** (number of reductions), so the factor can be vmapped (optax checks `factor` in Python).
_REF_FACTOR = 0.5


def make_optimizer(name, hp: dict, learning_rate=None) -> optax.GradientTransformation:
  """optax optimizer `name` with the member's hyperparameters (arrays). learning_rate: an array (constant for
  the epoch: constant and plateau schedules) or a schedule count -> lr (cosine); default hp's. (A group whose
  members differ in optimizer trains each in its own branch, EpochOptimizer.tx(name=): one name here.)"""
  lr = hp["learning_rate"] if learning_rate is None else learning_rate
  weight_decay, momentum = hp["weight_decay"], hp["momentum"]  # resolved by hparams_of (None: the optimizer's own)
  if name == "adamw":  # decoupled weight decay (torch.optim.AdamW; its default 0.01 when optimizer.weight_decay=None)
    return optax.adamw(lr, weight_decay=weight_decay)
  if name in ("sgd", "momentum"):  # torch.optim.SGD with optimizer.momentum (sgd: 0, momentum: 0.9 when None)
    tx = optax.sgd(lr, momentum=momentum)
  elif name == "adam":
    tx = optax.adam(lr)
  elif name == "rmsprop":  # torch.optim.RMSprop's defaults: alpha 0.99, eps 1e-8
    tx = optax.rmsprop(lr, decay=0.99, eps=1e-8)
  else:
    raise ValueError(f"unknown optimizer {name!r}")
  return optax.chain(optax.add_decayed_weights(weight_decay), tx)  # L2 as in torch's weight_decay


class MixedState(NamedTuple):
  """The optimizer state of a member in a group of several optimizers (mixed): every kind's moments in one."""
  count: Any  # adam's / adamw's step count
  mu: Any  # adam's first moment, or sgd's / momentum's trace
  nu: Any  # adam's or rmsprop's second moment
  lr: Any  # the learning rate's state (a schedule's step count; optax.EmptyState for a constant)


def mixed(names, kind, hp: dict, learning_rate=None) -> optax.GradientTransformation:
  """Optimizers of one family (OPTIMIZER_FAMILY: sgd and momentum, adam and adamw, rmsprop) as data, on one
  MixedState, each member's as make_optimizer(its name) alone (to float rounding): sgd is momentum with momentum
  0 (hp), adam is adamw with decoupled decay 0 and adamw adam with L2 0, chosen by `kind` (the member's index
  in `names`; an array). The state has room for every family, so a program's loops of several families share
  it; a member does only its own family's work."""
  family = {OPTIMIZER_FAMILY.get(n, n) for n in names}
  if len(family) != 1 or not family <= {"trace", "adam", "rms"}:
    raise ValueError(f"mixed: one family of {sorted(OPTIMIZER_FAMILY)} at a time, got {list(names)}")
  family = family.pop()
  lr = hp["learning_rate"] if learning_rate is None else learning_rate
  weight_decay, momentum = hp["weight_decay"], hp["momentum"]
  scale, empty = optax.scale_by_learning_rate(lr), optax.EmptyState()
  is_w = "adamw" in names and kind == names.index("adamw")
  l2 = None if names == ("adamw",) else (weight_decay if "adamw" not in names else jnp.where(is_w, 0.0, weight_decay))
  decoupled = None if "adamw" not in names else (weight_decay if names == ("adamw",) else
                                                  jnp.where(is_w, weight_decay, 0.0))

  def init(params):
    zeros = lambda: optax.tree.zeros_like(params)
    return MixedState(jnp.zeros([], jnp.int32), zeros(), zeros(), scale.init(params))

  def update(g, s: MixedState, params=None):
    if l2 is not None:  # L2 as in torch's weight_decay (make_optimizer's chain)
      g, _ = optax.add_decayed_weights(l2).update(g, empty, params)
    if family == "trace":
      u, t = optax.trace(decay=momentum).update(g, optax.TraceState(trace=s.mu))
      s = s._replace(mu=t.trace)
    elif family == "adam":
      u, a = optax.scale_by_adam().update(g, optax.ScaleByAdamState(count=s.count, mu=s.mu, nu=s.nu))
      s = s._replace(count=a.count, mu=a.mu, nu=a.nu)
      if decoupled is not None:
        u, _ = optax.add_decayed_weights(decoupled).update(u, empty, params)
    else:
      u, r = optax.scale_by_rms(decay=0.99, eps=1e-8).update(g, optax.ScaleByRmsState(nu=s.nu))
      s = s._replace(nu=r.nu)
    u, lr_state = scale.update(u, s.lr)
    return u, s._replace(lr=lr_state)

  return optax.GradientTransformation(init, update)


class Layered(NamedTuple):
  """An optimizer that updates a model's hidden layers only where a member has them (by_layer)."""
  init: Callable  # params -> state
  step: Callable  # (grads, state, params) -> (params, state)


def by_layer(tx: optax.GradientTransformation, layer_of: Callable, depth) -> Layered:
  """tx, run separately on each hidden layer's parameters (layer_of(name) -> its layer index, None for the
  parameters every member has), each layer inside a `lax.cond` on layer < depth: a layer past the member's
  depth costs no optimizer work at all (its parameters and state are passed through unchanged).

  depth: the member's number of layers (an array). Exact: every optimizer here is elementwise, and an active
  layer's state (moments, step count) is the one it has when the model runs alone."""
  def groups(tree):
    out = {}
    for k, v in tree.items():
      out.setdefault(str(layer_of(k) or 0), {})[k] = v  # "0": the parameters every member has
    return out

  def init(params):
    return {l: tx.init(sub) for l, sub in groups(params).items()}

  def run(c):
    params, state, grads = c
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  def step(grads, state, params):
    g, new_p, new_s = groups(grads), {}, {}
    for l, sub in groups(params).items():
      c = (sub, state[l], g[l])
      sub, new_s[l] = run(c) if l == "0" else jax.lax.cond(int(l) < depth, run, lambda c: c[:2], c)
      new_p.update(sub)
    return {k: new_p[k] for k in params}, new_s

  return Layered(init, step)


def apply(tx, grads, state, params):
  """One optimizer step -> (params, state), for an optax transformation or a Layered one."""
  if isinstance(tx, Layered):
    return tx.step(grads, state, params)
  updates, state = tx.update(grads, state, params)
  return optax.apply_updates(params, updates), state


def make_plateau(patience: int) -> optax.GradientTransformationExtraArgs:
  """optax.contrib.reduce_on_plateau on the test loss, updated once per epoch (as torch's ReduceLROnPlateau)."""
  return optax.contrib.reduce_on_plateau(factor=_REF_FACTOR, patience=patience, rtol=1e-4)


def plateau_scale(plateau_state, factor):
  """The multiplier of the learning rate after the plateau reductions so far, for this member's factor."""
  reductions = jnp.round(jnp.log(plateau_state.scale) / jnp.log(_REF_FACTOR))
  return jnp.asarray(factor, jnp.float32) ** reductions


def learning_rate(schedule, hp, plateau_state, step, total_steps):
  """Learning rate at optimizer step `step` (pure). schedule: the config's schedule block."""
  base = hp["learning_rate"]
  if schedule.name == "plateau":
    return base * plateau_scale(plateau_state, hp["plateau_factor"])
  if schedule.name == "cosine":
    alpha = schedule.min_lr / base
    return optax.cosine_decay_schedule(base, max(int(total_steps), 1), alpha=alpha)(step)
  return base * jnp.ones((), jnp.float32)


@dataclasses.dataclass(frozen=True)
class EpochOptimizer:
  """A member's optimizer for one epoch, from a program's static settings: constant / plateau lr as an array
  (fixed for the epoch), cosine as a schedule of the step count; in a padded group, layers past the member's
  depth get no optimizer work (by_layer)."""
  name: Any  # config.optimizer.name; a tuple of names when the members differ in it (the optimizer as data: mixed)
  schedule: Any  # config.schedule
  epochs: int
  steps_of: dict  # batch size -> optimizer steps per epoch
  layer_of: Optional[Callable] = None  # a padded group's models.layer_of (None: every layer always updates)

  def total_steps(self, batch_size: int) -> int:
    return self.steps_of[batch_size] * self.epochs

  def init(self, hp, params, batch_size: int):
    """A member's optimizer state (with several names, a MixedState: room for every family's)."""
    return self.tx(hp, None, None, batch_size, self.name[:1] if isinstance(self.name, tuple) else None).init(params)

  def tx(self, hp, step, plateau_state, batch_size: int, names=None, kind=None):
    """The epoch's optimizer of a member at optimizer step `step` (None: for its init, no learning rate).
    With several names: mixed over `names` (a training loop's: one family), the member's own at index `kind` of
    self.name (an array)."""
    total_steps = self.total_steps(batch_size)
    if self.schedule.name == "cosine":
      lr = lambda count: learning_rate(self.schedule, hp, None, count, total_steps)
    elif step is None:
      lr = None
    else:
      lr = learning_rate(self.schedule, hp, plateau_state, step, total_steps)
    if isinstance(self.name, tuple):
      names = tuple(names)
      local = jnp.zeros((), jnp.int32) if kind is None else jnp.asarray([names.index(n) if n in names else 0
                                                                          for n in self.name], jnp.int32)[kind]
      tx = mixed(names, local, hp, lr)
    else:
      tx = make_optimizer(self.name, hp, lr)
    return by_layer(tx, self.layer_of, hp["dims"]["layers"]) if self.layer_of and "dims" in hp else tx

  def learning_rate(self, hp, plateau_state, step, batch_size: int):
    """The member's learning rate at `step` (what an epoch's metrics report)."""
    return learning_rate(self.schedule, hp, plateau_state, step, self.total_steps(batch_size))
