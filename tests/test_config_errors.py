"""Errors that suggest the fix (flags and sweep spaces), and optimizers that do what their names say."""
from __future__ import annotations

import glob
import os

import pytest

import mlexp
from mlexp import main
from mlexp.config import ConfigError, base_config, image_config, sequence_config, sweep_block, validate
from mlexp.config.hparams import hparams_of
from mlexp.config.overrides import check_flag, check_flags, nearest
from mlexp.sweeps.space import choice, grid, randint, uniform

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def error(c, path, raw):
  with pytest.raises(ConfigError) as e:
    check_flag(c, f"--config.{path}={raw}", path, raw)
  msg = str(e.value)
  assert "\n" not in msg and "<" not in msg and '"' not in msg, msg  # one plain line, no repr of objects
  return msg


@pytest.mark.parametrize("kind,path,raw,words", [
    ("mlp", "lr", "0.1", ["--config.lr=0.1", "did you mean optimizer.learning_rate"]),
    ("mlp", "learning_rate", "0.1", ["did you mean optimizer.learning_rate"]),
    ("mlp", "model.hidden", "128", ["model has no field hidden", "did you mean model.units"]),
    ("gru", "model.units", "(64,)", ["did you mean model.hidden"]),
    ("mlp", "model.unit", "512", ["did you mean model.units"]),
    ("mlp", "scheduler.patience", "3", ["did you mean schedule.patience"]),
    ("mlp", "optimizer", "sgd", ["optimizer is a block: did you mean --config.optimizer.name=sgd"]),
    ("gru", "model", "lstm", ["model is a block: did you mean --config.model.kind=lstm"]),
    ("mlp", "eval", "moved", ["eval is a block; its fields:", "transforms"]),
    ("mlp", "epochs", "ten", ["epochs must be an integer, got 'ten'"]),
    ("mlp", "optimizer.learning_rate", "fast", ["optimizer.learning_rate must be a number, got 'fast'"]),
    ("mlp", "optimizer.momentum", "high", ["optimizer.momentum must be a number, got 'high'"]),
    ("mlp", "checkpoint.enabled", "maybe", ["checkpoint.enabled must be True or False, got 'maybe'"]),
])
def test_flag_errors_suggest_the_fix(kind, path, raw, words):
  c = image_config(kind) if kind in ("mlp", "cnn") else sequence_config(kind)
  msg = error(c, path, raw)
  for w in words:
    assert w in msg, (w, msg)


def test_good_flags_pass_and_a_scalar_tuple_warns_with_the_tuple_syntax():
  c = image_config("mlp")
  argv = ["mlexp", "--config=configs/mlp.py", "--config.epochs=3", "--config.optimizer.momentum=0.9",
          "--config.optimizer.weight_decay", "1e-4", "--config.model.units=(512,256)", "--noconfig.checkpoint.enabled",
          "--config.checkpoint.enabled=false", "--config.eval.transforms=('moved',)"]
  assert check_flags(c, argv) == []
  (w,) = check_flags(c, ["mlexp", "--config.model.units=512"])
  assert "one layer" in w and "model.units=(512,)" in w and "--config.model.units='(512,)'" in w


def test_the_cli_prints_the_line_and_exits_2_before_absl(capsys):
  with pytest.raises(SystemExit) as e:
    main.parse_flags(["mlexp", "--config=configs/mlp.py:smoke", "--config.lr=1e-2"])
  assert e.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err == ["mlexp: error: --config.lr=1e-2: the config has no field lr; did you mean optimizer.learning_rate?"]


def test_nearest_names_across_blocks():
  c = image_config("mlp")
  assert nearest(c, "bs")[0] == "batch_size" and nearest(c, "epoch")[0] == "epochs"
  assert nearest(c, "model.hiden")[0] == "model.units" and nearest(c, "wd")[0] == "optimizer.weight_decay"
  assert "optimizer" not in nearest(c, "optimizer.lr")


def space_error(kind, spec, data="mnist_5k"):
  c = base_config(kind, data)
  c.sweep = sweep_block((spec,))
  with pytest.raises(ConfigError) as e:
    validate(c)
  assert "\n" not in str(e.value)
  return str(e.value)


def test_space_values_of_the_wrong_type_are_named_as_such():
  msg = space_error("mlp", grid("batch_size", 32.5, 64))
  assert "batch_size must be an integer, got 32.5 (a float)" in msg and "does not exist" not in msg
  assert "names no config field 'model.unit'; did you mean model.units" in space_error("mlp", grid("model.unit", (8,)))
  assert "randint" in space_error("gru", uniform("model.hidden", 8, 64), "japanese_vowels")
  assert "must be a string" in space_error("mlp", choice("optimizer.name", "sgd", 1))
  assert "must be a tuple" in space_error("mlp", grid("model.units", 64))


def test_every_shipped_config_validates():
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)):
    c = mlexp.get_config(path)
    validate(c)
  c = base_config("gru", "japanese_vowels")  # int, None-valued float and bool fields take their own types
  c.sweep = sweep_block((randint("model.hidden", 8, 64), grid("optimizer.momentum", 0.5, 0.9),
                         grid("data.standardize", True, False), choice("optimizer.weight_decay", 0, 1e-4)))
  validate(c)


def test_optimizer_defaults_follow_their_names():
  c = image_config("mlp")
  hp = lambda name, **kw: hparams_of(_with(c, name, **kw))  # noqa: E731
  assert hp("sgd")["momentum"] == 0.0 and hp("momentum")["momentum"] == 0.9
  assert hp("sgd", momentum=0.9)["momentum"] == 0.9 and hp("momentum", momentum=0.5)["momentum"] == 0.5
  assert hp("adamw")["weight_decay"] == 0.01 and hp("adam")["weight_decay"] == 0.0
  assert hp("adamw", weight_decay=0.0)["weight_decay"] == 0.0  # set explicitly: kept
  with pytest.raises(ConfigError, match="optimizer.momentum"):
    validate(_with(c, "sgd", momentum=1.5))


def _with(c, name, **kw):
  d = image_config("mlp")
  d.optimizer.name = name
  for k, v in kw.items():
    d.optimizer[k] = v
  return d


def test_sgd_uses_its_momentum():
  import jax.numpy as jnp
  from mlexp.training.optim import make_optimizer
  params, grads = {"w": jnp.ones(3)}, {"w": jnp.ones(3)}

  def two_steps(name, momentum):
    tx = make_optimizer(name, {"learning_rate": 0.1, "weight_decay": 0.0, "momentum": momentum})
    s, p = tx.init(params), params
    for _ in range(2):
      u, s = tx.update(grads, s, p)
      p = {"w": p["w"] + u["w"]}
    return float(p["w"][0])
  assert two_steps("sgd", 0.0) == pytest.approx(1 - 0.2)
  assert two_steps("sgd", 0.9) == pytest.approx(1 - 0.1 - 0.19) == two_steps("momentum", 0.9)


def test_the_linear_model_takes_hidden_units():
  import jax
  import numpy as np
  from mlexp.models import build_model, count_params
  c = sequence_config("linear")
  assert c.model.units == ()
  c.model.units = (8, 4)
  validate(c)
  model = build_model(c.model, 5)
  x, lengths = np.ones((2, 6, 3), np.float32), np.array([6, 2], np.int32)
  params = model.init({"params": jax.random.PRNGKey(0)}, x, lengths)["params"]
  assert sorted(params) == ["dense0", "dense1", "head"]
  assert sum(v.size for v in jax.tree_util.tree_leaves(params)) == count_params(c.model, (3,), 5)
  assert model.apply({"params": params}, x, lengths).shape == (2, 5)
  c.model.units = (0,)
  with pytest.raises(ConfigError, match="model.units"):
    validate(c)


def test_a_config_importing_a_renamed_package_names_the_new_one(tmp_path):
  """mlexp/sweep/ is mlexp/sweeps/ (and mlexp/train/ mlexp/training/): an old config's import says so, in the CLI
  and in the API."""
  import subprocess
  import sys
  cfg = tmp_path / "old.py"
  cfg.write_text("from mlexp.config import image_config\nfrom mlexp.sweep.space import grid\n\n"
                 "def get_config(arg=None):\n  return image_config('mlp')\n")
  with pytest.raises(mlexp.ConfigError, match=r"mlexp.sweep is now mlexp.sweeps \(from mlexp.sweeps.space import"):
    mlexp.get_config(str(cfg))
  p = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={tmp_path / 'w'}"],
                     capture_output=True, text=True, timeout=120)
  assert p.returncode == 2 and "mlexp.sweep is now mlexp.sweeps" in p.stderr, (p.returncode, p.stderr)
  assert len(p.stderr.strip().splitlines()) == 1
