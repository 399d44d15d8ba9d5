"""A CNN's feature-map sizes (pure): read by its spec (parameter counts, checks) and its flax Module."""
from mlexp.config.checks import ConfigError


def out_size(n: int, k: int, s: int, padding: str) -> int:
  return -(-n // s) if padding == "SAME" else (n - k) // s + 1


def feature_map(hw, filters, kernel_size, strides, padding, pool):
  """(height, width) after the conv blocks (as CNN.__call__); raises ConfigError (a ValueError: the CLI's one line,
  exit 2) when a block gets too small."""
  h, w = hw
  for i, _ in enumerate(filters):
    if min(h, w) < (kernel_size if padding == "VALID" else 1):
      raise ConfigError.plain("model.filters", tuple(filters), (
          f"config.model.filters={tuple(filters)!r}: block {i} gets a {h}x{w} map, smaller than kernel_size "
          f"{kernel_size} with VALID padding; use fewer blocks, a smaller kernel_size or strides, or SAME padding"))
    h, w = out_size(h, kernel_size, strides, padding), out_size(w, kernel_size, strides, padding)
    if pool > 1 and min(h, w) >= pool:
      h, w = h // pool, w // pool
  return h, w
