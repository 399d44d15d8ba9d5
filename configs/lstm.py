"""LSTM on variable-length multivariate sequences. Default data: JapaneseVowels (UEA archive, shipped in aeon).

  python -m mlexp.main --config=configs/lstm.py --workdir=runs/lstm
  --config.model.hidden=128 --config.model.layers=3 --config.model.dropout=0.2
  --config.model.conv_filters=32          a Conv1d front end
  --config.data.name=basic_motions        other embedded sets: basic_motions, pickup_gesture_wiimote_z
  --config.data.name=spoken_arabic_digits --config.data.path=FOLDER   (UCI files you have)
"""
from mlexp.config import apply_smoke, parse_arg, sequence_config


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = sequence_config("lstm")
  return apply_smoke(c) if a.smoke else c
