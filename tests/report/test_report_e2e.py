"""End to end: python -m mlexp.report on fake workdirs."""
import os
import subprocess
import sys

import matplotlib.image as mpimg
import pytest

from mlexp.report.__main__ import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read(path):
  with open(path) as f:
    return f.read()


def check_pngs(report_dir, expected):
  pngs = sorted(f for f in os.listdir(report_dir) if f.endswith(".png"))
  assert set(expected) <= set(pngs), pngs
  for p in pngs:
    path = os.path.join(report_dir, p)
    with open(path, "rb") as f:
      assert f.read(8) == PNG_MAGIC
    img = mpimg.imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100
  return pngs


def test_sweep_report(sweep_dir, capsys):
  assert main([sweep_dir, "--top", "5"]) == 0
  out = capsys.readouterr().out.splitlines()
  rep = os.path.join(sweep_dir, "report")
  assert out[0] == os.path.join(rep, "report.html")
  pngs = check_pngs(rep, ["learning_curves.png", "parallel_coordinates.png", "accuracy_vs_model_hidden.png",
                          "accuracy_vs_optimizer_learning_rate.png", "heatmap.png", "accuracy_vs_time.png"])
  assert out[1] == f"{len(pngs)} figures"
  html = read(out[0])
  assert html.count("data:image/png;base64,") == len(pngs)
  assert "mnist_5k" in html and "SYNTHETIC" not in html
  md = read(os.path.join(rep, "report.md"))
  assert "## Findings" in md and "stops improving above 256" in md
  assert "Overfitting after epoch 8" in md and "diverged" in md and "within 1.0 pp of the best" in md
  table = [l for l in md.splitlines() if l.startswith("| ") and "rank" not in l]
  assert len(table) == 5  # --top 5
  for p in pngs:
    assert f"]({p})" in md


def test_single_report_with_extra_tests(single_dir, capsys):
  assert main([single_dir]) == 0
  out = capsys.readouterr().out.splitlines()
  rep = os.path.join(single_dir, "report")
  pngs = check_pngs(rep, ["learning_curves.png", "test_sets.png"])
  assert out[1] == f"{len(pngs)} figures"
  html = read(out[0])
  assert "synthetic_shapes" in html and "WARNING" in html and "SYNTHETIC" in html
  assert html.count("data:image/png;base64,") == len(pngs)
  assert "moved" in html and "rotated" in html
  md = read(os.path.join(rep, "report.md"))
  assert "Overfitting after epoch 8" in md and "mlexp 0.1.0, jax 0.10.2" in md


def test_bad_workdir_exits_2(tmp_path, capsys):
  assert main([str(tmp_path / "missing")]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error:") and "mlexp workdir" in err and len(err.splitlines()) == 1
  assert main([str(tmp_path)]) == 2
  assert "summary.json" in capsys.readouterr().err


def test_cli_help_and_exit_status(tmp_path):
  r = subprocess.run([sys.executable, "-m", "mlexp.report", "--help"], capture_output=True, text=True)
  assert r.returncode == 0 and "WORKDIR" in r.stdout and "--top" in r.stdout
  r = subprocess.run([sys.executable, "-m", "mlexp.report", str(tmp_path)], capture_output=True, text=True)
  assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_sweep_report_categorical_random_search_one_seed(tmp_path, capsys):
  """Bool categorical field, random log-uniform learning rates (no grid, no heatmap), ASHA, 1 seed."""
  import json
  import numpy as np
  import pandas as pd
  from fake_workdirs import make_sweep
  d = make_sweep(tmp_path / "cat", seeds=1)
  df = pd.read_csv(os.path.join(d, "results.csv")).rename(columns={"model.hidden": "model.conv_front"})
  df["model.conv_front"] = df["model.conv_front"] >= 256
  df["optimizer.learning_rate"] = 10 ** np.random.default_rng(0).uniform(-4, -1, len(df))
  df.loc[df["status"] == "diverged", "test_accuracy"] = np.nan
  df.to_csv(os.path.join(d, "results.csv"), index=False)
  spec = dict(fields=[dict(name="model.conv_front", scale="categorical"),
                      dict(name="optimizer.learning_rate", scale="log")], num_trials=12, seeds=1, mode="asha")
  with open(os.path.join(d, "sweep.json"), "w") as f:
    json.dump(spec, f)
  assert main([d]) == 0
  rep = os.path.join(d, "report")
  pngs = check_pngs(rep, ["accuracy_vs_model_conv_front.png", "accuracy_vs_optimizer_learning_rate.png",
                          "parallel_coordinates.png", "accuracy_vs_time.png"])
  assert "heatmap.png" not in pngs
  md = read(os.path.join(rep, "report.md"))
  assert "1 seed" in md and "ASHA" in md and "equal-count bins" in md
  # every field varied at once (and ASHA kept some trials longer): associations with their caveat, never "X matters"
  assert "matters" not in md and "model.conv_front (marginal means" in md
  assert "not the effect of changing model.conv_front alone" in md
  assert "Parameter importance (" in md and "an association, not what changing that field alone would do" in md
