"""Search spaces (pure): expand, set_field / trial_config, scale_of."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from mlexp.config import base_config, sweep_block
from mlexp.sweeps.space import (choice, expand, get_field, grid, loguniform, randint, randint_tuple, scale_of,
                               set_field, trial_config, uniform)


def test_grid_is_the_cartesian_product_in_order():
  space = (grid("model.hidden", 8, 16, 32), grid("optimizer.name", "sgd", "adam"))
  trials = expand(space, num_trials=0)
  assert len(trials) == 6
  assert [(t["model.hidden"], t["optimizer.name"]) for t in trials] == list(
      itertools.product((8, 16, 32), ("sgd", "adam")))


def test_random_draws_times_grid_points():
  space = (grid("model.hidden", 8, 16), loguniform("optimizer.learning_rate", 1e-4, 1e-1),
           uniform("model.dropout", 0.0, 0.5), randint("model.layers", 1, 3), choice("model.readout", "last", "mean"))
  trials = expand(space, num_trials=5, seed=3)
  assert len(trials) == 2 * 5
  for t in trials:
    assert set(t) == {"model.hidden", "optimizer.learning_rate", "model.dropout", "model.layers", "model.readout"}
  # every grid point gets the same draws
  first, second = trials[:5], trials[5:]
  assert {t["model.hidden"] for t in first} == {8} and {t["model.hidden"] for t in second} == {16}
  strip = lambda ts: [{k: v for k, v in t.items() if k != "model.hidden"} for t in ts]
  assert strip(first) == strip(second)
  # draws differ from each other
  assert len({t["optimizer.learning_rate"] for t in first}) == 5


def test_expand_is_deterministic_per_seed():
  space = (loguniform("optimizer.learning_rate", 1e-4, 1e-1), uniform("model.dropout", 0.0, 0.5))
  assert expand(space, 7, seed=1) == expand(space, 7, seed=1)
  assert expand(space, 7, seed=1) != expand(space, 7, seed=2)


def test_expand_accepts_configdict_specs():
  block = sweep_block((grid("model.hidden", 8, 16), uniform("model.dropout", 0.0, 0.5)), num_trials=3)
  assert expand(block.space, 3, 0) == expand((grid("model.hidden", 8, 16), uniform("model.dropout", 0.0, 0.5)), 3, 0)


def test_unknown_kind_is_an_error():
  with pytest.raises(ValueError, match="normal"):
    expand(({"field": "model.dropout", "kind": "normal", "low": 0.0, "high": 1.0},), 2)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(low=st.floats(-100, 100), width=st.floats(1e-6, 100), seed=st.integers(0, 2**31), n=st.integers(1, 20))
def test_uniform_draws_are_within_bounds(low, width, seed, n):
  high = low + width
  for t in expand((uniform("model.dropout", low, high),), n, seed):
    assert low <= t["model.dropout"] <= high
    assert isinstance(t["model.dropout"], float)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(log_low=st.floats(-10, 2), log_width=st.floats(0.01, 8), seed=st.integers(0, 2**31), n=st.integers(1, 20))
def test_loguniform_draws_are_within_bounds(log_low, log_width, seed, n):
  low, high = 10.0 ** log_low, 10.0 ** (log_low + log_width)
  for t in expand((loguniform("optimizer.learning_rate", low, high),), n, seed):
    v = t["optimizer.learning_rate"]
    assert low * (1 - 1e-12) <= v <= high * (1 + 1e-12)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(low=st.integers(-50, 50), width=st.integers(0, 10), seed=st.integers(0, 2**31))
def test_randint_draws_are_integers_within_both_bounds(low, width, seed):
  high = low + width
  vals = [t["model.layers"] for t in expand((randint("model.layers", low, high),), 60, seed)]
  assert all(isinstance(v, int) and low <= v <= high for v in vals)
  if width <= 2:  # with 60 draws, both ends of a small range are drawn (the high end is included)
    assert min(vals) == low and max(vals) == high


@settings(max_examples=40, deadline=None, derandomize=True)
@given(low=st.integers(1, 100), width=st.integers(0, 2000), min_len=st.integers(1, 4), extra=st.integers(0, 3),
       seed=st.integers(0, 2**31))
def test_randint_tuple_draws_respect_bounds_and_lengths(low, width, min_len, extra, seed):
  high, max_len = low + width, min_len + extra
  trials = expand((randint_tuple("model.units", low, high, min_len, max_len),), 60, seed)
  lens = set()
  for t in trials:
    v = t["model.units"]
    assert isinstance(v, tuple) and min_len <= len(v) <= max_len
    assert all(type(u) is int and low <= u <= high for u in v)
    lens.add(len(v))
  if extra <= 2:  # with 60 draws, every length of a short range is drawn (max_len included)
    assert lens == set(range(min_len, max_len + 1))


def test_randint_tuple_is_reproducible_with_the_sweep_seed():
  space = (randint_tuple("model.units", 16, 1024, 1, 3), choice("batch_size", 32, 64, 128))
  assert expand(space, 30, seed=0) == expand(space, 30, seed=0)
  assert expand(space, 30, seed=0) != expand(space, 30, seed=1)
  block = sweep_block(space, num_trials=30)  # as stored in a config (specs become ConfigDicts)
  assert expand(block.space, 30, 0) == expand(space, 30, 0)
  units = [t["model.units"] for t in expand(space, 30, 0)]
  assert len(set(units)) == 30  # widths are drawn independently per layer and per trial
  assert any(len(set(u)) > 1 for u in units if len(u) > 1)


def test_randint_tuple_with_grid_and_trial_config():
  base = base_config("mlp", "mnist_5k")
  space = (grid("optimizer.name", "sgd", "adam"), randint_tuple("model.units", 16, 1024, 1, 3))
  base.sweep = sweep_block(space, num_trials=4)
  trials = expand(base.sweep.space, 4, 0)
  assert len(trials) == 8 and [t["model.units"] for t in trials[:4]] == [t["model.units"] for t in trials[4:]]
  for t in trials:
    c = trial_config(base, t)
    assert c.model.units == t["model.units"] and isinstance(c.model.units, tuple)
    assert c.optimizer.name == t["optimizer.name"]
  assert base.model.units == (256, 256)


def test_randint_tuple_rejects_bad_bounds():
  with pytest.raises(ValueError, match="low"):
    randint_tuple("model.units", 10, 5, 1, 3)
  with pytest.raises(ValueError, match="min_len"):
    randint_tuple("model.units", 16, 64, 0, 3)
  with pytest.raises(ValueError, match="min_len"):
    randint_tuple("model.units", 16, 64, 3, 2)


def test_set_field_on_a_tuple_element():
  c = base_config("mlp", "mnist_5k")
  c.model.units = (256, 256, 128)
  set_field(c, "model.units[1]", 64)
  assert c.model.units == (256, 64, 128) and isinstance(c.model.units, tuple)
  assert get_field(c, "model.units[1]") == 64
  with pytest.raises(ValueError, match="model.units\\[5\\]"):
    set_field(c, "model.units[5]", 1)


def test_set_field_types():
  c = base_config("mlp", "mnist_5k")
  set_field(c, "optimizer.learning_rate", 1)  # an int where a float is expected
  assert c.optimizer.learning_rate == 1.0 and isinstance(c.optimizer.learning_rate, float)
  set_field(c, "model.units", [8, 4])  # a list where a tuple is expected
  assert c.model.units == (8, 4)


@pytest.mark.parametrize("order", ["whole_first", "element_first"])
def test_trial_config_sets_whole_tuple_fields_before_their_elements(order):
  base = base_config("mlp", "mnist_5k")
  base.sweep = sweep_block((choice("model.units", (256, 256), (256, 256, 128)), choice("model.units[0]", 16, 64)))
  items = [("model.units", (256, 256, 128)), ("model.units[0]", 64)]
  trial = dict(items if order == "whole_first" else items[::-1])
  c = trial_config(base, trial)
  assert c.model.units == (64, 256, 128)
  assert "sweep" not in c
  assert "sweep" in base and base.model.units == (256, 256)  # the base is not changed


def test_trial_config_keeps_everything_else():
  base = base_config("gru", "japanese_vowels")
  base.sweep = sweep_block((grid("model.hidden", 8),))
  c = trial_config(base, {"model.hidden": 8, "optimizer.learning_rate": 0.5})
  d, b = c.to_dict(), base.to_dict()
  del b["sweep"]
  assert d["model"].pop("hidden") == 8 and b["model"].pop("hidden") == 64
  assert d["optimizer"].pop("learning_rate") == 0.5
  b["optimizer"].pop("learning_rate")
  # time_members auto is resolved for the trial: off for a search, on for a one_at_a_time study
  assert d.pop("time_members") == "off" and b.pop("time_members") == "auto"
  assert d == b
  base.sweep.algorithm = "one_at_a_time"
  assert trial_config(base, {}).time_members == "on"


@pytest.mark.parametrize("spec,scale", [
    (loguniform("optimizer.learning_rate", 1e-4, 1e-2), "log"),
    (uniform("model.dropout", 0.0, 0.5), "linear"),
    (randint("model.layers", 1, 3), "linear"),
    (grid("model.units[0]", 16, 32, 64, 128, 256), "log"),  # positive numbers spanning >= 16x
    (choice("model.hidden", 16, 64, 256), "log"),
    (grid("model.hidden", 16, 32, 64), "linear"),
    (grid("model.dropout", 0.0, 0.1, 0.5), "linear"),  # zero: no log axis
    (grid("optimizer.name", "sgd", "adam"), "categorical"),
    (choice("model.units", (256, 256), (256, 256, 128)), "categorical"),
    (grid("model.hidden", 64), "categorical"),  # one value
    (grid("data.standardize", True, False), "categorical"),
    (randint_tuple("model.units", 16, 1024, 1, 3), "categorical"),  # shown as strings "(a,b)"
])
def test_scale_of(spec, scale):
  assert scale_of(spec) == scale
  assert scale_of(sweep_block((spec,)).space[0]) == scale  # as stored in a config


def test_a_trial_of_another_model_kind_gets_that_kinds_fields():
  # a study of an LSTM with the knob model.kind gru / linear (the mean-over-time baseline): the linear model has
  # units and no hidden / layers; before, the trial kept the LSTM's block and the sweep was refused
  from mlexp.config import sequence_config, validate
  base = sequence_config("lstm")
  base.model.hidden, base.model.layers, base.model.dropout = 8, 3, 0.2
  lin = trial_config(base, {"model.kind": "linear"})
  assert lin.model.kind == "linear" and tuple(lin.model.units) == () and "hidden" not in lin.model
  validate(lin)
  gru = trial_config(base, {"model.kind": "gru", "model.layers": 1})
  assert (gru.model.kind, gru.model.hidden, gru.model.layers, gru.model.dropout) == ("gru", 8, 1, 0.2)
  assert trial_config(base, {"model.layers": 2}).model.kind == "lstm"
