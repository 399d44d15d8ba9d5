"""The baseline for sequences: masked mean over time, then one linear layer.

  python -m mlexp.main --config=configs/linear.py --workdir=runs/linear
"""
from mlexp.config import apply_smoke, base_config, parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = base_config("linear", "japanese_vowels")
  c.epochs = 30
  c.batch_size = 32
  c.optimizer.learning_rate = 1e-2
  c.schedule.name = "plateau"
  c.schedule.patience = 3
  return apply_smoke(c) if a.smoke else c
