"""Optimizers and learning-rate schedules, with every float knob as data (vmappable over trials).

The optimizer is built inside the compiled epoch from the member's hyperparameters (traced arrays: learning
rate, weight decay, momentum), so they are data, never Python constants baked into the program. (Not
`optax.inject_hyperparams`: rebuilding its state every step cost compile time and ~10% of an MLP epoch.)
"""
from __future__ import annotations

import jax.numpy as jnp
import optax

from mlexp.config.hparams import HPARAMS, hparams_of  # noqa: F401 (the one table of the vmapped knobs)

# Reduce-on-plateau runs with this reference factor; the member's own factor is applied as
# factor ** (number of reductions), so the factor can be vmapped (optax checks `factor` in Python).
_REF_FACTOR = 0.5


def make_optimizer(name: str, hp: dict, learning_rate=None) -> optax.GradientTransformation:
  """optax optimizer `name` with the member's hyperparameters (arrays). learning_rate: an array (constant for
  the epoch: constant and plateau schedules) or a schedule count -> lr (cosine); default hp's."""
  lr = hp["learning_rate"] if learning_rate is None else learning_rate
  weight_decay, momentum = hp["weight_decay"], hp["momentum"]
  if name == "adamw":
    return optax.adamw(lr, weight_decay=weight_decay)
  if name == "sgd":
    tx = optax.sgd(lr)
  elif name == "momentum":
    tx = optax.sgd(lr, momentum=momentum)
  elif name == "adam":
    tx = optax.adam(lr)
  elif name == "rmsprop":  # torch.optim.RMSprop's defaults: alpha 0.99, eps 1e-8
    tx = optax.rmsprop(lr, decay=0.99, eps=1e-8)
  else:
    raise ValueError(f"unknown optimizer {name!r}")
  return optax.chain(optax.add_decayed_weights(weight_decay), tx)  # L2 as in torch's weight_decay


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
