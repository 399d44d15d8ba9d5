"""A plain torch loop that applies ASHA's rungs (issue 26, item 4): the peer faster than Ray Tune at this scale.

The trials of ../shared/bench/ray_hypertune's searches (the same models, epoch and sampled configs as its
sequential*.py scripts) are trained one after another in this one process. A trial reaching a rung
(grace * factor**k epochs, below max_t) continues only if its test loss is in the top 1/factor of the values
recorded at that rung so far: Ray's AsyncHyperBandScheduler (grace 1, factor 3, metric test_loss, min) with one
trial at a time, and mlexp's sweeps/asha.py `keep` rule. No Ray, no worker processes, no compile.

  python torch_asha.py --search gru                      # the course search: 50 trials, max_t 10
  python torch_asha.py --search lstm
  python torch_asha.py --search mlp --data mnist_5k_split.npz   # 30 trials, max_t 10 (mnist5k.py)
  python torch_asha.py --search cnn --data mnist_5k_split.npz   # 20 trials, max_t 8
  python torch_asha.py --search gru --data seqs.npz       # sequences from an .npz (course_scale_data.py)

Run it with the peers' venv (torch); it imports vowels_gru.py / mnist5k.py from --peers DIR (default
../shared/bench/ray_hypertune). Ends with one line RESULT {json}, the keys of the peers' scripts plus
epochs_trained and rungs.
"""
from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PEERS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench", "ray_hypertune"))


def rungs(grace: int, factor: int, max_t: int) -> list:
  out, r = [], grace
  while r < max_t:
    out.append(r)
    r *= factor
  return out


def keep(history: list, value: float, factor: int) -> bool:
  """mlexp's sweeps/asha.py keep() for one value, mode min: in the top floor(n / factor) of history + value."""
  if not math.isfinite(value):
    return False
  allv = sorted(v for v in history + [value] if math.isfinite(v))
  cutoff = allv[max(1, len(allv) // factor) - 1]
  return value <= cutoff


def sequence_data(path: str) -> dict:
  """An .npz of x [N, T, C] (+ lengths_*) as the lists of (tensor (T_i, C), label) vowels_gru.Run streams."""
  with np.load(path) as z:
    def pairs(split):
      x, y = z[f"x_{split}"], z[f"y_{split}"]
      n_len = z[f"lengths_{split}"] if f"lengths_{split}" in z else np.full(len(x), x.shape[1])
      return [(torch.from_numpy(np.ascontiguousarray(x[i, :n_len[i]])), int(y[i])) for i in range(len(x))]
    train, test = pairs("train"), pairs("test")
    classes = int(max(z["y_train"].max(), z["y_test"].max())) + 1
  return {"train": train, "test": test, "n_channels": int(train[0][0].shape[1]), "n_classes": classes}


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--search", choices=("gru", "lstm", "mlp", "cnn"), required=True)
  ap.add_argument("--samples", type=int, default=None, help="trials (gru/lstm 50, mlp 30, cnn 20)")
  ap.add_argument("--epochs", type=int, default=None, help="max_t (gru/lstm/mlp 10, cnn 8)")
  ap.add_argument("--grace", type=int, default=1)
  ap.add_argument("--factor", type=int, default=3)
  ap.add_argument("--seed", type=int, default=0, help="numpy seed for the configs, torch seed for training")
  ap.add_argument("--data", default=None, help="an .npz (images for mlp/cnn, sequences for gru/lstm); default: "
                  "JapaneseVowels for gru/lstm, the peers' mnist_5k_split.npz for mlp/cnn")
  ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads; default: torch's own")
  ap.add_argument("--peers", default=os.environ.get("MLEXP_RAY_HYPERTUNE", DEFAULT_PEERS))
  ap.add_argument("--quiet", action="store_true")
  a = ap.parse_args()
  sys.path.insert(0, a.peers)
  if a.threads:
    torch.set_num_threads(a.threads)
  rng = np.random.default_rng(a.seed)
  torch.manual_seed(a.seed)
  np.random.seed(a.seed)

  if a.search in ("gru", "lstm"):
    import vowels_gru as vg
    samples, epochs = a.samples or 50, a.epochs or 10
    configs = [{"hidden_size": int(rng.integers(*vg.HIDDEN_RANGE)), "dropout": float(rng.uniform(*vg.DROPOUT_RANGE)),
                "num_layers": int(rng.integers(*vg.LAYERS_RANGE)), "cell": a.search} for _ in range(samples)]
    data = sequence_data(a.data) if a.data else vg.load_japanese_vowels()
    make = lambda cfg: vg.Run(cfg, data)
  else:
    import mnist5k as mn
    _, samples, epochs = mn.SEARCHES[a.search]
    samples, epochs = a.samples or samples, a.epochs or epochs
    configs = mn.sample_configs(a.search, samples, a.seed)
    data = mn.load(a.data)
    make = lambda cfg: mn.Run(a.search, cfg, data)

  milestones = rungs(a.grace, a.factor, epochs)
  history = {r: [] for r in milestones}
  finals, trained = [], 0
  t_train = time.perf_counter()
  for i, cfg in enumerate(configs):
    t0 = time.perf_counter()
    run = make(cfg)
    m = None
    for e in range(1, epochs + 1):
      m = run.epoch()
      trained += 1
      if e in history:
        go = keep(history[e], m["test_loss"], a.factor)
        history[e].append(m["test_loss"])
        if not go:
          break
    finals.append({"epochs": e, **m})
    if not a.quiet:
      print(f"trial {i:3d} {json.dumps(cfg)} epochs {e} test {m['test_loss']:.4f} acc {m['accuracy']:.4f} "
            f"({time.perf_counter() - t0:.2f}s)", flush=True)
  train_s = time.perf_counter() - t_train
  b = int(np.argmin([f["test_loss"] for f in finals]))
  print("RESULT " + json.dumps({
      "total_s": round(time.perf_counter() - T_START, 3), "train_s": round(train_s, 3), "trials": len(configs),
      "trials_completed_max_t": sum(f["epochs"] == epochs for f in finals), "epochs_trained": trained,
      "rungs": milestones, "best_config": configs[b], "best_accuracy": finals[b]["accuracy"],
      "best_test_loss": finals[b]["test_loss"], "ray": None, "torch": torch.__version__,
      "mode": "sequential_asha", "search": a.search, "data": a.data or "default", "samples": samples,
      "epochs": epochs, "seed": a.seed, "torch_threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
  main()
