"""mlexp data layer: `load(data_cfg, eval_cfg)` returns a `Dataset` of numpy arrays; `arrays(...)` checks your
own arrays (saved as the npz file that data.name=npz reads)."""
from mlexp.data.length_buckets import bucketize
from mlexp.data.errors import DataError
from mlexp.data.catalog import NAMES as DATASETS
from mlexp.data.loader import load
from mlexp.data.npz import Arrays, arrays
from mlexp.data.types import Dataset, Split

__all__ = ['load', 'DataError', 'bucketize', 'DATASETS', 'Split', 'Dataset', 'Arrays', 'arrays']
