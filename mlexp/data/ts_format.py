"""Pure parser for the UEA/UCR `.ts` time-series format."""
from __future__ import annotations

import numpy as np

from mlexp.data.errors import finite_float


def parse_ts(text: str) -> tuple[list[np.ndarray], list[str], dict]:
  """Parses .ts text into (series [T_i, C] float32, class labels, header dict).

  Lines starting with '#' are comments, '@key value' lines are the header until
  '@data'; each data line has channels separated by ':' (values by ','), the last
  field the class label. '?' and NaN are missing; trailing missing steps (in all
  channels) end a series, inner ones become 0.
  """
  header, series, labels = {}, [], []
  in_data = False
  for num, raw in enumerate(text.splitlines(), 1):
    line = raw.strip()
    if not line or line.startswith('#'):
      continue
    if not in_data:
      if line.startswith('@'):
        key, _, value = line[1:].partition(' ')
        if key.lower() == 'data':
          in_data = True
        else:
          header[key.lower()] = value.strip()
        continue
      raise ValueError(f'line {num}: expected a header line or @data, got {line[:40]!r}')
    fields = line.split(':')
    if len(fields) < 2:
      raise ValueError(f'line {num}: expected channels and a class label separated by ":"')
    x = _channels(fields[:-1], num)
    if series and x.shape[1] != series[0].shape[1]:
      raise ValueError(f'line {num}: {x.shape[1]} channels, but the first series has {series[0].shape[1]}')
    if not len(x):
      raise ValueError(f'line {num}: the series has no values (all missing)')
    labels.append(fields[-1].strip())
    series.append(x)
  if not in_data:
    raise ValueError('no @data line')
  return series, labels, header


def _channels(fields: list[str], num: int) -> np.ndarray:
  chans = []
  for f in fields:
    vals = [v.strip() for v in f.split(',')]
    chan = []
    for v in vals:
      if v in ('?', '') or v.lower() == 'nan':
        chan.append(np.nan)
        continue
      chan.append(finite_float(v, num))
    chans.append(chan)
  length = max(len(c) for c in chans)
  arr = np.full((length, len(chans)), np.nan, np.float64)
  for j, c in enumerate(chans):
    arr[:len(c), j] = c
  valid = ~np.all(np.isnan(arr), axis=1)
  end = int(np.nonzero(valid)[0][-1]) + 1 if valid.any() else 0
  return np.nan_to_num(arr[:end], nan=0.0).astype(np.float32)


def encode_labels(*label_lists: list[str]) -> tuple[list[np.ndarray], tuple]:
  """Maps string labels to ints in sorted order (numeric if all numeric), shared by all lists."""
  names = sorted({l for ls in label_lists for l in ls})
  try:
    names = sorted(names, key=float)
  except ValueError:
    pass
  index = {n: i for i, n in enumerate(names)}
  return [np.array([index[l] for l in ls], np.int32) for ls in label_lists], tuple(names)


def pad(series: list[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Zero-pads [T_i, C] series to [N, T, C] float32; returns (x, lengths int32)."""
  lengths = np.array([len(s) for s in series], np.int32)
  t = int(length if length is not None else (lengths.max() if len(series) else 0))
  c = series[0].shape[1] if series else 0
  x = np.zeros((len(series), t, c), np.float32)
  for i, s in enumerate(series):
    x[i, :len(s)] = s
  return x, lengths
