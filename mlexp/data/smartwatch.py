"""Pure helpers for the Smartwatch Gestures folder tree (one text file per repetition)."""
from __future__ import annotations

import os
import re

import numpy as np

NUM_CLASSES = 20
_MAX_ABS = float(np.finfo(np.float32).max)
XYZ_COLUMNS = (3, 4, 5)  # time, time_nanos, time_event, x, y, z


def gesture_of(path: str) -> int | None:
  """Gesture index 0..19 from the parent folder name ('1'..'20', maybe zero-padded), else None."""
  parent = os.path.basename(os.path.dirname(path))
  if parent.isdigit() and 1 <= int(parent) <= NUM_CLASSES:
    return int(parent) - 1
  return None


def find_files(root: str) -> list[tuple[str, int]]:
  """All text files under root whose parent folder names a gesture, sorted by path."""
  found = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for f in sorted(filenames):
      if f.startswith('.'):
        continue
      path = os.path.join(dirpath, f)
      g = gesture_of(path)
      if g is not None:
        found.append((path, g))
  return sorted(found)


def parse_recording(text: str) -> np.ndarray:
  """Accelerometer x, y, z ([T, 3] float32) from whitespace/comma separated rows. The first non-empty row may
  be a header (non-numeric); any later non-numeric or non-finite value is an error naming its line."""
  rows = []
  first = True
  for num, line in enumerate(text.splitlines(), 1):
    parts = [p for p in re.split(r'[,\s;]+', line.strip()) if p]
    if not parts:
      continue
    vals = []
    for p in parts:
      try:
        vals.append(float(p))
      except ValueError:
        if first:  # a header row
          vals = None
          break
        raise ValueError(f'line {num}: non-numeric value {p[:40]!r}') from None
    first = False
    if vals is None:
      continue
    if len(vals) <= max(XYZ_COLUMNS):
      raise ValueError(f'line {num}: expected at least {max(XYZ_COLUMNS) + 1} columns, got {len(vals)}')
    xyz = [vals[c] for c in XYZ_COLUMNS]
    for c, v in zip(XYZ_COLUMNS, xyz):
      if not np.isfinite(v) or abs(v) > _MAX_ABS:
        raise ValueError(f'line {num}: value {parts[c][:40]!r} is not a finite float32')
    rows.append(xyz)
  if not rows:
    raise ValueError('no numeric rows')
  return np.array(rows, np.float32)
