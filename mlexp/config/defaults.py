"""Default values of every config field, one place for all configs."""
from __future__ import annotations

import ml_collections



def parse_arg(arg, **spec):
  """Parses 'smoke,seeds=4' into a ConfigDict with typed defaults; unknown keys are an error.

  As big_vision's configs/common.py: spec maps key -> default; a bare key sets a bool to True.
  """
  out = ml_collections.ConfigDict(dict(spec))
  for part in filter(None, (arg or "").split(",")):
    key, eq, val = part.partition("=")
    if key not in spec:
      raise ValueError(f"unknown config argument {key!r}; allowed: {', '.join(sorted(spec))}")
    default = spec[key]
    if not eq:
      out[key] = True
    elif isinstance(default, bool):
      if val.lower() not in BOOL_WORDS:
        raise ValueError(f"config argument {key}={val!r}: not a bool; allowed: {', '.join(BOOL_WORDS)}")
      out[key] = BOOL_WORDS[val.lower()]
    else:
      try:
        out[key] = type(default)(val)
      except ValueError:
        raise ValueError(f"config argument {key}={val!r}: expected a value of type {type(default).__name__}") from None
  return out


BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def model_config(kind) -> ml_collections.ConfigDict:
  """The model block: kind plus the fields and defaults its spec declares (mlexp/models/<family>/spec.py); for your own
  flax Module (a class, or a reference "FILE.py:Class" / "package.module:Class", the path relative to the
  calling config file's folder, then the working directory) the class's own fields and defaults."""
  kind = model_reference(kind)
  m = ml_collections.ConfigDict()
  m.kind = kind
  for field, value in _spec(kind).defaults.items():
    m[field] = value
  return m


def model_reference(kind, search_dirs=None) -> str:
  """kind as config.model.kind holds it: a built-in kind as it is; a class registered and named; a FILE.py:Class
  reference with an absolute path (so best_config.py and resumes find it from anywhere)."""
  from mlexp.models import user
  if isinstance(kind, type):
    return user.reference_of(kind)
  if user.is_reference(kind):
    return user.absolute(kind, user._caller_dirs() if search_dirs is None else search_dirs)
  return kind


# sizes of the generated data sets (only their data blocks have these fields)
SYNTHETIC = {
    "synthetic_images": {"synthetic_n_train": 60000, "synthetic_n_test": 10000, "synthetic_classes": 10},
    "synthetic_sequences": {"synthetic_n_train": 6600, "synthetic_n_test": 1000, "synthetic_classes": 20,
                            "synthetic_length": 40, "synthetic_channels": 13},
}


def data_config(name: str) -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  d.name = name
  d.path = ""  # raw files you already have (IDX, Spoken Arabic Digit, SmartWatch gestures)
  d.tfds_data_dir = ""  # tensorflow-datasets data_dir ('' = tfds default)
  d.download = False  # let tensorflow-datasets download (needs internet)
  d.test_fraction = 0.2  # for data sets without a fixed test split
  d.split_seed = 0
  # model selection (best epoch, plateau, early stopping, ASHA, TPE, the best trial) uses a stratified part of
  # the training data, never the test set. 0.2: the small sequence sets have 270 training examples, so 54
  # (6 of each of 9 classes) judge the epochs and 216 train; a smaller part makes the val loss too noisy to pick
  # an epoch, a larger one costs the models too much data. 0 selects on the test set (and says so).
  d.validation_fraction = 0.2
  d.standardize = True  # sequences: per-channel z-score with train statistics
  d.max_train = 0  # 0 = all
  d.max_test = 0
  d.num_buckets = 0  # length buckets for variable-length sequences; 0 = auto (1 up to length 100, else 3)
  for field, value in SYNTHETIC.get(name, {}).items():
    d[field] = value
  return d


def eval_config() -> ml_collections.ConfigDict:
  e = ml_collections.ConfigDict()
  e.transforms = ()  # image data: ("moved", "rotated") adds shifted / rotated copies of the test set
  e.max_shift = 6  # pixels
  e.max_rotation = 45.0  # degrees
  e.transform_seed = 0
  return e


def base_config(model_kind, data_name: str) -> ml_collections.ConfigDict:
  """Every field with its general default. model_kind: a built-in kind, or your own flax Module (a class or a
  reference, see model_config); data_name: a data set of mlexp/data/catalog.py (npz: your own arrays).
  The shipped configs start from image_config / sequence_config instead (BASELINES: more epochs, plateau
  patience 2 / 3, moved / rotated test sets, the spec's tuned values); `--show` lists where a config differs."""
  from mlexp.models import user
  model_kind = model_reference(model_kind, user._caller_dirs())
  c = ml_collections.ConfigDict()
  c.name = user.short_name(model_kind) if user.is_reference(model_kind) else model_kind
  c.seed = 0  # member i of a run uses seed + i
  c.seeds = 1  # models trained at once (vmapped), each with its own init, shuffling and dropout keys
  c.epochs = 10
  c.batch_size = 64
  c.eval_batch_size = 1000
  # how the models of one group share a program: "vmap" (batched: best for matmul-heavy models and
  # GPUs), "map" (one after another in one program: faster on CPU), or "auto" (map on CPU, else vmap)
  c.member_loop = "auto"
  # each model's own epoch seconds measured inside a shared program (host clock stamps; CPU, member_loop map):
  # results.csv train_s then is the model's measured time, not an estimate. auto: on for one_at_a_time studies,
  # where time is half of what is measured; on | off. A program with the stamps is not kept in the compilation
  # cache.
  c.time_members = "auto"
  c.cpu_devices = 0  # XLA:CPU devices (one single-threaded per core) for runs of several models; 0 = auto
  c.hang_timeout_s = 600.0  # a compiled call without progress this long (or 20x the longest epoch) exits; 0 = off

  c.data = data_config(data_name)

  c.model = model_config(model_kind)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"  # sgd | momentum | adam | adamw | rmsprop (as torch.optim's)
  c.optimizer.learning_rate = 1e-3
  # None: the optimizer's own default (config/hparams.py OPTIMIZER_DEFAULTS): weight decay 0.01 for adamw, else 0;
  # momentum 0.9 for "momentum", else 0 (sgd: plain SGD unless you set it, as torch.optim.SGD)
  c.optimizer.weight_decay = ml_collections.FieldReference(None, field_type=float)
  c.optimizer.momentum = ml_collections.FieldReference(None, field_type=float)

  c.schedule = ml_collections.ConfigDict()
  c.schedule.name = "plateau"  # constant | plateau (reduce on plateau of the validation loss) | cosine
  c.schedule.factor = 0.1  # plateau: lr *= factor after `patience` epochs without improvement
  c.schedule.patience = 5  # (image_config: 2, sequence_config: 3)
  c.schedule.min_lr = 0.0  # cosine: final learning rate

  c.early_stopping = ml_collections.ConfigDict()
  c.early_stopping.patience = 0  # epochs without improvement of test loss before stopping; 0 = off
  c.early_stopping.min_delta = 0.0

  c.eval = eval_config()

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.enabled = True
  return c


# The baselines of the shipped configs: what image_config / sequence_config change in base_config (one table:
# `--show` names the fields where a config built on base_config differs from its baseline). base_config keeps
# the general defaults, which the sweeps of configs/sweeps/ and the tests build on.
BASELINES = {
    "image_config": {"data.name": "mnist_5k", "epochs": 15, "batch_size": 64, "schedule.name": "plateau",
                     "schedule.patience": 2, "eval.transforms": ("moved", "rotated")},
    "sequence_config": {"data.name": "japanese_vowels", "epochs": 30, "batch_size": 32, "schedule.name": "plateau",
                        "schedule.patience": 3},
}


NULLABLE_FLOATS = ("optimizer.weight_decay", "optimizer.momentum")  # None: the optimizer's own default


def from_json(d: dict) -> ml_collections.ConfigDict:
  """A config read back from JSON (config.json, best_config.json): the optimizer fields that are None keep their
  type (float), so `--config.optimizer.momentum=0.5` still overrides them."""
  c = ml_collections.ConfigDict(d)
  for name in NULLABLE_FLOATS:
    block, field = name.split(".")
    if block in c and field in c[block] and c[block][field] is None:
      with c.unlocked():
        c[block][field] = ml_collections.FieldReference(None, field_type=float)
  return c


def image_config(kind: str) -> ml_collections.ConfigDict:
  """The defaults of configs/mlp.py and configs/cnn.py: the 5k MNIST subset with moved / rotated test sets
  (BASELINES["image_config"], then the model spec's tuned values)."""
  return _baseline(kind, "image_config")


def sequence_config(kind: str) -> ml_collections.ConfigDict:
  """The defaults of configs/gru.py, lstm.py and linear.py: JapaneseVowels (BASELINES["sequence_config"], then
  the model spec's tuned values, e.g. a GRU's learning rate 3e-3)."""
  return _baseline(kind, "sequence_config")


def _baseline(kind, name: str) -> ml_collections.ConfigDict:
  values = BASELINES[name]
  c = base_config(kind, values["data.name"])
  for field, value in values.items():
    if field != "data.name":
      _set(c, field, value)
  return _tuned(c)


def baseline_of(c) -> tuple:
  """(name, {field: value}) of the baseline of c's model kind: image_config or sequence_config, its tuned
  values included; (None, {}) for a kind without one."""
  try:
    s = _spec(c.model.kind)
  except Exception:  # noqa: BLE001  (a user's module that does not import: no baseline to compare with)
    return None, {}
  if s.user:  # your own module: the shipped configs have no baseline for it
    return None, {}
  name = "image_config" if s.data == "image" else "sequence_config"
  return name, {**BASELINES[name], **s.tuned}


def _set(c, field, value):
  *path, last = field.split(".")
  node = c
  for p in path:
    node = node[p]
  node[last] = value


def _tuned(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """c with the settings its model spec tunes for the default configs (e.g. a GRU's learning rate)."""
  for field, value in _spec(c.model.kind).tuned.items():
    _set(c, field, value)
  return c


def apply_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a seconds-long check."""
  c.epochs = 2
  c.data.max_train = 512
  c.data.max_test = 256
  c.batch_size = min(c.batch_size, 64)
  for field, value in _spec(c.model.kind).smoke.items():
    c.model[field] = value
  return c


def sweep_block(space, num_trials: int = 0, mode: str | None = None,
                algorithm: str = "auto") -> ml_collections.ConfigDict:
  """The `sweep` block of a sweep config (configs/sweeps/*.py, configs/studies/*.py). `space`: fields from
  mlexp.sweeps.space. mode None: full for a one_at_a_time study (every variation to its epochs), else asha."""
  s = ml_collections.ConfigDict()
  s.space = tuple(space)
  s.num_trials = num_trials  # random draws (multiplied with the grid fields); 0 when the space is a pure grid;
  #                             tpe: the number of trials
  s.seed = 0  # seed of the random draws (and of TPE's sampler)
  # auto (random when the space has random fields, else grid) | random | grid (grid and choice fields: their
  # product) | tpe (Optuna's TPE, batches of tpe_batch trials asked with the finished ones told: sweeps/tpe.py)
  # | one_at_a_time (a study: the config itself once as the baseline, then each grid field's values alone, every
  # other field at the config's value; results.csv gets knob and value columns; give it its algorithm here so
  # that its mode defaults to full)
  s.algorithm = algorithm
  s.tpe_batch = 10  # trials per TPE batch (planned into groups together, so they share compiled programs)
  # asha (early stopping of bad trials) | full (every trial to the end; needed for heatmaps and studies)
  s.mode = mode or ("full" if algorithm == "one_at_a_time" else "asha")
  # what ASHA's rungs and TPE rank trials by: val_loss | val_accuracy (the validation split of the training data);
  # test_loss | test_accuracy only with data.validation_fraction=0 (then the val_* names select on the test set)
  s.metric = "val_loss"
  # sync: every group to each rung, then one decision over the trials of all groups (sweeps/executors/rungs.py);
  # False: groups one after another, each ranked against the groups before it (asynchronous)
  s.asha = ml_collections.ConfigDict({"grace": 1, "factor": 3, "sync": True})
  # widths and depth of different trials share padded programs: auto (the planner weighs compile time
  # against padded compute), none (one program per exact shape), max (one program per group key)
  s.padding = "auto"
  s.max_group_size = 64  # models per compiled program; bigger groups are split into chunks
  s.max_group_gb = 4.0  # ... and into chunks whose estimated memory (params, optimizer state, activations) fits
  s.compile_ahead = 2  # groups compiled in worker threads while the current one trains (0 = none)
  # groups narrower than the devices (e.g. one model each) train side by side, each on one device
  s.lanes = True
  s.shard_index = 0  # launch/: this process runs the groups k with k % num_shards == shard_index
  s.num_shards = 1
  # local (this process) | ray: each group a Ray task (sweeps/executors/ray.py; pip install -e ".[ray]")
  s.backend = "local"
  s.ray_address = ""  # a Ray cluster to connect to (host:port or auto); "" starts a local Ray here
  s.ray_num_cpus = 0  # the local Ray's cores (0 = all)
  s.ray_cpus_per_group = 1  # cores a group's task declares (on GPU: one GPU per group)
  s.ray_max_retries = 3  # retries of a group's task whose worker was lost
  return s


def _spec(kind):
  """The model's spec (the registry is imported when first used: its spec modules import mlexp.config's checks);
  ValueError for an unknown kind."""
  from mlexp.models.specs import spec
  return spec(kind)
