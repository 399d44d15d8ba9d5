"""Loading workdirs into DataFrames."""
import os

import pandas as pd
import pytest

from mlexp import results as R


def test_load_sweep_restores_types(sweep_dir):
  df = R.load(sweep_dir)
  assert len(df) == 12 * 2
  assert df["trial"].dtype.kind == "i" and df["param_count"].dtype.kind == "i"
  assert df["model.hidden"].dtype.kind == "i" and df["optimizer.learning_rate"].dtype.kind == "f"
  assert set(df["status"]) == {"completed", "diverged"}
  spec = R.load_sweep_spec(sweep_dir)
  assert [f["name"] for f in R.swept_fields(df, spec)] == ["model.hidden", "optimizer.learning_rate"]


def test_load_single_run(single_dir):
  df = R.load(single_dir)
  assert list(df["seed"]) == [0, 1, 2] and (df["trial"] == 0).all()
  for c in ("status", "epochs_run", "best_epoch", "best_test_loss", "test_accuracy", "train_loss", "param_count",
            "wall_s", "test_accuracy/moved", "test_accuracy/rotated"):
    assert c in df.columns, c
  assert df["wall_s"].sum() == pytest.approx(30.0)
  assert R.load_sweep_spec(single_dir) is None


def test_load_metrics_maps_inf_to_nan(sweep_dir):
  m = R.load_metrics(sweep_dir)
  assert {"trial", "seed", "epoch", "train_loss", "test_loss", "test_accuracy"} <= set(m.columns)
  diverged = m[(m["trial"] == 11) & (m["epoch"] >= 3)]
  assert diverged["test_loss"].isna().all()


def test_categorical_bool_field_restored(tmp_path, sweep_dir):
  df = pd.read_csv(os.path.join(sweep_dir, "results.csv"))
  df["model.conv_front"] = ["True", "False"] * (len(df) // 2)
  df.to_csv(os.path.join(sweep_dir, "results.csv"), index=False)
  out = R._restore_types(df, [dict(name="model.conv_front", scale="categorical")])
  assert out["model.conv_front"].dtype == bool


def test_missing_file_message(tmp_path):
  with pytest.raises(FileNotFoundError, match="summary.json not found: WORKDIR should be an mlexp workdir"):
    R.load(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="not a directory"):
    R.load(str(tmp_path / "nope"))


def test_report_header_splits_the_wall_time():
  from mlexp.report import render
  h = render.header({"kind": "sweep", "wall_s": 100.0, "times": {"compile_s": 20.0, "train_s": 70.0,
                                                                  "eval_s": 2.0, "write_s": 1.0}}, {}, None, ".")
  total = dict(h["facts"])["Total time"]
  assert "compile 20" in total and "training 70" in total and "evaluation 2" in total and "writing 1" in total


def test_report_header_split_adds_up_or_says_why_it_overlaps():
  from mlexp.report import render
  facts = lambda times, wall: dict(render.header({"kind": "sweep", "wall_s": wall, "times": times}, {}, None,  # noqa
                                                 ".")["facts"])["Total time"]
  rest = facts({"compile_s": 20.0, "train_s": 70.0, "eval_s": 2.0, "write_s": 1.0}, 100.0)
  assert "other 7" in rest  # 93 s of parts in 100 s: the rest named
  over = facts({"compile_s": 38.2, "train_s": 56.9, "eval_s": 0.0, "write_s": 0.0}, 69.2)  # the header
  assert "together 95.1 s, more than the total" in over and "25.9 s of the compile seconds overlapped" in over
  assert "other" not in facts({"compile_s": 30.0, "train_s": 70.0}, 100.0)


def test_train_s_is_the_time_column_and_its_method_is_stated():
  import pandas as pd
  from mlexp.report import tables
  r = pd.DataFrame({"trial": [0, 0, 1, 1], "seed": [0, 1, 0, 1], "test_accuracy": [0.9, 0.91, 0.8, 0.82],
                    "wall_s": [5.0, 5.0, 5.0, 5.0], "train_s": [1.0, 1.2, 8.0, 8.4],
                    "train_s_method": ["measured", "measured", "measured x own/padded work"] * 1 + ["measured"]})
  assert tables.time_column(r) == "train_s"
  tt = tables.trial_table(r)
  assert list(tt["time_s"]) == [1.1, 8.2] and list(tt["wall_s"]) == [5.0, 5.0]
  note = tables.time_note(r)
  assert "train_s" in note and "measured inside the shared program" in note and "scaled to its own sizes" in note
  old = r.drop(columns=["train_s", "train_s_method"])
  assert tables.time_column(old) == "wall_s" and "equal share" in tables.time_note(old)
