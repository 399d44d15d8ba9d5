"""Lanes (sweeps/balance.py `lanes`, sweeps/executors/local.py): groups narrower than the devices train side by
side, each whole on one device. Which device a group gets is a pure function of the plans; a sweep run in lanes
gives the results of the same sweep run one group after another on the first device; an error inside a lane
ends the sweep with that error (no lane is left training)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

import sweep_util as u
from mlexp.sweeps.balance import lanes

HERE = os.path.dirname(os.path.abspath(__file__))


def plan(gid, members, slots=0, program=""):
  return SimpleNamespace(gid=gid, members=tuple(range(members)), slots=slots, program=program)


def test_only_groups_narrower_than_the_devices_get_a_lane():
  plans = [plan("a", 1), plan("b", 2), plan("c", 1, slots=2), plan("d", 1)]
  assert lanes(plans, 2) == {"a": 0, "d": 1}
  assert lanes(plans, 1) == {}
  assert lanes(plans, 4) == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_chunks_of_one_program_share_a_lane_and_the_load_is_spread():
  plans = [plan("a1", 1, program="A"), plan("a2", 1, program="A"), plan("b", 1, program="B"),
           plan("c", 1, program="C"), plan("d", 1, program="D")]
  got = lanes(plans, 2)
  assert got["a1"] == got["a2"] == 0  # one compile for both chunks
  assert got["b"] == 1 and got["c"] == 1  # the least loaded lane: A holds 2 models
  assert got["d"] == 0
  assert lanes(plans, 2) == got  # deterministic: a rerun places them alike (JAX's cache key holds the device)


LANES = textwrap.dedent("""
  import json, sys
  sys.path.insert(0, {here!r})
  import jax
  assert len(jax.local_devices()) == 2, jax.local_devices()
  import sweep_util as u
  from mlexp.sweeps.space import grid
  from mlexp.training import loop
  used = {{}}

  class Recording(loop.Group):
    def init(self):
      state = super().init()
      devices = {{d.id for d in jax.tree.leaves(state.params)[0].sharding.device_set}}
      used.setdefault(self.config.model.units[0], set()).update(devices)
      return state

  loop.Group = Recording
  out = {{}}
  for mode in ("full", "asha"):
    for lanes in (True, False):
      used.clear()
      # one model a group: four exact widths, one seed
      cfg = u.tiny_sweep((grid("model.units[0]", 4, 6, 8, 10),), **{{"sweep.padding": "none", "sweep.mode": mode,
                                                                   "sweep.lanes": lanes}})
      wd = {workdir!r} + f"/{{mode}}-{{lanes}}"
      u.run(cfg, wd)
      out[f"{{mode}}-{{lanes}}"] = {{"workdir": wd, "used": {{k: sorted(v) for k, v in used.items()}}}}
  broken = u.tiny_sweep((grid("model.units[0]", 4, 6, 8, 10),), **{{"sweep.padding": "none"}})
  real = loop.Group.epoch
  def epoch(self, state):
    if self.config.model.units[0] == 8:
      raise RuntimeError("boom in a lane")
    return real(self, state)
  loop.Group.epoch = epoch
  try:
    u.run(broken, {workdir!r} + "/broken")
    out["broken"] = "no error"
  except RuntimeError as e:
    out["broken"] = str(e)
  print(json.dumps(out))
""")


@pytest.mark.parametrize("mode", ["full", "asha"])
def test_a_sweep_in_lanes_equals_one_group_after_another(lanes_run, mode):
  on, off = lanes_run[f"{mode}-True"], lanes_run[f"{mode}-False"]
  assert sorted({d for ds in on["used"].values() for d in ds}) == [0, 1]  # both devices trained
  assert all(ds == [0] for ds in off["used"].values())
  a = {r["model.units[0]"]: r for r in u.read_csv(os.path.join(on["workdir"], "results.csv"))}
  b = {r["model.units[0]"]: r for r in u.read_csv(os.path.join(off["workdir"], "results.csv"))}
  assert sorted(a) == sorted(b) == ["10", "4", "6", "8"]
  for k in a:
    assert (a[k]["status"], a[k]["epochs_run"], a[k]["best_epoch"]) == (b[k]["status"], b[k]["epochs_run"],
                                                                      b[k]["best_epoch"])
    for col in ("best_test_loss", "test_accuracy", "final_test_loss", "best_val_loss", "train_loss"):
      x, y = float(a[k][col] or "nan"), float(b[k][col] or "nan")
      assert math.isfinite(x) == math.isfinite(y)
      if math.isfinite(y):
        np.testing.assert_allclose(x, y, rtol=1e-5, err_msg=f"{k} {col}")
  lines = lambda run: sorted(json.dumps({k: v for k, v in json.loads(s).items() if not k.endswith("_s")
                                         and k not in ("time", "samples_per_s")}, sort_keys=True)
                             for s in open(os.path.join(run["workdir"], "metrics.jsonl")))
  assert lines(on) == lines(off)  # every epoch's record, in another order


def test_an_error_in_a_lane_ends_the_sweep_with_it(lanes_run):
  assert lanes_run["broken"] == "boom in a lane"


@pytest.fixture(scope="module")
def lanes_run(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("lanes"))
  p = subprocess.run([sys.executable, "-c", LANES.format(here=HERE, workdir=wd)], cwd=u.ROOT,
                     env={**os.environ, "JAX_PLATFORMS": "cpu", "MLEXP_COMPILATION_CACHE": "",
                          "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
                     capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, p.stderr[-3000:]
  return json.loads(p.stdout.strip().splitlines()[-1])
