"""A compiled call that makes no progress ends the run with a clear message instead of waiting forever."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_watchdog_exits_with_status_3_and_one_line(tmp_path):
  code = ("import time\nfrom mlexp.io.watchdog import watchdog\n"
          "with watchdog(0.2, 'a stuck call'):\n  time.sleep(30)\n")
  p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert p.returncode == 3
  lines = p.stderr.strip().splitlines()
  assert len(lines) == 1 and "a stuck call made no progress" in lines[0] and "run the same command again" in lines[0]


def test_watchdog_is_silent_when_the_block_finishes():
  from mlexp.io.watchdog import watchdog
  with watchdog(5.0, "quick"):
    x = sum(range(10))
  with watchdog(0, "off"):
    x += 1
  assert x == 46


def test_a_run_whose_init_exceeds_the_hang_timeout_stops_with_status_3(tmp_path):
  wd = tmp_path / "w"
  p = subprocess.run([sys.executable, "-m", "mlexp.main", "--config=configs/linear.py:smoke",
                      "--config.hang_timeout_s=0.001", f"--workdir={wd}"], cwd=ROOT, capture_output=True,
                     text=True, timeout=120, env={**os.environ, "MLEXP_COMPILATION_CACHE": ""})
  assert p.returncode == 3, p.stderr[-2000:]
  assert "initialising the models made no progress" in p.stderr
