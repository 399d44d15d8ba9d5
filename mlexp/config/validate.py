"""Checks every config value before any work starts. Pure: raises ConfigError, writes nothing."""
from __future__ import annotations

from mlexp.config.checks import ConfigError, choice as _choice, integer as _int, real as _float
from mlexp.config.fields import MEMBER_LOOPS, OPTIMIZERS, SCHEDULES, TRANSFORMS  # noqa: F401 (the one table)
from mlexp.data.catalog import DATASETS, IMAGE_DATA, NAMES, NEEDS_PATH, SEQUENCE_DATA


def validate(c) -> None:
  """Raises ConfigError for the first impossible value in config c (a sweep config: its space too)."""
  if "sweep" in c:
    from mlexp.config.overrides import check_space
    check_space(c)
  _int(c, "seed", 0)
  _int(c, "seeds", 1, 4096)
  _int(c, "epochs", 1)
  _int(c, "batch_size", 1)
  _int(c, "eval_batch_size", 1)
  _choice(c, "member_loop", MEMBER_LOOPS)
  if "time_members" in c:
    _choice(c, "time_members", ("auto", "on", "off"))
  _float(c, "hang_timeout_s", 0.0)
  _int(c, "cpu_devices", 0, 1024)

  _choice(c, "data.name", NAMES)
  _float(c, "data.test_fraction", 0.0, 1.0, lo_open=True, hi_open=True)
  _int(c, "data.split_seed", 0)
  _float(c, "data.validation_fraction", 0.0, 1.0, hi_open=True)
  _int(c, "data.max_train", 0)
  _int(c, "data.max_test", 0)
  _int(c, "data.num_buckets", 0, 64)
  data_spec = DATASETS[c.data.name]
  if c.data.name in NEEDS_PATH and not c.data.path:
    raise ConfigError("data.path", c.data.path,
                      f"{c.data.name} is read from files you have: set --config.data.path={data_spec.path_is}")

  from mlexp.models.specs import spec as model_spec  # (here: its spec modules import mlexp.config)
  if not isinstance(c.model.kind, str):
    raise ConfigError("model.kind", c.model.kind, "must be a model kind or a FILE.py:Class reference (a string)")
  spec = model_spec(c.model.kind)  # ConfigError for an unknown kind or a reference that does not resolve
  known = data_spec.kind != "any"  # npz: its kind is the rank of its x, checked when loaded (validate_dataset)
  image_data = data_spec.kind == "image"
  if known and spec.data == "image" and not image_data:
    raise ConfigError("data.name", c.data.name, f"model.kind={spec.kind} needs image data: one of "
                      + ", ".join(IMAGE_DATA) + ", or npz (your own arrays)")
  if known and spec.data == "sequence" and image_data:
    raise ConfigError("data.name", c.data.name, f"model.kind={spec.kind} needs sequence data: one of "
                      + ", ".join(SEQUENCE_DATA) + ", or npz (your own arrays)")
  if spec.dropout_data:
    _float(c, "model.dropout", 0.0, 1.0, hi_open=True)
  spec.check(c)

  _choice(c, "optimizer.name", OPTIMIZERS)
  _float(c, "optimizer.learning_rate", 0.0, lo_open=True)
  if c.optimizer.get("weight_decay") is not None:  # None: the optimizer's own (config/hparams.py)
    _float(c, "optimizer.weight_decay", 0.0)
  if c.optimizer.get("momentum") is not None:
    _float(c, "optimizer.momentum", 0.0, 1.0, hi_open=True)

  _choice(c, "schedule.name", SCHEDULES)
  _float(c, "schedule.factor", 0.0, 1.0, lo_open=True, hi_open=True)
  _int(c, "schedule.patience", 1)
  _float(c, "schedule.min_lr", 0.0)

  _int(c, "early_stopping.patience", 0)
  _float(c, "early_stopping.min_delta", 0.0)

  t = c.eval.transforms
  if isinstance(t, str) or not isinstance(t, (tuple, list)) or any(x not in TRANSFORMS for x in t):
    raise ConfigError("eval.transforms", t, "must be a tuple drawn from " + ", ".join(TRANSFORMS)
                      + ", e.g. --config.eval.transforms='(\"moved\",\"rotated\")'")
  if t and known and not image_data:
    raise ConfigError("eval.transforms", t, "moved/rotated test sets exist only for image data")
  _int(c, "eval.max_shift", 0, 27)
  _float(c, "eval.max_rotation", 0.0, 180.0)


def validate_against_data(c, n_train: int) -> None:
  """Checks the values that depend on the size of the loaded data (before any training or writing)."""
  if c.batch_size > n_train:
    val = float(c.data.get("validation_fraction", 0.0) or 0.0)
    why = f" (data.validation_fraction={val:g} holds out the rest for validation)" if val > 0 else ""
    raise ConfigError("batch_size", c.batch_size, f"must be <= the {n_train} training examples of {c.data.name}{why}")


NEEDS = {"image": "image data (x [N, H, W, C])", "sequence": "sequence data (x [N, T, C] with lengths_*)",
         "tabular": "tabular data (x [N, D])"}


def validate_dataset(c, dataset) -> None:
  """Checks c against the loaded dataset (before any training or writing): the batch size fits, and the
  model reads the data's kind and shape (validate_kind)."""
  validate_against_data(c, len(dataset.train))
  validate_kind(c, dataset)


def validate_kind(c, dataset) -> None:
  """ConfigError when model.kind cannot read the loaded data's kind (npz: its kind is known only now)."""
  from mlexp.models.specs import accepts, spec  # (here: its spec modules import mlexp.config)
  s = spec(c.model.kind)
  if not accepts(s, dataset.kind):
    needs = " or ".join(NEEDS[k] for k in NEEDS if accepts(s, k))
    x = "x [N, " + ", ".join(map(str, ("T", *dataset.feature_shape) if dataset.kind == "sequence"
                                  else dataset.feature_shape)) + "]"
    raise ConfigError("model.kind", c.model.kind, f"data.name={c.data.name} ({dataset.name}: {dataset.kind} {x}) "
                      f"cannot be read by model.kind={c.model.kind}, which needs {needs}")
  if s.user or c.model.kind == "cnn":  # your own module: traced once on the data's shape (a bad output shape, a
    # failing call: one line); a CNN's feature maps on the data's images (VALID blocks that get too small)
    s.count(c.model, dataset.feature_shape, dataset.num_classes)
