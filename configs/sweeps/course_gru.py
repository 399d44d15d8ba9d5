"""The MADS course's own Ray Tune GRU search (../shared/bench/ray_hypertune), written as an mlexp sweep on
the embedded JapaneseVowels sequences: hidden size randint 16..127, layers randint 2..4, dropout U(0, 0.3),
50 random trials, ASHA (grace 1, factor 3) over at most 10 epochs, Adam 1e-3 with weight decay 1e-5,
reduce-on-plateau 0.5 / 5, batch 32.

  python -m mlexp.main --config=configs/sweeps/course_gru.py --workdir=runs/course_gru
  --config=configs/sweeps/course_gru.py:smoke      a seconds-long check
  --config.seeds=8                                 every trial over 8 seeds
  --config=configs/sweeps/course_gru.py:lstm       the same search with an LSTM cell (../shared/bench/ray_hypertune,
                                                   `hypertune.py --cell lstm`); :lstm,smoke for its check
Hidden size and depth change array shapes: the planner pads them into a few width buckets and runs depth
as data (sweep.padding), so the 50 trials share a handful of compiled programs.
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import randint, uniform


def get_config(arg=None):
  a = parse_arg(arg, smoke=False, lstm=False)
  c = base_config("lstm" if a.lstm else "gru", "japanese_vowels")
  c.epochs = 10
  c.batch_size = 32
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.weight_decay = 1e-5
  c.schedule.name = "plateau"
  c.schedule.factor = 0.5
  c.schedule.patience = 5
  c.sweep = sweep_block((
      randint("model.hidden", 16, 127),  # tune.randint(16, 128): upper bound exclusive
      randint("model.layers", 2, 4),  # tune.randint(2, 5)
      uniform("model.dropout", 0.0, 0.3),
  ), num_trials=50)
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (randint("model.hidden", 8, 24), randint("model.layers", 1, 3),
                     uniform("model.dropout", 0.0, 0.3))
    c.sweep.num_trials = 6
    c.epochs = 3
  return c
