"""The one error type of the data layer."""


class DataError(Exception):
  """A data set cannot be loaded; the one-line message names what and says what to do."""


MAX_ABS = 3.4028234663852886e38  # the largest float32: larger values become inf as float32


def finite_float(token: str, line: int) -> float:
  """A text token of a raw file as a finite float32 value; ValueError naming the line and the token."""
  try:
    v = float(token)
  except ValueError:
    raise ValueError(f'line {line}: non-numeric value {token[:40]!r}') from None
  if v != v or abs(v) > MAX_ABS:
    raise ValueError(f'line {line}: value {token[:40]!r} is not a finite float32')
  return v
