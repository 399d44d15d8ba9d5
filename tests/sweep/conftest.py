"""Sweeps shared by several tests in tests/sweep (each runs once per session; the tiny MLP programs of
3 and 4 members are compiled once and then come from the session's compilation cache)."""
from __future__ import annotations

import pytest

import sweep_util as u


@pytest.fixture(scope="session")
def lr_sweeps(_session_compile_cache, tmp_path_factory):
  """The grid over sgd learning rates LRS (mode full): with a diverging learning rate, with a normal one in
  its place (the same group size, so the same compiled program), and without it."""
  base = tmp_path_factory.mktemp("lr_sweeps")
  out = {}
  for name, lrs in (("with_diverging", u.LRS + (u.DIVERGING,)), ("replaced", u.LRS + (u.REPLACEMENT,)),
                    ("without", u.LRS)):
    cfg = u.lr_sweep(lrs)
    summary, text = u.run(cfg, base / name)
    out[name] = {"config": cfg, "workdir": str(base / name), "summary": summary, "text": text,
                 "rows": u.read_csv(base / name / "results.csv")}
  return out


@pytest.fixture(scope="session")
def two_seed_sweep(_session_compile_cache, tmp_path_factory):
  wd = tmp_path_factory.mktemp("two_seeds") / "w"
  cfg = u.two_seed_config()
  summary, text = u.run(cfg, wd)
  return {"config": cfg, "workdir": str(wd), "summary": summary, "text": text,
          "rows": u.read_csv(wd / "results.csv")}
