"""python -m mlexp.report WORKDIR [--top 10]: write WORKDIR/report/ (report.md, report.html, PNGs)."""
from __future__ import annotations

import argparse
import json
import sys

from mlexp.report import render


def main(argv=None) -> int:
  p = argparse.ArgumentParser(
      prog="python -m mlexp.report",
      description="Write a hypertuning report for an mlexp workdir (single run or sweep) into WORKDIR/report/: "
                  "report.md, a self-contained report.html with embedded figures, and the PNG figures. "
                  "Findings cover the best configuration (mean ± std over seeds), the effect of each swept "
                  "field against seed noise, where more epochs stopped helping, overfitting, diverged "
                  "trials and accuracy vs training time.")
  p.add_argument("workdir", metavar="WORKDIR", help="folder written by an mlexp training run or sweep "
                                                    "(config.json, metrics.jsonl, summary.json[, results.csv, sweep.json])")
  p.add_argument("--top", type=int, default=10, help="number of trials in the top-trials table (default 10); "
                                                     "learning curves show at most min(5, TOP)")
  a = p.parse_args(argv)
  if a.top < 1:
    p.error("--top must be at least 1")
  try:
    html_path, figs = render.write_report(a.workdir, top=a.top)
  except (FileNotFoundError, NotADirectoryError, ValueError, KeyError, json.JSONDecodeError) as e:
    if isinstance(e, KeyError):
      msg = f"{a.workdir}: missing field {e} in the workdir files; WORKDIR should be an mlexp workdir"
    else:
      msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    print(f"error: {msg}", file=sys.stderr)
    return 2
  print(html_path)
  print(f"{len(figs)} figures")
  return 0


if __name__ == "__main__":
  sys.exit(main())
