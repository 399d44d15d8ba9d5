"""Small building blocks shared by the models: activations, width-stable initialisers, unit masks, dropout.

Width padding (mlexp.sweeps.widths): a group may hold members of different widths, padded to one bucket
width. Three rules make a padded member train exactly the model its config names:

* parameters of padded units are initialised to exactly zero (`unit_mask` rows and columns), and
  padded activations are multiplied by the unit mask, so their gradients, optimizer updates (weight
  decay included) and values stay exactly zero and never reach an active unit;
* initialisation is prefix-stable: element (i, j) of a kernel is a hash of the layer's seed and (i, j)
  alone (`hash_uniform`), with the scale of the true fan-in;
* dropout masks are hashes of the step's seed and the element's indices, so a unit's mask does not depend
  on the padding either.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
}
_TRUNC = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def unit_mask(true_width, padded_width: int, dtype=jnp.float32):
  """[padded_width] 1.0 for the first `true_width` units (None = all), 0.0 for padding."""
  if true_width is None:
    return jnp.ones((padded_width,), dtype)
  return (jnp.arange(padded_width) < true_width).astype(dtype)


def _mix(x):
  """murmur3's 32-bit finaliser: a bijective avalanche of uint32 x."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x85EBCA6B)
  x = x ^ (x >> 13)
  x = x * jnp.uint32(0xC2B2AE35)
  return x ^ (x >> 16)


def seed_of(key) -> jax.Array:
  """A uint32 seed from a JAX PRNG key (its raw words mixed); a uint32 seed is returned as it is."""
  if key.dtype == jnp.uint32 and key.ndim == 0:
    return key
  k = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
  k = k.reshape(-1).astype(jnp.uint32)
  return _mix(k[0] ^ _mix(k[-1] + jnp.uint32(0x9E3779B9)))


def hash_uniform(seed, *index) -> jax.Array:
  """U(0, 1) values, one per element of the broadcast index arrays, each a pure function of (seed, its own
  indices): so a value never depends on how far any axis is padded (counter-based, like threefry, but a
  few integer ops: its compile cost is negligible next to threefry's, which was most of the init program)."""
  h = jnp.asarray(seed, jnp.uint32)
  for n, i in enumerate(index):
    h = _mix(h ^ _mix(jnp.asarray(i).astype(jnp.uint32) + jnp.uint32((0x9E3779B9 * (n + 1)) & 0xFFFFFFFF)))
  return (h >> 8).astype(jnp.float32) * (1.0 / (1 << 24)) + (0.5 / (1 << 24))


def stable_kernel(key, rows: int, inner: tuple, fan_in, row_mask=None, col_mask=None, kind: str = "normal",
                  origin: tuple = ()):
  """A kernel [rows, *inner] whose element (i, ..., j) is a function of the key and its own indices only, so
  it does not depend on how far rows or any inner axis are padded. kind 'normal': lecun normal (truncated to
  2 std, std 1/sqrt(fan_in)); 'uniform': U(+-1/sqrt(fan_in)) (PyTorch's recurrent init). fan_in may be
  traced (a member's true width). origin: per leading axis, the index that counts as 0 (a conv kernel's centre
  tap, so that a k x k kernel is the centre of a larger one with the same values)."""
  shape = (rows,) + tuple(int(d) for d in inner)
  index = [jax.lax.broadcasted_iota(jnp.int32, shape, a) - (int(origin[a]) if a < len(origin) else 0)
           for a in range(len(shape))]
  u = hash_uniform(seed_of(key), *index)
  if kind == "uniform":
    w = 2.0 * u - 1.0
  else:  # inverse CDF of the normal truncated to [-2, 2], as jax.random.truncated_normal
    lo, hi = jax.scipy.special.erf(-2.0 / jnp.sqrt(2.0)), jax.scipy.special.erf(2.0 / jnp.sqrt(2.0))
    w = jnp.sqrt(2.0) * jax.scipy.special.erfinv(lo + (hi - lo) * u) / _TRUNC
  w = w * jax.lax.rsqrt(jnp.asarray(fan_in, jnp.float32))
  if row_mask is not None:
    w = w * row_mask.reshape((rows,) + (1,) * len(inner))
  if col_mask is not None:
    w = w * col_mask
  return w


def dropout(x, rate, key, train: bool):
  """Inverted dropout whose rate may be a traced array (vmapped over trials). A unit's mask is a function of
  the key and its own indices (hash_uniform), so it does not depend on how far its layer is padded."""
  if not train:
    return x
  rate = jnp.asarray(rate, x.dtype)
  keep = 1.0 - rate
  index = [jax.lax.broadcasted_iota(jnp.int32, x.shape, a) for a in range(x.ndim)]
  mask = hash_uniform(seed_of(key), *index) < keep
  return jnp.where(mask, x / jnp.maximum(keep, 1e-6), 0.0)


def time_mask(lengths, steps: int, dtype=jnp.float32):
  """[B, T] 1.0 at valid steps (t < length), 0.0 at padding."""
  return (jnp.arange(steps)[None, :] < lengths[:, None]).astype(dtype)


def masked_mean(x, lengths):
  """Mean over the valid steps of x [B, T, F]; padding never contributes."""
  m = time_mask(lengths, x.shape[1], x.dtype)[..., None]
  return (x * m).sum(axis=1) / jnp.maximum(lengths, 1)[:, None].astype(x.dtype)


def derive(seed, index):
  """The uint32 seed of part `index` (a layer, a step) of seed (a hash, no threefry): a fixed derivation, so
  the same layer gets the same seed whatever the depth or padding of the model around it."""
  return None if seed is None else _mix(jnp.asarray(seed, jnp.uint32) ^ _mix(
      jnp.asarray(index).astype(jnp.uint32) + jnp.uint32(0x7F4A7C15)))


layer_key = derive


def seeds(module, train: bool, dropout_seed=None):
  """(init seed, dropout seed) of a model call: the params rng while initialising; the dropout seed given
  (the training program passes one per step) or made from the dropout rng."""
  base = seed_of(module.make_rng("params")) if module.is_initializing() else None
  if not train:
    return base, None
  return base, (dropout_seed if dropout_seed is not None else seed_of(module.make_rng("dropout")))


def param(module, name: str, init):
  """module's parameter `name`, made by init() (no arguments: the keys are explicit) when initialising.
  (Linen's `self.param` re-traces the initialiser at every apply to check shapes: not wanted here.)"""
  if module.is_initializing():
    return module.param(name, lambda _: init())
  return module.get_variable("params", name)
