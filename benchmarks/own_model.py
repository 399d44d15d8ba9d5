"""Your own model, many at once: the user-written attention GRU of examples/own_model/attn_gru.py with 4 learning
rates x 4 seeds trained in one compiled program (a sweep of mode full), against the same 16 runs one at a time
(one `python -m mlexp.main` single run each, as a student would run them), side by side in one invocation,
both with an empty compilation cache. Prints JSON lines; the last one is the comparison (target: >= 4x).

  python benchmarks/own_model.py [--epochs 10] [--hidden 32] [--timeout 1800]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import timed_run  # noqa: E402

REPO = os.path.dirname(HERE)
LRS = (1e-3, 2e-3, 5e-3, 1e-2)
REFS = {"gru": "attn_gru.py:AttnGRU", "cnn": "small_cnn.py:SmallCNN"}
SEEDS = 4

CONFIG = """
from mlexp.config import base_config, sweep_block
from mlexp.sweeps.space import grid


def get_config(arg=None):
  c = base_config({model!r}, {data!r})
  c.epochs, c.batch_size = {epochs}, 32
  {size}
  c.schedule.name = "constant"
  c.checkpoint.enabled = False
  if arg == "sweep":
    c.seeds = {seeds}
    c.sweep = sweep_block([grid("optimizer.learning_rate", *{lrs!r})], mode="full")
  return c
"""




def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--epochs", type=int, default=10)
  ap.add_argument("--hidden", type=int, default=32, help="the GRU's hidden width")
  ap.add_argument("--model", choices=("gru", "cnn"), default="gru",
                  help="gru: attn_gru.py on JapaneseVowels; cnn: small_cnn.py on mnist_5k (its default sizes)")
  ap.add_argument("--timeout", type=int, default=1800)
  a = ap.parse_args()
  with open("/proc/loadavg") as f:
    load = float(f.read().split()[0])
  tmp = tempfile.mkdtemp(prefix="mlexp_own_model_")
  cfg = os.path.join(tmp, "own.py")
  with open(cfg, "w") as f:
    f.write(CONFIG.format(model=os.path.join(REPO, "examples", "own_model", REFS[a.model]),
                          data="japanese_vowels" if a.model == "gru" else "mnist_5k", epochs=a.epochs,
                          size=f"c.model.hidden = {a.hidden}" if a.model == "gru" else "pass", seeds=SEEDS, lrs=LRS))
  env = dict(os.environ, MLEXP_COMPILATION_CACHE="")  # cold: no persistent compilation cache on either side

  sweep_dir = os.path.join(tmp, "together")
  together = timed_run([sys.executable, "-m", "mlexp.main", f"--config={cfg}:sweep", f"--workdir={sweep_dir}"], env,
                 a.timeout)
  with open(os.path.join(sweep_dir, "summary.json")) as f:
    s = json.load(f)
  print(json.dumps({"bench": "own_model", "side": "together", "models": len(LRS) * SEEDS, "groups": s["groups"],
                    "wall_s": round(together, 2), "best": s["best"]}), flush=True)

  alone = []
  for lr in LRS:
    for seed in range(SEEDS):
      w = os.path.join(tmp, f"alone_lr{lr}_s{seed}")
      alone.append(timed_run([sys.executable, "-m", "mlexp.main", f"--config={cfg}", f"--workdir={w}",
                        f"--config.optimizer.learning_rate={lr}", f"--config.seed={seed}"], env, a.timeout))
  print(json.dumps({"bench": "own_model", "side": "one_at_a_time", "runs": len(alone), "wall_s": round(sum(alone), 2),
                    "per_run_s": round(sum(alone) / len(alone), 2)}), flush=True)
  print(json.dumps({"bench": "own_model", "model": f"examples/own_model/{REFS[a.model]}", "epochs": a.epochs,
                    "hidden": a.hidden, "lrs": LRS, "seeds": SEEDS, "loadavg_before": load,
                    "together_s": round(together, 2), "one_at_a_time_s": round(sum(alone), 2),
                    "speedup": round(sum(alone) / together, 2), "target": 4.0}), flush=True)


if __name__ == "__main__":
  main()
