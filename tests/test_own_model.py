"""Your own flax Module (mlexp/models/user.py, adapter.py): a class in a file next to its config, or defined in a
notebook, trained, swept, resumed, reloaded and predicted like a built-in model; every bad module one line."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mlexp
from mlexp.config import ConfigError, validate
from mlexp.training.trainer import train_and_evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NET = '''
import flax.linen as nn
import jax.numpy as jnp


class SeqNet(nn.Module):
  """Masked mean over time of a Dense layer, dropout as a vmapped knob (dropout_rate)."""
  num_classes: int
  hidden: int = 8

  @nn.compact
  def __call__(self, x, lengths, *, train, dropout_rate=0.0):
    mask = (jnp.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    h = jnp.tanh(nn.Dense(self.hidden)(x))
    h = (h * mask).sum(1) / jnp.maximum(lengths[:, None], 1)
    h = nn.Dropout(dropout_rate)(h, deterministic=not train)
    return nn.Dense(self.num_classes)(h)


class ImgNet(nn.Module):
  """Dense on images; its dropout is a static field; the input shape comes from the data."""
  num_classes: int
  input_shape: tuple = ()
  hidden: int = 8
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, *, train):
    assert x.shape[1:] == tuple(self.input_shape), (x.shape, self.input_shape)
    x = nn.relu(nn.Dense(self.hidden)(x.reshape((x.shape[0], -1))))
    x = nn.Dropout(self.dropout)(x, deterministic=not train)
    return nn.Dense(self.num_classes)(x)
'''

CONFIG = '''
from mlexp.config import base_config, parse_arg, sweep_block
from mlexp.sweeps.space import grid


def get_config(arg=None):
  a = parse_arg(arg, image=False, sweep="")
  c = base_config("models/net.py:ImgNet" if a.image else "models/net.py:SeqNet",
                  "mnist_5k" if a.image else "japanese_vowels")
  c.epochs, c.batch_size, c.data.max_train, c.data.max_test = 3, 32, 64, 32
  c.optimizer.name, c.optimizer.learning_rate, c.schedule.name = "sgd", 0.2, "constant"
  if a.sweep == "lr":
    c.sweep = sweep_block([grid("optimizer.learning_rate", 0.05, 0.2, 0.5)], mode="full")
  if a.sweep == "hidden":
    c.sweep = sweep_block([grid("model.hidden", 4, 8), grid("optimizer.learning_rate", 0.1, 0.3)], mode="full")
  return c
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
  """A student's folder: configs/own.py and models/net.py (the reference is relative to the config file)."""
  root = tmp_path_factory.mktemp("student")
  (root / "models").mkdir()
  (root / "models" / "net.py").write_text(NET)
  (root / "configs").mkdir()
  (root / "configs" / "own.py").write_text(CONFIG)
  (root / "configs" / "models").symlink_to(root / "models")  # relative to the config file's folder
  return root


def config(project, arg=""):
  return mlexp.get_config(str(project / "configs" / "own.py"), **({} if not arg else dict(
      kv.split("=") if "=" in kv else (kv, True) for kv in arg.split(","))))


def quiet(cfg, workdir):
  return train_and_evaluate(cfg, str(workdir), stream=io.StringIO())


def test_base_config_lists_the_class_fields_and_resolves_the_path(project):
  c = config(project)
  assert c.model.kind == f"{project}/configs/models/net.py:SeqNet"
  assert set(c.model.keys()) == {"kind", "hidden", "dropout"} and c.model.hidden == 8 and c.model.dropout == 0.0
  assert c.name == "SeqNet"
  img = config(project, "image=true")
  assert set(img.model.keys()) == {"kind", "hidden", "dropout"}  # input_shape and num_classes come from the data
  validate(c)
  validate(img)


def test_seeds_in_one_program_equal_single_seed_runs(project, tmp_path):
  c = config(project)
  c.seeds, c.model.dropout = 3, 0.2
  together = quiet(c, tmp_path / "three")["runs"]
  assert together[0]["param_count"] == 12 * 8 + 8 + 8 * 9 + 9
  for i in (0, 2):
    one = config(project)
    one.seed, one.model.dropout = i, 0.2
    alone = quiet(one, tmp_path / f"alone{i}")["runs"][0]
    for k in ("best_epoch", "best_test_loss", "test_accuracy", "train_loss"):
      np.testing.assert_allclose(together[i][k], alone[k], rtol=1e-5, err_msg=k)
  assert len({r["best_test_loss"] for r in together}) == 3  # three different models


@pytest.fixture(scope="module")
def sweeps(project, tmp_path_factory):
  from sweep import sweep_util as u
  out = {}
  for name in ("lr", "hidden"):
    w = tmp_path_factory.mktemp(f"sweep_{name}")
    u.run(config(project, f"sweep={name}"), w)
    out[name] = (w, u.read_csv(w / "results.csv"))
  return out


def test_an_lr_grid_is_one_program_and_each_trial_equals_its_config_alone(project, sweeps, tmp_path):
  w, rows = sweeps["lr"]
  assert len(rows) == 3 and len({r["group"] for r in rows}) == 1
  r = rows[1]
  alone = config(project)
  alone.optimizer.learning_rate = float(r["optimizer.learning_rate"])
  got = quiet(alone, tmp_path / "alone")["runs"][0]
  np.testing.assert_allclose(float(r["best_test_loss"]), got["best_test_loss"], rtol=1e-5)
  assert len({r["best_test_loss"] for r in rows}) == 3


def test_a_static_field_gives_a_program_per_value(sweeps):
  w, rows = sweeps["hidden"]
  groups = {}
  for r in rows:
    groups.setdefault(r["group"], set()).add(int(r["model.hidden"]))
  assert sorted(map(sorted, groups.values())) == [[4], [8]]
  counts = {int(r["model.hidden"]): int(r["param_count"]) for r in rows}
  assert counts == {4: 12 * 4 + 4 + 4 * 9 + 9, 8: 12 * 8 + 8 + 8 * 9 + 9}


def test_best_config_reruns_as_it_is_and_predict_after_load(sweeps, tmp_path):
  w, rows = sweeps["hidden"]
  best = json.load(open(w / "summary.json"))["best"]
  proc = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={w}/best_config.py",
                         f"--workdir={tmp_path / 'best'}"], cwd=tmp_path, capture_output=True, text=True,
                        env={**os.environ, "JAX_PLATFORMS": "cpu", "MLEXP_COMPILATION_CACHE": ""}, timeout=300)
  assert proc.returncode == 0, proc.stderr
  rerun = json.load(open(tmp_path / "best" / "summary.json"))
  np.testing.assert_allclose(rerun["runs"][0]["test_accuracy"], best["test_accuracy"], rtol=1e-5)
  run = mlexp.load(tmp_path / "best")
  ds = run.dataset()
  pred = run.predict(ds.test.x, ds.test.lengths)
  assert pred.shape == (len(ds.test.y),)
  np.testing.assert_allclose(np.mean(pred == ds.test.y), rerun["runs"][0]["test_accuracy"], atol=1e-6)


def test_cli_run_is_killed_and_resumes_to_the_same_result(project, tmp_path):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "MLEXP_COMPILATION_CACHE": ""}
  args = [sys.executable, "-u", "-m", "mlexp.main", f"--config={project}/configs/own.py:image=true",
          "--config.epochs=4"]
  full = subprocess.run(args + [f"--workdir={tmp_path / 'full'}"], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=300)
  assert full.returncode == 0, full.stderr
  p = subprocess.Popen(args + [f"--workdir={tmp_path / 'killed'}"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
  for line in p.stdout:
    if "epoch 2/4" in line:
      p.kill()
      break
  p.wait(timeout=60)
  again = subprocess.run(args + [f"--workdir={tmp_path / 'killed'}"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
  assert again.returncode == 0, again.stderr
  a = json.load(open(tmp_path / "full" / "summary.json"))["runs"][0]
  b = json.load(open(tmp_path / "killed" / "summary.json"))["runs"][0]
  for k in ("best_epoch", "best_test_loss", "test_accuracy", "epochs_run"):
    np.testing.assert_allclose(a[k], b[k], rtol=1e-6, err_msg=k)
  epochs = [json.loads(l)["epoch"] for l in open(tmp_path / "killed" / "metrics.jsonl")]
  assert epochs == [1, 2, 3, 4]


NOTEBOOK = '''
import flax.linen as nn, mlexp, numpy as np
from mlexp.config import base_config

class Net(nn.Module):
  num_classes: int
  hidden: int = 8
  @nn.compact
  def __call__(self, x, *, train):
    return nn.Dense(self.num_classes)(nn.relu(nn.Dense(self.hidden)(x.reshape((x.shape[0], -1)))))

c = mlexp.get_config("mlp", smoke=True)   # a built-in's config: model= swaps its model block
c.data.max_train, c.data.max_test, c.eval.transforms, c.epochs, c.batch_size = 64, 32, (), 1, 32
r = mlexp.train(c, W + "/nb", model=Net)
assert r.config.model.kind == "__main__:Net" and r.config.model.hidden == 8, r.config.model
x = r.dataset().test.x[:5]
print("pred", list(mlexp.load(W + "/nb", model=Net).predict(x)) == list(r.predict(x)))
'''


def test_a_notebook_class_trains_and_reloads(tmp_path):
  code = f"W = {str(tmp_path)!r}\n" + NOTEBOOK
  p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                     env={**os.environ, "JAX_PLATFORMS": "cpu", "MLEXP_COMPILATION_CACHE": ""})
  assert p.returncode == 0, p.stderr
  assert "pred True" in p.stdout
  # another process cannot import a notebook's class: one line saying what to pass
  p = subprocess.run([sys.executable, "-c", f"import mlexp; mlexp.load({str(tmp_path / 'nb')!r}).predict(None)"],
                     cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert "model=Net" in p.stderr.strip().splitlines()[-1], p.stderr


BAD = {
    "not_module.py": "class Net:\n  pass\n",
    "signature.py": "import flax.linen as nn\nclass Net(nn.Module):\n  num_classes: int\n"
                    "  def __call__(self, x):\n    return x\n",
    "shape.py": "import flax.linen as nn\nclass Net(nn.Module):\n  num_classes: int\n  @nn.compact\n"
                "  def __call__(self, x, *, train):\n    return nn.Dense(self.num_classes + 1)(x.reshape((x.shape[0], -1)))\n",
    "raises.py": "import flax.linen as nn\nclass Net(nn.Module):\n  num_classes: int\n  @nn.compact\n"
                 "  def __call__(self, x, *, train):\n    return nn.Dense(self.num_classes)(x @ x)\n",
    "batchnorm.py": "import flax.linen as nn\nclass Net(nn.Module):\n  num_classes: int\n  @nn.compact\n"
                    "  def __call__(self, x, *, train):\n    x = nn.BatchNorm(use_running_average=not train)(x)\n"
                    "    return nn.Dense(self.num_classes)(x.reshape((x.shape[0], -1)))\n",
    "broken.py": "import flax.linen as nn\nraise RuntimeError('my bug')\n",
}


@pytest.mark.parametrize("file, words", [
    ("missing.py", ["no file missing.py"]),
    ("not_module.py", ["not a flax.linen.Module"]),
    ("signature.py", ["does not fit the contract", "__call__(self, x, *, train)"]),
    ("shape.py", ["returned (2, 4)", "logits [batch, num_classes] = (2, 3)"]),
    ("raises.py", ["failed on x [2, 6, 6, 1]", "raises.py"]),
    ("batchnorm.py", ["batch_stats", "LayerNorm"]),
    ("broken.py", ["RuntimeError: my bug", "line 2"]),
])
def test_a_bad_module_is_one_line_naming_the_file(tmp_path, monkeypatch, file, words):
  import tiny
  for name, text in BAD.items():
    (tmp_path / name).write_text(text)
  monkeypatch.chdir(tmp_path)
  from mlexp.training import trainer
  monkeypatch.setattr(trainer, "load_data", lambda config: tiny.image_dataset())
  with pytest.raises(ConfigError) as e:
    c = tiny.config("mlp")
    c.model = mlexp.config.model_config(f"{file}:Net")
    validate(c)
    quiet(c, tmp_path / "w")
  msg = str(e.value)
  assert "\n" not in msg and all(w in msg for w in words), msg


def test_unknown_class_field_and_missing_class_name_the_fix(project):
  c = config(project)
  with pytest.raises(ConfigError, match="did you mean .hidden.*fields: dropout, hidden"):
    with c.unlocked():
      c.model.hiden = 3
    validate(c)
  d = config(project)
  d.model.kind = d.model.kind.replace(":SeqNet", ":Nope")
  with pytest.raises(ConfigError, match="has no class Nope; its flax Modules: ImgNet, SeqNet"):
    validate(d)


def test_cli_bad_output_shape_is_one_line_exit_2(tmp_path):
  (tmp_path / "shape.py").write_text(BAD["shape.py"])
  (tmp_path / "cfg.py").write_text(textwrap.dedent('''
      from mlexp.config import base_config
      def get_config():
        c = base_config("shape.py:Net", "mnist_5k")
        c.data.max_train, c.data.max_test, c.epochs, c.batch_size = 64, 32, 1, 32
        return c
      '''))
  p = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={tmp_path}/cfg.py",
                      f"--workdir={tmp_path}/w"], cwd=REPO, capture_output=True, text=True, timeout=300,
                     env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert p.returncode == 2, p.stderr
  lines = p.stderr.strip().splitlines()
  assert len(lines) == 1 and "shape.py" in lines[0] and "(2, 10)" in lines[0], p.stderr


@pytest.mark.parametrize("name", ["attn_gru_config.py", "small_cnn_config.py"])
def test_the_examples_train(name, tmp_path):
  """examples/own_model: the attention GRU and the small CNN a student copies, as their configs run them."""
  c = mlexp.get_config(os.path.join(REPO, "examples", "own_model", name), smoke=True)
  assert c.model.kind.startswith(os.path.join(REPO, "examples", "own_model"))
  s = quiet(c, tmp_path / "w")
  assert s["runs"][0]["status"] == "completed" and s["runs"][0]["param_count"] > 0
  assert os.path.isfile(tmp_path / "w" / "summary.json")
