"""`--show` / `mlexp.show`: every field with its value, source, comment and allowed values; no data, no JAX."""
from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys

import pytest

import mlexp
from mlexp.config import base_config, sweep_block
from mlexp.config import fields as F
from mlexp.config.show import _leaves, baseline_line, describe, fmt, sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name: str, arg=None):
  spec = importlib.util.spec_from_file_location(f"_show_{name.replace('/', '_')}", os.path.join(REPO, "configs",
                                                                                               f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg) if arg else mod.get_config()


def line_of(text: str, field: str) -> str:
  return next(l for l in text.splitlines() if l[3:].startswith(f"{field} = "))


@pytest.mark.parametrize("kind,data", [("mlp", "mnist_5k"), ("cnn", "mnist_5k"), ("gru", "japanese_vowels"),
                                       ("linear", "japanese_vowels"), ("mlp", "synthetic_images"),
                                       ("gru", "synthetic_sequences")])
def test_every_field_has_a_comment_in_the_one_table(kind, data):
  c = base_config(kind, data)
  c.sweep = sweep_block(())
  missing = [p for p, _ in _leaves(c) if not F.comment(p)]
  assert not missing


def test_show_of_mlp_lists_every_field_with_value_source_and_allowed_values():
  c = load("mlp")
  text = describe(c, flags=["optimizer.learning_rate"], title="configs/mlp.py")
  assert "!!python" not in text
  for path, _ in _leaves(c):
    assert f" {path} = " in text, path
  assert "(256, 256)" in line_of(text, "model.units") and " spec " in line_of(text, "model.units")
  assert " image_config " in line_of(text, "epochs") and " image_config " in line_of(text, "schedule.patience")
  assert " flag " in line_of(text, "optimizer.learning_rate")
  assert "sgd | momentum | adam | adamw | rmsprop" in line_of(text, "optimizer.name")
  assert "constant | plateau | cosine" in line_of(text, "schedule.name")
  assert "mnist_5k | " in line_of(text, "data.name") and "mlp" in line_of(text, "model.kind")
  assert "plateau" in line_of(text, "schedule.factor") and "('moved', 'rotated')" in line_of(text, "eval.transforms")
  assert "None (= 0 for adam)" in line_of(text, "optimizer.weight_decay")
  assert "baseline: image_config" in text and "unchanged" in text


def test_sources_of_a_sequence_config_and_a_sweep():
  s = sources(load("gru"))
  assert s["optimizer.learning_rate"] == "tuned" and s["model.hidden"] == "spec"
  assert s["batch_size"] == "sequence_config" and s["optimizer.name"] == "default"
  sw = load("sweeps/mlp")
  assert sources(sw)["sweep.mode"] == "default" and sources(sw)["schedule.name"] == "file"
  line = baseline_line(sw)  # base_config's defaults against the shipped baseline: said in one line
  assert "differs from image_config" in line and "epochs 10 (baseline 15)" in line
  assert "schedule.patience 5 (baseline 2)" in line
  assert "      choice('model.units[0]', 16, 32, 64, 128, 256, 512, 1024)" in describe(sw).splitlines()


def test_values_are_written_as_flags_take_them():
  assert fmt((512,)) == "(512,)" and fmt((256, 256)) == "(256, 256)" and fmt(("moved",)) == "('moved',)"
  assert fmt("adam") == "adam" and fmt("") == "''" and fmt(1e-3) == "0.001" and fmt(None) == "None"


def test_mlexp_show_prints():
  out = io.StringIO()
  c = mlexp.get_config("gru", smoke=True)
  c.optimizer.name = "momentum"
  mlexp.show(c, file=out)
  text = out.getvalue()
  assert "model.hidden = 16" in text and "None (= 0.9 for momentum)" in text
  assert "differs from sequence_config" in text and "epochs 2 (baseline 30)" in text
  out = io.StringIO()
  mlexp.show("sweeps/gru", file=out)  # a name, as get_config takes it
  assert out.getvalue().startswith("sweeps/gru: model gru on japanese_vowels (a sweep)")


def test_cli_show_exits_0_without_jax_and_help_points_to_it():
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  p = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlexp.main", "--config=configs/mlp.py",
                      "--config.model.units=512", "--show"], cwd=REPO, env=env, capture_output=True, text=True,
                     timeout=120)
  assert p.returncode == 0, p.stderr[-2000:]
  imported = [l.rsplit("|", 1)[-1].strip() for l in p.stderr.splitlines() if l.startswith("import time:")]
  assert not [m for m in imported if m.split(".")[0] in ("jax", "jaxlib", "flax", "optax", "tensorflow")]
  assert "model.units = (512,)" in p.stdout and "flag" in line_of(p.stdout, "model.units")
  warning = [l for l in p.stderr.splitlines() if l.startswith("mlexp: warning:")]
  assert len(warning) == 1 and "'(512,)'" in warning[0] and "one layer" in warning[0]
  h = subprocess.run([sys.executable, "-m", "mlexp.main", "--help"], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=120)
  assert h.returncode == 0 and "--show" in h.stdout + h.stderr and "--config.<field>" in h.stdout + h.stderr
