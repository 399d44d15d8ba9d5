"""Tiny sweep configs for tests/sweep (built from configs/sweeps/mlp.py:smoke, shrunk further)."""
from __future__ import annotations

import csv
import importlib.util
import io
import os

from mlexp.sweeps.space import grid, set_field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCHS = 3
# sgd learning rates; DIVERGING makes the loss non-finite in the first steps
LRS = (0.01, 0.05, 0.2)
DIVERGING = 1e30
REPLACEMENT = 0.1  # a learning rate that trains normally


def load_config_file(path: str, arg: str | None = None):
  spec = importlib.util.spec_from_file_location(f"cfg_{abs(hash(path))}", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg)


def smoke(name: str = "mlp"):
  return load_config_file(os.path.join(ROOT, "configs", "sweeps", f"{name}.py"), "smoke")


def tiny_sweep(space, **overrides):
  """The mlp smoke sweep with a one-layer 8-unit MLP on 64 + 64 MNIST digits, sgd, 3 epochs, mode full."""
  c = smoke("mlp")
  c.data.max_train = 64
  c.data.max_test = 64
  c.eval.transforms = ()
  c.model.units = (8,)
  c.batch_size = 32
  c.epochs = EPOCHS
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.05
  c.checkpoint.enabled = False
  c.sweep.space = tuple(space)
  c.sweep.num_trials = 0
  c.sweep.mode = "full"
  for key, value in overrides.items():
    set_field(c, key, value)
  return c


def lr_sweep(lrs, **overrides):
  return tiny_sweep((grid("optimizer.learning_rate", *lrs),), **overrides)


def two_seed_config():
  """2 learning rates x 2 dropout rates (all vmapped), 2 seeds each, 4 models per group: 2 groups."""
  return tiny_sweep((grid("optimizer.learning_rate", 0.05, 0.2), grid("model.dropout", 0.0, 0.1)),
                    **{"seeds": 2, "sweep.max_group_size": 4})


def run(config, workdir, shard=(0, 1)):
  """Runs a sweep in this process; returns (summary, printed text)."""
  from mlexp.sweeps.runner import SweepRunner
  out = io.StringIO()
  summary = SweepRunner(config, str(workdir), stream=out, shard=shard).run()
  return summary, out.getvalue()


def read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def tensorboard_hparams(run_dir: str):
  """(hparams of the run's session_start_info, its metric tags: the session run's scalars) from its event files."""
  from tensorboardX.proto import plugin_hparams_pb2
  from tiny import events
  hparams, metrics = {}, set()
  for event in events(run_dir):
    for v in event.summary.value:
      if v.HasField("simple_value"):
        metrics.add(v.tag)
      if v.metadata.plugin_data.plugin_name != "hparams":
        continue
      pd = plugin_hparams_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
      if pd.HasField("session_start_info"):
        for k, val in pd.session_start_info.hparams.items():
          hparams[k] = getattr(val, val.WhichOneof("kind"))
      if pd.HasField("experiment"):
        metrics |= {m.name.tag for m in pd.experiment.metric_infos}
  return hparams, metrics
