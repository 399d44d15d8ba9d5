"""The engine's seams: the config layer and merge load no JAX; the registries agree with the code."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_JAX = ("import sys\n{body}\n"
          "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'optax', 'orbax'))\n"
          "assert not bad, bad[:5]\n")


def run_clean(body):
  p = subprocess.run([sys.executable, "-c", NO_JAX.format(body=body)], cwd=ROOT, capture_output=True, text=True,
                     env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
  assert p.returncode == 0, p.stderr[-2000:]


def test_reading_and_validating_a_config_loads_no_jax():
  run_clean("import runpy\nfrom mlexp.config import validate\n"
            "validate(runpy.run_path('configs/gru.py')['get_config']('smoke'))\n"
            "validate(runpy.run_path('configs/mlp.py')['get_config']('smoke'))")


def test_activation_names_are_the_layers():
  from mlexp.models.layers import ACTIVATIONS
  from mlexp.models.specs import ACTIVATION_NAMES
  assert tuple(ACTIVATIONS) == ACTIVATION_NAMES


def test_every_model_spec_builds_and_has_its_defaults():
  from mlexp.config import base_config, validate
  from mlexp.data.catalog import DATASETS
  from mlexp.models import MODELS, build_model
  for kind, spec in MODELS.items():
    data = next(n for n, d in DATASETS.items() if d.kind == spec.data and not d.needs_path)
    c = base_config(kind, data)
    validate(c)
    assert set(spec.defaults) <= set(c.model) and build_model(c.model, 3) is not None


def test_vmapped_table_is_one():
  from mlexp.config.hparams import HPARAMS, VMAPPED_FIELDS
  from mlexp.sweeps import grouping
  from mlexp.training import optim
  assert optim.HPARAMS is HPARAMS and grouping.VMAPPED_FIELDS is VMAPPED_FIELDS


def test_atomic_write_leaves_no_temp(tmp_path):
  from mlexp.io import workdir as wd
  wd.atomic_write(str(tmp_path / "a.json"), json.dumps({"x": 1}))
  wd.atomic_write(str(tmp_path / "a.json"), json.dumps({"x": 2}))
  assert os.listdir(tmp_path) == ["a.json"] and wd.read_json(str(tmp_path / "a.json")) == {"x": 2}


def test_merge_loads_no_jax(tmp_path):
  """merge over groups/*.json of a finished (fake) sweep: files only."""
  from mlexp.config import base_config, sweep_block
  from mlexp.io import workdir as wd
  from mlexp.sweeps.space import grid
  c = base_config("mlp", "mnist_5k")
  c.sweep = sweep_block((grid("optimizer.learning_rate", 0.1, 0.2),), mode="full")
  w = str(tmp_path)
  wd.prepare_workdir(w, c)
  wd.atomic_write(wd.path(w, "data.json"), json.dumps({"dataset": "mnist_5k", "source": "x", "synthetic": False}))
  wd.write_sweep_spec(w, {"group_ids": ["g-0"]})
  row = {"trial": 0, "group": "g-0", "optimizer.learning_rate": 0.1, "seed": 0, "status": "completed",
         "stopped_by": "", "epochs_run": 2, "best_epoch": 2, "final_test_loss": 0.5, "best_test_loss": 0.5,
         "test_accuracy": 0.8, "final_test_accuracy": 0.8, "train_loss": 0.4, "wall_s": 1.0, "param_count": 10}
  wd.write_group(w, "g-0", {"rows": [row, {**row, "trial": 1, "optimizer.learning_rate": 0.2, "test_accuracy": 0.9}],
                            "rungs": {}, "compile_s": 1.0, "wall_s": 2.0, "device": "1 x cpu:cpu"})
  run_clean(f"from mlexp.sweeps.record import merge\ns = merge({w!r})\nassert s['best']['trial'] == 1, s['best']")
  s = wd.read_json(wd.path(w, "summary.json"))
  assert s["kind"] == "sweep" and s["num_models"] == 2 and s["runs"][1]["best_test_loss"] == 0.5


# -- the import graph (issue 27): function-level imports count; read with ast, nothing imported --------------

PLANNING = ("mlexp.sweeps.space", "mlexp.sweeps.tpe", "mlexp.sweeps.asha", "mlexp.sweeps.grouping", "mlexp.sweeps.widths",
            "mlexp.sweeps.balance", "mlexp.sweeps.plan", "mlexp.sweeps.plan_types", "mlexp.sweeps.executors",
            "mlexp.sweeps.executors.rungs")
# import cycles still open (each a known loop through a function-level import): none; a cycle fails
KNOWN_CYCLES = ()


def import_graph() -> dict:
  """module -> the mlexp modules it imports anywhere in its file (`from a import b`: a.b when that is a module)."""
  import ast
  mods = {}
  for d, _, files in os.walk(os.path.join(ROOT, "mlexp")):
    for f in files:
      if f.endswith(".py"):
        name = os.path.relpath(os.path.join(d, f), ROOT)[:-3].replace(os.sep, ".")
        mods[name[: -len(".__init__")] if name.endswith(".__init__") else name] = os.path.join(d, f)

  def resolve(name):
    while name and name not in mods:
      name = name.rpartition(".")[0]
    return name or None

  graph = {}
  for m, path in mods.items():
    pkg = m if path.endswith("__init__.py") else m.rpartition(".")[0]
    deps = set()
    with open(path) as fh:
      tree = ast.parse(fh.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        deps.update(resolve(a.name) for a in node.names if a.name.split(".")[0] == "mlexp")
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          parts = pkg.split(".")
          base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        if base.split(".")[0] == "mlexp":
          deps.update(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else resolve(base) for a in node.names)
    graph[m] = deps - {None, m}
  return graph


def cycles(graph) -> list:
  """The strongly connected components of more than one module (Tarjan)."""
  index, low, stack, on, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in graph.get(v, ()):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = set()
      while True:
        w = stack.pop()
        on.discard(w)
        comp.add(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(comp)

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_no_import_cycles_and_nothing_imports_the_cli():
  graph = import_graph()
  assert len(graph) > 50 and "mlexp.sweeps.runner" in graph["mlexp.api"]  # (the graph is read)
  assert [m for m, deps in graph.items() if "mlexp.main" in deps] == []
  found = cycles(graph)
  assert [c for c in found if c not in KNOWN_CYCLES] == [], "new import cycle(s)"
  assert [c for c in KNOWN_CYCLES if c not in found] == [], "a known cycle is gone: take it off KNOWN_CYCLES"


def test_search_and_planning_load_no_jax():
  """Search and planning are pure: importing them, and planning a sweep (no data), loads no JAX."""
  run_clean("import importlib, runpy\n"
            + "".join(f"importlib.import_module({m!r})\n" for m in PLANNING)
            + "from mlexp.sweeps.plan import plan_sweep\n"
            "assert plan_sweep(runpy.run_path('configs/sweeps/gru.py')['get_config']('smoke')).groups\n")
