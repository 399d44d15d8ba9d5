from __future__ import annotations

import pytest

from fake_workdirs import make_single, make_sweep


@pytest.fixture
def sweep_dir(tmp_path):
  return make_sweep(tmp_path / "sweep")


@pytest.fixture
def single_dir(tmp_path):
  return make_single(tmp_path / "single")
