"""The pure training program of one group of models that share every shape: init and one epoch.

`make_program(config, spec)` closes over the static settings (model, optimizer kind, batch size,
schedule kind, data shapes) and returns pure per-member functions:

  init(key, hp, train)                            -> TrainState
  epoch(state, hp, train, val, test)              -> (TrainState, metrics)
  evaluate(params, split)                         -> (loss, accuracy)

A group of M members (seeds x float hyperparameters) is `jax.jit(jax.vmap(fn, in_axes=(0, 0, None, ...)))`:
the data are shared (held once), every member has its own keys and hyperparameters. One epoch is one
compiled call: a `lax.scan` over the batches of each length bucket, then the validation and test evaluations,
then the end-of-epoch bookkeeping (best parameters, reduce-on-plateau, early stopping), decided on the
validation loss (`val` None, data.validation_fraction=0: on the test loss); the test set is only reported.
A member whose loss or parameters become non-finite stops updating at that step (status "diverged"); a member
that stops early or is cut by ASHA is frozen (`status != RUNNING`). Nothing crosses the member axis, so members never
influence each other.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from mlexp.models import build_model, layer_of, resized
from mlexp.models.layers import derive, hash_uniform, seed_of
from mlexp.train import optim

RUNNING, STOPPED_EARLY, DIVERGED, COMPLETED, CUT = 0, 1, 2, 3, 4
# An RNN of its own sizes runs its first layer apart (model.first_apart=auto) from this many training
# example-epochs: the second copy of the recurrence costs ~2 s of compile, the narrow first layer saves ~4e-5 s
# an example-epoch (6600 x 40-step sequences: 0.24 s an epoch; JapaneseVowels: 0.018 s for 270)
FIRST_APART_MIN = 40_000
STATUS_NAMES = {RUNNING: "running", STOPPED_EARLY: "stopped_early", DIVERGED: "diverged",
                COMPLETED: "completed", CUT: "stopped_early"}


class TrainState(flax.struct.PyTreeNode):
  params: Any
  opt_state: Any
  plateau: Any
  best_params: Any
  best_loss: jax.Array  # the selection loss (validation; test when there is no validation split) at the best epoch
  best_accuracy: jax.Array  # test accuracy at the best epoch
  best_test_loss: jax.Array
  best_val_accuracy: jax.Array  # (0 when there is no validation split; no val_* metrics then)
  best_confusion: jax.Array  # [classes, classes] test confusion counts (rows true) at the best epoch
  best_epoch: jax.Array  # 1-based; 0 = none yet
  epoch: jax.Array  # epochs done
  step: jax.Array  # optimizer steps done
  bad_epochs: jax.Array  # epochs since the last improvement of the selection loss
  status: jax.Array  # RUNNING, STOPPED_EARLY, DIVERGED, COMPLETED, CUT
  key: jax.Array  # the member's key (from its seed)


@dataclasses.dataclass(frozen=True)
class Program:
  init: Callable
  epoch: Callable
  evaluate: Callable
  model: Any
  steps_per_epoch: int


def _batches(seed, n: int, batch_size: int):
  """Shuffled indices [S, B] covering all n examples once, and weights (0 on the wrap-around fill). The order
  sorts a hash of (seed, index): one sort, no threefry rounds in the compiled epoch."""
  steps = -(-n // batch_size)
  perm = jnp.argsort(hash_uniform(seed, jnp.arange(n)))
  idx = jnp.concatenate([perm, perm[: steps * batch_size - n]]) if steps * batch_size > n else perm
  w = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
  return idx.reshape(steps, batch_size), w.reshape(steps, batch_size)


def _where(pred, new, old):
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _all_finite(tree):
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _cut(tree, like):
  """The leading block of every leaf of `tree` with the shape of the matching leaf of `like` (padded units sit at
  the end of each axis, so a narrower program's arrays are prefixes of a wider one's)."""
  return jax.tree.map(lambda a, s: a[tuple(slice(0, n) for n in s.shape)], tree, like)


def _paste(full, part):
  """`full` with `part` written over its leading blocks (the inverse of _cut; the rest stays as it was)."""
  return jax.tree.map(lambda f, p: p if f.shape == p.shape else f.at[tuple(slice(0, n) for n in p.shape)].set(p),
                      full, part)


def make_program(config, spec, padded: bool = False, use_dropout: bool = True, branches=None) -> Program:
  """spec: the data's static description (group.DataShape): `num_classes`, and `train_sizes` (examples per train bucket).

  padded: the group holds members of different widths / depths (config.model holds the bucket sizes,
  `hp["dims"]` each member's true ones; see mlexp.sweep.widths). use_dropout: False when no member has
  dropout (no mask is drawn: the same results, less compile and work).

  branches: shape and batch size as data, for a group whose members differ in batch size or run at narrower
  widths than the group's: a sequence of (batch_size, fields), `fields` a dict of padded model sizes narrower
  than config.model's (empty: the group's own). The epoch's training loop is compiled once per branch and
  each member takes its own (a `lax.switch` on `hp["branch"]`). A narrower branch trains the leading blocks
  of the member's parameters and optimizer state (a padded unit's entries stay zero either way) and writes
  them back; evaluation, bookkeeping and init are compiled once, at the group's widths. Every member trains
  exactly as its own config (its batches, dropout masks and schedule). A real branch when members run one
  after another (lax.map, CPU); vmapped, every branch runs for every member."""
  model = build_model(config.model, spec.num_classes, stacked=padded)
  if (not padded and config.model.get("first_apart") == "auto"
      and sum(spec.train_sizes) * int(config.epochs) >= FIRST_APART_MIN):
    model = model.clone(first_apart=True)
  branches = tuple((int(b), dict(f)) for b, f in branches) if branches else ((int(config.batch_size), {}),)
  sizes = tuple(sorted({b for b, _ in branches}))

  nets = [build_model(resized(config.model, f), spec.num_classes, stacked=padded) if f else model
          for _, f in branches]
  eval_batch = int(config.eval_batch_size)
  steps_of = {b: sum(-(-n // b) for n in spec.train_sizes) for b in sizes}
  steps_per_epoch = steps_of[sizes[0]] if len(sizes) == 1 else None
  schedule = config.schedule
  es_patience = int(config.early_stopping.patience)
  es_delta = float(config.early_stopping.min_delta)
  plateau = optim.make_plateau(int(schedule.patience))
  opt_name = config.optimizer.name

  layers_of = layer_of(config.model) if padded else None

  def make_tx(hp, state_step, plateau_state=None, batch_size=sizes[0]):
    """The member's optimizer for one epoch: constant / plateau lr as an array, cosine as a schedule; in a padded
    group, layers past the member's depth get no optimizer work (optim.by_layer)."""
    total_steps = steps_of[batch_size] * int(config.epochs)
    if schedule.name == "cosine":
      lr = lambda count: optim.learning_rate(schedule, hp, None, count, total_steps)
    elif state_step is None:
      lr = None
    else:
      lr = optim.learning_rate(schedule, hp, plateau_state, state_step, total_steps)
    tx = optim.make_optimizer(opt_name, hp, lr)
    return optim.by_layer(tx, layers_of, hp["dims"]["layers"]) if layers_of and "dims" in hp else tx

  def logits_fn(params, x, lengths, dims, train=False, dropout_rate=0.0, dropout_seed=None, net=model):
    return net.apply({"params": params}, x, lengths, train=train, dropout_rate=dropout_rate, dims=dims,
                       dropout_seed=dropout_seed)

  def init(key, hp, train):
    x0, _, l0 = train[0]
    params = model.init({"params": jax.random.fold_in(key, 0)}, x0[:1], None if l0 is None else l0[:1],
                        dims=hp.get("dims"))["params"]
    opt_state = make_tx(hp, state_step=None).init(params)
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    i32 = lambda v: jnp.asarray(v, jnp.int32)
    return TrainState(params=params, opt_state=opt_state, plateau=plateau.init(jnp.zeros(())),
                      best_params=params, best_loss=f32(jnp.inf), best_accuracy=f32(0.0), best_epoch=i32(0),
                      best_test_loss=f32(jnp.inf), best_val_accuracy=f32(0.0),
                      best_confusion=jnp.zeros((spec.num_classes, spec.num_classes), jnp.float32),
                      epoch=i32(0), step=i32(0), bad_epochs=i32(0), status=i32(RUNNING), key=key)

  def evaluate(params, buckets, dims=None):
    """(mean loss, accuracy, confusion counts [classes, classes]) over all buckets of a split; chunks of
    eval_batch_size."""
    loss_sum, correct, count = 0.0, 0.0, 0
    confusion = jnp.zeros((spec.num_classes, spec.num_classes), jnp.float32)
    for x, y, lengths in buckets:
      n = x.shape[0]
      chunk = min(eval_batch, n)
      steps = -(-n // chunk)
      idx = jnp.minimum(jnp.arange(steps * chunk), n - 1).reshape(steps, chunk)
      w = (jnp.arange(steps * chunk) < n).astype(jnp.float32).reshape(steps, chunk)

      def body(acc, batch):
        i, wb = batch
        logits = logits_fn(params, x[i], None if lengths is None else lengths[i], dims)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y[i])
        pred = jnp.argmax(logits, -1)
        hit = (pred == y[i]).astype(jnp.float32)
        conf = (jax.nn.one_hot(y[i], spec.num_classes) * wb[:, None]).T @ jax.nn.one_hot(pred, spec.num_classes)
        return (acc[0] + (ce * wb).sum(), acc[1] + (hit * wb).sum(), acc[2] + conf), None

      (ls, cs, cm), _ = jax.lax.scan(body, (jnp.zeros(()), jnp.zeros(()), confusion * 0), (idx, w))
      loss_sum, correct, count, confusion = loss_sum + ls, correct + cs, count + n, confusion + cm
    return loss_sum / count, correct / count, confusion

  def epoch(state: TrainState, hp, train, val, test):
    """One epoch of a running member; a stopped (early stopping, ASHA) or diverged member skips all its
    compute (a lax.cond on its status: a real branch when members run one after another, lax.map)."""
    return jax.lax.cond(state.status == RUNNING, lambda s: _run_epoch(s, hp, train, val, test),
                        lambda s: _frozen(s, val is not None), state)

  def _frozen(state: TrainState, has_val: bool):
    nan = jnp.full((), jnp.nan, jnp.float32)
    metrics = {"train_loss": nan, "train_accuracy": nan, "test_loss": nan, "test_accuracy": nan, "learning_rate": nan,
               "trained": jnp.zeros((), jnp.bool_), "status": state.status, "epoch": state.epoch,
               **_best_metrics(state), **({"val_loss": nan, "val_accuracy": nan} if has_val else {})}
    return state, metrics

  def _best_metrics(state: TrainState):
    """(the val_* metrics and best_val_accuracy exist only when a validation split selects)"""
    return {"best_epoch": state.best_epoch, "best_loss": state.best_loss, "best_accuracy": state.best_accuracy,
            "best_test_loss": state.best_test_loss, "best_val_accuracy": state.best_val_accuracy}

  def _run_epoch(state: TrainState, hp, train, val, test):
    """The epoch of a running member (the caller's lax.cond freezes the others)."""
    running = jnp.ones((), jnp.bool_)
    dims = hp.get("dims")
    member_seed = seed_of(state.key)  # seeds by hashing (layers.derive): no threefry in the epoch
    shuffle_seed = derive(derive(member_seed, 1), state.epoch)
    dropout_seed = derive(member_seed, 2)

    def step_fn(carry, batch, x, y, lengths, tx, net):
      params, opt_state, ok, loss_sum, w_sum, step, hit_sum = carry
      idx, w = batch
      xb, yb, lb = x[idx], y[idx], None if lengths is None else lengths[idx]

      def loss_fn(p):
        logits = logits_fn(p, xb, lb, dims, use_dropout, hp["dropout"], derive(dropout_seed, step), net)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        return (ce * w).sum() / jnp.maximum(w.sum(), 1.0), ((jnp.argmax(logits, -1) == yb) * w).sum()

      (loss, hits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
      params, opt_state = optim.apply(tx, grads, opt_state, params)
      ok = ok & jnp.isfinite(loss)
      return (params, opt_state, ok, loss_sum + loss * w.sum(), w_sum + w.sum(), step + 1, hit_sum + hits), None

    def train_loop(carry, batch_size, net):
      tx = make_tx(hp, state.step, state.plateau, batch_size)
      full = carry
      if net is not model:  # a narrower branch: the leading blocks of the parameters and optimizer state
        x0, _, l0 = train[0]
        shape = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)
        like = jax.eval_shape(lambda x, l, d: net.init({"params": jax.random.PRNGKey(0)}, x, l, dims=d)["params"],
                              shape(x0[:1]), None if l0 is None else shape(l0[:1]), jax.tree.map(shape, dims))
        carry = (_cut(carry[0], like), _cut(carry[1], jax.eval_shape(tx.init, like))) + carry[2:]
      for b, (x, y, lengths) in enumerate(train):
        idx, w = _batches(derive(shuffle_seed, b), x.shape[0], batch_size)
        carry, _ = jax.lax.scan(lambda c, bt: step_fn(c, bt, x, y, lengths, tx, net), carry, (idx, w))
      if net is not model:
        carry = (_paste(full[0], carry[0]), _paste(full[1], carry[1])) + carry[2:]
      return carry

    carry = (state.params, state.opt_state, running, jnp.zeros(()), jnp.zeros(()), state.step, jnp.zeros(()))
    if len(branches) == 1:
      carry = train_loop(carry, branches[0][0], nets[0])
    else:  # shape and batch size as data: each member runs the loop of its own branch
      carry = jax.lax.switch(hp["branch"], [functools.partial(train_loop, batch_size=b, net=n)
                                            for (b, _), n in zip(branches, nets)], carry)
    params, opt_state, ok, loss_sum, w_sum, step, hit_sum = carry
    # the divergence guard, once per epoch: a member whose loss or parameters became non-finite keeps the
    # parameters and optimizer state it had at the start of this epoch, and is marked diverged
    ok = ok & _all_finite(params)
    params, opt_state, step = _where(ok, (params, opt_state, step), (state.params, state.opt_state, state.step))
    diverged = ~ok
    train_loss = jnp.where(diverged, jnp.nan, loss_sum / jnp.maximum(w_sum, 1.0))
    train_acc = jnp.where(diverged, jnp.nan, hit_sum / jnp.maximum(w_sum, 1.0))  # (on the batches as trained)

    test_loss, test_acc, test_conf = evaluate(params, test, dims)
    test_loss = jnp.where(jnp.isfinite(test_loss), test_loss, jnp.inf)
    if val is None:  # data.validation_fraction=0: selection on the test set
      val_loss, val_acc, sel_loss = None, jnp.zeros((), jnp.float32), test_loss
    else:
      val_loss, val_acc, _ = evaluate(params, val, dims)
      val_loss = sel_loss = jnp.where(jnp.isfinite(val_loss), val_loss, jnp.inf)
    epoch_no = state.epoch + 1
    improved = running & ~diverged & (sel_loss < state.best_loss - es_delta)
    _, new_plateau = plateau.update(updates=jnp.zeros(()), state=state.plateau, value=sel_loss)
    bad = jnp.where(improved, 0, state.bad_epochs + 1)
    status = jnp.where(diverged, DIVERGED, state.status)
    if es_patience > 0:
      status = jnp.where(running & ~diverged & (bad >= es_patience), STOPPED_EARLY, status)
    new = TrainState(
        params=params, opt_state=opt_state, plateau=new_plateau,
        best_params=_where(improved, params, state.best_params),
        best_loss=jnp.where(improved, sel_loss, state.best_loss),
        best_accuracy=jnp.where(improved, test_acc, state.best_accuracy),
        best_test_loss=jnp.where(improved, test_loss, state.best_test_loss),
        best_val_accuracy=jnp.where(improved, val_acc, state.best_val_accuracy),
        best_confusion=jnp.where(improved, test_conf, state.best_confusion),
        best_epoch=jnp.where(improved, epoch_no, state.best_epoch),
        epoch=epoch_no, step=step, bad_epochs=bad, status=status, key=state.key)
    lr_of = lambda b: optim.learning_rate(schedule, hp, new.plateau, new.step, steps_of[b] * int(config.epochs))
    lr_now = lr_of(sizes[0]) if len(sizes) == 1 or schedule.name != "cosine" else jax.lax.switch(
        hp["branch"], [functools.partial(lr_of, b) for b, _ in branches])
    metrics = {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss,
               "test_accuracy": test_acc, "learning_rate": lr_now, "trained": running, "status": new.status,
               "epoch": new.epoch, **_best_metrics(new)}
    if val is not None:
      metrics.update(val_loss=val_loss, val_accuracy=val_acc)
    return new, metrics

  return Program(init=init, epoch=epoch, evaluate=evaluate, model=model, steps_per_epoch=steps_per_epoch)


def param_count(params) -> int:
  return int(sum(math.prod(x.shape) for x in jax.tree.leaves(params)))
