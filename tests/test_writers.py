"""The metric writers of a run: JSON lines and TensorBoard event files."""
from __future__ import annotations

import json
import math

from mlexp.io.writers import JsonlWriter, TensorBoard, to_json
from tiny import read_tensorboard


def test_scalars_survive_hparams_and_a_resumed_writer_in_the_same_second(tmp_path):
  """Event files are named by the second: the HParams writer and a second (resumed) writer must not
  overwrite the scalars already written."""
  tb = TensorBoard(str(tmp_path))
  tb.write_scalars("seed_0", 1, {"loss/train": 1.0, "loss/test": float("nan")})
  tb.flush()
  tb.write_hparams("seed_0", {"seed": 0, "model": "mlp"}, {"hparam/test_loss": 0.5})
  tb.close()
  tb = TensorBoard(str(tmp_path))
  tb.write_scalars("seed_0", 2, {"loss/train": 2.0})
  tb.write_hparams("seed_0", {"seed": 0, "model": "mlp"}, {"hparam/test_loss": 0.25})
  tb.close()
  tags = read_tensorboard(str(tmp_path / "seed_0"))
  assert tags["loss/train"] == {1: 1.0, 2: 2.0}
  assert "loss/test" not in tags  # non-finite values are left out
  assert "hparam/test_loss" in tags


def test_jsonl_is_strict_json_and_truncates_on_resume(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  w = JsonlWriter(path)
  for e in (1, 2, 3):
    w.write({"epoch": e, "train_loss": float("nan") if e == 3 else 1.0 / e, "test_loss": float("inf")})
  w.close()
  w = JsonlWriter(path, truncate_after_epoch=2)
  w.write({"epoch": 3, "train_loss": 0.1, "test_loss": 0.2})
  w.close()

  def strict(line):
    return json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))

  rows = [strict(l) for l in open(path)]
  assert [r["epoch"] for r in rows] == [1, 2, 3]
  assert rows[0]["test_loss"] == "inf" and rows[2]["train_loss"] == 0.1
  assert json.loads(to_json({"a": math.nan, "b": [-math.inf]})) == {"a": None, "b": ["-inf"]}
