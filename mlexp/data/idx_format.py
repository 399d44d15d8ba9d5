"""Pure parser for the IDX format of the (Fashion-)MNIST files."""
from __future__ import annotations

import gzip

import numpy as np

_DTYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}


def parse_idx(data: bytes) -> np.ndarray:
  """Parses IDX bytes (gzip-compressed or not) into an array of the stored shape."""
  if data[:2] == b'\x1f\x8b':
    data = gzip.decompress(data)
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
    raise ValueError('not an IDX file (bad magic number)')
  ndim = data[3]
  shape = tuple(int(d) for d in np.frombuffer(data, '>u4', ndim, 4))
  dtype = np.dtype(_DTYPES[data[2]])
  offset = 4 + 4 * ndim
  count = int(np.prod(shape)) if shape else 1
  if len(data) - offset < count * dtype.itemsize:
    raise ValueError(f'IDX file truncated: header says shape {shape}')
  return np.frombuffer(data, dtype, count, offset).reshape(shape).astype(dtype.newbyteorder('='))
