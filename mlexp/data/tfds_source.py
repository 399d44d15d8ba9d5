"""(Fashion-)MNIST through tensorflow-datasets; fails fast instead of starting a download."""
from __future__ import annotations

import numpy as np

from mlexp.data.errors import DataError
from mlexp.data.raw import CLASS_NAMES, images_split
from mlexp.data.types import Dataset


def load_tfds(name: str, data_dir: str = '', download: bool = False) -> Dataset:
  """Loads a prepared tfds data set; downloads only when download=True."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise DataError(f'{name} via tensorflow-datasets needs the tensorflow-datasets package; run: pip install -e . '
                    'or point --config.data.path at a folder of IDX files') from None
  builder = tfds.builder(name, data_dir=data_dir or None)
  where = builder.data_dir
  if not builder.is_prepared():
    if not download:
      raise DataError(f'{name} is not prepared in {where}; run with --config.data.download=True on a machine with '
                      f'internet, or point --config.data.path at a folder of IDX files (train-images-idx3-ubyte.gz, '
                      f'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)')
    _need_tensorflow(name)
    builder.download_and_prepare()
  _need_tensorflow(name)
  arrays = tfds.as_numpy(builder.as_dataset(split=['train', 'test'], batch_size=-1))
  train, test = (images_split(np.asarray(a['image']), np.asarray(a['label']), f'{name} {s}')
                 for a, s in zip(arrays, ('train', 'test')))
  return Dataset(name=name, source=f'tensorflow-datasets {tfds.__version__} {name} prepared in {builder.data_dir}',
                 kind='image', num_classes=len(CLASS_NAMES[name]), feature_shape=tuple(train.x.shape[1:]),
                 train=train, test=test, class_names=CLASS_NAMES[name])


def _need_tensorflow(name: str) -> None:
  try:
    import tensorflow  # noqa: F401  (tfds reads its prepared files through TensorFlow)
  except ImportError:
    raise DataError(f'{name} via tensorflow-datasets needs TensorFlow, which is not installed; run: '
                    'pip install -e .[tfds]  (or point --config.data.path at a folder of IDX files)') from None
