"""train_s (mlexp/sweeps/trial_time.py): each model's own training seconds, from its measured epochs (scaled from
padded sizes to its own by the work estimate), or its estimated share of its group's measured time."""
from __future__ import annotations

import math

import ml_collections
import numpy as np
import pytest

from mlexp.sweeps import trial_time as T
from mlexp.sweeps.plan_types import Member

MNIST = dict(feature_shape=(28, 28, 1), num_classes=10, n_train=3200, n_eval=1800)  # week 1: mnist_5k, val 0.2


def mlp(*units):
  return ml_collections.ConfigDict({"kind": "mlp", "units": tuple(units), "dropout": 0.0})


def gru(hidden=64, layers=2):
  return ml_collections.ConfigDict({"kind": "gru", "hidden": hidden, "layers": layers, "conv_filters": 0,
                                    "conv_kernel": 3})


def epoch(model, batch=64, padded_sizes=None, **kw):
  return T.epoch_seconds(model, padded_sizes, **{**MNIST, **kw}, batch=batch)


def test_estimate_orders_batch_sizes_and_widths_as_single_runs_measured():
  # single runs of the week-1 MLP on this 2-core machine (2 seeds, epochs 2..3, load ~2, docs/sweeps.md "train_s"):
  # batch 4 0.31 s an epoch, batch 128 0.167 s (1.9x); units 16 at batch 4 0.17 s, at batch 64 0.028 s (6x)
  b4, b16, b64, b128 = (epoch(mlp(256, 256), b) for b in (4, 16, 64, 128))
  assert b4 > b16 > b64 > b128
  assert b4 / b128 == pytest.approx(1.9, rel=0.25)
  u16_b4, u16 = epoch(mlp(16, 16), 4), epoch(mlp(16, 16), 64)
  assert u16_b4 / u16 == pytest.approx(6.0, rel=0.25)  # the per-step overhead: a tiny model, 16x the steps
  # units at batch 64: 16 0.028 s, 256 0.18 s; 1024 3.58 s against 256's 0.67 s side by side (both at load ~13)
  assert epoch(mlp(256, 256)) / u16 == pytest.approx(6.4, rel=0.25)
  assert epoch(mlp(1024, 1024)) / epoch(mlp(256, 256)) == pytest.approx(5.3, rel=0.25)


def test_single_run_share_of_seeds_side_by_side_and_one_alone():
  """A single run trains its seeds one after another on each device: 3 seeds on 2 devices are two side by side
  (the shared pace), then one alone (c times faster); seeds that fill the devices share them evenly."""
  assert T.single_run_share(3, 2, 2.0) == pytest.approx((1 + 1 / 2.0) / 3)
  assert T.single_run_share(3, 2, 1.0) == pytest.approx(2 / 3)
  assert T.single_run_share(1, 2, 1.5) == pytest.approx(1 / 1.5)
  for c in (1.0, 1.4, 3.0):
    assert T.single_run_share(4, 2, c) == pytest.approx(0.5) and T.single_run_share(5, 1, c) == 1.0
  assert T.single_run_share(5, 4, 2.0) == pytest.approx((1 + 1 / 2.0) / 5)  # one busy of 4: all of c
  assert T.single_run_share(6, 4, 4.0) == pytest.approx((1 + 1 / 3.0) / 6)  # two busy of 4: 1 + 3 x 2/3 = 3
  # two models measured alike at the shared pace, one faster alone (a wide MLP: more of a free core to use)
  a, b = (T.group_rows([{**row(10, 1.0 * 10, 10, 1.0), "member_contention": c}], [(1.0, 1.0)], 10.0,
                       single=(3, 2))[0]["train_s"] for c in (1.4, 1.9))
  assert a == pytest.approx(10 * (1 + 1 / 1.4) / 3) and b == pytest.approx(10 * (1 + 1 / 1.9) / 3) and b < a
  assert "single run" in T.method_text([T.MEASURED])
  # a program whose models never ran alone (as many on every device) measured no contention: the sweep's median
  seen = {**row(10, 10.0, 10, 1.0), "member_contention": 1.5, "member_contention_n": 4}
  unseen = {**row(10, 10.0, 10, 1.0), "member_contention": 1.0, "member_contention_n": 0}
  rows = [T.group_rows([r], [(1.0, 1.0)], 10.0, single=(3, 2))[0] for r in (seen, unseen)]
  assert rows[1]["train_s"] == pytest.approx(10 * 2 / 3)  # (within its group: c = 1)
  T.assign(rows)  # (the sweep's pass)
  assert [r["train_s"] for r in rows] == pytest.approx([10 * (1 + 1 / 1.5) / 3] * 2)


def test_padding_costs_more_than_the_members_own_sizes():
  own, padded = epoch(mlp(16, 16)), epoch(mlp(16, 16), padded_sizes={"units": (64, 64)})
  assert padded > own
  seq = dict(feature_shape=(26, 12), num_classes=9, n_train=216, n_eval=424)
  assert T.epoch_seconds(gru(16), {"hidden": 64}, **seq, batch=32) > T.epoch_seconds(gru(16), None, **seq, batch=32)
  # depth is data inside a program: layers past a member's own are skipped, so the scan steps are its own
  assert T.epoch_seconds(gru(64, 7), None, **seq, batch=32) > 3 * T.epoch_seconds(gru(64, 1), None, **seq, batch=32)


def row(epochs=10, member_s=0.0, n=0, first=0.0, busy_s=0.0, busy_n=0):
  return {"epochs_run": epochs, "member_s": member_s, "member_epochs": n, "member_first_s": first,
          "member_busy_s": busy_s, "member_busy_n": busy_n}


def test_measured_seconds_are_the_mean_epoch_after_the_first_times_the_epochs():
  # 10 epochs of 0.2 s, the first with 0.3 s of a new program's first run: 2.0 s, not 2.3
  s, how = T.train_seconds(row(10, 0.5 + 9 * 0.2, 10, 0.5), own_s=1.0, padded_s=1.0)
  assert how == T.MEASURED and s == pytest.approx(2.0)
  s, _ = T.train_seconds(row(10, 1.0, 5, 0.2), own_s=1.0, padded_s=1.0)  # resumed: 5 of 10 epochs measured
  assert s == pytest.approx(2.0)
  s, _ = T.train_seconds(row(1, 0.4, 1, 0.4), own_s=1.0, padded_s=1.0)  # one epoch: itself
  assert s == pytest.approx(0.4)


def test_epochs_while_other_programs_compiled_are_left_out_or_corrected():
  # epochs 2..4 while a worker thread compiled (0.3 s: the cores shared), 5..10 alone (0.2 s)
  both = row(10, 0.5 + 3 * 0.3 + 6 * 0.2, 10, 0.5, 3 * 0.3, 3)
  s, how = T.train_seconds(both, own_s=1.0, padded_s=1.0)
  assert how == T.MEASURED and s == pytest.approx(2.0)
  assert T.slowdown([both, row()]) == pytest.approx(1.5)
  only_busy = row(10, 0.5 + 9 * 0.45, 10, 0.5, 9 * 0.45, 9)  # a small group, every later epoch during a compile
  s, how = T.train_seconds(only_busy, own_s=1.0, padded_s=1.0, slow=1.5)
  assert how == T.MEASURED + T.BUSY and s == pytest.approx(3.0)
  rows = T.assign([{**r, "work_own_s": 1.0, "work_padded_s": 1.0, "group_train_s": 1.0, "group_padded_s": 1.0}
                   for r in (both, only_busy)])
  assert [r["train_s"] for r in rows] == pytest.approx([2.0, 3.0])  # the sweep's slowdown, 1.5
  assert "divided by the slowdown" in T.method_text([r["train_s_method"] for r in rows])



def test_without_a_measured_slowdown_the_cpu_share_corrects_models_trained_only_while_a_program_compiled():
  # the week-1 study: the 1024-unit group trains on both devices while the main program compiles (a third thread
  # on 2 cores), and no model trains both ways; its rows carry the CPU share, 1.5
  assert T.cpu_share(2, 2) == pytest.approx(1.5) and T.cpu_share(1, 16) == 1.0 and T.cpu_share(1, 1) == 2.0
  only_busy = row(10, 0.5 + 9 * 0.45, 10, 0.5, 9 * 0.45, 9)
  free = row(10, 0.5 + 9 * 0.2, 10, 0.5)
  rows = [{**r, "work_own_s": 1.0, "work_padded_s": 1.0, "group_train_s": 1.0, "group_padded_s": 1.0,
           "busy_share": T.cpu_share(2, 2)} for r in (free, only_busy)]
  assert T.slowdown(rows) == pytest.approx(1.5)
  assert [r["train_s"] for r in T.assign(rows)] == pytest.approx([2.0, 3.0])
  assert "CPU share" in T.method_text([r["train_s_method"] for r in rows])
  assert T.slowdown([free, only_busy]) == 1.0  # rows of an older sweep: nothing to correct by
  grouped = T.group_rows([free], [(1.0, 1.0)], 2.0, busy_share=1.5)
  assert grouped[0]["busy_share"] == 1.5

def test_padded_members_are_scaled_to_their_own_work():
  s, how = T.train_seconds(row(4, 4.0, 4, 1.0), own_s=0.25, padded_s=1.0)
  assert how == T.SCALED and s == pytest.approx(1.0)


def test_without_a_measurement_the_group_time_is_shared_by_true_work():
  rows = [row(10), row(10), row(5)]
  works = [(1.0, 1.0), (3.0, 3.0), (2.0, 4.0)]  # the third trains at padded sizes (4), its own work 2
  out = T.group_rows(rows, works, group_train_s=60.0)
  assert [r["train_s_method"] for r in out] == [T.ESTIMATED] * 3
  # 10 x 1 + 10 x 3 + 5 x 4 = 60 padded seconds measured as 60: each its own work at that rate
  assert [r["train_s"] for r in out] == pytest.approx([10.0, 30.0, 10.0])
  assert math.isnan(T.train_seconds(row(10), 1.0, 1.0)[0])


def test_member_works_use_true_and_padded_sizes_and_own_batch():
  cfg = ml_collections.ConfigDict({"model": mlp(64, 64).to_dict(), "batch_size": 64, "eval_batch_size": 1000})
  ms = [Member(seed=0, hparams={}, trial=0), Member(seed=0, hparams={}, trial=1, batch_size=4),
        Member(seed=0, hparams={}, trial=2, dims=(("units", (16, 16)),))]
  w = T.member_works(cfg, ms, **MNIST)
  assert w[0][0] == w[0][1] and w[1][0] == w[1][1] and w[1][0] > w[0][0]  # batch 4: more steps, no padding
  assert w[2][0] < w[2][1] == pytest.approx(w[0][0])  # 16 units own, 64 padded
  # a shallower MLP in a deeper program skips the layers past its own depth (a lax.cond): only widths cost
  deep = ml_collections.ConfigDict({**cfg.to_dict(), "model": mlp(64, 64, 64).to_dict()})
  w = T.member_works(deep, [Member(seed=0, hparams={}, trial=0, dims=(("units", (64, 64)),)),
                            Member(seed=0, hparams={}, trial=1, dims=(("units", (16, 16)),),
                                   branch=(("units", (16, 16, 16)),))], **MNIST)
  assert w[0][0] == pytest.approx(w[0][1])  # (64, 64) in (64, 64, 64): its own work
  # (16, 16) in a branch of its sizes: trains at them, evaluates at (64, 64) (the program's, to its depth)
  assert w[1][0] < w[1][1] < T.epoch_seconds(mlp(16, 16), {"units": (64, 64)}, **MNIST, batch=64)


def test_method_text_names_each_method_once():
  text = T.method_text([T.MEASURED, T.MEASURED, T.SCALED, None, ""])
  assert text.count("measured inside the shared program") == 1 and "scaled to its own sizes" in text
  assert T.method_text([]) == ""


def test_members_are_timed_inside_the_program_and_flagged_while_a_group_builds_or_another_trains():
  import tiny
  from mlexp.training import group as G
  from mlexp.training import optim
  cfg = tiny.config("mlp", time_members="on", member_loop="map")
  hp = optim.hparams_of(cfg)
  g = G.Group(cfg, *G.device_splits(tiny.dataset_for("mlp"), 1), tiny.CLASSES,
              [Member(seed=s, hparams=hp, trial=0) for s in range(3)])
  state = g.init()
  state, m, dt = g.epoch(state)
  assert (m["member_s"] > 0).all() and m["member_s"].sum() <= dt and not m["member_busy"].any()
  with G._building():  # (what compile ahead does in a worker thread while a group trains)
    state, m, _ = g.epoch(state)
  assert m["member_busy"].all()
  # the whole epoch ran while the group built: its overlap is its seconds (to the clock's microsecond)
  np.testing.assert_allclose(m["member_overlap_s"], m["member_s"], atol=1e-5)
  assert not m["member_overlap_s"][m["member_s"] == 0].any()
  from mlexp.training import member_clock
  with member_clock.training():  # another group's epoch call (a sweep's groups train side by side in threads)
    state, m, _ = g.epoch(state)
  assert m["member_busy"].all()
  np.testing.assert_allclose(m["member_overlap_s"], m["member_s"], atol=1e-5)
  state, m, _ = g.epoch(state)  # its own epoch call alone is not contention
  assert not m["member_busy"].any() and not m["member_overlap_s"].any()
  state = g.set_status(state, np.array([0, 0, 4]))  # a stopped (cut) member costs nothing and is not timed
  state, m, _ = g.epoch(state)
  assert m["member_s"][2] == 0 and not m["member_busy"].any()
  untimed = G.Group(tiny.config("mlp", time_members="off", member_loop="map"),
                    *G.device_splits(tiny.dataset_for("mlp"), 1), tiny.CLASSES, [Member(seed=0, hparams=hp)])
  assert "member_s" not in untimed.epoch(untimed.init())[1]  # off: no host callback, the program can be cached


def test_layers_skipped_in_a_deeper_program_cost_a_share_of_a_layer():
  # depth as data: a 1-layer member of a 7-layer program measures more than its own model (the week-3 study:
  # 0.68 of the 2-layer baseline there, 0.47 in single runs); the estimate's padded / own ratio carries it, so
  # "measured x own/padded work" takes it off again
  seq = dict(feature_shape=(26, 12), num_classes=9, n_train=216, n_eval=424, batch=32)
  at7 = {"hidden": 64, "layers": 7}
  own1, own2 = T.epoch_seconds(gru(64, 1), None, **seq), T.epoch_seconds(gru(64, 2), None, **seq)
  in1, in2 = T.epoch_seconds(gru(64, 1), at7, **seq), T.epoch_seconds(gru(64, 2), at7, **seq)
  assert in1 > own1 and in2 > own2 and T.epoch_seconds(gru(64, 7), at7, **seq) == T.epoch_seconds(gru(64, 7), None, **seq)
  assert (in1 - own1) / own1 > (in2 - own2) / own2  # more skipped layers, more on top
  assert in1 / in2 > own1 / own2  # the measured ratio in the program is higher than the single runs'
  # per cell (benchmarks/skip_cost.py): an LSTM's skipped layer costs more of a layer than a GRU's
  lstm = lambda n: ml_collections.ConfigDict(dict(gru(64, n), kind="lstm"))
  on_top = lambda m: T.epoch_seconds(m, at7, **seq) / T.epoch_seconds(m, None, **seq) - 1
  # (the epoch overhead EPOCH_S is not a layer: the ratio of the on-top shares is near, not at, 0.25 / 0.1)
  assert on_top(lstm(2)) / on_top(gru(64, 2)) == pytest.approx(T.SKIP_SHARE["lstm"] / T.SKIP_SHARE["gru"], rel=0.05)



def test_only_the_overlapped_share_of_a_busy_epoch_is_corrected():
  # 9 later epochs of 0.3 s, a compile ran during half of their seconds: at a slowdown of 1.5 the overlapped
  # 0.15 s would have taken 0.1 s, so 0.25 s an epoch (all of it divided: 0.2)
  half = {**row(10, 0.5 + 9 * 0.3, 10, 0.5, 9 * 0.3, 9), "member_overlap_s": 9 * 0.15}
  s, how = T.train_seconds(half, own_s=1.0, padded_s=1.0, slow=1.5)
  assert how == T.MEASURED + T.BUSY and s == pytest.approx(2.5)
  # and a slowdown is measured from the overlapped share: epochs 0.25 s against 0.2 s free, half overlapped: 1.5
  both = {**row(10, 0.5 + 3 * 0.25 + 6 * 0.2, 10, 0.5, 3 * 0.25, 3), "member_overlap_s": 3 * 0.125}
  assert T.slowdown([both]) == pytest.approx(1.5)
