"""Week 1 as a study: an MLP on images, one knob at a time from a baseline, 3 seeds each (the course's table
of test accuracy and training time per setting; offline default: the 5k MNIST subset).

Baseline: units (256, 256), batch 64, 10 epochs, Adam 1e-3, constant learning rate, no early stopping.
Knobs (each alone, every other field at the baseline): epochs 3/5/10; model.units (16,16)..(1024,1024) and
(256,256,128), the extra layer (one knob: the same field); batch size 4..128; learning rate 1e-2..1e-5;
optimizer sgd/momentum/adam/adamw/rmsprop (as torch.optim's: sgd without momentum, momentum 0.9, adamw with
weight decay 0.01; README "Optimizers").

  python -m mlexp.main --config=configs/studies/week1.py --workdir=runs/week1
  python -m mlexp.report runs/week1          # report/study.md, study.csv, a figure per knob
  --config=configs/studies/week1.py:smoke    a seconds-long check
"""
from mlexp.config import apply_smoke, image_config, parse_arg, sweep_block
from mlexp.sweeps.space import grid


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = image_config("mlp")
  c.epochs = 10
  c.seeds = 3
  c.batch_size = 64
  c.schedule.name = "constant"  # the epochs knob then changes the training length only
  c.eval.transforms = ()
  c.sweep = sweep_block((
      grid("epochs", 3, 5, 10),
      grid("model.units", (16, 16), (64, 64), (256, 256), (1024, 1024), (256, 256, 128)),
      grid("batch_size", 4, 8, 16, 32, 64, 128),
      grid("optimizer.learning_rate", 1e-2, 1e-3, 1e-4, 1e-5),
      grid("optimizer.name", "sgd", "momentum", "adam", "adamw", "rmsprop"),
  ), algorithm="one_at_a_time")
  if a.smoke:
    apply_smoke(c)
    c.seeds = 2
    c.sweep.space = (grid("model.units", (16, 16), (32, 32), (32, 32, 16)), grid("batch_size", 32, 64),
                     grid("optimizer.name", "sgd", "adam"))
  return c
