"""Pure parser for the UCI Spoken Arabic Digit files (13 MFCCs per frame)."""
from __future__ import annotations

import numpy as np

from mlexp.data.errors import finite_float
CLASS_NAMES = tuple(f'{d}-{g}' for d in range(10) for g in ('male', 'female'))


def parse_blocks(text: str) -> list[np.ndarray]:
  """Splits the text into blocks ([T_i, 13] float32) separated by blank lines."""
  blocks, rows = [], []
  for num, line in enumerate(text.splitlines(), 1):
    parts = line.split()
    if not parts:
      if rows:
        blocks.append(np.array(rows, np.float32))
        rows = []
      continue
    if len(parts) != 13:
      raise ValueError(f'line {num}: expected 13 MFCC values, got {len(parts)}')
    rows.append([finite_float(p, num) for p in parts])
  if rows:
    blocks.append(np.array(rows, np.float32))
  return blocks


def labels(num_blocks: int) -> np.ndarray:
  """Labels digit*2 + gender for blocks in file order: per digit, half male then half female."""
  if num_blocks == 0 or num_blocks % 20:
    raise ValueError(f'{num_blocks} blocks: expected a positive multiple of 20 (10 digits x 2 genders)')
  half = num_blocks // 20
  return np.repeat(np.arange(20, dtype=np.int32), half)
