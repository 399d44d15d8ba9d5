"""The pure training program of one group of models that share every shape: init and one epoch.

`make_program(config, spec)` chooses the model, reads the static settings (optimizer kind, batch sizes,
schedule kind, data shapes) and wires the parts into pure per-member functions:

  init(key, hp, train)                            -> TrainState
  epoch(state, hp, train, val, test)              -> (TrainState, metrics)
  evaluate(params, split)                         -> (loss, accuracy, confusion)

An epoch is one compiled call: training (step.py: a `lax.scan` over the batches of each length bucket, the
divergence guard), the test and validation evaluations (evaluation.py), then the end-of-epoch bookkeeping
(bookkeeping.py: best parameters, reduce-on-plateau, early stopping), decided on the validation loss (`val`
None, data.validation_fraction=0: on the test loss); the test set is only reported. A member that is not
RUNNING (state.py) is frozen. A group of members is these functions vmapped or mapped over the member axis
(programs.py); the data are shared, every member has its own keys and hyperparameters, and nothing crosses the
member axis, so members never influence each other.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from mlexp.models import build_model, layer_of, resized
from mlexp.models.linear.model import MeanLinear
from mlexp.models.rnn.model import RNNClassifier
from mlexp.training import bookkeeping, evaluation, optim, step
from mlexp.training.state import (COMPLETED, CUT, DIVERGED, RUNNING, STATUS_NAMES, STOPPED_EARLY,  # noqa: F401
                               TrainState, param_count)
from mlexp.training.step import batches as _batches  # noqa: F401 (benchmarks/floor.py)

# An RNN of its own sizes runs its first layer apart (model.first_apart=auto) from this many training
# example-epochs: the second copy of the recurrence costs ~2 s of compile, the narrow first layer saves ~4e-5 s
# an example-epoch (6600 x 40-step sequences: 0.24 s an epoch; JapaneseVowels: 0.018 s for 270)
FIRST_APART_MIN = 40_000

# Sequence models whose prediction never depends on the steps past an example's length (the recurrence holds
# its carry there, the conv front end and the means mask them): evaluation pads the time axes of the test and
# validation buckets to share one forward pass (evaluation.groups); other models (a user's) get one per shape
TIME_PADDING_SAFE = (RNNClassifier, MeanLinear)


@dataclasses.dataclass(frozen=True)
class Program:
  init: Callable
  epoch: Callable
  evaluate: Callable
  model: Any
  steps_per_epoch: int


def make_program(config, spec, padded: bool = False, use_dropout: bool = True, branches=None,
                 optimizers=None) -> Program:
  """spec: the data's static description (group.DataShape): `num_classes`, and `train_sizes` (examples per train bucket).

  padded: the group holds members of different widths / depths (config.model holds the bucket sizes,
  `hp["dims"]` each member's true ones; see mlexp.sweeps.widths). use_dropout: False when no member has
  dropout (no mask is drawn: the same results, less compile and work).

  branches: shape and batch size as data, for a group whose members differ in batch size or run at narrower
  widths than the group's: a sequence of (batch_size, fields), `fields` a dict of padded model sizes narrower
  than config.model's (empty: the group's own). The epoch's training loop is compiled once per branch
  (step.py); evaluation, bookkeeping and init are compiled once, at the group's widths.

  optimizers: the optimizer names of a group whose members differ in it (a branch's third element names its
  members' optimizer; the optimizer state holds each one's, a branch trains its own); None: config.optimizer.name."""
  model = build_model(config.model, spec.num_classes, stacked=padded)
  if (not padded and config.model.get("first_apart") == "auto"
      and sum(spec.train_sizes) * int(config.epochs) >= FIRST_APART_MIN):
    model = model.clone(first_apart=True)
  branches = (tuple((int(b[0]), dict(b[1]), b[2] if len(b) > 2 else None) for b in branches) if branches
              else ((int(config.batch_size), {}, None),))
  sizes = tuple(sorted({b for b, _, _ in branches}))

  nets = [build_model(resized(config.model, f), spec.num_classes, stacked=padded) if f else model
          for _, f, _ in branches]
  eval_batch = int(config.eval_batch_size)
  steps_of = {b: sum(-(-n // b) for n in spec.train_sizes) for b in sizes}
  steps_per_epoch = steps_of[sizes[0]] if len(sizes) == 1 else None
  optimizer = optim.EpochOptimizer(tuple(optimizers) if optimizers else config.optimizer.name, config.schedule, int(config.epochs), steps_of,
                                   layer_of(config.model) if padded else None)
  plateau = optim.make_plateau(int(config.schedule.patience))
  settle = functools.partial(bookkeeping.end_of_epoch, plateau=plateau,
                             es_patience=int(config.early_stopping.patience),
                             es_delta=float(config.early_stopping.min_delta))

  def init(key, hp, train):
    x0, _, l0 = train[0]
    params = model.init({"params": jax.random.fold_in(key, 0)}, x0[:1], None if l0 is None else l0[:1],
                        dims=hp.get("dims"))["params"]
    opt_state = optimizer.init(hp, params, sizes[0])
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    i32 = lambda v: jnp.asarray(v, jnp.int32)
    return TrainState(params=params, opt_state=opt_state, plateau=plateau.init(jnp.zeros(())),
                      best_params=params, best_loss=f32(jnp.inf), best_accuracy=f32(0.0), best_epoch=i32(0),
                      best_test_loss=f32(jnp.inf), best_val_accuracy=f32(0.0),
                      best_confusion=jnp.zeros((spec.num_classes, spec.num_classes), jnp.float32),
                      epoch=i32(0), step=i32(0), bad_epochs=i32(0), status=i32(RUNNING), key=key)

  pad_time = isinstance(model, TIME_PADDING_SAFE)

  def evaluate_splits(params, splits, dims=None):
    """[(mean loss, accuracy, confusion counts [classes, classes])] per split, all in one forward pass per
    shape (evaluation.groups)."""
    return evaluation.evaluate_splits(model, params, splits, dims, num_classes=spec.num_classes,
                                      eval_batch=eval_batch, pad_time=pad_time)

  def evaluate(params, buckets, dims=None):
    """(mean loss, accuracy, confusion counts [classes, classes]) over all buckets of a split."""
    return evaluate_splits(params, (buckets,), dims)[0]

  def epoch(state: TrainState, hp, train, val, test):
    """One epoch of a running member; a stopped (early stopping, ASHA) or diverged member skips all its
    compute (a lax.cond on its status: a real branch when members run one after another, lax.map)."""
    return jax.lax.cond(state.status == RUNNING, lambda s: _run_epoch(s, hp, train, val, test),
                        lambda s: bookkeeping.frozen(s, val is not None), state)

  def _run_epoch(state: TrainState, hp, train, val, test):
    """The epoch of a running member (the caller's lax.cond freezes the others)."""
    running = jnp.ones((), jnp.bool_)
    params, opt_state, steps, diverged, train_loss, train_acc = step.train_epoch(
        state, hp, train, running, model=model, nets=nets, branches=branches, optimizer=optimizer,
        use_dropout=use_dropout)
    ev = evaluation.evaluate_epoch(evaluate_splits, params, test, val, hp.get("dims"))
    new = settle(state, params, opt_state, steps, running, diverged, ev)
    lr_of = functools.partial(optimizer.learning_rate, hp, new.plateau, new.step)
    lr_now = lr_of(sizes[0]) if len(sizes) == 1 or config.schedule.name != "cosine" else jax.lax.switch(
        hp["branch"], [functools.partial(lr_of, b) for b, _, _ in branches])
    return new, bookkeeping.epoch_metrics(new, running, train_loss, train_acc, ev, lr_now)

  return Program(init=init, epoch=epoch, evaluate=evaluate, model=model, steps_per_epoch=steps_per_epoch)
