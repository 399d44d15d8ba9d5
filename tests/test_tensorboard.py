"""TensorBoard as a user reads it (tensorboard's own EventAccumulator): one point per epoch after a resume,
train accuracy, and HParams rows of numeric fields, one per single run and one per sweep trial; the
console's end-of-run line of the extra test sets and its lines when output is not a terminal."""
from __future__ import annotations

import dataclasses
import io
import math
import os

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hp_meta

import tiny
from mlexp.io import progress
from mlexp.io.writers import TensorBoard, epoch_scalars


def accumulate(run_dir) -> EventAccumulator:
  ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
  ea.Reload()
  return ea


def steps(run_dir, tag) -> list:
  return [(s.step, round(s.value, 5)) for s in accumulate(run_dir).Scalars(tag)]


def session(run_dir):
  """(hparams as Python values, metric tag -> last value) of the HParams session in run_dir."""
  ea = accumulate(run_dir)
  ssi = hp_meta.parse_session_start_info_plugin_data(ea.PluginTagToContent("hparams")[hp_meta.SESSION_START_INFO_TAG])
  hp = {k: getattr(v, v.WhichOneof("kind")) for k, v in ssi.hparams.items()}
  return hp, {t: ea.Scalars(t)[-1].value for t in ea.Tags()["scalars"]}


def has_session(run_dir) -> bool:
  try:
    return bool(accumulate(run_dir).PluginTagToContent("hparams"))
  except KeyError:  # (no summary of the hparams plugin in run_dir)
    return False


def records(seed, epochs, scale=1.0):
  return [{"seed": seed, "epoch": e, "train_loss": scale / e, "train_accuracy": 0.1 * e, "test_loss": float("inf"),
           "test_accuracy": scale * 0.05 * e} for e in epochs]


def test_a_resume_leaves_exactly_one_point_per_epoch(tmp_path):
  """What a killed process can leave, per run, and what the resume and the next writes make of it."""
  tb = TensorBoard(str(tmp_path))
  before = {0: range(1, 6),  # trained past the checkpoint (epoch 3): 4 and 5 are orphans
            1: range(1, 3),  # epoch 3 was in metrics.jsonl but not yet flushed here
            2: range(1, 3),  # written twice (what an older resume left)
            3: range(1, 3)}  # no records kept (a sweep group trained again from its first epoch)
  for seed, epochs in before.items():
    for r in records(seed, epochs) + (records(seed, epochs) if seed == 2 else []):
      tb.write_scalars(f"seed_{seed}", r["epoch"], epoch_scalars(r))
  files = lambda s: sorted(os.listdir(tmp_path / f"seed_{s}"))
  untouched = files(1)
  # (killed: not closed)
  tb = TensorBoard(str(tmp_path))
  tb.resume(records(0, range(1, 4)) + records(1, range(1, 4)) + records(2, range(1, 3)), lambda r: f"seed_{r['seed']}")
  assert set(untouched) < set(files(1))  # only the missing point was added, in a new file
  assert [s for s, _ in steps(tmp_path / "seed_0", "loss/train")] == [1, 2, 3]
  for r in records(0, range(4, 6), scale=2.0) + records(3, range(1, 3), scale=2.0):  # training goes on
    tb.write_scalars(f"seed_{r['seed']}", r["epoch"], epoch_scalars(r))
  tb.close()

  assert steps(tmp_path / "seed_0", "loss/train") == [(1, 1.0), (2, 0.5), (3, round(1 / 3, 5)), (4, 0.5), (5, 0.4)]
  assert steps(tmp_path / "seed_1", "accuracy/train") == [(1, 0.1), (2, 0.2), (3, 0.3)]
  assert steps(tmp_path / "seed_2", "accuracy/test") == [(1, 0.05), (2, 0.1)]
  assert steps(tmp_path / "seed_3", "loss/train") == [(1, 2.0), (2, 1.0)]
  assert "loss/test" not in accumulate(tmp_path / "seed_0").Tags()["scalars"]  # inf is left out
  # a second resume with nothing to mend writes nothing
  n = {s: files(s) for s in range(4)}
  TensorBoard(str(tmp_path)).resume(records(1, range(1, 4)), lambda r: f"seed_{r['seed']}")
  assert {s: files(s) for s in range(4)} == n


def test_hparams_session_is_replaced_and_keeps_types(tmp_path):
  tb = TensorBoard(str(tmp_path))
  tb.write_scalars("run", 1, {"loss/train": 1.0})
  tb.write_hparams("run", {"a": 1, "b": 0.5, "c": "x", "d": True, "e": None, "f": (1, 2)}, {"hparam/m": 0.5})
  tb.write_hparams("run", {"a": 2, "b": 0.5, "c": "x", "d": True}, {"hparam/m": 0.75, "hparam/nan": math.nan})
  tb.close()
  hp, metrics = session(tmp_path / "run")
  assert hp == {"a": 2.0, "b": 0.5, "c": "x", "d": True}  # the second session replaced the first
  assert metrics == {"loss/train": 1.0, "hparam/m": 0.75}  # the scalars stay; non-finite metrics are left out


# ---------------------------------------------------------------- a single run, interrupted and resumed


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
  """A 2-seed tiny image run with moved / rotated test sets, killed in epoch 3 after its metrics were written
  but before its checkpoint, then resumed to the end (4 epochs)."""
  from mlexp.training import trainer
  ds = tiny.image_dataset()
  ds = dataclasses.replace(ds, extra_tests={"moved": ds.test, "rotated": ds.test})
  config = tiny.config("mlp", **{"checkpoint.enabled": True, "epochs": 4, "seeds": 2})
  workdir = str(tmp_path_factory.mktemp("tb") / "run")
  mp = pytest.MonkeyPatch()
  mp.setattr(trainer, "load_data", lambda c: ds)
  real = trainer.CheckpointHook.after_epoch

  def killed(self, run, e, m, dt):
    if e == 3:
      raise KeyboardInterrupt
    real(self, run, e, m, dt)

  mp.setattr(trainer.CheckpointHook, "after_epoch", killed)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(config, workdir, stream=io.StringIO())
  first = steps(os.path.join(workdir, "tensorboard", "seed_0"), "loss/train")
  mp.setattr(trainer.CheckpointHook, "after_epoch", real)
  out = io.StringIO()
  summary = trainer.train_and_evaluate(config, workdir, stream=out)
  mp.undo()
  return config, workdir, summary, out.getvalue(), first


def test_a_resumed_run_has_one_point_per_epoch_and_train_accuracy(resumed_run):
  config, workdir, _, text, first = resumed_run
  assert [s for s, _ in first] == [1, 2, 3]  # epoch 3 was on disk, past the checkpoint of epoch 2
  assert "resuming from the checkpoint of epoch 2" in text
  for seed in (0, 1):
    ea = accumulate(os.path.join(workdir, "tensorboard", f"seed_{seed}"))
    assert {"loss/train", "accuracy/train", "loss/test", "accuracy/test", "learning_rate"} <= set(ea.Tags()["scalars"])
    for tag in ea.Tags()["scalars"]:
      assert [s.step for s in ea.Scalars(tag)] == [1, 2, 3, 4], tag
    assert all(0.0 <= s.value <= 1.0 for s in ea.Scalars("accuracy/train"))
    assert not has_session(os.path.join(workdir, "tensorboard", f"seed_{seed}"))  # the session is apart
  assert sorted(os.listdir(os.path.join(workdir, "tensorboard"))) == ["hparams", "seed_0", "seed_1"]


def test_a_single_run_writes_one_hparams_row_of_its_knobs(resumed_run):
  config, workdir, summary, _, _ = resumed_run
  hp, metrics = session(os.path.join(workdir, "tensorboard", "hparams"))
  assert hp["model"] == "mlp" and hp["data"] == config.data.name and hp["optimizer.name"] == "sgd"
  assert hp["model.units.layers"] == 1.0 and hp["model.units[0]"] == 8.0  # a tuple as numbers, not a category
  assert hp["optimizer.learning_rate"] == 0.5 and hp["optimizer.log10_learning_rate"] == pytest.approx(math.log10(0.5))
  assert hp["batch_size"] == config.batch_size and hp["epochs"] == 4 and hp["seeds"] == 2 and hp["seed"] == 0
  assert hp["schedule.name"] == "constant" and hp["param_count"] > 0
  assert metrics["hparam/accuracy/test"] == pytest.approx(summary["mean"]["test_accuracy"], abs=1e-6)
  assert metrics["hparam/accuracy/test_moved"] == pytest.approx(summary["mean"]["test_accuracy/moved"], abs=1e-6)
  assert {"hparam/loss/test", "hparam/loss/train", "hparam/epochs_run", "hparam/accuracy/test_rotated"} <= set(metrics)
  assert min(metrics) == "hparam/accuracy/test"  # the first metric: the one the parallel coordinates colour by
  assert not [t for t in metrics if not t.startswith("hparam/")]  # no curve's last point as a metric


def test_console_prints_extra_test_sets_and_lines_without_carriage_returns(resumed_run):
  _, _, summary, text, _ = resumed_run
  moved = 100 * summary["mean"]["test_accuracy/moved"]
  assert f"extra test sets (best epoch of each model): moved {moved:.2f}% ± " in text and "rotated " in text
  assert "\r" not in text and text.count("[epoch 4/4]") == 1
  out = io.StringIO()  # a file or a pipe: the Python API's bar becomes one line per epoch
  with progress.use("bar"):
    p = progress.Progress(2, stream=out)
  p.update(1, "loss 1", 0.5)
  p.update(2, "loss 0.5", 0.5)
  assert p.mode == "lines" and "\r" not in out.getvalue() and out.getvalue().count("\n") == 2


# ---------------------------------------------------------------- a sweep: one row per trial


def test_a_sweep_writes_one_hparams_row_per_trial_with_log10_fields(tmp_path):
  """2 trials (loguniform learning rate) x 2 seeds: 2 HParams rows, mean over seeds; 4 runs of curves."""
  import mlexp
  from mlexp.sweeps.runner import run_sweep
  from mlexp.sweeps.space import loguniform
  c = mlexp.get_config("sweeps/mlp", smoke=True)
  c.data.max_train, c.data.max_test, c.eval.transforms = 64, 64, ()
  c.model.units, c.batch_size, c.epochs, c.seeds = (8, 4), 32, 2, 2
  c.sweep.space = (loguniform("optimizer.learning_rate", 1e-3, 1e-1),)
  c.sweep.num_trials, c.sweep.mode = 2, "full"
  summary = run_sweep(c, str(tmp_path / "w"), stream=io.StringIO())
  rows = summary["runs"] if "runs" in summary else None
  logdir = tmp_path / "w" / "tensorboard"
  assert sorted(os.listdir(logdir)) == ["trial_000", "trial_000_seed_0", "trial_000_seed_1", "trial_001",
                                        "trial_001_seed_0", "trial_001_seed_1"]
  for t in (0, 1):
    for s in (0, 1):
      run = logdir / f"trial_{t:03d}_seed_{s}"
      assert not has_session(run)  # per-seed curves, no per-seed row
      assert [p.step for p in accumulate(run).Scalars("accuracy/train")] == [1, 2]
    hp, metrics = session(logdir / f"trial_{t:03d}")
    lr = hp["optimizer.learning_rate"]
    assert isinstance(lr, float) and 1e-3 <= lr <= 1e-1
    assert hp["optimizer.log10_learning_rate"] == pytest.approx(math.log10(lr))
    assert hp["model.units.layers"] == 2.0 and hp["model.units[1]"] == 4.0 and hp["seeds"] == 2
    mine = [r for r in (rows or []) if r["trial"] == t]
    if mine:
      mean = sum(r["test_accuracy"] for r in mine) / len(mine)
      assert metrics["hparam/accuracy/test"] == pytest.approx(mean, abs=1e-6)
