"""Optimizers and learning-rate schedules, with every float knob as data (vmappable over trials).

The optimizer is wrapped in `optax.inject_hyperparams`, so learning rate, weight decay and momentum
live in the optimizer state, never as Python constants baked into the compiled program.
"""
from __future__ import annotations

import jax.numpy as jnp
import optax

from mlexp.config.hparams import HPARAMS, hparams_of  # noqa: F401 (the one table of the vmapped knobs)

# Reduce-on-plateau runs with this reference factor; the member's own factor is applied as
# factor ** (number of reductions), so the factor can be vmapped (optax checks `factor` in Python).
_REF_FACTOR = 0.5


def make_optimizer(name: str, hp: dict) -> optax.GradientTransformation:
  """optax optimizer `name` with its hyperparameters in state (optax.inject_hyperparams)."""

  def factory(learning_rate, weight_decay, momentum):
    if name == "adamw":
      return optax.adamw(learning_rate, weight_decay=weight_decay)
    if name == "sgd":
      tx = optax.sgd(learning_rate)
    elif name == "momentum":
      tx = optax.sgd(learning_rate, momentum=momentum)
    elif name == "adam":
      tx = optax.adam(learning_rate)
    elif name == "rmsprop":  # torch.optim.RMSprop's defaults: alpha 0.99, eps 1e-8
      tx = optax.rmsprop(learning_rate, decay=0.99, eps=1e-8)
    else:
      raise ValueError(f"unknown optimizer {name!r}")
    return optax.chain(optax.add_decayed_weights(weight_decay), tx)  # L2 as in torch's weight_decay

  return optax.inject_hyperparams(factory)(
      learning_rate=hp["learning_rate"], weight_decay=hp["weight_decay"], momentum=hp["momentum"])


def with_learning_rate(opt_state, lr):
  """The optimizer state with its injected learning rate replaced."""
  return opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": jnp.asarray(lr, jnp.float32)})


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
