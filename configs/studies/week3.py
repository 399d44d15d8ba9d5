"""Week 3 as a study: a GRU on the JapaneseVowels sequences, one knob at a time from a baseline, 3 seeds each.

Baseline: 2 GRU layers of 64, no dropout, no Conv1d front end, Adam 3e-3, batch 32, 30 epochs, no early
stopping (every variation runs its epochs). Knobs (each alone): hidden 16..128; layers 1..7; dropout between
layers; a Conv1d front end (model.conv_filters); model.kind lstm instead of gru (its own programs: the kind is
static); learning rate; batch size.

  python -m mlexp.main --config=configs/studies/week3.py --workdir=runs/week3
  python -m mlexp.report runs/week3
  --config=configs/studies/week3.py:smoke    a seconds-long check
"""
from mlexp.config import apply_smoke, parse_arg, sequence_config, sweep_block
from mlexp.sweeps.space import grid


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = sequence_config("gru")
  c.seeds = 3
  c.early_stopping.patience = 0
  c.sweep = sweep_block((
      grid("model.hidden", 16, 32, 64, 128),
      grid("model.layers", 1, 2, 3, 5, 7),
      grid("model.dropout", 0.0, 0.1, 0.3),
      grid("model.conv_filters", 0, 16, 32),
      grid("model.kind", "gru", "lstm"),
      grid("optimizer.learning_rate", 1e-2, 3e-3, 1e-3, 3e-4),
      grid("batch_size", 8, 16, 32, 64),
  ), algorithm="one_at_a_time")
  if a.smoke:
    apply_smoke(c)
    c.seeds = 2
    c.sweep.space = (grid("model.hidden", 8, 16), grid("model.layers", 1, 2), grid("model.kind", "gru", "lstm"))
  return c
