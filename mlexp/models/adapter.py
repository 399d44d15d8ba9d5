"""A user's flax Module behind the call mlexp's programs make of its built-in models
(`apply(variables, x, lengths, train=, dropout_rate=, dims=, dropout_seed=)`), and its parameter count and
contract check (a trace of init and a training call on the data's shape). The parameters are the module's own,
so the saved parameters fit the user's class as it is. mlexp/models/user.py reads the class.
"""
from __future__ import annotations

import functools
import os

from mlexp.config.checks import ConfigError
from mlexp.models.user import first_line, generation, info as _info, line_in


class Rate:
  """The `dropout_rate` a user's module receives: the member's rate, a traced scalar (vmapped over trials), that
  flax's own `nn.Dropout(rate)` accepts. nn.Dropout asks `rate == 0.0` / `rate == 1.0` to skip work; a traced
  value cannot answer in Python, so equality with a number is False (a mask is always drawn: with rate 0 it
  keeps everything, the same result) and arithmetic goes to the array (`1.0 - rate` is the keep probability)."""

  def __init__(self, value):
    self.value = value

  def __jax_array__(self):
    return self.value

  def __eq__(self, other):
    return False if isinstance(other, (int, float)) else NotImplemented

  def __ne__(self, other):
    return True if isinstance(other, (int, float)) else NotImplemented

  __hash__ = object.__hash__

  def __repr__(self):
    return "Rate(vmapped dropout rate)"


def _forward(op):
  def f(self, *args):
    return getattr(self.value, op)(*args)
  return f


for _op in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
            "__neg__", "__lt__", "__le__", "__gt__", "__ge__"):
  setattr(Rate, _op, _forward(_op))


class Adapter:
  """A user's module behind the call of mlexp's programs. The module is built at the first call, when the data's
  shape is known (for `input_shape` / `num_features`); `train` turns flax's dropout on with the step's rng."""

  def __init__(self, ref: str, kwargs: dict, num_classes: int):
    self.info, self.kwargs, self.num_classes = _info(ref), dict(kwargs), int(num_classes)
    self.ref = ref

  def module(self, x):
    shape = tuple(int(d) for d in (x.shape[2:] if self.info.sequence else x.shape[1:]))
    data = {"num_classes": self.num_classes, "input_shape": shape, "num_features": shape[-1] if shape else 1}
    kw = {**self.kwargs, **{k: data[k] for k in self.info.data_fields}}
    return self.info.cls(**kw)

  def _args(self, x, lengths):
    return (x, lengths) if self.info.sequence else (x,)

  def _dropout(self, dropout_rate):
    if self.info.dropout_default is None:
      return {}
    return {"dropout_rate": dropout_rate if isinstance(dropout_rate, (int, float)) else Rate(dropout_rate)}

  def init(self, rngs, x, lengths=None, dims=None, **_):
    import jax
    key = rngs["params"] if isinstance(rngs, dict) else rngs
    return self.module(x).init({"params": key, "dropout": jax.random.fold_in(key, 1)}, *self._args(x, lengths),
                               train=False, **self._dropout(0.0))

  def apply(self, variables, x, lengths=None, *, train=False, dropout_rate=0.0, dims=None, dropout_seed=None):
    import jax
    rngs = None
    if train:
      rngs = {"dropout": jax.random.PRNGKey(0 if dropout_seed is None else dropout_seed)}
    return self.module(x).apply(variables, *self._args(x, lengths), train=bool(train), rngs=rngs,
                                **self._dropout(dropout_rate))

  def clone(self, **_):
    return self


def build(m, num_classes: int, stacked: bool = False) -> Adapter:
  kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in m.items() if k not in ("kind", "dropout")}
  if _info(m.kind).dropout_default is None and "dropout" in m:
    kw["dropout"] = m.dropout
  return Adapter(m.kind, kw, num_classes)


@functools.lru_cache(maxsize=256)
def _probe(ref: str, kw_json: str, feature_shape: tuple, num_classes: int, _generation: int) -> int:
  import json

  import jax
  import jax.numpy as jnp
  import ml_collections
  m = ml_collections.ConfigDict({"kind": ref, **json.loads(kw_json)})
  model = build(m, num_classes)
  i = model.info
  x = jax.ShapeDtypeStruct((2, 3, *feature_shape) if i.sequence else (2, *feature_shape), jnp.float32)
  lengths = jax.ShapeDtypeStruct((2,), jnp.int32) if i.sequence else None
  what = f"{i.cls.__qualname__} ({ref.rpartition(':')[0]})"
  shape_words = f"x [2, 3, {', '.join(map(str, feature_shape))}] with lengths [2]" if i.sequence else (
      f"x [2, {', '.join(map(str, feature_shape))}]")
  try:
    variables = jax.eval_shape(lambda a, l: model.init(jax.random.PRNGKey(0), a, l), x, lengths)
    extra = sorted(set(variables) - {"params"})
    if extra:
      raise ConfigError("model.kind", ref, f"{what} has variables {', '.join(extra)} besides params; mlexp "
                        "trains params only (no BatchNorm running statistics: use nn.LayerNorm, or "
                        "BatchNorm(use_running_average=True))")
    out = jax.eval_shape(lambda v, a, l: model.apply(v, a, l, train=True, dropout_seed=jnp.uint32(0)),
                         variables, x, lengths)
  except ConfigError:
    raise
  except Exception as e:  # noqa: BLE001  (whatever the user's module raises becomes one line)
    file = ref.rpartition(":")[0]
    raise ConfigError("model.kind", ref, f"{what} failed on {shape_words}: {type(e).__name__}: "
                      f"{first_line(e)}{line_in(e, os.path.abspath(file)) if file.endswith('.py') else ''}") from None
  if not hasattr(out, "shape") or tuple(out.shape) != (2, num_classes):
    got = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
    raise ConfigError("model.kind", ref, f"{what} returned {got} for {shape_words}; it must return logits "
                      f"[batch, num_classes] = (2, {num_classes})")
  return int(sum(int(l.size) for l in jax.tree.leaves(variables.get("params", {}))))


def count(m, feature_shape, num_classes: int) -> int:
  """The module's parameter count, found by tracing init and a training call on the data's shape (no compile);
  ConfigError when the module fails on it or returns other than [batch, num_classes]."""
  import json
  kw = {k: v for k, v in m.items() if k != "kind"}
  if _info(m.kind).sequence:  # (callers pass a sequence's [time, channels] or [channels])
    feature_shape = tuple(feature_shape)[-1:]
  return _probe(m.kind, json.dumps(kw, sort_keys=True, default=list), tuple(int(d) for d in feature_shape),
                int(num_classes), generation())
