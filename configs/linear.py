"""The baseline for sequences: masked mean over time, then one linear layer.

  python -m mlexp.main --config=configs/linear.py --workdir=runs/linear
"""
from mlexp.config import apply_smoke, parse_arg, sequence_config


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = sequence_config("linear")
  return apply_smoke(c) if a.smoke else c
