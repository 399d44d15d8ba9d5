"""TPE search (mlexp/sweeps/tpe.py, sweep.algorithm): distributions, reproducible asks, what is told (completed,
pruned at its rung, failed), batches planned into groups, resume by replay; and sweep.algorithm's checks."""
from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import sweep_util as u
from mlexp.config import ConfigError
from mlexp.sweeps import tpe
from mlexp.sweeps.record import merge
from mlexp.sweeps.plan import plan_sweep, plan_trials
from mlexp.sweeps.space import choice, grid, loguniform, randint, randint_tuple, sweep_trials, uniform

SPACE = (uniform("model.dropout", 0.0, 0.5), loguniform("optimizer.learning_rate", 1e-4, 1e-1),
         randint("batch_size", 8, 64), choice("optimizer.name", "sgd", "adam"),
         choice("model.units", (8,), (8, 8)), grid("epochs", 2, 3), randint_tuple("model.units", 4, 16, 1, 3))


def test_distributions_of_every_kind():
  d = {k: v for s in SPACE for k, v in tpe.distributions(s).items()}
  assert d["model.dropout"] == FloatDistribution(0.0, 0.5)
  assert d["optimizer.learning_rate"] == FloatDistribution(1e-4, 1e-1, log=True)
  assert d["batch_size"] == IntDistribution(8, 64)
  assert d["optimizer.name"] == CategoricalDistribution(("sgd", "adam"))
  assert d["model.units:index"] == CategoricalDistribution((0, 1))  # tuples are asked by index
  assert d["epochs"] == CategoricalDistribution((2, 3))
  assert d["model.units:len"] == IntDistribution(1, 3)
  assert [d[f"model.units:{i}"] for i in range(3)] == [IntDistribution(4, 16)] * 3


def _asks(seed, n=14, value=lambda v: v["optimizer.learning_rate"]):
  study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
  out = []
  for _ in range(n):
    t = study.ask()
    v = tpe.suggest(t, SPACE)
    study.tell(t, value(v))
    out.append(v)
  return out


def test_suggest_is_in_the_space_and_reproducible_with_the_seed():
  a, b, c = _asks(0), _asks(0), _asks(1)
  assert a == b and a != c
  for v in a:
    assert 0.0 <= v["model.dropout"] <= 0.5 and 1e-4 <= v["optimizer.learning_rate"] <= 1e-1
    assert 8 <= v["batch_size"] <= 64 and isinstance(v["batch_size"], int)
    assert v["optimizer.name"] in ("sgd", "adam") and v["epochs"] in (2, 3)
    assert isinstance(v["model.units"], tuple) and 1 <= len(v["model.units"]) <= 3
    assert all(4 <= x <= 16 for x in v["model.units"])


def _row(trial, seed, *, status="completed", stopped_by="", epochs_run=3, best=0.5, final=0.6, acc=0.8):
  return {"trial": trial, "seed": seed, "status": status, "stopped_by": stopped_by, "epochs_run": epochs_run,
          "best_test_loss": best, "final_test_loss": final, "test_accuracy": acc, "final_test_accuracy": acc}


def test_tell_completed_pruned_and_failed():
  study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
  ts = [study.ask() for _ in range(4)]
  assert tpe.tell(study, ts[0], [_row(0, 0, best=0.4), _row(0, 1, best=0.6)], "test_loss") == "completed"
  cut = [_row(1, s, status="cut", stopped_by="asha", epochs_run=1, final=f) for s, f in ((0, 1.0), (1, 2.0))]
  assert tpe.tell(study, ts[1], cut, "test_loss") == "pruned"
  # diverged seeds are NaN (null after groups/<gid>.json) or inf: left out; all of them: failed
  assert tpe.tell(study, ts[2], [_row(2, 0, best=None), _row(2, 1, best=0.3)], "test_loss") == "completed"
  assert tpe.tell(study, ts[3], [_row(3, 0, best=None, status="diverged"), _row(3, 1, best="inf")],
                  "test_loss") == "failed"
  t = study.trials
  assert t[0].state == TrialState.COMPLETE and t[0].value == pytest.approx(0.5)
  assert t[1].state == TrialState.PRUNED and t[1].intermediate_values == {1: 1.5}
  assert t[2].value == pytest.approx(0.3) and t[3].state == TrialState.FAIL


def _search(seed=0, num_trials=5, batch=2):
  c = u.tiny_sweep((loguniform("optimizer.learning_rate", 1e-3, 1e-1), choice("model.units", (8,), (16,))),
                   **{"sweep.algorithm": "tpe", "sweep.num_trials": num_trials, "sweep.tpe_batch": batch,
                      "sweep.seed": seed, "sweep.padding": "none"})
  return c, tpe.TpeSearch(c, lambda trials: plan_trials(c, trials))


def _finish(groups, done, loss=lambda t: 1.0 / (1 + t)):
  for g in groups:
    done[g.gid] = {"rows": [_row(m.trial, m.seed, best=loss(m.trial)) for m in g.members]}


def test_batches_are_planned_into_groups_and_replayed_on_resume():
  c, s = _search()
  done: dict = {}
  batches = [list(s.batch)]
  while True:
    _finish(batches[-1], done)
    more = s.next_batch(done)
    if not more:
      break
    batches.append(more)
  assert [len({t for g in b for t in g.trials}) for b in batches] == [2, 2, 1]  # 5 trials in batches of 2
  assert len(s.plan.trials) == 5 and sorted(t for g in s.plan.groups for t in g.trials) == list(range(5))
  assert all(g.gid.startswith(f"t{i:03d}-") for i, b in enumerate(batches) for g in b)
  for g in s.plan.groups:  # members carry sweep-wide trial ids; a group shares one static config
    assert {m.trial for m in g.members} == set(g.trials)
    assert len({s.plan.trials[t]["model.units"] for t in g.trials}) == 1
  assert [t.state for t in s.study.trials] == [TrialState.COMPLETE] * 5
  # resume: the first two batches done -> the same asks, the third batch's groups are what is left
  _, r = _search()
  part = {g.gid: done[g.gid] for b in batches[:2] for g in b}
  assert r.next_batch(part) == batches[2] and r.plan.trials == s.plan.trials
  # another seed asks other trials
  _, o = _search(seed=1)
  assert o.plan.trials != s.plan.trials[:2]


def test_algorithm_checks():
  def cfg(space, **kw):
    return u.tiny_sweep(space, **kw)
  with pytest.raises(ConfigError, match="sweep.algorithm"):
    plan_sweep(cfg((grid("optimizer.learning_rate", 0.1),), **{"sweep.algorithm": "bayes"}))
  with pytest.raises(ConfigError, match="grid or choice fields only.*uniform"):
    plan_sweep(cfg((uniform("model.dropout", 0.0, 0.5),), **{"sweep.algorithm": "grid", "sweep.num_trials": 3}))
  tpe_cfg = {"sweep.algorithm": "tpe", "sweep.num_trials": 0}
  with pytest.raises(ConfigError, match="sweep.num_trials"):
    tpe.TpeSearch(cfg((uniform("model.dropout", 0.0, 0.5),), **tpe_cfg), lambda t: [])
  with pytest.raises(ConfigError, match="sweep.num_shards"):
    tpe.TpeSearch(cfg((uniform("model.dropout", 0.0, 0.5),), **{**tpe_cfg, "sweep.num_trials": 2,
                                                                 "sweep.num_shards": 2}), lambda t: [])
  with pytest.raises(ConfigError, match="model.dropout"):  # an extreme of the space is checked before any work
    tpe.TpeSearch(cfg((uniform("model.dropout", 0.0, 1.5),), **{**tpe_cfg, "sweep.num_trials": 2}), lambda t: [])
  # grid: choice fields are enumerated; auto / random: grid x draws, as before
  sw = cfg((choice("optimizer.name", "sgd", "adam"), grid("batch_size", 16, 32)), **{"sweep.algorithm": "grid"}).sweep
  assert len(sweep_trials(sw)) == 4
  sw = cfg((uniform("model.dropout", 0.0, 0.5), grid("batch_size", 16, 32)), **{"sweep.num_trials": 3}).sweep
  assert len(sweep_trials(sw)) == 6 and sweep_trials(sw) == sweep_trials(sw)


@pytest.fixture(scope="module")
def tpe_sweeps(_session_compile_cache, tmp_path_factory):
  """The same TPE search (4 trials, batches of 2, ASHA grace 1 factor 2 over 3 epochs) run twice; a run's
  runner keeps its study."""
  from mlexp.sweeps.runner import SweepRunner
  import io
  out = {}
  for name in ("a", "b"):
    c = u.tiny_sweep((loguniform("optimizer.learning_rate", 1e-3, 0.3),),
                     **{"sweep.algorithm": "tpe", "sweep.num_trials": 4, "sweep.tpe_batch": 2, "sweep.mode": "asha",
                        "sweep.asha.factor": 2, "sweep.seed": 2})  # (seed 2: ASHA over all trials decides
    wd = tmp_path_factory.mktemp("tpe") / name                    # otherwise than batch by batch would)
    text = io.StringIO()
    runner = SweepRunner(c, str(wd), stream=text)
    summary = runner.run()
    out[name] = {"config": c, "workdir": wd, "summary": summary, "runner": runner, "text": text.getvalue(),
                 "rows": u.read_csv(wd / "results.csv")}
  return out


def test_tpe_sweep_tells_pruned_trials_and_is_reproducible(tpe_sweeps):
  a, b = tpe_sweeps["a"], tpe_sweeps["b"]
  assert len(a["rows"]) == 4 and "tpe batch 2: trials 2..3 asked with" in a["text"]
  lrs = lambda run: [r["optimizer.learning_rate"] for r in run["rows"]]
  assert lrs(a) == lrs(b)
  study = a["runner"].search.study
  states = [t.state for t in study.trials]
  assert len(states) == 4 and TrialState.PRUNED in states  # ASHA (factor 2) stops half the trials at epoch 1
  for t, r in zip(study.trials, a["rows"]):
    if r["stopped_by"] == "asha":
      assert t.state == TrialState.PRUNED and list(t.intermediate_values) == [int(r["epochs_run"])]
      assert t.intermediate_values[int(r["epochs_run"])] == pytest.approx(float(r["final_val_loss"]), rel=1e-6)
    elif t.state == TrialState.COMPLETE:
      assert t.value == pytest.approx(float(r["best_val_loss"]), rel=1e-6)  # (sweep.metric val_loss)
  spec = __import__("json").load(open(a["workdir"] / "sweep.json"))
  assert spec["algorithm"] == "tpe" and len(spec["trials"]) == 4 and len(spec["group_ids"]) == 2


def test_asha_ranks_a_later_batch_against_every_trial_before_it(tpe_sweeps):
  """ASHA decides over all trials, not batch by batch: the second batch's trials continue past rung 1 exactly
  when asha.keep ranks them in the top 1/factor of every trial's rung-1 value so far (both batches')."""
  import json
  from mlexp.sweeps.asha import keep
  a = tpe_sweeps["a"]
  at_rung = {}  # trial -> validation losses at epoch 1 (the rung), over its seeds
  for line in open(a["workdir"] / "metrics.jsonl"):
    r = json.loads(line)
    if int(r["epoch"]) == 1:
      at_rung.setdefault(int(r["trial"]), []).append(float(r["val_loss"]))
  value = {t: sum(v) / len(v) for t, v in at_rung.items()}
  assert sorted(value) == [0, 1, 2, 3]
  went_on = {int(r["trial"]): int(r["epochs_run"]) > 1 for r in a["rows"]}
  first = keep([], [value[0], value[1]], 2, "min")
  assert [went_on[0], went_on[1]] == list(first)
  later = keep([value[0], value[1]], [value[2], value[3]], 2, "min")
  assert [went_on[2], went_on[3]] == list(later)
  # (this search is one where that differs: the batch ranked alone would have cut one of its two trials)
  assert list(later) != list(keep([], [value[2], value[3]], 2, "min"))


def test_tpe_sweep_resumes_and_merges(tpe_sweeps, tmp_path):
  import shutil
  from mlexp.sweeps.runner import SweepRunner
  a = tpe_sweeps["a"]
  wd = tmp_path / "w"
  shutil.copytree(a["workdir"], wd)
  spec = __import__("json").load(open(wd / "sweep.json"))
  (wd / "groups" / f"{spec['group_ids'][1]}.json").unlink()  # the second batch did not finish
  SweepRunner(a["config"], str(wd), stream=__import__("io").StringIO()).run()
  rows = u.read_csv(wd / "results.csv")
  key = lambda r: (r["trial"], r["optimizer.learning_rate"], r["status"], r["best_test_loss"])
  assert [key(r) for r in rows] == [key(r) for r in a["rows"]]
  s = merge(str(wd), stream=__import__("io").StringIO())  # trials from sweep.json, not from the space
  assert s["best"]["values"] == a["summary"]["best"]["values"]
  assert math.isfinite(s["best"]["test_accuracy"])
