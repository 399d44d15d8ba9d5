"""CNN on images (compare with configs/mlp.py, including the moved and rotated test sets).

  python -m mlexp.main --config=configs/cnn.py --show         every field: value, source, comment
  python -m mlexp.main --config=configs/cnn.py --workdir=runs/cnn
  --config.model.kernel_size=5 --config.model.strides=2 --config.model.filters='(16,32,64)'
"""
from mlexp.config import apply_smoke, image_config, parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = image_config("cnn")  # the rest: --show (defaults in mlexp/config/defaults.py)
  # the fields changed most (change them here, or with --config.<field>=<value>)
  c.model.filters = (32, 64)  # conv blocks, one entry (its filters) each
  c.model.kernel_size = 3
  c.model.strides = 1
  c.model.dense = (128,)  # Dense layers after the conv blocks
  c.epochs = 15
  c.batch_size = 64
  c.optimizer.name = "adam"  # sgd | momentum | adam | adamw | rmsprop
  c.optimizer.learning_rate = 1e-3
  c.schedule.name = "plateau"  # constant | plateau | cosine
  c.schedule.factor = 0.1  # plateau: lr *= factor after `patience` epochs without a better validation loss
  c.schedule.patience = 2
  return apply_smoke(c) if a.smoke else c
