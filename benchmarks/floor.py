"""The floor: mlexp's per-group programs against a bare jitted lax.scan epoch of the same model, side by side.

  python benchmarks/floor.py                        # MLP + GRU: floor, floor+eval, mlexp's Group (1 member)
  python benchmarks/floor.py --variants all         # + floor_flax (the floor with mlexp's flax model)
  python benchmarks/floor.py --only gru --variants floor_eval,mlexp --repeat 3
  python benchmarks/floor.py --flag-sweep           # each XLA flag set of FLAG_SETS in its own subprocess
  python benchmarks/floor.py --xla-flags="--xla_backend_optimization_level=1"

Data and model are those of the default configs (configs/mlp.py: mnist_5k, units (256, 256), batch 64, adam;
configs/gru.py: JapaneseVowels, hidden 64, 2 layers, batch 32), loaded with mlexp.data.load and put on the
device with mlexp.training.group.device_splits; `--data bench` uses benchmarks/run.py's synthetic shapes.

What is measured, per variant (one JSON line each; `"bench": "summary"` lines at the end):
  * init_lower_s / init_compile_s, epoch_lower_s / epoch_compile_s: `jit(f).lower(...)` and `.compile()`
    seconds (trace + lowering to StableHLO, then XLA), min over --repeat fresh builds (new closures: no
    trace or compile cache; no persistent cache is set). compile_s = all four; epoch_compile_total_s = the
    epoch program's two.
  * epoch_s: steady-state seconds of one compiled epoch call (after 2 warm-up calls), min of --epochs
    calls per build and over builds; the outputs are fetched to the host as mlexp's Group.epoch does.
  * hlo_ops: StableHLO ops of the lowered epoch; hlo_instr: HLO instructions after XLA's passes.
  * *_ratio: against `floor_eval` (the bare scan with the same test evaluation).

The variants run interleaved (rep 1 of every variant, then rep 2, ...), so a load spike hits all alike.
Compile seconds are only comparable within one process (the first compile of a process also pays
one-time setup; a throw-away warm-up compile runs first).

Variants:
  floor        bare jitted epoch: in-step gather of shuffled batches from device arrays, hand-written model
               (the same maths as mlexp's; GRU differentiated by JAX), optax.adam with a constant lr.
  floor_eval   floor + mlexp's test evaluation (chunks of eval_batch_size, loss and accuracy).
  floor_flax   floor_eval with mlexp's flax model (model.apply) instead of the hand-written one.
  mlexp        mlexp.training.group.Group of the config with one member: the real programs (jit(vmap(init)),
               jit(lax.map(epoch)) on CPU).
(The probe variants that located the costs, each knob of the program switched off in turn, were in
branch `floor`: their findings are in benchmarks/README.md and were applied to mlexp/training/program.py and its parts.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
  sys.path.insert(0, REPO)

# XLA flag sets for --flag-sweep (each in its own process: XLA reads XLA_FLAGS once).
FLAG_SETS = {
    "default": "",
    "O1": "--xla_backend_optimization_level=1",
    "O0": "--xla_backend_optimization_level=0",
    "no_expensive_llvm": "--xla_llvm_disable_expensive_passes=true",
    "O1+no_expensive_llvm": "--xla_backend_optimization_level=1 --xla_llvm_disable_expensive_passes=true",
    "no_slp": "--xla_cpu_disable_slp_vectorizer=true",
    "no_loop_unroll": "--xla_cpu_disable_loop_unrolling=true",
    "optimize_for_size": "--xla_cpu_optimize_for_size=true",
    "codegen_split_1": "--xla_cpu_parallel_codegen_split_count=1",
    "no_fusion_emitters": "--xla_cpu_use_fusion_emitters=false",
    "no_xnnpack": "--xla_cpu_use_xnnpack=false",
}

DEFAULT_VARIANTS = ("floor", "floor_eval", "mlexp")
# model.first_apart of mlexp's GRU here (--first-apart): "yes" compares like with like (the floor's first layer
# reads its 12 features); a 30-epoch JapaneseVowels run itself takes "auto" = one scan (less compile, BUILD.md)
FIRST_APART = ["yes"]
ALL_VARIANTS = ("floor", "floor_eval", "floor_flax", "mlexp")


def log(msg):
  print(f"[floor {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- setup
def load_config(bench: str, data: str):
  import importlib.util
  spec = importlib.util.spec_from_file_location(f"_floor_cfg_{bench}", os.path.join(REPO, "configs", f"{bench}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  c = mod.get_config()
  if bench == "gru":  # like the floor's GRU, the first layer at its input's width (--first-apart)
    c.model.first_apart = FIRST_APART[0]
  if data == "bench":  # benchmarks/run.py's shapes
    c.data.name = "synthetic_images" if bench == "mlp" else "synthetic_sequences"
    c.eval.transforms = ()
  return c


def setup(bench: str, data: str):
  from mlexp.data import load
  from mlexp.training.group import DataShape, device_splits
  config = load_config(bench, data)
  ds = load(config.data, config.eval)
  train, test = device_splits(ds, int(config.data.num_buckets))
  spec = DataShape(ds.num_classes, tuple(int(b[0].shape[0]) for b in train))
  return config, ds.num_classes, train, test, spec


# ---------------------------------------------------------------------------------------------- floor
def floor_model(config, num_classes, x0):
  """(init(key) -> params, apply(params, x, lengths) -> logits): mlexp's model, hand-written."""
  import jax
  import jax.numpy as jnp
  m = config.model
  if m.kind == "mlp":
    dims = [int(x0[0].size), *[int(u) for u in m.units], num_classes]

    def init(key):
      return [(jax.random.normal(jax.random.fold_in(key, i), (a, b)) * a ** -0.5, jnp.zeros((b,)))
              for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))]

    def apply(params, x, lengths):
      h = x.reshape(x.shape[0], -1)
      for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
      w, b = params[-1]
      return h @ w + b
    return init, apply

  assert m.kind == "gru" and not int(m.conv_filters) and m.readout == "last"
  hidden, layers, feats = int(m.hidden), int(m.layers), int(x0.shape[-1])

  def init(key):
    ps = []
    for i in range(layers):
      k1, k2 = jax.random.split(jax.random.fold_in(key, i))
      fin = feats if i == 0 else hidden
      ps.append((jax.random.normal(k1, (fin, 3 * hidden)) * fin ** -0.5, jnp.zeros((3 * hidden,)),
                 jax.random.uniform(k2, (hidden, 3 * hidden), minval=-hidden ** -0.5, maxval=hidden ** -0.5),
                 jnp.zeros((3 * hidden,))))
    kh = jax.random.fold_in(key, layers)
    return ps, (jax.random.normal(kh, (hidden, num_classes)) * hidden ** -0.5, jnp.zeros((num_classes,)))

  def apply(params, x, lengths):
    layers_p, (wo, bo) = params
    steps = x.shape[1]
    valid = (jnp.arange(steps)[None, :] < lengths[:, None])
    x = x * valid[..., None]
    valid_t = jnp.swapaxes(valid, 0, 1)[..., None]
    h = None
    x = jnp.swapaxes(x, 0, 1)  # time-major, as mlexp's model
    for w_i, b_i, w_h, b_h in layers_p:
      # the input projections, one array per gate (a split inside the step compiles to slow code on
      # XLA:CPU: see models/rnn/model.py)
      xs = tuple(x @ w_i[:, g * hidden:(g + 1) * hidden] + b_i[g * hidden:(g + 1) * hidden] for g in range(3))

      def step(h, inp):
        xr, xz, xn, ok = inp
        hh = h @ w_h + b_h
        hr, hz, hn = jnp.split(hh, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        h_new = jnp.where(ok, n + z * (h - n), h)
        return h_new, h_new
      h, x = jax.lax.scan(step, jnp.zeros((x.shape[1], hidden)), (*xs, valid_t))
    return h @ wo + bo
  return init, apply


def floor_programs(config, num_classes, train, test, *, with_eval: bool, flax_model: bool = False):
  """(init(key) -> (params, opt_state), epoch(params, opt_state, key, train, test) -> (params, opt_state, metrics))."""
  import jax
  import jax.numpy as jnp
  import optax
  from mlexp.models import build_model
  from mlexp.models.layers import derive, seed_of
  from mlexp.training.evaluation import chunks
  from mlexp.training.program import _batches

  (x0, _, l0), = train[:1]
  if flax_model:
    model = build_model(config.model, num_classes)
    init_p = lambda key: model.init({"params": key}, x0[:1], None if l0 is None else l0[:1])["params"]
    apply = lambda p, x, lengths: model.apply({"params": p}, x, lengths)
  else:
    init_p, apply = floor_model(config, num_classes, x0)
  tx = optax.adam(float(config.optimizer.learning_rate))
  batch_size, eval_batch = int(config.batch_size), int(config.eval_batch_size)

  def init(key):
    params = init_p(key)
    return params, tx.init(params)

  def epoch(params, opt_state, key, train, test):
    loss_sum = 0.0
    for bi, (x, y, lengths) in enumerate(train):
      idx, w = _batches(derive(seed_of(key), bi), x.shape[0], batch_size)  # mlexp's own shuffle

      def step(carry, bt):
        p, o = carry
        i, wb = bt

        def loss_fn(p):
          logits = apply(p, x[i], None if lengths is None else lengths[i])
          return (optax.softmax_cross_entropy_with_integer_labels(logits, y[i]) * wb).sum() / wb.sum()
        loss, g = jax.value_and_grad(loss_fn)(p)
        u, o = tx.update(g, o, p)
        return (optax.apply_updates(p, u), o), loss
      (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (idx, w))
      loss_sum = loss_sum + losses.sum()
    metrics = {"train_loss": loss_sum}
    if with_eval:  # mlexp's evaluate(), verbatim
      ls_all, cs_all, count = 0.0, 0.0, 0
      for x, y, lengths in test:
        n = x.shape[0]
        idx, w = chunks(n, eval_batch)

        def body(acc, batch):
          i, wb = batch
          logits = apply(params, x[i], None if lengths is None else lengths[i])
          ce = optax.softmax_cross_entropy_with_integer_labels(logits, y[i])
          hit = (jnp.argmax(logits, -1) == y[i]).astype(jnp.float32)
          return (acc[0] + (ce * wb).sum(), acc[1] + (hit * wb).sum()), None
        (ls, cs), _ = jax.lax.scan(body, (jnp.zeros(()), jnp.zeros(())), (idx, w))
        ls_all, cs_all, count = ls_all + ls, cs_all + cs, count + n
      metrics.update(test_loss=ls_all / count, test_accuracy=cs_all / count)
    return params, opt_state, metrics
  return init, epoch


# ---------------------------------------------------------------------------------------------- measuring
def hlo_stats(lowered, compiled):
  txt = lowered.as_text()
  ops = sum(1 for line in txt.splitlines() if " = " in line and not line.lstrip().startswith("//"))
  try:
    ctxt = compiled.as_text()
    instr = sum(1 for line in ctxt.splitlines() if " = " in line)
    whiles = ctxt.count(" while(")
    fusions = sum(1 for line in ctxt.splitlines() if line.startswith("fused_") or line.startswith("%fused_"))
  except Exception:  # noqa: BLE001
    instr = whiles = fusions = -1
  return {"hlo_ops": ops, "hlo_instr": instr, "hlo_while": whiles, "hlo_fused_computations": fusions}


CPU = {}  # last lower_compile's process CPU seconds (all threads): less sensitive to a shared machine's load


def lower_compile(jitted, *args):
  c0, t0 = time.process_time(), time.perf_counter()
  low = jitted.lower(*args)
  c1, t1 = time.process_time(), time.perf_counter()
  comp = low.compile()
  c2, t2 = time.process_time(), time.perf_counter()
  CPU["lower"], CPU["compile"] = c1 - c0, c2 - c1
  return low, comp, t1 - t0, t2 - t1


def time_epochs(run, state, n):
  """Wall seconds of n epoch calls (after 2 warm-ups); CPU["epoch"] = the least process CPU seconds of one."""
  import jax
  times, cpus = [], []
  for i in range(n + 2):
    c, t = time.process_time(), time.perf_counter()
    state, metrics = run(state)
    jax.device_get(metrics)
    jax.block_until_ready(state)
    if i >= 2:
      times.append(time.perf_counter() - t)
      cpus.append(time.process_time() - c)
  CPU["epoch"] = min(cpus)
  return times


def measure_floor(ctx, name, n_epochs):
  import jax
  config, num_classes, train, test, spec = ctx
  init, epoch = floor_programs(config, num_classes, train, test, with_eval=(name != "floor"),
                               flax_model=(name == "floor_flax"))
  key = jax.random.PRNGKey(0)
  init_j = jax.jit(init)
  epoch_j = jax.jit(epoch, donate_argnums=(0, 1))
  low_i, comp_i, li, ci = lower_compile(init_j, key)
  init_cpu = CPU["lower"] + CPU["compile"]
  params, opt = comp_i(key)
  low_e, comp_e, le, ce = lower_compile(epoch_j, params, opt, key, train, test)
  ecpu = dict(CPU)

  def run(state):
    p, o, k = state
    p, o, m = comp_e(p, o, k, train, test)
    return (p, o, k), m
  times = time_epochs(run, (params, opt, key), n_epochs)
  return dict(init_lower_s=li, init_compile_s=ci, epoch_lower_s=le, epoch_compile_s=ce, epoch_s=min(times),
              init_cpu_s=init_cpu, epoch_cpu_s=ecpu["lower"] + ecpu["compile"], epoch_run_cpu_s=CPU["epoch"],
              epoch_s_median=sorted(times)[len(times) // 2], **hlo_stats(low_e, comp_e))


def measure_mlexp(ctx, name, n_epochs):
  import jax
  from mlexp.training import optim
  from mlexp.training.group import Group, Member, clear_programs
  config, num_classes, train, test, spec = ctx
  members = [Member(seed=0, hparams=optim.hparams_of(config))]
  clear_programs()  # a fresh program each build (groups of one program share its compile in a process)
  g = Group(config, train, test, num_classes, members, devices=[jax.devices()[0]])
  init_j, epoch_j, hp, keys = g._init, g._epoch, g.hp, g.keys
  _, comp_i, li, ci = lower_compile(init_j, keys, hp, train)
  init_cpu = CPU["lower"] + CPU["compile"]
  state = g._init_fixups(comp_i(keys, hp, train))
  low_e, comp_e, le, ce = lower_compile(epoch_j, state, hp, train, test)
  ecpu = dict(CPU)

  def run(s):
    return comp_e(s, hp, train, test)
  times = time_epochs(run, state, n_epochs)
  return dict(init_lower_s=li, init_compile_s=ci, epoch_lower_s=le, epoch_compile_s=ce, epoch_s=min(times),
              init_cpu_s=init_cpu, epoch_cpu_s=ecpu["lower"] + ecpu["compile"], epoch_run_cpu_s=CPU["epoch"],
              epoch_s_median=sorted(times)[len(times) // 2], **hlo_stats(low_e, comp_e))


def measure(ctx, name, n_epochs):
  if name.startswith("floor"):
    return measure_floor(ctx, name, n_epochs)
  return measure_mlexp(ctx, name, n_epochs)


def warmup():
  """One throw-away compile: the process's one-time XLA / LLVM setup is not charged to the first variant."""
  import jax
  import jax.numpy as jnp
  f = jax.jit(lambda x: jax.lax.scan(lambda c, v: (c @ v, None), x, jnp.stack([x, x]))[0].sum())
  f(jnp.ones((8, 8))).block_until_ready()


def run_bench(bench, variants, repeat, n_epochs, data, out, extra=None):
  ctx = setup(bench, data)
  best = {}
  for rep in range(repeat):
    for v in variants:
      try:
        r = measure(ctx, v, n_epochs)
      except Exception as e:  # noqa: BLE001  (a variant that does not apply, e.g. nocvjp for the MLP)
        log(f"{bench} {v}: {type(e).__name__}: {e}")
        continue
      log(f"{bench} {v} rep {rep}: epoch compile {r['epoch_lower_s'] + r['epoch_compile_s']:.2f}s "
          f"(cpu {r['epoch_cpu_s']:.2f}) init {r['init_lower_s'] + r['init_compile_s']:.2f}s "
          f"(cpu {r['init_cpu_s']:.2f}) epoch {r['epoch_s'] * 1e3:.1f}ms")
      b = best.setdefault(v, dict(r))
      for k, val in r.items():
        if k.endswith("_s") or k == "epoch_s_median":
          b[k] = min(b[k], val)
  floor = best.get("floor_eval") or best.get("floor")
  rows = []
  for v, b in best.items():
    row = {"bench": bench, "variant": v, "data": data, **(extra or {}), **b}
    row["epoch_compile_total_s"] = b["epoch_lower_s"] + b["epoch_compile_s"]
    row["init_compile_total_s"] = b["init_lower_s"] + b["init_compile_s"]
    row["compile_s"] = row["epoch_compile_total_s"] + row["init_compile_total_s"]
    if floor:
      fc = floor["epoch_lower_s"] + floor["epoch_compile_s"]
      row["epoch_compile_ratio"] = row["epoch_compile_total_s"] / fc
      row["compile_ratio"] = row["compile_s"] / (fc + floor["init_lower_s"] + floor["init_compile_s"])
      row["epoch_ratio"] = b["epoch_s"] / floor["epoch_s"]
      row["epoch_cpu_ratio"] = b["epoch_cpu_s"] / floor["epoch_cpu_s"]
      row["compile_cpu_ratio"] = (b["epoch_cpu_s"] + b["init_cpu_s"]) / (floor["epoch_cpu_s"] + floor["init_cpu_s"])
      row["epoch_run_cpu_ratio"] = b["epoch_run_cpu_s"] / floor["epoch_run_cpu_s"]
    rows.append(row)
    line = json.dumps({k: (round(x, 4) if isinstance(x, float) else x) for k, x in row.items()})
    print(line, flush=True)
    if out:
      with open(out, "a") as f:
        f.write(line + "\n")
  return rows


def flag_sweep(a):
  """Each FLAG_SETS entry in its own subprocess (XLA reads its flags once per process)."""
  sets = [s for s in FLAG_SETS if not a.flag_sets or s in a.flag_sets.split(",")]
  for name in sets:
    env = dict(os.environ, XLA_FLAGS=FLAG_SETS[name], PYTHONPATH=REPO)
    cmd = [sys.executable, os.path.abspath(__file__), "--only", a.only, "--variants", a.variants,
           "--repeat", str(a.repeat), "--epochs", str(a.epochs), "--data", a.data, "--tag", name,
           "--first-apart", a.first_apart]
    if a.threads1:
      env["XLA_FLAGS"] = (env["XLA_FLAGS"] + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    if a.jax_config:
      cmd += ["--jax-config", a.jax_config]
    log(f"flag set {name}: {FLAG_SETS[name] or '(none)'}")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.timeout)
    for line in r.stdout.splitlines():
      if line.startswith("{"):
        print(line, flush=True)
        if a.out:
          with open(a.out, "a") as f:
            f.write(line + "\n")
    if r.returncode:
      log(f"flag set {name} failed (rc {r.returncode}): {r.stderr[-2000:]}")


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--only", default="mlp,gru")
  ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="comma list, or 'all'")
  ap.add_argument("--repeat", type=int, default=2, help="fresh builds per variant (min taken)")
  ap.add_argument("--epochs", type=int, default=10, help="timed epoch calls per build (after 2 warm-ups)")
  ap.add_argument("--data", choices=["default", "bench"], default="default")
  ap.add_argument("--threads1", action="store_true",
                  help="single-threaded XLA:CPU (what mlexp runs with for several models; steadier CPU seconds)")
  ap.add_argument("--xla-flags", default=None, help="XLA_FLAGS for this process (set before jax is imported)")
  ap.add_argument("--jax-config", default="", help="k=v[,k=v]: jax.config.update before anything is traced")
  ap.add_argument("--flag-sweep", action="store_true", help="run FLAG_SETS, one subprocess each")
  ap.add_argument("--flag-sets", default="", help="with --flag-sweep: only these (comma list of FLAG_SETS names)")
  ap.add_argument("--tag", default="", help="label put on every JSON line")
  ap.add_argument("--first-apart", default="yes", choices=["auto", "yes", "no"],
                  help="model.first_apart of mlexp's GRU (yes: the floor's layout, its first layer at the input's width)")
  ap.add_argument("--timeout", type=float, default=900)
  ap.add_argument("--out", default="")
  a = ap.parse_args(argv)
  if a.variants == "all":
    a.variants = ",".join(ALL_VARIANTS)
  FIRST_APART[0] = a.first_apart
  if a.flag_sweep:
    return flag_sweep(a)
  if a.xla_flags is not None:
    os.environ["XLA_FLAGS"] = a.xla_flags
  if a.threads1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
  import jax
  for kv in filter(None, a.jax_config.split(",")):
    k, _, v = kv.partition("=")
    v = {"true": True, "false": False}.get(v.lower(), v)
    jax.config.update(k, v)
  assert not jax.config.jax_compilation_cache_dir, "floor.py measures cold compiles: unset the persistent cache"
  os.system("uptime >&2")
  warmup()
  extra = {"tag": a.tag, "xla_flags": os.environ.get("XLA_FLAGS", ""), "jax_config": a.jax_config}
  for bench in a.only.split(","):
    variants = a.variants.split(",")
    run_bench(bench, variants, a.repeat, a.epochs, a.data, a.out, extra)
  os.system("uptime >&2")


if __name__ == "__main__":
  sys.exit(main())
