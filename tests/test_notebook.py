"""examples/quickstart.ipynb runs offline from top to bottom in a fresh kernel (nbclient), as a student would."""
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
  for d in ("mlp", "mlp_wide", "mlp_sweep", "own", "own_table"):
    assert os.path.isfile(tmp_path / "runs" / "quickstart" / d / "summary.json")
  assert os.path.isfile(tmp_path / "runs" / "quickstart" / "mlp_sweep" / "report" / "report.html")
