"""Train the attention-pooling GRU of attn_gru.py on JapaneseVowels (shipped in aeon):

  python -m mlexp.main --config=examples/own_model/attn_gru_config.py --workdir=runs/attn_gru
  python -m mlexp.main --config=examples/own_model/attn_gru_config.py --config.model.hidden=64 --config.seeds=4
  python -m mlexp.main --config=examples/own_model/attn_gru_config.py:sweep --workdir=runs/attn_gru_sweep

`base_config("attn_gru.py:AttnGRU", data)` reads the class: config.model gets its fields (hidden, conv_filters)
and `dropout` (its __call__ takes dropout_rate), with the class's defaults. The path is relative to this file.
"""
from mlexp.config import base_config, parse_arg, sweep_block
from mlexp.sweeps.space import grid, loguniform


def get_config(arg=None):
  a = parse_arg(arg, smoke=False, sweep=False)
  c = base_config("attn_gru.py:AttnGRU", "japanese_vowels")
  c.epochs = 20
  c.batch_size = 32
  c.optimizer.learning_rate = 3e-3
  c.schedule.patience = 3
  c.model.hidden = 32
  if a.sweep:  # static field hidden: one program per value; learning rate and dropout: data, vmapped
    c.sweep = sweep_block([grid("model.hidden", 16, 32), loguniform("optimizer.learning_rate", 1e-3, 1e-2),
                           grid("model.dropout", 0.0, 0.2)], num_trials=4)
  if a.smoke:
    c.epochs, c.data.max_train, c.data.max_test, c.model.hidden = 2, 128, 64, 8
  return c
