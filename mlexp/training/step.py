"""One epoch's training of a running member: its shuffled batches, the training step, the loop over the
length buckets (a `lax.scan` over each bucket's batches), and the divergence guard.

Branches (batch size and widths as data, for a group whose members differ in batch size or run at narrower
widths than the group's): the loop is traced once per branch and each member takes its own (a `lax.switch`
on `hp["branch"]`). A narrower branch trains the leading blocks of the member's parameters and optimizer
state (`cut`; a padded unit's entries stay zero either way) and writes them back (`paste`). Every member
trains exactly as its own config (its batches, dropout masks and schedule). A real branch when members run
one after another (lax.map, CPU); vmapped, every branch runs for every member.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from mlexp.config.hparams import OPTIMIZER_FAMILY
from mlexp.models.layers import derive, hash_uniform, seed_of
from mlexp.training import optim


def batches(seed, n: int, batch_size: int):
  """Shuffled indices [S, B] covering all n examples once, and weights (0 on the wrap-around fill). The order
  sorts a hash of (seed, index): one sort, no threefry rounds in the compiled epoch."""
  steps = -(-n // batch_size)
  perm = jnp.argsort(hash_uniform(seed, jnp.arange(n)))
  idx = jnp.concatenate([perm, perm[: steps * batch_size - n]]) if steps * batch_size > n else perm
  w = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
  return idx.reshape(steps, batch_size), w.reshape(steps, batch_size)


def apply_model(net, params, x, lengths, dims, train=False, dropout_rate=0.0, dropout_seed=None):
  """The logits of `net` (a flax module) for a batch; train=True: with dropout."""
  return net.apply({"params": params}, x, lengths, train=train, dropout_rate=dropout_rate, dims=dims,
                   dropout_seed=dropout_seed)


def where(pred, new, old):
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def all_finite(tree):
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def cut(tree, like):
  """The leading block of every leaf of `tree` with the shape of the matching leaf of `like` (padded units sit at
  the end of each axis, so a narrower program's arrays are prefixes of a wider one's)."""
  return jax.tree.map(lambda a, s: a[tuple(slice(0, n) for n in s.shape)], tree, like)


def paste(full, part):
  """`full` with `part` written over its leading blocks (the inverse of cut; the rest stays as it was)."""
  return jax.tree.map(lambda f, p: p if f.shape == p.shape else f.at[tuple(slice(0, n) for n in p.shape)].set(p),
                      full, part)


def train_step(carry, batch, x, y, lengths, *, net, tx, dims, use_dropout, dropout_rate, dropout_seed):
  """One optimizer step on the batch (indices, weights) of bucket (x, y, lengths). carry: (params, opt_state,
  ok, loss sum, weight sum, step, hit sum); ok turns False on a non-finite loss."""
  params, opt_state, ok, loss_sum, w_sum, step, hit_sum = carry
  idx, w = batch
  xb, yb, lb = x[idx], y[idx], None if lengths is None else lengths[idx]

  def loss_fn(p):
    logits = apply_model(net, p, xb, lb, dims, use_dropout, dropout_rate, derive(dropout_seed, step))
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
    return (ce * w).sum() / jnp.maximum(w.sum(), 1.0), ((jnp.argmax(logits, -1) == yb) * w).sum()

  (loss, hits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  params, opt_state = optim.apply(tx, grads, opt_state, params)
  ok = ok & jnp.isfinite(loss)
  return (params, opt_state, ok, loss_sum + loss * w.sum(), w_sum + w.sum(), step + 1, hit_sum + hits), None


def train_buckets(carry, train, *, net, narrower: bool, tx, batch_size: int, shuffle_seed, **step):
  """The epoch's steps over every bucket of the train split, at `batch_size`. narrower: `net` is a narrower
  branch's model (its parameters and optimizer state: the leading blocks of the carry's)."""
  full = carry
  if narrower:
    x0, _, l0 = train[0]
    shape = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)
    like = jax.eval_shape(lambda x, l, d: net.init({"params": jax.random.PRNGKey(0)}, x, l, dims=d)["params"],
                          shape(x0[:1]), None if l0 is None else shape(l0[:1]), jax.tree.map(shape, step["dims"]))
    carry = (cut(carry[0], like), cut(carry[1], jax.eval_shape(tx.init, like))) + carry[2:]
  for b, (x, y, lengths) in enumerate(train):
    idx, w = batches(derive(shuffle_seed, b), x.shape[0], batch_size)
    carry, _ = jax.lax.scan(lambda c, bt: train_step(c, bt, x, y, lengths, net=net, tx=tx, **step), carry, (idx, w))
  if narrower:
    carry = (paste(full[0], carry[0]), paste(full[1], carry[1])) + carry[2:]
  return carry


def train_epoch(state, hp, train, running, *, model, nets, branches, optimizer: optim.EpochOptimizer,
                use_dropout: bool):
  """The training part of a running member's epoch, then the divergence guard -> (params, opt_state, step,
  diverged, train loss, train accuracy). branches: (batch size, fields, optimizer name or None) each, `nets` their models (`model`:
  the group's own widths); branches that differ only in an optimizer of one family share a loop (optim.mixed)."""
  dims = hp.get("dims")
  member_seed = seed_of(state.key)  # seeds by hashing (layers.derive): no threefry in the epoch
  shuffle_seed = derive(derive(member_seed, 1), state.epoch)
  dropout_seed = derive(member_seed, 2)

  def run(carry, batch_size, net, names):
    kind = None if names is None else kinds[hp["branch"]]
    tx = optimizer.tx(hp, state.step, state.plateau, batch_size, names, kind)
    return train_buckets(carry, train, net=net, narrower=net is not model, tx=tx, batch_size=batch_size,
                         shuffle_seed=shuffle_seed, dims=dims, use_dropout=use_dropout, dropout_rate=hp["dropout"],
                         dropout_seed=dropout_seed)

  # one training loop per (batch size, sizes, optimizer family); members of one family's optimizers share it
  # (optim.mixed: sgd / momentum, adam / adamw differ in float knobs only)
  key = lambda b, f, o: (b, repr(sorted(f.items())), OPTIMIZER_FAMILY.get(o))  # noqa: E731
  loops = {}  # (batch size, sizes, optimizer family) -> (its model, the optimizers of its branches)
  for (b, f, o), n in zip(branches, nets):
    loops.setdefault(key(b, f, o), (n, []))[1].extend([o] if o else [])
  loop_of = [list(loops).index(key(*br)) for br in branches]
  several = isinstance(optimizer.name, tuple)
  kinds = jnp.asarray([optimizer.name.index(o) if several and o else 0 for _, _, o in branches], jnp.int32)
  carry = (state.params, state.opt_state, running, jnp.zeros(()), jnp.zeros(()), state.step, jnp.zeros(()))
  fns = [functools.partial(run, batch_size=b, net=n, names=tuple(names) if several else None)
         for (b, _, _), (n, names) in loops.items()]
  if len(fns) == 1:
    carry = fns[0](carry)
  else:  # shape and batch size as data: each member runs the loop of its own branch
    carry = jax.lax.switch(jnp.asarray(loop_of, jnp.int32)[hp["branch"]], fns, carry)
  return guard(state, carry)


def guard(state, carry):
  """The divergence guard, once per epoch: a member whose loss or parameters became non-finite keeps the
  parameters and optimizer state it had at the start of this epoch, and is marked diverged (nan train loss
  and accuracy)."""
  params, opt_state, ok, loss_sum, w_sum, step, hit_sum = carry
  ok = ok & all_finite(params)
  params, opt_state, step = where(ok, (params, opt_state, step), (state.params, state.opt_state, state.step))
  diverged = ~ok
  train_loss = jnp.where(diverged, jnp.nan, loss_sum / jnp.maximum(w_sum, 1.0))
  train_acc = jnp.where(diverged, jnp.nan, hit_sum / jnp.maximum(w_sum, 1.0))  # (on the batches as trained)
  return params, opt_state, step, diverged, train_loss, train_acc
