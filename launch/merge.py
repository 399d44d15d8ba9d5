"""Merges the shards of a sweep run without Ray (sweep.shard_index / num_shards over a shared folder, see
launch/README.md): results.csv, summary.json, best_config.* from WORKDIR/groups/*.json, metrics.shard*.jsonl
appended to metrics.jsonl, the best shard's best-trial checkpoint. (The Ray backend needs no merge.)

  python launch/merge.py WORKDIR        (or: python -m launch.merge WORKDIR)

Run it when every shard is done; run early, it merges the groups done so far
and names the missing ones. Merging twice gives the same files.
"""
from __future__ import annotations

import os
import sys


def main(argv) -> int:
  if len(argv) != 2 or argv[1].startswith("-"):
    print(f"usage: python {argv[0]} WORKDIR   (a sweep workdir written by sharded runs)", file=sys.stderr)
    return 2
  workdir = argv[1]
  if not os.path.isfile(os.path.join(workdir, "config.json")):
    print(f"merge: error: {workdir}/config.json not found: WORKDIR should be the workdir of a sweep", file=sys.stderr)
    return 2
  from mlexp.config import ConfigError  # merging reads files only: no data, no JAX
  from mlexp.sweeps.record import merge
  try:
    merge(workdir)
  except ConfigError as e:
    print(f"merge: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
