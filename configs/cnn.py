"""CNN on images (compare with configs/mlp.py, including the moved and rotated test sets).

  python -m mlexp.main --config=configs/cnn.py --workdir=runs/cnn
  --config.model.kernel_size=5 --config.model.strides=2 --config.model.filters='(16,32,64)'
"""
from mlexp.config import apply_smoke, image_config, parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = image_config("cnn")
  return apply_smoke(c) if a.smoke else c
