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
      out[key] = val.lower() in ("1", "true", "yes")
    else:
      out[key] = type(default)(val)
  return out


def model_config(kind: str) -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  m.kind = kind
  if kind == "mlp":
    m.units = (256, 256)  # one Dense layer per entry: (256, 256, 128) adds a layer
    m.activation = "relu"
    m.dropout = 0.0
  elif kind == "cnn":
    m.filters = (32, 64)  # one conv block per entry
    m.kernel_size = 3
    m.strides = 1
    m.padding = "SAME"
    m.pool = 2
    m.dense = (128,)
    m.activation = "relu"
    m.dropout = 0.0
  elif kind in ("gru", "lstm"):
    m.hidden = 64
    m.layers = 2
    m.dropout = 0.0  # between recurrent layers (as torch.nn.GRU's dropout)
    m.conv_filters = 0  # > 0 puts a Conv1d front end with this many filters before the RNN
    m.conv_kernel = 3
    m.readout = "last"  # last valid step, or "mean" (masked mean over time)
    m.unroll = 1  # steps of the time scan unrolled (a speed / compile-time knob; results are the same)
  elif kind == "linear":
    m.dropout = 0.0
  else:
    raise ValueError(f"unknown model kind {kind!r}")
  return m


def base_config(model_kind: str, data_name: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = model_kind
  c.seed = 0  # member i of a run uses seed + i
  c.seeds = 1  # models trained at once (vmapped), each with its own init, shuffling and dropout keys
  c.epochs = 10
  c.batch_size = 64
  c.eval_batch_size = 1000
  # how the models of one group share a program: "vmap" (batched: best for matmul-heavy models and
  # GPUs), "map" (one after another in one program: faster on CPU), or "auto" (map on CPU, else vmap)
  c.member_loop = "auto"
  c.cpu_devices = 0  # XLA:CPU devices (one single-threaded per core) for runs of several models; 0 = auto
  c.hang_timeout_s = 600.0  # a compiled call without progress this long (or 20x the longest epoch) exits; 0 = off

  c.data = ml_collections.ConfigDict()
  c.data.name = data_name
  c.data.path = ""  # raw files you already have (IDX, Spoken Arabic Digit, SmartWatch gestures)
  c.data.tfds_data_dir = ""  # tensorflow-datasets data_dir ('' = tfds default)
  c.data.download = False  # let tensorflow-datasets download (needs internet)
  c.data.test_fraction = 0.2  # for data sets without a fixed test split
  c.data.split_seed = 0
  c.data.standardize = True  # sequences: per-channel z-score with train statistics
  c.data.max_train = 0  # 0 = all
  c.data.max_test = 0
  c.data.num_buckets = 0  # length buckets for variable-length sequences; 0 = auto (1 up to length 100, else 3)

  c.model = model_config(model_kind)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"  # sgd | momentum | adam | adamw | rmsprop
  c.optimizer.learning_rate = 1e-3
  c.optimizer.weight_decay = 0.0
  c.optimizer.momentum = 0.9  # used by "momentum" (sgd with momentum)

  c.schedule = ml_collections.ConfigDict()
  c.schedule.name = "plateau"  # constant | plateau (reduce on plateau of test loss) | cosine
  c.schedule.factor = 0.1  # plateau: lr *= factor after `patience` epochs without improvement
  c.schedule.patience = 5
  c.schedule.min_lr = 0.0  # cosine: final learning rate

  c.early_stopping = ml_collections.ConfigDict()
  c.early_stopping.patience = 0  # epochs without improvement of test loss before stopping; 0 = off
  c.early_stopping.min_delta = 0.0

  c.eval = ml_collections.ConfigDict()
  c.eval.transforms = ()  # image data: ("moved", "rotated") adds shifted / rotated copies of the test set
  c.eval.max_shift = 6  # pixels
  c.eval.max_rotation = 45.0  # degrees
  c.eval.transform_seed = 0

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.enabled = True
  return c


def image_config(kind: str) -> ml_collections.ConfigDict:
  """The defaults of configs/mlp.py and configs/cnn.py: the 5k MNIST subset with moved / rotated test sets."""
  c = base_config(kind, "mnist_5k")
  c.epochs = 15
  c.batch_size = 64
  c.optimizer.learning_rate = 1e-3
  c.schedule.name = "plateau"
  c.schedule.patience = 2
  c.eval.transforms = ("moved", "rotated")
  return c


def sequence_config(kind: str) -> ml_collections.ConfigDict:
  """The defaults of configs/gru.py, lstm.py and linear.py: JapaneseVowels."""
  c = base_config(kind, "japanese_vowels")
  c.epochs = 30
  c.batch_size = 32
  c.optimizer.learning_rate = 3e-3 if kind in ("gru", "lstm") else 1e-2
  c.schedule.name = "plateau"
  c.schedule.patience = 3
  if kind in ("gru", "lstm"):
    c.early_stopping.patience = 8
  return c


def apply_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a seconds-long check."""
  c.epochs = 2
  c.data.max_train = 512
  c.data.max_test = 256
  c.batch_size = min(c.batch_size, 64)
  m = c.model
  if m.kind == "mlp":
    m.units = (32, 32)
  elif m.kind == "cnn":
    m.filters = (8, 8)
    m.dense = (16,)
  elif m.kind in ("gru", "lstm"):
    m.hidden = 16
    m.unroll = 1
  return c


def sweep_block(space, num_trials: int = 0, mode: str = "asha") -> ml_collections.ConfigDict:
  """The `sweep` block of a sweep config (configs/sweeps/*.py). `space`: fields from mlexp.sweep.space."""
  s = ml_collections.ConfigDict()
  s.space = tuple(space)
  s.num_trials = num_trials  # random draws (multiplied with the grid fields); 0 when the space is a pure grid
  s.seed = 0  # seed of the random draws
  s.mode = mode  # asha (early stopping of bad trials) | full (every trial to the end; needed for heatmaps)
  s.metric = "test_loss"  # what ASHA ranks trials by: test_loss | test_accuracy
  s.asha = ml_collections.ConfigDict({"grace": 1, "factor": 3})
  # widths and depth of different trials share padded programs: auto (the planner weighs compile time
  # against padded compute), none (one program per exact shape), max (one program per group key)
  s.padding = "auto"
  s.max_group_size = 64  # models per compiled program; bigger groups are split into chunks
  s.max_group_gb = 4.0  # ... and into chunks whose estimated memory (params, optimizer state, activations) fits
  s.compile_ahead = 2  # groups compiled in worker threads while the current one trains (0 = none)
  s.shard_index = 0  # launch/: this process runs the groups k with k % num_shards == shard_index
  s.num_shards = 1
  return s
