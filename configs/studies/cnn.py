"""A CNN study on images: one knob at a time from a baseline, 3 seeds each, also tested on the moved and
rotated copies of the test set (eval.transforms).

Baseline: filters (32, 64), kernel 3, strides 1, dense (128,), Adam 1e-3, 10 epochs, constant learning rate.
Knobs (each alone): kernel size 3/5/7; strides 1/2; model.filters (16,32)..(64,128) and depth (32,) /
(32,64,128) (one knob: the same field).

  python -m mlexp.main --config=configs/studies/cnn.py --workdir=runs/cnn_study
  python -m mlexp.report runs/cnn_study
  --config=configs/studies/cnn.py:smoke      a seconds-long check
"""
from mlexp.config import apply_smoke, image_config, parse_arg, sweep_block
from mlexp.sweeps.space import grid


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = image_config("cnn")
  c.epochs = 10
  c.seeds = 3
  c.schedule.name = "constant"
  c.eval.transforms = ("moved", "rotated")
  c.sweep = sweep_block((
      grid("model.kernel_size", 3, 5, 7),
      grid("model.strides", 1, 2),
      grid("model.filters", (16, 32), (32, 64), (64, 128), (32,), (32, 64, 128)),
  ), algorithm="one_at_a_time")
  if a.smoke:
    apply_smoke(c)
    c.seeds = 2
    c.sweep.space = (grid("model.kernel_size", 3, 5), grid("model.filters", (8, 8), (8,)))
  return c
