#!/usr/bin/env bash
# Runs one sweep on this machine with N cores through the Ray backend (a thin wrapper; see launch/README.md).
#
#   launch/local.sh CONFIG WORKDIR N [extra --config.x=y flags...]
#   launch/local.sh configs/sweeps/gru.py:smoke runs/gru_smoke 2
#
# is   python -m mlexp.main --config=CONFIG --workdir=WORKDIR --config.sweep.backend=ray \
#          --config.sweep.ray_num_cpus=N [flags...]
# a local Ray of N CPUs, one group (one compiled program) per core at a time, biggest groups first; results
# in WORKDIR as with one process (no merge step). Rerunning the same command resumes: finished groups are
# skipped. Needs the extra: pip install -e ".[ray]". PYTHON picks the interpreter (default: python).
set -uo pipefail

if [ $# -lt 3 ] || ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 CONFIG WORKDIR N [extra --config.x=y flags...]   (N: cores of the local Ray >= 1)" >&2
  exit 2
fi
CONFIG=$1
WORKDIR=$2
N=$3
shift 3
exec "${PYTHON:-python}" -m mlexp.main "--config=$CONFIG" "--workdir=$WORKDIR" --config.sweep.backend=ray \
  "--config.sweep.ray_num_cpus=$N" "$@"
