"""GRU / LSTM search on the embedded JapaneseVowels sequences: hidden x layers x dropout x learning rate
(x a Conv1d front end), 50 random trials with ASHA early stopping (grace 1 epoch, factor 3).

  python -m mlexp.main --config=configs/sweeps/gru.py --workdir=runs/gru_sweep
  --config=configs/sweeps/gru.py:lstm         the same search for an LSTM
  --config=configs/sweeps/gru.py:smoke        a seconds-long check
  --config.sweep.mode=full                    every trial to the end (no early stopping)
  --config.sweep.num_trials=20 --config.seeds=3
  --config.data.name=spoken_arabic_digits --config.data.path=FOLDER
Hidden size, layers and the front end change array shapes, so trials are grouped by them (one compiled
program per group); learning rate and dropout are vmapped inside a group.
"""
from mlexp.config import apply_smoke, base_config, parse_arg, sweep_block
from mlexp.sweeps.space import choice, loguniform, uniform


def get_config(arg=None):
  a = parse_arg(arg, smoke=False, lstm=False)
  c = base_config("lstm" if a.lstm else "gru", "japanese_vowels")
  c.epochs = 9
  c.batch_size = 32
  c.schedule.name = "constant"
  c.sweep = sweep_block((
      choice("model.hidden", 16, 64, 256),
      choice("model.layers", 1, 2, 3),
      uniform("model.dropout", 0.0, 0.5),
      loguniform("optimizer.learning_rate", 1e-4, 1e-2),
      choice("model.conv_filters", 0, 32),
  ), num_trials=50)
  if a.smoke:
    apply_smoke(c)
    c.sweep.space = (choice("model.hidden", 8, 16), uniform("model.dropout", 0.0, 0.5),
                     loguniform("optimizer.learning_rate", 1e-3, 1e-2))
    c.sweep.num_trials = 6
    c.epochs = 3
  return c
