"""python -m mlexp.report WORKDIR [--top 10] [--out DIR]: write WORKDIR/report/ or DIR (report.md, report.html,
PNGs); exit 2 for a workdir it cannot read, 5 when it cannot write, a warning when results.csv and
summary.json disagree."""
from __future__ import annotations

import argparse
import sys

from mlexp.report import render
from mlexp.results import cross_check


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
  p.add_argument("--out", metavar="DIR", help="write the report into DIR instead of WORKDIR/report/ (e.g. for a "
                                              "read-only workdir)")
  a = p.parse_args(argv)
  if a.top < 1:
    p.error("--top must be at least 1")
  try:
    html_path, figs = render.write_report(a.workdir, top=a.top, out=a.out)
    disagreement = cross_check(a.workdir)
  except OSError as e:
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
      return _refuse(a, e)
    where = e.filename or a.out or a.workdir
    print(f"error: cannot write the report to {where}: {e.strerror or e}; give a writable folder with --out DIR",
          file=sys.stderr)
    return 5
  except (ValueError, KeyError) as e:
    return _refuse(a, e)
  if disagreement:
    print(f"warning: {disagreement}", file=sys.stderr)
  print(html_path)
  print(f"{len(figs)} figures")
  return 0


def _refuse(a, e) -> int:
  """One line for a workdir the report cannot read (exit 2)."""
  if isinstance(e, KeyError):
    msg = f"{a.workdir}: missing field {e} in the workdir files; WORKDIR should be an mlexp workdir"
  else:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
  print(f"error: {msg}", file=sys.stderr)
  return 2


if __name__ == "__main__":
  sys.exit(main())
