"""The classification finding and confusion-matrix figure, from summary.json's "classification" entries."""
from __future__ import annotations

import os

import matplotlib.image as mpimg
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fake_workdirs import FASHION, fashion_classification, make_single, make_sweep
from mlexp import metrics
from mlexp import results as R
from mlexp.data.arabic_digits import CLASS_NAMES as ARABIC
from mlexp.report import classification as C
from mlexp.report.__main__ import main
from mlexp.report.confusion_figure import confusion_matrix


def single(runs, **kw):
  return dict(kind="single", runs=runs, **kw)


def test_finding_names_most_confused_pairs_with_class_names():
  c = fashion_classification(0, 41)
  f = C.finding(single([dict(seed=0, classification=c)]))
  assert f.kind == "confusion" and f.figure == C.CONFUSION
  assert ("Most confused (seed 0, at its best epoch): 'Shirt' predicted as 'T-shirt/top' 41 times "
          "(41.0% of 'Shirt'), 'Pullover' predicted as 'Coat' 30 times (30.0% of 'Pullover'), "
          "'Coat' predicted as 'Pullover' 22 times") in f.text
  assert f"Macro F1 {c['macro_f1']:.3f}, macro precision {c['macro_precision']:.3f}, macro recall" in f.text and "weakest class 'Shirt' (" in f.text
  assert f.numbers["pairs"][0]["count"] == 41 and f.numbers["weakest"]["name"] == "Shirt"


def test_single_run_shows_first_seed_with_spread_over_seeds():
  runs = [dict(seed=s, test_accuracy=0.9, classification=fashion_classification(s, 41 + s)) for s in (2, 1, 0)]
  pick = C.chosen(single(runs))
  assert pick["seed"] == 0 and pick["label"] == "seed 0" and len(pick["others"]) == 2
  f1s = [r["classification"]["macro_f1"] for r in runs]
  assert f"Macro F1 {f1s[2]:.3f} (± {np.std(f1s, ddof=1):.3f} over 3 seeds), macro precision" \
      in C.finding(single(runs)).text


def test_sweep_shows_best_trials_most_accurate_seed():
  runs = [dict(trial=1, seed=0, test_accuracy=0.95, classification=fashion_classification(0, 10)),
          dict(trial=2, seed=0, test_accuracy=0.90, classification=fashion_classification(0, 20)),
          dict(trial=2, seed=1, test_accuracy=0.92, classification=fashion_classification(1, 30)),
          dict(trial=3, seed=0, test_accuracy=0.80)]
  s = dict(kind="sweep", best={"trial": 2}, runs=runs)
  pick = C.chosen(s)
  assert (pick["trial"], pick["seed"], pick["label"]) == (2, 1, "trial 2, seed 1")
  assert "'Shirt' predicted as 'T-shirt/top' 30 times" in C.finding(s).text
  assert "over 2 seeds of this trial)" in C.finding(s).text
  # the best trial without entries: the most accurate model that has one
  s["best"] = {"trial": 3}
  assert C.chosen(s)["trial"] == 1
  # only the best record carries it
  s = dict(kind="sweep", best={"trial": 4, "classification": fashion_classification()}, runs=[dict(trial=4)])
  assert C.chosen(s)["label"] == "best trial 4"


def test_older_or_broken_workdirs_give_nothing():
  assert C.finding(single([dict(seed=0, test_accuracy=0.9)])) is None
  assert C.finding(dict(kind="sweep", runs=[])) is None
  assert C.finding(single([dict(seed=0, classification={"confusion": [[1, 2]]})])) is None
  assert C.finding(single([dict(seed=0, classification={"confusion": "x"})])) is None
  # a diverged model counted no test example: no "all 0 test examples are classified correctly"
  assert C.finding(single([dict(seed=0, classification={"confusion": [[0, 0], [0, 0]]})])) is None
  # names that do not fit are replaced by "0".."K-1"
  c = C.valid({"confusion": [[1, 2], [0, 3]], "class_names": ["a"]})
  assert c["class_names"] == ["0", "1"]


def test_no_errors_and_absent_class():
  c = metrics.classification_report([0, 1, 1], [0, 1, 1], 3, ["a", "b", "c"])
  f = C.finding(single([dict(seed=0, classification=c)]))
  assert f.text.startswith("No confusions (seed 0, at its best epoch): all 3 test examples")
  c = metrics.classification_report([0, 0, 1, 1], [0, 1, 1, 1], 3, ["a", "b", "c"])
  f = C.finding(single([dict(seed=0, classification=c)]))
  assert "'a' predicted as 'b' 1 time (50.0% of 'a')" in f.text and "weakest class 'a' (50.0% correct)" in f.text


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8).flatmap(lambda k: st.lists(st.integers(0, 30), min_size=k * k, max_size=k * k)))
def test_finding_on_any_confusion_matrix(cells):
  k = int(round(len(cells) ** 0.5))
  cm = np.array(cells).reshape(k, k)
  if cm.sum() == 0:
    cm[0, 0] = 1
  y_true = np.repeat(np.repeat(np.arange(k), k), cm.ravel())
  y_pred = np.repeat(np.tile(np.arange(k), k), cm.ravel())
  c = metrics.classification_report(y_true, y_pred, k)
  assert c["confusion"] == cm.tolist()
  f = C.finding(single([dict(seed=0, classification=c)]))
  top = metrics.most_confused(cm, 1)
  if top:
    assert f.text.startswith(f"Most confused (seed 0, at its best epoch): '{top[0]['true_name']}' predicted as "
                             f"'{top[0]['predicted_name']}' {top[0]['count']} time")
  else:
    assert f.text.startswith("No confusions")


@pytest.mark.parametrize("names", [FASHION, ARABIC], ids=["fashion", "arabic-20"])
def test_figure_with_class_names(tmp_path, names):
  k = len(names)
  rng = np.random.default_rng(0)
  y = np.repeat(np.arange(k), 30)
  pred = np.where(rng.random(len(y)) < 0.8, y, rng.integers(0, k, len(y)))
  c = metrics.classification_report(y, pred, k, names)
  p = confusion_matrix(c, str(tmp_path / "cm.png"), title="Confusion matrix of seed 0")
  img = mpimg.imread(p)
  assert img.shape[0] > 300 and img.shape[1] > 300


def test_report_of_single_run_with_classification(tmp_path, capsys):
  d = make_single(tmp_path / "single", classification=True)
  assert main([d]) == 0
  rep = os.path.join(d, "report")
  assert os.path.exists(os.path.join(rep, C.CONFUSION))
  md = open(os.path.join(rep, "report.md")).read()
  assert "'Shirt' predicted as 'T-shirt/top' 41 times (41.0% of 'Shirt')" in md
  assert f"(figure: [{C.CONFUSION}]({C.CONFUSION}))" in md and "### Confusion matrix (seed 0, best epoch)" in md
  assert "macro F1" in md  # the top table's column
  assert R.load(d)["macro_f1"].notna().all()


def test_report_of_sweep_with_classification(tmp_path, capsys):
  d = make_sweep(tmp_path / "sweep", classification=True)
  assert main([d]) == 0
  rep = os.path.join(d, "report")
  md = open(os.path.join(rep, "report.md")).read()
  assert os.path.exists(os.path.join(rep, C.CONFUSION))
  assert "Most confused (trial " in md and "'Shirt' predicted as 'T-shirt/top'" in md
  head = [l for l in md.splitlines() if l.startswith("| rank")][0]
  assert head.endswith("| macro F1 |")


def test_report_of_older_workdir_has_no_confusion(tmp_path, capsys):
  d = make_single(tmp_path / "old")
  assert main([d]) == 0
  rep = os.path.join(d, "report")
  assert not os.path.exists(os.path.join(rep, C.CONFUSION))
  md = open(os.path.join(rep, "report.md")).read()
  assert "Most confused" not in md and "macro F1" not in md
  assert "macro_f1" not in R.load(d).columns
