"""Subprocess checks: a group sharded over 2 (forced host) CPU devices gives the one-device results, and
sweep config errors stop `python -m mlexp.main` before any work with one line and exit status 2."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sweep_util as u

HERE = os.path.dirname(os.path.abspath(__file__))

SHARDED = textwrap.dedent("""
  import json, os, sys
  sys.path.insert(0, {here!r})
  import jax
  assert len(jax.local_devices()) == 2, jax.local_devices()
  import sweep_util as u
  from mlexp.training import loop
  from mlexp.training.loop import member_devices
  used = []

  class Recording(loop.Group):
    def __init__(self, *a, devices=None, **k):
      used.append(len(devices))
      super().__init__(*a, devices=devices, **k)
    def init(self):
      state = super().init()
      used.append(len(jax.tree.leaves(state.params)[0].sharding.device_set))
      return state

  loop.Group = Recording
  u.run(u.lr_sweep(u.LRS + (u.DIVERGING,)), {workdir!r})
  print(json.dumps({{"member_devices_4": len(member_devices(4)), "member_devices_1": len(member_devices(1)),
                    "used": used}}))
""")


def env(**extra):
  return {**os.environ, "JAX_PLATFORMS": "cpu", "MLEXP_COMPILATION_CACHE": "", **extra}


def test_a_group_sharded_over_two_devices_equals_one_device(lr_sweeps, tmp_path):
  wd = str(tmp_path / "w")
  p = subprocess.run([sys.executable, "-c", SHARDED.format(here=HERE, workdir=wd)], cwd=u.ROOT,
                     env=env(XLA_FLAGS="--xla_force_host_platform_device_count=2"), capture_output=True, text=True,
                     timeout=300)
  assert p.returncode == 0, p.stderr[-3000:]
  info = json.loads(p.stdout.strip().splitlines()[-1])
  assert info["member_devices_4"] == 2 and info["member_devices_1"] == 1
  assert info["used"] == [2, 2]  # the group of 4 members was built for, and its state placed on, 2 devices
  sharded = {r["optimizer.learning_rate"]: r for r in u.read_csv(os.path.join(wd, "results.csv"))}
  single = {r["optimizer.learning_rate"]: r for r in lr_sweeps["with_diverging"]["rows"]}
  assert sorted(sharded) == sorted(single)
  for lr, a in sharded.items():
    b = single[lr]
    assert (a["status"], a["epochs_run"], a["best_epoch"]) == (b["status"], b["epochs_run"], b["best_epoch"])
    for col in ("final_test_loss", "best_test_loss", "test_accuracy", "final_test_accuracy", "train_loss"):
      x, y = float(a[col] or "nan"), float(b[col] or "nan")
      if math.isfinite(y):
        np.testing.assert_allclose(x, y, rtol=1e-5, err_msg=f"{lr} {col}")
      else:
        assert not math.isfinite(x), (lr, col)


REORDER = textwrap.dedent("""
  import json, sys
  sys.path.insert(0, {here!r})
  import jax, numpy as np
  assert len(jax.local_devices()) == 2, jax.local_devices()
  import sweep_util as u
  from mlexp.sweeps import execute
  from mlexp.sweeps.plan import plan_sweep
  from mlexp.training import loop, programs
  cfg = u.lr_sweep((0.01, 0.02, 0.05, 0.1), **{{"model.dropout": 0.1}})
  data = loop.DataCache()
  plan = plan_sweep(cfg, data=lambda c: data.get(c)[0], platform=loop.platform())
  assert len(plan.groups) == 1
  p = plan.groups[0]
  ds, splits = data.get(p.config)
  out = {{}}
  for mode in ("kept", "reordered"):
    g = loop.build_group(p.config, ds, splits, list(p.members))
    state = g.init()
    g.compile(state)
    run = loop.Training(g, state, list(p.members))
    loop.train(run, u.EPOCHS, 0, (), until=1)
    # members 2 and 3 cut: both members left running sit in the first device's block
    run.state = g.set_status(run.state, np.array([0, 0, 4, 4]))
    sig = programs.signature((run.state, g.hp, g.keys))
    moved = execute.balance_devices(run) if mode == "reordered" else False
    same = sig == programs.signature((run.state, g.hp, g.keys))  # the compiled program takes it (no recompile)
    running = g.running(run.state).tolist()
    loop.train(run, u.EPOCHS, 1, ())
    params = jax.device_get(run.state.params)
    by_member = {{i: [np.asarray(a[j]).tolist() for a in jax.tree.leaves(params)] for j, i in enumerate(run.pos)}}
    out[mode] = {{"moved": moved, "same_signature": same, "pos": run.pos, "running": running, "params": by_member,
                  "loss": run.records.final_loss.tolist(), "acc": run.records.final_acc.tolist(),
                  "epochs": run.records.epochs_run.tolist(), "status": run.records.status.tolist()}}
  print(json.dumps(out))
""")


def test_running_members_moved_to_an_idle_device_train_as_before(tmp_path):
  """balance_devices spreads two running members from one device's block over both devices; every member's
  training is the same as without the move (its parameters bit for bit)."""
  p = subprocess.run([sys.executable, "-c", REORDER.format(here=HERE)], cwd=u.ROOT,
                     env=env(XLA_FLAGS="--xla_force_host_platform_device_count=2"), capture_output=True, text=True,
                     timeout=300)
  assert p.returncode == 0, p.stderr[-3000:]
  out = json.loads(p.stdout.strip().splitlines()[-1])
  kept, moved = out["kept"], out["reordered"]
  assert not kept["moved"] and moved["moved"]
  assert moved["same_signature"]  # the permuted state keeps its shapes and member sharding
  assert kept["pos"] == [0, 1, 2, 3] and kept["running"] == [True, True, False, False]
  assert moved["running"][:2].count(True) == 1 and moved["running"][2:].count(True) == 1  # one on each device
  assert sorted(moved["pos"]) == [0, 1, 2, 3]
  for key in ("loss", "acc", "epochs", "status"):
    assert kept[key] == moved[key], key
  assert kept["epochs"] == [u.EPOCHS, u.EPOCHS, 1, 1]
  assert kept["params"] == moved["params"]


CONFIG_FILE = textwrap.dedent("""
  from mlexp.config import base_config, sweep_block
  from mlexp.sweeps.space import grid, loguniform

  def get_config(arg=None):
    c = base_config({kind!r}, {data!r})
    c.epochs = 2
    c.data.max_train = 64
    c.data.max_test = 64
    c.sweep = sweep_block(({space}, loguniform("optimizer.learning_rate", 1e-3, 1e-2)), num_trials=2)
    return c
""")

SWEEP_ERRORS = {
    "unknown_field": ("mlp", "mnist_5k", 'grid("model.hiden", 8, 16)', ["model.hiden"]),
    "impossible_value": ("gru", "japanese_vowels", 'grid("model.hidden", 8, 0)', ["model.hidden", "0"]),
    "index_out_of_range": ("mlp", "mnist_5k", 'grid("model.units[2]", 8, 16)', ["model.units[2]"]),
}


@pytest.mark.parametrize("case", list(SWEEP_ERRORS))
def test_sweep_config_errors_stop_before_any_work(case, tmp_path):
  kind, data, space, words = SWEEP_ERRORS[case]
  cfg = tmp_path / f"{case}.py"
  cfg.write_text(CONFIG_FILE.format(kind=kind, data=data, space=space))
  wd = tmp_path / "never_created"
  p = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={wd}"], cwd=u.ROOT,
                     env=env(), capture_output=True, text=True, timeout=120)
  assert p.returncode == 2, (p.stdout, p.stderr)
  lines = p.stderr.strip().splitlines()
  assert len(lines) == 1, p.stderr
  assert lines[0].startswith("mlexp: error:")
  for w in words:
    assert w in lines[0], (w, lines[0])
  assert p.stdout == ""  # nothing loaded or trained
  assert not wd.exists()
