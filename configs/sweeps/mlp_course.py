"""MLP search on the 5k MNIST subset where every trial has its own shape (issue 10, benchmarks/peers.py):
units per layer randint 16..1024, drawn independently for each of 1-3 layers, batch size 32 / 64 / 128,
30 random trials, ASHA (grace 1, factor 3) over at most 10 epochs, Adam 1e-3, constant learning rate
(the mode, epochs and optimizer of configs/sweeps/mlp.py's search).

  python -m mlexp.main --config=configs/sweeps/mlp_course.py --workdir=runs/mlp_course
  --config=configs/sweeps/mlp_course.py:smoke      a seconds-long check
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import choice, randint_tuple


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = base_config("mlp", "mnist_5k")
  c.epochs = 10
  c.batch_size = 64
  c.schedule.name = "constant"
  c.sweep = sweep_block((
      randint_tuple("model.units", 16, 1024, 1, 3),  # 1-3 Dense layers, each 16..1024 units
      choice("batch_size", 32, 64, 128),
  ), num_trials=30)
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (randint_tuple("model.units", 8, 32, 1, 2), choice("batch_size", 32, 64))
    c.sweep.num_trials = 3
    c.epochs = 2
  return c
