"""The held-back CNN search on the 5k MNIST subset (../shared/bench/ray_hypertune, "MLP / CNN on mnist_5k",
`hypertune_mnist.py --model cnn`): two blocks of conv k x k 'same' + ReLU + 2x2 max pool, then Dense(u) + ReLU
+ Dense(10); filters randint 8..64 per block, kernel 3 or 5, u randint 32..256, Adam learning rate
log-uniform 1e-4..1e-2 (constant, no weight decay), batch 64, 20 random trials, ASHA (grace 1, factor 3) over
at most 8 epochs.

  python -m mlexp.main --config=configs/sweeps/cnn_search.py --workdir=runs/cnn_search
  --config=configs/sweeps/cnn_search.py:smoke      a seconds-long check
Filters, dense units and the kernel size can be padded into shared programs (sweep.padding=auto; a 3x3 kernel
is a 5x5 one with a zero border, docs/sweeps.md); on CPU this search is faster with exact shapes (set below).
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import choice, loguniform, randint


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = base_config("cnn", "mnist_5k")
  c.epochs = 8
  c.batch_size = 64
  c.model.filters = (32, 64)  # two conv blocks (the widths are drawn)
  c.model.kernel_size = 3
  c.model.strides = 1
  c.model.padding = "SAME"
  c.model.pool = 2
  c.model.dense = (128,)
  c.model.activation = "relu"
  c.optimizer.name = "adam"
  c.optimizer.weight_decay = 0.0
  c.schedule.name = "constant"
  c.sweep = sweep_block((
      randint("model.filters[0]", 8, 64),  # tune.randint(8, 65): upper bound exclusive
      randint("model.filters[1]", 8, 64),
      choice("model.kernel_size", 3, 5),
      randint("model.dense[0]", 32, 256),  # tune.randint(32, 257)
      loguniform("optimizer.learning_rate", 1e-4, 1e-2),
  ), num_trials=20)
  # exact shapes: on 2 CPU cores the planner's 4 padded programs took 305.5 s, 20 exact ones 201.6 s (the
  # planner under-prices padded CNN training: benchmarks/RESULTS.md, searches.py); padding=auto to compare
  c.sweep.padding = "none"
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (randint("model.filters[0]", 4, 8), randint("model.filters[1]", 4, 8),
                     choice("model.kernel_size", 3, 5), randint("model.dense[0]", 8, 16),
                     loguniform("optimizer.learning_rate", 1e-3, 1e-2))
    c.sweep.num_trials = 3
    c.epochs = 2
  return c
