"""The model registry (jax-free): every model family, a folder mlexp/models/<family>/, declares `SPECS`, a tuple of
ModelSpec, in its spec.py (its flax Module is in model.py, beside it).

A ModelSpec says everything the rest of mlexp needs to know about a model kind: which data it reads
(image or sequence), its config fields and their defaults, its checks, its smoke-test sizes, tuned
settings for the default configs, and a builder that imports its flax module only when called. Config
defaults (config/defaults.py), validation (config/validate.py) and `build_model` loop over the registry,
so adding a model is a new folder mlexp/models/<family>/ with spec.py and model.py (plus a config file).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import pkgutil
from typing import Callable

# names of models/layers.py:ACTIVATIONS (tested equal), here so that checks need no flax
ACTIVATION_NAMES = ("relu", "gelu", "tanh", "sigmoid", "elu", "silu")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  kind: str  # config.model.kind
  data: str  # "image" or "sequence": the data sets it can read (mlexp/data/catalog.py)
  defaults: dict  # model.<field> -> default (model.dropout included: a vmapped knob)
  check: Callable  # check(config) raises ConfigError (mlexp.config.checks) for a bad model field
  build: Callable  # build(model_cfg, num_classes) -> flax.linen Module (imports flax when called)
  smoke: dict = dataclasses.field(default_factory=dict)  # model.<field> -> value for `:smoke`
  tuned: dict = dataclasses.field(default_factory=dict)  # dotted field -> value in image/sequence_config
  # width padding (mlexp/sweeps/widths.py): the fields members of one padded program may differ in,
  # count(model_cfg, feature_shape, num_classes) -> true parameter count, and
  # dims(bucket_model_cfg, {field: true value}) -> {name: numpy int array}, what the model reads as `dims=`
  padded_fields: tuple = ()
  count: Callable = None
  dims: Callable = None
  # depth as data: parameter name -> the index of the hidden layer it belongs to, or None (the parameters every
  # member has); the optimizer skips the layers past a member's depth (mlexp.training.optim.by_layer)
  layer_of: Callable = None
  tabular: bool = False  # also reads tabular data (x [N, D], data.name=npz with rank-2 x)
  user: bool = False  # a user's own flax Module (mlexp/models/user.py): train=True in every training step
  dropout_data: bool = True  # model.dropout is a vmapped knob (passed as dropout_rate); False: a static field


def accepts(s: ModelSpec, data_kind: str) -> bool:
  """Whether a model of spec s reads data of this kind ("image", "sequence" or "tabular")."""
  return s.data == data_kind or (data_kind == "tabular" and s.tabular)


def _discover() -> dict:
  """kind -> ModelSpec over the families: the folders of mlexp/models/ that hold a spec.py, by name."""
  specs, models = {}, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for info in sorted(pkgutil.iter_modules([models]), key=lambda i: i.name):
    if not (info.ispkg and os.path.isfile(os.path.join(models, info.name, "spec.py"))):
      continue
    for spec in importlib.import_module(f"mlexp.models.{info.name}.spec").SPECS:
      if spec.kind in specs:
        raise ValueError(f"model kind {spec.kind!r} is declared twice (mlexp/models/{info.name}/spec.py)")
      specs[spec.kind] = spec
  return specs


MODELS = _discover()  # kind -> ModelSpec
MODEL_KINDS = tuple(MODELS)
IMAGE_MODELS = tuple(k for k, s in MODELS.items() if s.data == "image")
SEQUENCE_MODELS = tuple(k for k, s in MODELS.items() if s.data == "sequence")


def is_builtin(kind) -> bool:
  return kind in MODELS


def spec(kind: str) -> ModelSpec:
  """The spec of a built-in kind, or of a user's flax Module named by a reference ("FILE.py:Class",
  "package.module:Class"; mlexp/models/user.py). ConfigError for anything else."""
  if kind in MODELS:
    return MODELS[kind]
  from mlexp.models import user
  if not user.is_reference(kind):
    from mlexp.config.checks import ConfigError
    raise ConfigError("model.kind", kind, f"must be one of {', '.join(MODEL_KINDS)}, or your own flax Module as "
                      "FILE.py:Class or package.module:Class")
  return _user_spec(kind, user.generation())


@functools.lru_cache(maxsize=None)
def _user_spec(ref: str, _generation: int) -> ModelSpec:
  """The ModelSpec of a user's class (mlexp/models/user.py reads it, adapter.py runs it): no width buckets, no
  smoke sizes, no tuned values. Read anew after a registration (`_generation`)."""
  from mlexp.models import adapter, user
  i = user.info(ref)
  return ModelSpec(kind=ref, data="sequence" if i.sequence else "image", defaults=user.defaults(ref),
                   check=user.check, build=adapter.build, count=adapter.count, tabular=not i.sequence, user=True,
                   dropout_data=i.dropout_default is not None)
