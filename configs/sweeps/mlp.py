"""MLP search on images (the course's Fashion-MNIST exercise; offline default: the 5k MNIST subset).

Variants (after a colon, comma-separated):
  (none)   random search, 30 trials x ASHA: units1 x units2 in powers of two 16..1024, an extra layer,
           batch size 4..128, epochs, learning rate 1e-5..1e-2 log-uniform, optimizer sgd/adam/adamw/rmsprop
  units    full grid units1 x units2 (16..1024) run to the end: the heatmap of the report
  smoke    a seconds-long check

  python -m mlexp.main --config=configs/sweeps/mlp.py --workdir=runs/mlp_sweep
  python -m mlexp.main --config=configs/sweeps/mlp.py:units --config.data.name=fashion_mnist
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import choice, grid, loguniform

POW2 = (16, 32, 64, 128, 256, 512, 1024)


def get_config(arg=None):
  a = parse_arg(arg, smoke=False, units=False)
  c = base_config("mlp", "mnist_5k")
  c.epochs = 10
  c.batch_size = 64
  c.schedule.name = "constant"
  if a.units:
    c.epochs = 5
    c.sweep = sweep_block((grid("model.units[0]", *POW2), grid("model.units[1]", *POW2)), mode="full")
  else:
    c.sweep = sweep_block((
        choice("model.units[0]", *POW2),
        choice("model.units[1]", *POW2),
        choice("model.units", (256, 256), (256, 256, 128)),  # the extra layer
        choice("batch_size", 4, 8, 16, 32, 64, 128),
        choice("epochs", 3, 5, 10),
        loguniform("optimizer.learning_rate", 1e-5, 1e-2),
        choice("optimizer.name", "sgd", "adam", "adamw", "rmsprop"),
    ), num_trials=30)
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (grid("model.units[0]", 16, 32), grid("model.units[1]", 16, 32),
                     loguniform("optimizer.learning_rate", 1e-3, 1e-2))
    c.sweep.num_trials = 2
    c.sweep.mode = "full"
  return c
