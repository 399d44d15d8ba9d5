"""examples/quickstart.ipynb runs offline from top to bottom in a fresh kernel (nbclient), as a student would.

The TensorBoard cell (tag "tensorboard") loads the extension but starts no server here: `%tensorboard` would
start a tensorboard process that outlives the kernel."""
from __future__ import annotations

import os

import nbclient
import nbformat

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_notebook(tmp_path, monkeypatch):
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("MLEXP_COMPILATION_CACHE", str(tmp_path / "jax_cache"))
  nb = nbformat.read(os.path.join(REPO, "examples", "quickstart.ipynb"), as_version=4)
  tb_cells = [c for c in nb.cells if "tensorboard" in c.get("metadata", {}).get("tags", [])]
  assert len(tb_cells) == 1 and "%tensorboard --logdir runs/quickstart" in tb_cells[0].source
  tb_cells[0].source = tb_cells[0].source.replace("%tensorboard --logdir", "pass  # %tensorboard --logdir")
  nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a failing cell
  outputs = {i: c.get("outputs", []) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
  text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for os_ in outputs.values()
                   for o in os_)
  assert "accuracy of the saved model:" in text
  line = next(l for l in text.splitlines() if l.startswith("accuracy of the saved model:"))
  saved, summary = float(line.split()[5]), float(line.split()[-1])
  assert abs(saved - summary) < 1e-6  # the checkpoint's predictions give the summary's accuracy
  assert "[epoch 1/" not in text and "epoch 2/2 |" in text  # one bar, not a line per epoch
  last = outputs[max(outputs)]
  assert any("text/html" in o.get("data", {}) for o in last)  # the report, inline
  assert "blobs test accuracy:" in text  # your own module on your own arrays
  assert "kind: __main__:TinyNet" in text
  assert "A smoke run is a tiny check" in nb.cells[0].source
  assert "optimizer.learning_rate = 0.001" in text and "schedule.name = plateau" in text  # mlexp.show
  assert "!!python/tuple" not in text
  curves = next(o for c in nb.cells if c.cell_type == "code" and "run3.metrics" in c.source for o in c.outputs
                if "image/png" in o.get("data", {}))  # the learning curves, drawn
  assert curves
  assert "TensorBoard is not available here" not in text  # (the package is a dependency: the extension loads)
  for d in ("mlp", "mlp_wide", "mlp_sgd_cosine", "mlp_sweep", "own", "own_table"):
    assert os.path.isfile(tmp_path / "runs" / "quickstart" / d / "summary.json")
  assert os.path.isfile(tmp_path / "runs" / "quickstart" / "mlp_sweep" / "report" / "report.html")
