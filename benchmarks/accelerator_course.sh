#!/usr/bin/env bash
# The course's GRU search (configs/sweeps/course_gru.py) on whatever accelerator JAX sees, cold compile
# cache, with 1 and with 8 seeds per trial (issue 10 asks for seeds=8 on a GPU). Writes to DEST (default
# /tmp/accel_course): one log, results.csv and summary.json per run, and env.txt (versions, device).
#   bash benchmarks/accelerator_course.sh [DEST] [SEEDS...]      e.g.  bash benchmarks/accelerator_course.sh out 8 1
# PYTHON (default python3) and CONFIG (default the course search; e.g. configs/sweeps/course_gru.py:smoke) override.
set -u
DEST=${1:-/tmp/accel_course}; shift || true
SEEDS=${*:-8 1}
PY=${PYTHON:-python3}; CONFIG=${CONFIG:-configs/sweeps/course_gru.py}
mkdir -p "$DEST"
export MLEXP_COMPILATION_CACHE= PYTHONUNBUFFERED=1
{ "$PY" -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', o.__version__); print(jax.devices())"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc; } > "$DEST/env.txt" 2>&1
cat "$DEST/env.txt"
for s in $SEEDS; do
  wd=$(mktemp -d)/course_s$s
  t0=$(date +%s.%N)
  "$PY" -m mlexp.main --config=$CONFIG --config.seeds=$s --workdir="$wd" 2>&1 | tee "$DEST/course_s$s.log"
  t1=$(date +%s.%N)
  echo "WALL seeds=$s $("$PY" -c "print(round($t1-$t0, 1))") s" | tee -a "$DEST/course_s$s.log"
  cp "$wd/results.csv" "$DEST/results_s$s.csv" 2>/dev/null; cp "$wd/summary.json" "$DEST/summary_s$s.json" 2>/dev/null
done
