"""The one error type of the data layer."""


class DataError(Exception):
  """A data set cannot be loaded; the one-line message names what and says what to do."""
