"""The data tests check what each reader loads: the whole training split, unless a test sets
data.validation_fraction itself (tests/data/test_loader.py checks the validation split)."""
import pytest

from mlexp.data import loader


@pytest.fixture(autouse=True)
def no_validation_split(monkeypatch):
  real = loader.complete

  def complete(data_cfg, eval_cfg=None):
    d, e = real(data_cfg, eval_cfg)
    if data_cfg is None or 'validation_fraction' not in data_cfg:
      d.validation_fraction = 0.0
    return d, e
  monkeypatch.setattr(loader, 'complete', complete)
