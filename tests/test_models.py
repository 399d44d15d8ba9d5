"""The model zoo: output shapes, padding invariance of the sequence models, unroll and dropout knobs."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tiny
from mlexp.models import build_model

B = 4

VARIANTS = {
    "mlp": ("mlp", {}),
    "cnn": ("cnn", {}),
    "cnn_valid_stride2": ("cnn", {"model.padding": "VALID", "model.strides": 2, "model.filters": (2,), "model.pool": 0}),
    "gru_last": ("gru", {}),
    "gru_mean": ("gru", {"model.readout": "mean"}),
    "gru_conv_last": ("gru", {"model.conv_filters": 2}),
    "gru_conv_mean": ("gru", {"model.conv_filters": 2, "model.readout": "mean"}),
    "lstm_last": ("lstm", {}),
    "lstm_mean": ("lstm", {"model.readout": "mean"}),
    "lstm_conv_last": ("lstm", {"model.conv_filters": 2, "model.conv_kernel": 5}),
    "lstm_conv_mean": ("lstm", {"model.conv_filters": 2, "model.readout": "mean"}),
    "linear": ("linear", {}),
}
SEQUENCE_VARIANTS = [v for v, (k, _) in VARIANTS.items() if k in ("gru", "lstm", "linear")]


def _inputs(kind, seed=0, steps=tiny.T):
  rng = np.random.default_rng(seed)
  if kind in ("mlp", "cnn"):
    return jnp.asarray(rng.normal(size=(B, tiny.HW, tiny.HW, 1)), jnp.float32), None
  lengths = np.array([steps, 1, 3, 2][:B], np.int32)
  x = rng.normal(size=(B, steps, tiny.C)).astype(np.float32)
  x[np.arange(steps)[None, :] >= lengths[:, None]] = 0.0
  return jnp.asarray(x), jnp.asarray(lengths)


@functools.lru_cache(maxsize=None)
def _built(variant):
  """(model, params, jitted eval apply) of one variant, built once per session."""
  kind, overrides = VARIANTS[variant]
  model = build_model(tiny.config(kind, **overrides).model, tiny.CLASSES)
  x, lengths = _inputs(kind)
  params = model.init({"params": jax.random.PRNGKey(1)}, x, lengths)["params"]
  apply = jax.jit(lambda p, x, l: model.apply({"params": p}, x, l))
  return model, params, apply


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_output_shape_is_batch_by_classes(variant):
  kind, _ = VARIANTS[variant]
  model, params, apply = _built(variant)
  x, lengths = _inputs(kind, seed=2)
  logits = apply(params, x, lengths)
  assert logits.shape == (B, tiny.CLASSES)
  assert logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits))
  # different inputs give different logits (the model looks at its input)
  x2, _ = _inputs(kind, seed=3)
  assert not np.allclose(apply(params, x2, lengths), logits)


@pytest.mark.parametrize("variant", ["gru_conv_mean", "lstm_conv_last"])
def test_conv_front_end_adds_parameters(variant):
  _, params, _ = _built(variant)
  _, plain, _ = _built(variant.replace("_conv", ""))
  assert "conv_kernel" in params and "conv_kernel" not in plain
  assert set(plain) <= set(params)


def _pad(x, lengths, extra, junk_seed=None):
  """x [B, T, C] padded with `extra` more steps; with junk_seed, every step at t >= length is random junk."""
  x = np.concatenate([np.asarray(x), np.zeros((x.shape[0], extra, x.shape[2]), np.float32)], axis=1)
  if junk_seed is not None:
    pad = np.arange(x.shape[1])[None, :] >= np.asarray(lengths)[:, None]
    junk = np.random.default_rng(junk_seed).normal(0.0, 100.0, size=x.shape).astype(np.float32)
    x = np.where(pad[..., None], junk, x)
  return jnp.asarray(x)


@pytest.mark.parametrize("variant", SEQUENCE_VARIANTS)
@settings(max_examples=8, deadline=None, derandomize=True)
@given(lengths=st.lists(st.integers(1, tiny.T), min_size=B, max_size=B), seed=st.integers(0, 2**16))
def test_padding_and_junk_beyond_the_length_never_change_logits(variant, lengths, seed):
  kind, _ = VARIANTS[variant]
  _, params, apply = _built(variant)
  lengths = jnp.asarray(lengths, jnp.int32)
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(B, tiny.T, tiny.C)).astype(np.float32)
  x[np.arange(tiny.T)[None, :] >= np.asarray(lengths)[:, None]] = 0.0
  ref = apply(params, jnp.asarray(x), lengths)
  for extra, junk in ((7, None), (0, seed + 1), (7, seed + 2)):
    out = apply(params, _pad(x, lengths, extra, junk), lengths)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5, err_msg=f"extra={extra} junk={junk}")


@pytest.mark.parametrize("variant", ["lstm_conv_mean"])
def test_each_sequence_is_classified_as_if_alone_and_unpadded(variant):
  """A batch of padded sequences gives each one the logits it gets alone, at exactly its length."""
  kind, _ = VARIANTS[variant]
  model, params, apply = _built(variant)
  x, lengths = _inputs(kind, seed=5)
  batch = apply(params, x, lengths)
  for i, n in enumerate(np.asarray(lengths)):
    alone = model.apply({"params": params}, x[i:i + 1, :n], lengths[i:i + 1])
    np.testing.assert_allclose(alone[0], batch[i], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_unroll_does_not_change_results(kind):
  variant = f"{kind}_last"
  _, params, apply = _built(variant)
  x, lengths = _inputs(kind, seed=4)
  m4 = build_model(tiny.config(kind, **{"model.unroll": 4}).model, tiny.CLASSES)
  np.testing.assert_allclose(m4.apply({"params": params}, x, lengths), apply(params, x, lengths),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["mlp", "cnn", "gru_last"])
def test_dropout_only_acts_in_training(variant):
  kind, _ = VARIANTS[variant]
  model, params, apply = _built(variant)
  x, lengths = _inputs(kind, seed=6)
  ev = apply(params, x, lengths)
  key = {"dropout": jax.random.PRNGKey(0)}
  no_drop = model.apply({"params": params}, x, lengths, train=True, dropout_rate=0.0, rngs=key)
  drop = model.apply({"params": params}, x, lengths, train=True, dropout_rate=jnp.float32(0.5), rngs=key)
  np.testing.assert_allclose(no_drop, ev, rtol=1e-5, atol=1e-6)
  assert not np.allclose(drop, ev, atol=1e-4)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_first_layer_apart_is_compute_only(cell):
  """model.first_apart runs the first recurrent layer before the layer scan at its input's width: the same
  parameters and the same logits as the one-scan layout (for a GRU / LSTM of its own sizes)."""
  import jax
  import jax.numpy as jnp
  from mlexp.models.rnn.model import RNNClassifier
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 6, 3)), jnp.float32)
  lengths = jnp.asarray([6, 3, 2, 6])
  one = RNNClassifier(5, cell=cell, hidden=8, layers=3)
  apart = one.clone(first_apart=True)
  params = one.init({"params": jax.random.PRNGKey(0)}, x, lengths)["params"]
  assert jax.tree.structure(params) == jax.tree.structure(
      apart.init({"params": jax.random.PRNGKey(0)}, x, lengths)["params"])
  np.testing.assert_allclose(apart.apply({"params": params}, x, lengths), one.apply({"params": params}, x, lengths),
                             rtol=1e-5, atol=1e-6)
