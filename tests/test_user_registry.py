"""A class registered anew under the same reference (a notebook cell run again) is read anew: its spec, fields
and parameter count are the new class's, not a cached copy of the old one's."""
from __future__ import annotations

import flax.linen as nn
import ml_collections

from mlexp.models import specs, user

REF = "__main__:RegistryNet"


def _net(width: int, field: str):
  """A flax Module class named RegistryNet with one int field `field` (default 3) and a hidden layer of `width`."""
  def __call__(self, x, *, train):
    return nn.Dense(self.num_classes)(nn.Dense(width)(x.reshape(x.shape[0], -1)))
  body = {"__annotations__": {"num_classes": int, field: int}, field: 3, "__module__": "__main__",
          "__qualname__": "RegistryNet", "__call__": nn.compact(__call__)}
  return type("RegistryNet", (nn.Module,), body)


def _count(ref):
  spec = specs.spec(ref)
  m = ml_collections.ConfigDict({"kind": ref, **spec.defaults})
  return spec.count(m, (4,), 2), set(spec.defaults)


def test_a_class_registered_again_is_read_again():
  before = user.generation()
  user.register(REF, _net(5, "a"))
  n1, fields1 = _count(REF)
  user.register(REF, _net(7, "b"))
  n2, fields2 = _count(REF)
  assert user.generation() == before + 2
  assert (n1, n2) == (4 * 5 + 5 + 5 * 2 + 2, 4 * 7 + 7 + 7 * 2 + 2)
  assert (fields1, fields2) == ({"a"}, {"b"})
