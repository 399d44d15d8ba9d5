"""The baseline for sequences: masked mean over time, then linear layers (none hidden by default).

  python -m mlexp.main --config=configs/linear.py --show         every field: value, source, comment
  python -m mlexp.main --config=configs/linear.py --workdir=runs/linear
  --config.model.units='(64,)'            one hidden layer of 64 units after the mean
"""
from mlexp.config import apply_smoke, parse_arg, sequence_config


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = sequence_config("linear")  # the rest: --show (defaults in mlexp/config/defaults.py)
  # the fields changed most (change them here, or with --config.<field>=<value>)
  c.model.units = ()  # hidden layers after the mean, one entry each: (64,) one layer; () a linear model
  c.epochs = 30
  c.batch_size = 32
  c.optimizer.name = "adam"  # sgd | momentum | adam | adamw | rmsprop
  c.optimizer.learning_rate = 1e-2
  c.schedule.name = "plateau"  # constant | plateau | cosine
  c.schedule.factor = 0.1  # plateau: lr *= factor after `patience` epochs without a better validation loss
  c.schedule.patience = 3
  return apply_smoke(c) if a.smoke else c
