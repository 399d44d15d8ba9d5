"""CNN search on images with the moved / rotated test sets: kernel size x strides x filters x depth,
plus learning rate (vmapped). Offline default data: the 5k MNIST subset.

  python -m mlexp.main --config=configs/sweeps/cnn.py --workdir=runs/cnn_sweep
  --config=configs/sweeps/cnn.py:smoke
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import grid, loguniform


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = base_config("cnn", "mnist_5k")
  c.epochs = 6
  c.batch_size = 64
  c.schedule.name = "constant"
  c.eval.transforms = ("moved", "rotated")
  c.sweep = sweep_block((
      grid("model.kernel_size", 3, 5),
      grid("model.strides", 1, 2),
      grid("model.filters", (16, 32), (32, 64), (16, 32, 64)),  # width and depth
      loguniform("optimizer.learning_rate", 3e-4, 3e-3),
  ), num_trials=2)
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (grid("model.kernel_size", 3, 5), loguniform("optimizer.learning_rate", 1e-3, 3e-3))
    c.sweep.mode = "full"
  return c
