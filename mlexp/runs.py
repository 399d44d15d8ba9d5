"""The objects of the Python API (mlexp/api.py): Run (a single run's workdir), Sweep (a sweep's), TrialRun (one
trial of a sweep, a view onto its rows). They read the workdir's files (mlexp/io/workdir.py, mlexp.results);
`predict` rebuilds the model from the config (mlexp.models.build_model) and applies the restored best parameters.
"""
from __future__ import annotations

import json
import os
import sys

import ml_collections
import numpy as np


def _config(d: dict) -> ml_collections.ConfigDict:
  """A config read back from JSON (config.json, best_config.json), locked: lists as the tuples they were."""
  def tuples(v):
    if isinstance(v, dict):
      return {k: tuples(x) for k, x in v.items()}
    return tuple(tuples(x) for x in v) if isinstance(v, list) else v
  c = ml_collections.ConfigDict(tuples(d))
  c.lock()
  return c


def _in_notebook() -> bool:
  shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
  return shell is not None and "zmq" in type(shell).__name__.lower()


class Run:
  """A single run's workdir (or, from Sweep.trial(k), one trial of a sweep: a view onto its rows)."""

  def __init__(self, workdir, *, sweep: "Sweep | None" = None, trial: int | None = None):
    self.workdir, self._sweep, self._trial = os.fspath(workdir), sweep, trial

  def __repr__(self):
    what = f"trial {self._trial} of {self.workdir}" if self._sweep is not None else self.workdir
    try:
      s = self.summary
      return (f"{type(self).__name__}({what!r}: {s.get('model')} on {s.get('dataset')}, test accuracy "
              f"{100 * s['mean']['test_accuracy']:.2f}% ± {100 * s['std']['test_accuracy']:.2f})")
    except (OSError, KeyError, ValueError):
      return f"{type(self).__name__}({what!r}, not finished)"

  @property
  def config(self) -> ml_collections.ConfigDict:
    if self._sweep is not None:
      from mlexp.sweeps.space import trial_config
      return _config(trial_config(self._sweep.config, self._sweep.trials[self._trial]).to_dict())
    from mlexp import results
    return _config(results.load_config(self.workdir))

  @property
  def summary(self) -> dict:
    """summary.json (a trial: its values, mean / std over its seeds and its entries of the sweep's runs)."""
    from mlexp import results
    if self._sweep is None:
      return results.load_summary(self.workdir)
    from mlexp.stats import mean_std
    full = self._sweep.summary
    runs = [r for r in full["runs"] if r["trial"] == self._trial]
    if not runs:
      raise KeyError(f"trial {self._trial} is not in {self.workdir}/summary.json (trials 0..{full['num_trials'] - 1})")
    keys = ("test_accuracy", "best_test_loss")
    stats = {k: mean_std([r[k] for r in runs]) for k in keys}
    return {"kind": "trial", "trial": self._trial, "values": self._sweep.trials[self._trial],
            "dataset": full.get("dataset"), "model": full.get("model"),
            "mean": {k: v[0] for k, v in stats.items()}, "std": {k: v[1] for k, v in stats.items()}, "runs": runs}

  @property
  def metrics(self) -> "pd.DataFrame":
    """metrics.jsonl: one row per epoch per model (trial, seed, epoch, losses, accuracy, learning rate, ...)."""
    from mlexp import results
    df = results.load_metrics(self.workdir)
    return df if self._sweep is None else df[df["trial"] == self._trial].reset_index(drop=True)

  @property
  def results(self) -> "pd.DataFrame":
    """One row per model (trial x seed), the columns of results.csv."""
    from mlexp import results
    df = results.load(self.workdir)
    return df if self._sweep is None else df[df["trial"] == self._trial].reset_index(drop=True)

  def report(self, top: int = 10) -> str:
    """Writes WORKDIR/report/ (report.md, report.html, figures; a trial: WORKDIR/trials/trial_<k>/report/);
    in Jupyter also shows it. Returns the path of report.html."""
    from mlexp.report import render
    html_path, _ = render.write_report(self._report_workdir(), top=top)
    if _in_notebook():
      from IPython.display import HTML, display
      with open(html_path) as f:
        display(HTML(f.read()))
    return html_path

  def _report_workdir(self) -> str:
    if self._sweep is None:
      return self.workdir
    return self._sweep.trial_workdir(self._trial)

  def dataset(self):
    """The data set as this run's config loads it (mlexp.data.Dataset: .train / .test with x, y, lengths)."""
    from mlexp import data
    cfg = self.config
    return data.load(cfg.data, cfg.eval)

  def predict(self, x, lengths=None, *, seed: int | None = None, logits: bool = False) -> np.ndarray:
    """Predicted labels [N] (logits [N, classes] with logits=True) of the best epoch's parameters of one model:
    the seed's, or (seed=None) the run's model with the lowest best validation loss (test loss with
    data.validation_fraction=0). x as the data set's splits hold it (standardized
    as the loader does: run.dataset().test.x); lengths for sequences (None: every sequence is full length)."""
    cfg = self.config
    d = os.path.join(self.workdir, "checkpoints", "best")
    if not os.path.isdir(d) and not cfg.checkpoint.enabled:
      raise FileNotFoundError(f"{d} not found: the run kept no checkpoints (checkpoint.enabled=False)")
    best = _restore(d, f"run its training command again on {self.workdir}: it rebuilds best/ from the latest "
                    "checkpoint")
    n = int(cfg.seeds)
    if seed is None:
      i = int(np.argmin(np.asarray(best["best_loss"])[:n]))  # (the selection loss: validation unless there is none)
    else:
      i = int(seed) - int(cfg.seed)
      if not 0 <= i < n:
        raise ValueError(f"seed {seed}: this run trained seeds {cfg.seed}..{int(cfg.seed) + n - 1}")
    params = {"params": _take(best["params"], i)}
    return _apply(cfg.model, self._num_classes(), params, x, lengths, int(cfg.eval_batch_size), logits)

  def _num_classes(self) -> int:
    for r in self.summary.get("runs", []):
      if isinstance(r.get("classification"), dict):
        return len(r["classification"]["class_names"])
    return int(self.dataset().num_classes)


class Sweep(Run):
  """A sweep's workdir: a Run's files plus results, the best trial and its config, and a view of every trial."""

  @property
  def config(self) -> ml_collections.ConfigDict:
    from mlexp import results
    return _config(results.load_config(self.workdir))

  @property
  def trials(self) -> list:
    """Trial id -> its swept values (the sampled ones of a TPE search come from sweep.json)."""
    from mlexp.io import workdir as wd
    from mlexp.sweeps.record import sweep_trials
    return sweep_trials(self.config, wd.read_sweep_spec(self.workdir))

  @property
  def best(self) -> dict:
    """The winner: trial, values, test_accuracy and test_accuracy_std (mean and sample std over its seeds)."""
    return self.summary["best"]

  @property
  def best_config(self) -> ml_collections.ConfigDict:
    """The best trial as a single-run config (best_config.json): mlexp.train(sweep.best_config)."""
    from mlexp.io import workdir as wd
    return _config(wd.read_json(wd.path(self.workdir, "best_config.json")))

  def trial(self, k: int) -> Run:
    k = int(k)
    if not 0 <= k < len(self.trials):
      raise IndexError(f"trial {k}: this sweep has trials 0..{len(self.trials) - 1}")
    return TrialRun(self.workdir, sweep=self, trial=k)

  def predict(self, x, lengths=None, *, seed=None, logits=False) -> np.ndarray:
    """The best trial's model (checkpoints/best_trial)."""
    return self.trial(self.best["trial"]).predict(x, lengths, seed=seed, logits=logits)

  def trial_workdir(self, k: int) -> str:
    """WORKDIR/trials/trial_<k>/: trial k as a single run's files (config, data, metrics, summary), for its report."""
    from mlexp.io import workdir as wd
    from mlexp.summary import summarize
    from mlexp.sweeps.space import trial_config
    out = wd.path(self.workdir, "trials", f"trial_{k}")
    os.makedirs(out, exist_ok=True)
    rows = [r for d in wd.read_groups(self.workdir).values() for r in d["rows"] if r["trial"] == k]
    if not rows:
      raise KeyError(f"trial {k} has not finished in {self.workdir} (no rows in groups/)")
    cfg = trial_config(self.config, self.trials[k])
    wd.atomic_write(wd.path(out, "config.json"), cfg.to_json_best_effort(indent=2))
    wd.atomic_write(wd.path(out, "data.json"), json.dumps(wd.read_data_info(self.workdir)))
    with open(wd.path(self.workdir, "metrics.jsonl")) as f:
      lines = [l for l in f if l.strip() and json.loads(l).get("trial") == k]
    wd.atomic_write(wd.path(out, "metrics.jsonl"), "".join(lines))
    s = summarize("single", wd.read_data_info(self.workdir), cfg, rows, {k: self.trials[k]}, groups=1,
                  wall_s=sum(float(r.get("wall_s") or 0.0) for r in rows), compile_s=0.0,
                  device=self.summary.get("device", "?"))
    wd.write_summary(out, s)
    return out


class TrialRun(Run):
  """Sweep.trial(k): one trial of a sweep. Its parameters exist only when it is the sweep's best model."""

  def predict(self, x, lengths=None, *, seed=None, logits=False) -> np.ndarray:
    """Only the sweep's best model is kept (checkpoints/best_trial); a member of a padded group (sweep.padding)
    is applied as it trained: the group's padded model with the member's true sizes (`dims`), exact by the
    masking of padded units. Other trials raise: train them as a single run, mlexp.train(trial.config)."""
    from mlexp.io import workdir as wd
    fix = f"run the sweep's command again on {self.workdir}: it trains the best model's group again to rebuild it"
    try:
      meta = wd.best_trial_meta(self.workdir)
      if meta is not None and not (isinstance(meta, dict) and {"trial", "seed"} <= set(meta)):
        raise wd.WorkdirError(f"{wd.path(self.workdir, 'checkpoints', 'best_trial_meta.json')} is damaged (not a "
                              "best-trial record)")
    except wd.WorkdirError as e:
      raise wd.WorkdirError(f"{str(e).split('; ')[0]}; {fix}") from None
    if meta is None and self._sweep.summary.get("runs"):
      raise wd.WorkdirError(f"{wd.path(self.workdir, 'checkpoints', 'best_trial_meta.json')} is missing; {fix}")
    if meta is None or int(meta["trial"]) != self._trial or (seed is not None and int(seed) != int(meta["seed"])):
      kept = "none" if meta is None else f"trial {meta['trial']}, seed {meta['seed']}"
      raise ValueError(f"a sweep keeps the parameters of its best model only ({kept}); to predict with trial "
                       f"{self._trial}, train it as a single run: mlexp.train(sweep.trial({self._trial}).config)")
    here = wd.path(self.workdir, "checkpoints", "best_trial")  # (the meta's path is where the sweep ran)
    params = {"params": _restore(here if os.path.isdir(here) else meta.get("checkpoint") or here, fix)}
    cfg = self.config
    if meta.get("dims"):
      bucket = _config(meta["model"])
      dims = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["dims"].items()}
      return _apply(bucket, self._num_classes(), params, x, lengths, int(cfg.eval_batch_size), logits, dims=dims)
    return _apply(cfg.model, self._num_classes(), params, x, lengths, int(cfg.eval_batch_size), logits)


def _restore(directory: str, fix: str):
  """The latest step of a parameters checkpoint (best/, best_trial/); a missing or damaged one is one line
  (mlexp.io.workdir.WorkdirError) naming it and `fix`."""
  from mlexp.io.checkpoints import _first_line, restore_saved
  from mlexp.io.workdir import WorkdirError
  if not os.path.isdir(directory):
    raise WorkdirError(f"{directory} is missing; {fix}")
  try:
    return restore_saved(directory)
  except Exception as e:  # noqa: BLE001  (Orbax / TensorStore raise many kinds for damaged files)
    raise WorkdirError(f"{directory} is damaged ({type(e).__name__}: {_first_line(e)}); {fix}") from None


def _take(tree, i: int):
  import jax
  return jax.tree.map(lambda a: np.asarray(a)[i], tree)


def _apply(model_cfg, num_classes, variables, x, lengths, chunk: int, logits: bool, dims=None) -> np.ndarray:
  """model.apply in jitted chunks of `chunk` examples (the last one padded, so one compile)."""
  import jax
  import jax.numpy as jnp
  from mlexp.models import build_model, member_dims, spec
  padded = dims is not None
  model = build_model(model_cfg, num_classes, stacked=padded)
  member = member_dims(model_cfg, dims) if padded else None
  x = np.asarray(x, np.float32)
  image = spec(model_cfg.kind).data == "image"
  if not image:
    lengths = np.full(len(x), x.shape[1], np.int32) if lengths is None else np.asarray(lengths, np.int32)
  variables = _check_params(model, variables, x[:1], None if image else lengths[:1], member)

  @jax.jit
  def fn(v, xb, lb):
    out = model.apply(v, xb, lb, train=False, dims=member)
    return out if logits else jnp.argmax(out, -1)
  n, chunk = len(x), max(1, min(chunk, len(x)))
  outs = []
  for s in range(0, n, chunk):
    xb = x[s:s + chunk]
    lb = None if image else lengths[s:s + chunk]
    k = len(xb)
    if k < chunk:
      xb = np.concatenate([xb, np.repeat(xb[-1:], chunk - k, 0)])
      lb = None if lb is None else np.concatenate([lb, np.repeat(lb[-1:], chunk - k)])
    outs.append(np.asarray(fn(variables, xb, lb))[:k])
  return np.concatenate(outs) if outs else np.zeros((0,), np.int64)


def _check_params(model, variables, x1, l1, dims) -> dict:
  """The restored parameters in the tree structure of the rebuilt model (a checkpoint restored without a
  template holds lists for tuples), with a clear error when their shapes do not fit it."""
  import jax
  want = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x1, l1, dims=dims))["params"]
  w, g = jax.tree.leaves(want), jax.tree.leaves(variables["params"])
  if len(w) != len(g) or any(tuple(a.shape) != tuple(np.shape(b)) for a, b in zip(w, g)):
    raise ValueError("the saved parameters do not fit the model this config builds (a sweep member saved with the "
                     "padded sizes of its group by an older mlexp?); train it as a single run: "
                     "mlexp.train(sweep.best_config)")
  return {"params": jax.tree.unflatten(jax.tree.structure(want), g)}
