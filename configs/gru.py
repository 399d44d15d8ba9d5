"""GRU on variable-length multivariate sequences. Default data: JapaneseVowels (UEA archive, shipped in aeon).

  python -m mlexp.main --config=configs/gru.py --show         every field: value, source, comment
  python -m mlexp.main --config=configs/gru.py --workdir=runs/gru
  --config.model.hidden=128 --config.model.layers=3 --config.model.dropout=0.2
  --config.model.conv_filters=32          a Conv1d front end
  --config.data.name=basic_motions        other embedded sets: basic_motions, pickup_gesture_wiimote_z
  --config.data.name=spoken_arabic_digits --config.data.path=FOLDER   (UCI files you have)
"""
from mlexp.config import apply_smoke, parse_arg, sequence_config


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = sequence_config("gru")  # the rest: --show (defaults in mlexp/config/defaults.py, mlexp/models/rnn/spec.py)
  # the fields changed most (change them here, or with --config.<field>=<value>)
  c.model.hidden = 64  # units of each recurrent layer
  c.model.layers = 2
  c.model.dropout = 0.0  # between recurrent layers
  c.epochs = 30
  c.batch_size = 32
  c.optimizer.name = "adam"  # sgd | momentum | adam | adamw | rmsprop
  c.optimizer.learning_rate = 3e-3
  c.schedule.name = "plateau"  # constant | plateau | cosine
  c.schedule.factor = 0.1  # plateau: lr *= factor after `patience` epochs without a better validation loss
  c.schedule.patience = 3
  c.early_stopping.patience = 8  # epochs without improvement before stopping; 0 = off
  return apply_smoke(c) if a.smoke else c
