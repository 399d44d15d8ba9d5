"""Your own data: numpy arrays (`arrays(...)`) and the .npz files they are saved as (`data.name=npz`).

An npz file holds x_train, y_train, x_test, y_test; optionally lengths_train / lengths_test (both or
neither) and class_names. The rank of x decides the kind:
  [N, D]          tabular (feature_shape (D,))
  [N, T, C]       sequence, zero-padded to T steps; lengths_* the true lengths in 1..T (without them: every
                  example T steps long, and Dataset.source says so)
  [N, H, W, C]    image; grayscale images need a trailing channel axis (x[..., None]): rank 3 is a sequence
Labels: integers (or integral floats) >= 0; num_classes is len(class_names) when given, else max label + 1.
Every bad input is a one-line DataError naming the file (or arrays()) and what was expected.

The fingerprint (sha256 over each array's key, dtype, shape and bytes) is the same for arrays(...) and the
file its save() writes, so a workdir can tell the data it was trained on (mlexp/io/workdir.py).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import zipfile
from typing import Optional

import numpy as np

from mlexp.data.checks import check_finite
from mlexp.data.errors import DataError
from mlexp.data.types import Dataset, Split

REQUIRED = ('x_train', 'y_train', 'x_test', 'y_test')
OPTIONAL = ('lengths_train', 'lengths_test', 'class_names')
KEYS = REQUIRED + OPTIONAL
KINDS = {2: 'tabular', 3: 'sequence', 4: 'image'}
SHAPES = 'x [N, D] (tabular), [N, T, C] (sequences) or [N, H, W, C] (images)'
FULL_LENGTH = 'rank-3 x without lengths_*: read as full-length sequences'


def fingerprint(a: dict) -> str:
  """16 hex digits of a sha256 over the present keys of a (sorted): each key, its dtype, shape and bytes."""
  h = hashlib.sha256()
  for k in sorted(k for k in a if a[k] is not None):
    v = np.ascontiguousarray(a[k])
    h.update(f'{k}:{v.dtype.str}:{v.shape};'.encode())
    h.update(v.reshape(-1).view(np.uint8))
  return h.hexdigest()[:16]


def _integers(v: np.ndarray, key: str, where: str, what: str) -> np.ndarray:
  """v as int32: integer or bool dtype, or floats with integral values; DataError otherwise."""
  if v.dtype.kind in 'iub':
    ok = v.size == 0 or (int(v.max()) < 2**31 and int(v.min()) >= -2**31)
  elif v.dtype.kind == 'f':
    ok = bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.all(np.abs(v) < 2**31))
  else:
    ok = False
  if not ok:
    raise DataError(f'{where}: {key} has dtype {v.dtype} and values like {v.reshape(-1)[:3].tolist()}; expected '
                    f'{what} as integers (int32 range)')
  return v.astype(np.int32)


def _numeric(v: np.ndarray, key: str, where: str) -> None:
  if v.dtype.kind not in 'biuf':
    raise DataError(f'{where}: {key} has dtype {v.dtype}; expected numbers (ints or floats)')


def check(a: dict, where: str) -> dict:
  """The checked parts of a (key -> array or None): kind, num_classes, class_names, labels and lengths as
  int32, and notes for Dataset.source. x is not copied. DataError naming `where` for the first problem."""
  xtr, xte = a['x_train'], a['x_test']
  _numeric(xtr, 'x_train', where)
  _numeric(xte, 'x_test', where)
  if xtr.ndim not in KINDS:
    raise DataError(f'{where}: x_train has shape {xtr.shape} (rank {xtr.ndim}); expected {SHAPES}; grayscale '
                    'images need a trailing channel axis (x[..., None])')
  if xte.ndim != xtr.ndim:
    raise DataError(f'{where}: x_train has rank {xtr.ndim} {xtr.shape} but x_test rank {xte.ndim} {xte.shape}; '
                    'expected the same rank')
  kind = KINDS[xtr.ndim]
  if 0 in xtr.shape[1:]:
    raise DataError(f'{where}: x_train has shape {xtr.shape}; expected at least one feature (no axis of size 0 '
                    'after N)')
  same = (lambda s: s[2:]) if kind == 'sequence' else (lambda s: s[1:])  # sequence lengths T may differ
  if same(xtr.shape) != same(xte.shape):
    part = 'channels' if kind == 'sequence' else 'example shape'
    raise DataError(f'{where}: x_train has shape {xtr.shape} but x_test {xte.shape}; expected the same {part} '
                    'in train and test')
  for s in ('train', 'test'):
    x, y = a[f'x_{s}'], a[f'y_{s}']
    if len(x) == 0:
      raise DataError(f'{where}: x_{s} has no examples (shape {x.shape}); expected at least one')
    if y.ndim != 1 or len(y) != len(x):
      raise DataError(f'{where}: y_{s} has shape {y.shape} but x_{s} {x.shape}; expected one label per example, '
                      f'y_{s} of shape ({len(x)},)')
  ys = {s: _integers(a[f'y_{s}'], f'y_{s}', where, 'class labels') for s in ('train', 'test')}
  for s, y in ys.items():
    if (y < 0).any():
      i = int(np.nonzero(y < 0)[0][0])
      raise DataError(f'{where}: y_{s} has the negative label {y[i]} at index {i}; expected labels 0, 1, 2, ...')
  top = max(int(ys['train'].max()), int(ys['test'].max()))
  names = a.get('class_names')
  if names is not None:
    if names.ndim != 1 or len(names) == 0 or names.dtype.kind not in 'USiu':
      raise DataError(f'{where}: class_names has shape {names.shape} and dtype {names.dtype}; expected a 1-d '
                      'array of names (strings), one per class')
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist())
    if top >= len(names):
      raise DataError(f'{where}: the label {top} is not a class of class_names ({len(names)} names); expected '
                      f'labels in [0, {len(names)})')
  lengths = _lengths(a, kind, where)
  for s in ('train', 'test'):
    check_finite(a[f'x_{s}'], f'{where}, x_{s}')
  notes = (FULL_LENGTH,) if kind == 'sequence' and lengths['train'] is None else ()
  return {'kind': kind, 'num_classes': len(names) if names is not None else top + 1, 'class_names': names,
          'y': ys, 'lengths': lengths, 'notes': notes}


def _lengths(a: dict, kind: str, where: str) -> dict:
  """lengths_train / lengths_test as int32 [N] in 1..T (sequences), or None for both."""
  given = [k for k in ('lengths_train', 'lengths_test') if a.get(k) is not None]
  if not given:
    return {'train': None, 'test': None}
  if kind != 'sequence':
    raise DataError(f'{where}: {given[0]} is given but x_train has shape {a["x_train"].shape} ({kind}); '
                    'expected lengths_* only with sequences x [N, T, C]')
  if len(given) == 1:
    raise DataError(f'{where}: {given[0]} is given without the other; expected both lengths_train and '
                    'lengths_test, or neither (full-length sequences)')
  out = {}
  for s in ('train', 'test'):
    x, v = a[f'x_{s}'], a[f'lengths_{s}']
    if v.ndim != 1 or len(v) != len(x):
      raise DataError(f'{where}: lengths_{s} has shape {v.shape} but x_{s} {x.shape}; expected one length per '
                      f'example, shape ({len(x)},)')
    n = _integers(v, f'lengths_{s}', where, 'sequence lengths')
    bad = np.nonzero((n < 1) | (n > x.shape[1]))[0]
    if bad.size:
      i = int(bad[0])
      raise DataError(f'{where}: lengths_{s}[{i}] = {n[i]}; expected lengths in 1..{x.shape[1]} (the T of x_{s} '
                      f'{x.shape})')
    out[s] = n
  return out


def _split(x: np.ndarray, y: np.ndarray, lengths, kind: str) -> Split:
  x = np.asarray(x, np.float32)
  if kind == 'sequence':
    t = x.shape[1]
    if lengths is None:
      lengths = np.full(len(x), t, np.int32)
    else:  # steps past an example's length are padding: exactly 0, as every sequence loader delivers
      x = np.where((np.arange(t)[None, :] < lengths[:, None])[..., None], x, np.float32(0))
  return Split(x, y, lengths)


def dataset(a: dict, name: str, source: str, fp: Optional[str] = None, where: str = '') -> Dataset:
  """The Dataset of the arrays a (key -> array or None); `where` (else `source`) names them in every message."""
  c = check(a, where or source)
  kind = c['kind']
  train, test = (_split(a[f'x_{s}'], c['y'][s], c['lengths'][s], kind) for s in ('train', 'test'))
  shape = train.x.shape[2:] if kind == 'sequence' else train.x.shape[1:]
  if c['notes']:
    source += ' (' + '; '.join(c['notes']) + ')'
  return Dataset(name=name, source=source, kind=kind, num_classes=c['num_classes'], feature_shape=tuple(shape),
                 train=train, test=test, class_names=c['class_names'], fingerprint=fp)


def _line(e: Exception) -> str:
  """The start of an exception's message, on one line."""
  text = ' '.join(str(e).split())
  return text[:120] + ('...' if len(text) > 120 else '')


def read(path: str) -> Dataset:
  """The Dataset of the npz file at path (data.name=npz, data.path=path)."""
  where = f'data.path={path}'
  if not os.path.isfile(path):
    raise DataError(f'{where}: no such file; expected an .npz file with {", ".join(REQUIRED)} (np.savez or '
                    'mlexp.data.arrays(...).save(path))')
  if not zipfile.is_zipfile(path):
    raise DataError(f'{where}: not an npz (zip) file; expected one written by np.savez with {", ".join(REQUIRED)}')
  a, k = {}, 'the arrays'
  try:
    with np.load(path, allow_pickle=False) as f:
      have = sorted(f.files)
      missing = [k for k in REQUIRED if k not in have]
      if missing:
        raise DataError(f'{where}: missing {", ".join(missing)}; it has {", ".join(have) or "no arrays"}; expected '
                        f'{", ".join(REQUIRED)} (optional: {", ".join(OPTIONAL)})')
      for k in KEYS:
        if k in have:
          a[k] = f[k]
  except DataError:
    raise
  except ValueError as e:  # object arrays (allow_pickle=False) and damaged members
    raise DataError(f'{where}: cannot read {k} ({_line(e)}); expected numeric arrays (and strings for '
                    'class_names) saved with np.savez') from None
  except Exception as e:  # noqa: BLE001 (whatever zipfile / numpy raise on a damaged file)
    raise DataError(f'{where}: damaged npz file ({type(e).__name__}: {_line(e)}); save it again with np.savez') \
        from None
  source = f'npz file {os.path.abspath(path)}'
  ignored = [k for k in have if k not in KEYS]
  if ignored:
    source += f' (ignored keys: {", ".join(ignored)})'
  return dataset(a, os.path.basename(path), source, fingerprint(a), where)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Arrays:
  """Checked arrays of your own data (make them with `arrays(...)`); `save(path)` writes the npz that
  data.name=npz reads, with the same `fingerprint`."""
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  lengths_train: Optional[np.ndarray] = None
  lengths_test: Optional[np.ndarray] = None
  class_names: Optional[np.ndarray] = None
  kind: str = ''  # tabular, sequence or image (from the rank of x)
  num_classes: int = 0

  def __repr__(self) -> str:
    return (f'Arrays({self.kind}: x_train {self.x_train.shape}, x_test {self.x_test.shape}, {self.num_classes} '
            f'classes, fingerprint {self.fingerprint})')

  def as_dict(self) -> dict:
    """key -> array of the keys that are present (what save() writes)."""
    return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}

  @functools.cached_property
  def fingerprint(self) -> str:
    return fingerprint(self.as_dict())

  def save(self, path: str) -> str:
    """Writes the npz (np.savez, uncompressed; atomically) at exactly path; returns path."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
      np.savez(f, **self.as_dict())
    os.replace(tmp, path)
    return path

  def dataset(self, name: str = 'arrays') -> Dataset:
    """The Dataset these arrays load as (before subsampling and standardization)."""
    return dataset(self.as_dict(), name, 'mlexp.data.arrays(...)', self.fingerprint)


def arrays(x_train, y_train, x_test, y_test, lengths_train=None, lengths_test=None, class_names=None) -> Arrays:
  """Your own data as checked Arrays (keys and shapes as in an npz file: see this module); DataError now
  for anything data.name=npz would refuse."""
  a = {'x_train': x_train, 'y_train': y_train, 'x_test': x_test, 'y_test': y_test,
       'lengths_train': lengths_train, 'lengths_test': lengths_test}
  a = {k: None if v is None else np.asarray(v) for k, v in a.items()}
  if class_names is not None:
    names = np.asarray(class_names)
    a['class_names'] = names if names.ndim != 1 else np.asarray(
        [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()])
  if any(v is not None and v.dtype == object for v in a.values()):
    k = next(k for k, v in a.items() if v is not None and v.dtype == object)
    raise DataError(f'mlexp.data.arrays(...): {k} holds Python objects; expected numeric arrays of one shape')
  c = check(a, 'mlexp.data.arrays(...)')
  return Arrays(**{k: v for k, v in a.items() if v is not None}, kind=c['kind'], num_classes=c['num_classes'])
