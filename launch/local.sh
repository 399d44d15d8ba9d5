#!/usr/bin/env bash
# Runs one sweep as N processes on this machine, then merges their results.
#
#   launch/local.sh CONFIG WORKDIR N [extra --config.x=y flags...]
#   launch/local.sh configs/sweeps/gru.py:smoke runs/gru_smoke 2
#
# Process i runs the groups k with k % N == i (--config.sweep.shard_index=i --config.sweep.num_shards=N),
# all in WORKDIR; its output goes to WORKDIR/logs/shard<i>.log and, prefixed with [shard i], to the console.
# With taskset, process i is pinned to core i (mod the core count) and XLA uses one thread per process
# (LAUNCH_PIN=0 turns both off). PYTHON picks the interpreter (default: python).
# Rerunning the same command resumes: groups already in WORKDIR/groups/ are skipped.
set -uo pipefail

if [ $# -lt 3 ] || ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 CONFIG WORKDIR N [extra --config.x=y flags...]   (N: number of processes >= 1)" >&2
  exit 2
fi
CONFIG=$1
WORKDIR=$2
N=$3
shift 3
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
PIN=${LAUNCH_PIN:-1}
CORES=$(nproc 2>/dev/null || echo 1)

mkdir -p "$WORKDIR/logs"
pids=()
for ((i = 0; i < N; i++)); do
  cmd=("$PY" -m mlexp.main "--config=$CONFIG" "--workdir=$WORKDIR" "--config.sweep.shard_index=$i"
       "--config.sweep.num_shards=$N" "$@")
  xla=${XLA_FLAGS:-}
  if [ "$PIN" != 0 ] && command -v taskset >/dev/null 2>&1; then
    cmd=(taskset -c $((i % CORES)) "${cmd[@]}")
    xla="$xla --xla_cpu_multi_thread_eigen=false"
  fi
  (
    XLA_FLAGS="$xla" "${cmd[@]}" 2>&1 | tee "$WORKDIR/logs/shard$i.log" | sed -u "s/^/[shard $i] /"
  ) &
  pids+=($!)
done

failed=()
for ((i = 0; i < N; i++)); do
  wait "${pids[$i]}" || failed+=("$i")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "launch: shard(s) ${failed[*]} failed (see $WORKDIR/logs/shard<i>.log); rerun the same command to resume" >&2
  exit 1
fi
"$PY" "$HERE/merge.py" "$WORKDIR"
