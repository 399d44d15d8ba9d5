"""The week-1 MLP search of issue 26, the same space as the peers' `hypertune_mnist.py --model mlp`
(../shared/bench/ray_hypertune/mnist5k.py): two Dense layers of 16..1024 units each (powers of two), batch size
16 / 32 / 64 / 128, Adam with a log-uniform learning rate 1e-4..1e-2 (constant), 30 random trials, ASHA
(grace 1, factor 3) over at most 10 epochs, on the 5k MNIST subset.

  python -m mlexp.main --config=configs/sweeps/mlp_search.py --workdir=runs/mlp_search
  --config=configs/sweeps/mlp_search.py:smoke      a seconds-long check
  --config=configs/sweeps/mlp_search.py:optimizers the optimizer drawn too (sgd, momentum, adam, adamw, rmsprop)
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import choice, loguniform

POW2 = (16, 32, 64, 128, 256, 512, 1024)


def get_config(arg=None):
  a = parse_arg(arg, smoke=False, optimizers=False)
  c = base_config("mlp", "mnist_5k")
  c.epochs = 10
  c.batch_size = 64
  c.model.units = (256, 256)
  c.optimizer.name = "adam"
  c.schedule.name = "constant"
  c.sweep = sweep_block((
      choice("model.units[0]", *POW2),
      choice("model.units[1]", *POW2),
      choice("batch_size", 16, 32, 64, 128),
      loguniform("optimizer.learning_rate", 1e-4, 1e-2),
  ), num_trials=30)
  if a.optimizers:
    c.sweep.space += (choice("optimizer.name", "sgd", "momentum", "adam", "adamw", "rmsprop"),)
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (choice("model.units[0]", 16, 32), choice("model.units[1]", 16, 32), choice("batch_size", 32, 64),
                     loguniform("optimizer.learning_rate", 1e-3, 1e-2))
    c.sweep.num_trials = 3
    c.epochs = 2
  return c
