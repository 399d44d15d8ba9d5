"""The one table of the float hyperparameters that are vmapped inside a group (data, not program).

Members of one compiled group may differ in exactly these; every other config field is part of the
group's static key (mlexp/sweeps/grouping.py). Jax-free.
"""
from __future__ import annotations

# member hyperparameter name -> the config field it is read from
VMAPPED = (
    ("learning_rate", "optimizer.learning_rate"),
    ("weight_decay", "optimizer.weight_decay"),
    ("momentum", "optimizer.momentum"),
    ("dropout", "model.dropout"),
    ("plateau_factor", "schedule.factor"),
)
HPARAMS = tuple(name for name, _ in VMAPPED)  # the keys of Member.hparams
VMAPPED_FIELDS = tuple(field for _, field in VMAPPED)  # the config paths

# optimizer.<field> = None (the default): the optimizer's own value, as torch.optim's of the same name
# (torch.optim.SGD momentum 0, AdamW weight_decay 0.01); "momentum" is SGD whose momentum defaults to 0.9
OPTIMIZER_DEFAULTS = {"momentum": {"momentum": 0.9, "weight_decay": 0.0},
                      "adamw": {"momentum": 0.0, "weight_decay": 0.01}}
UNSET = {"momentum": 0.0, "weight_decay": 0.0}  # every other optimizer
# Optimizers whose updates differ only in float knobs (data): members of one family share a training loop
# (mlexp.training.optim.mixed); another family is another loop (its own cost, never another kind's work).
OPTIMIZER_FAMILY = {"sgd": "trace", "momentum": "trace", "adam": "adam", "adamw": "adam", "rmsprop": "rms"}


def optimizer_value(optimizer, field: str) -> float:
  """optimizer.<field> (momentum, weight_decay) as the optimizer uses it: its value, or when None its
  optimizer's own default (OPTIMIZER_DEFAULTS)."""
  v = optimizer.get(field)
  if v is None:
    return OPTIMIZER_DEFAULTS.get(optimizer.get("name"), UNSET)[field]
  return float(v)


def _is_data(config, field: str) -> bool:
  """Whether a knob is data for this config's model: model.dropout is not for a user's module whose __call__
  takes no dropout_rate (there it is a static field of the module, or absent)."""
  if field != "model.dropout":
    return True
  model = config["model"]
  if "dropout" not in model:
    return False
  from mlexp.models.specs import spec  # (jax-free)
  return spec(model["kind"]).dropout_data


def hparams_of(config) -> dict:
  """The vmapped knobs of a config, as Python floats keyed by HPARAMS (0.0 for a knob its model has not)."""
  out = {}
  for name, field in VMAPPED:
    if not _is_data(config, field):
      out[name] = 0.0
      continue
    block, _, last = field.partition(".")
    if block == "optimizer" and last in UNSET:
      out[name] = optimizer_value(config[block], last)
      continue
    node = config
    for part in field.split("."):
      node = node[part]
    out[name] = float(node)
  return out


def without_hparams(config) -> dict:
  """The config as a dict with the vmapped knobs blanked: what a compiled program may depend on."""
  c = config.to_dict()
  for field in VMAPPED_FIELDS:
    if _is_data(config, field):
      a, b = field.split(".")
      c[a][b] = None
  return c
