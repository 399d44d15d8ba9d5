"""The one table of config fields: a one-line comment and the allowed values of each (pure, imports nothing of
mlexp at load time). Used by `--show` / `mlexp.show` (config/show.py), `--help` and the error messages of
flags and sweep spaces (config/overrides.py); config/validate.py takes its lists of names from here.

allowed: a tuple of values, or "module:NAME" of a tuple that lives with its code (data sets, model kinds).
"""
from __future__ import annotations

import importlib

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "plateau", "cosine")
TRANSFORMS = ("moved", "rotated")
MEMBER_LOOPS = ("auto", "vmap", "map")

# path -> (comment, allowed or None). model.<field> entries hold for every kind that has the field.
FIELDS = {
    "name": ("run name (the default workdir is runs/<name>-<time>)", None),
    "seed": ("member i of a run uses seed + i", None),
    "seeds": ("models trained at once (vmapped), each with its own init, shuffling and dropout", None),
    "epochs": ("epochs of training (early_stopping may stop sooner)", None),
    "batch_size": ("training examples per optimizer step", None),
    "eval_batch_size": ("examples per evaluation step (memory only; results are the same)", None),
    "member_loop": ("how the models of one group share a program: vmap (GPU), map (CPU), auto", MEMBER_LOOPS),
    "time_members": ("measure each model's own epoch seconds in a shared program (train_s); auto = studies",
                     ("auto", "on", "off")),
    "cpu_devices": ("XLA:CPU devices for runs of several models; 0 = one per core", None),
    "hang_timeout_s": ("a compiled call without progress this long exits with status 3; 0 = off", None),

    "data.name": ("the data set (mlexp/data/catalog.py; npz = your own arrays)", "mlexp.data.catalog:NAMES"),
    "data.path": ("folder or file of raw data you have (IDX, UCI, npz)", None),
    "data.tfds_data_dir": ("tensorflow-datasets data_dir ('' = its default)", None),
    "data.download": ("let tensorflow-datasets download (needs internet)", (True, False)),
    "data.test_fraction": ("test part of data sets without a fixed test split", None),
    "data.split_seed": ("seed of the test / validation splits", None),
    "data.validation_fraction": ("part of the training data that selects the best epoch (0 = the test set)", None),
    "data.standardize": ("sequences: per-channel z-score with train statistics", (True, False)),
    "data.max_train": ("use at most this many training examples; 0 = all", None),
    "data.max_test": ("use at most this many test examples; 0 = all", None),
    "data.num_buckets": ("length buckets of variable-length sequences; 0 = auto", None),
    "data.synthetic_n_train": ("generated training examples", None),
    "data.synthetic_n_test": ("generated test examples", None),
    "data.synthetic_classes": ("generated classes", None),
    "data.synthetic_length": ("generated sequence length", None),
    "data.synthetic_channels": ("generated channels per step", None),

    "model.kind": ("the model (mlexp/models/<family>/), or your own flax Module as FILE.py:Class",
                   "mlexp.models.specs:MODEL_KINDS"),
    "model.units": ("hidden Dense layers, one entry each: (256, 256); (512,) is one layer; () none", None),
    "model.activation": ("activation of the hidden layers", "mlexp.models.specs:ACTIVATION_NAMES"),
    "model.dropout": ("dropout rate of the hidden layers (RNN: between recurrent layers)", None),
    "model.filters": ("conv blocks, one entry (its filters) each: (32, 64)", None),
    "model.kernel_size": ("conv kernel size (square)", None),
    "model.strides": ("conv strides", None),
    "model.padding": ("conv padding", ("SAME", "VALID")),
    "model.pool": ("max-pool size after each conv block; 0 or 1 = none", None),
    "model.dense": ("Dense layers after the conv blocks, one entry each: (128,)", None),
    "model.hidden": ("units of each recurrent layer", None),
    "model.layers": ("recurrent layers", None),
    "model.conv_filters": ("> 0: a Conv1d front end with this many filters before the RNN", None),
    "model.conv_kernel": ("kernel size of the Conv1d front end", None),
    "model.readout": ("last valid step, or the masked mean over time", ("last", "mean")),
    "model.unroll": ("time steps unrolled per scan step (speed only; results are the same)", None),
    "model.first_apart": ("compile the first recurrent layer apart (speed only)", ("auto", "yes", "no")),

    "optimizer.name": ("the optimizer (optax), as torch.optim's of the same name", OPTIMIZERS),
    "optimizer.learning_rate": ("initial learning rate (the schedule changes it)", None),
    "optimizer.weight_decay": ("None = the optimizer's own: 0.01 for adamw (decoupled), else 0 (L2 as torch's)",
                               None),
    "optimizer.momentum": ("None = the optimizer's own: 0.9 for momentum, else 0 (sgd as torch's SGD)", None),

    "schedule.name": ("learning-rate schedule: plateau = reduce on plateau of the validation loss", SCHEDULES),
    "schedule.factor": ("plateau: lr *= factor after `patience` epochs without improvement", None),
    "schedule.patience": ("plateau: epochs without improvement before lr *= factor", None),
    "schedule.min_lr": ("cosine: the final learning rate", None),

    "early_stopping.patience": ("stop after this many epochs without improvement of the val loss; 0 = off", None),
    "early_stopping.min_delta": ("smallest decrease of the val loss that counts as improvement", None),

    "eval.transforms": ("image data: extra test sets, shifted ('moved') / rotated copies", TRANSFORMS),
    "eval.max_shift": ("moved: largest shift in pixels", None),
    "eval.max_rotation": ("rotated: largest rotation in degrees", None),
    "eval.transform_seed": ("seed of the shifts and rotations", None),

    "checkpoint.enabled": ("Orbax checkpoints in the workdir (resume, best epoch)", (True, False)),

    "sweep.space": ("the searched fields (mlexp.sweeps.space: grid, choice, uniform, loguniform, randint...)", None),
    "sweep.num_trials": ("random draws of the space's random fields (TPE: its trials)", None),
    "sweep.seed": ("seed of the random draws", None),
    "sweep.algorithm": ("auto, random, grid, tpe, or one_at_a_time (a study)", "mlexp.sweeps.space:ALGORITHMS"),
    "sweep.tpe_batch": ("trials per TPE batch", None),
    "sweep.mode": ("asha stops bad trials early; full runs every trial to the end", ("asha", "full")),
    "sweep.metric": ("what ASHA and TPE rank trials by", "mlexp.sweeps.asha:METRICS"),
    "sweep.asha.grace": ("ASHA: epochs before the first rung", None),
    "sweep.asha.factor": ("ASHA: 1/factor of the trials go on at each rung", None),
    "sweep.asha.sync": ("ASHA: rungs decided over all groups at once", (True, False)),
    "sweep.padding": ("trials of other widths share padded programs: auto, none, max",
                      "mlexp.sweeps.widths:PADDING_MODES"),
    "sweep.max_group_size": ("models per compiled program", None),
    "sweep.max_group_gb": ("estimated memory per compiled program", None),
    "sweep.compile_ahead": ("groups compiled ahead in worker threads", None),
    "sweep.lanes": ("groups narrower than the devices train side by side, one a device", (True, False)),
    "sweep.shard_index": ("this process runs the groups k with k % num_shards == shard_index", None),
    "sweep.num_shards": ("processes sharing the sweep", None),
    "sweep.backend": ("local, or ray (each group a Ray task)", ("local", "ray")),
    "sweep.ray_address": ("Ray cluster address; '' = a local Ray", None),
    "sweep.ray_num_cpus": ("cores of the local Ray; 0 = all", None),
    "sweep.ray_cpus_per_group": ("cores each group's Ray task declares", None),
    "sweep.ray_max_retries": ("retries of a group whose Ray worker was lost", None),
}

# the fields a user changes most: `--show` marks them, the config files name them
MAIN = ("epochs", "batch_size", "seeds", "data.name", "model.kind", "model.units", "model.hidden", "model.layers",
        "model.filters", "model.dropout", "optimizer.name", "optimizer.learning_rate", "optimizer.weight_decay",
        "optimizer.momentum", "schedule.name", "schedule.factor", "schedule.patience", "early_stopping.patience",
        "eval.transforms")

# words people use for a field -> the field names they may mean (its last part, or a dotted path)
SYNONYMS = {
    "lr": ("learning_rate",), "learningrate": ("learning_rate",), "wd": ("weight_decay",),
    "decay": ("weight_decay",), "l2": ("weight_decay",), "mom": ("momentum",), "beta": ("momentum",),
    "bs": ("batch_size",), "batch": ("batch_size",), "batchsize": ("batch_size",),
    "epoch": ("epochs",), "n_epochs": ("epochs",), "num_epochs": ("epochs",), "max_epochs": ("epochs",),
    "optim": ("optimizer",), "opt": ("optimizer",), "optimiser": ("optimizer",),
    "scheduler": ("schedule",), "lr_schedule": ("schedule",), "sched": ("schedule",),
    "hidden": ("units", "hidden", "dense"), "hidden_size": ("hidden", "units"), "hidden_units": ("units", "hidden"),
    "units": ("hidden", "units", "dense", "filters"), "width": ("units", "hidden", "filters"),
    "layers": ("layers", "units", "filters"), "num_layers": ("layers", "units"), "depth": ("layers", "units"),
    "channels": ("filters",), "kernel": ("kernel_size",), "stride": ("strides",), "act": ("activation",),
    "dataset": ("data.name",), "data_name": ("data.name",), "model_kind": ("model.kind",), "model": ("model.kind",),
    "model_type": ("model.kind",), "arch": ("model.kind",), "seed_count": ("seeds",), "num_seeds": ("seeds",),
    "patience": ("schedule.patience", "early_stopping.patience"), "factor": ("schedule.factor",),
}


def normalize(path: str) -> str:
  """model.units[0] -> model.units."""
  return path.split("[", 1)[0]


def comment(path: str) -> str:
  return FIELDS.get(normalize(path), ("", None))[0]


def allowed(path: str):
  """The allowed values of a field (a tuple), or None where any value of its type goes."""
  a = FIELDS.get(normalize(path), ("", None))[1]
  if isinstance(a, str):
    module, _, name = a.partition(":")
    try:
      return tuple(getattr(importlib.import_module(module), name))
    except (ImportError, AttributeError):
      return None
  return a
