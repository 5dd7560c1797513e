"""``python -m srlm.report RUNS_DIR [--out DIR] [--wandb ENTITY/PROJECT]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from srlm.report.runs import ReportError, load_runs, load_wandb
from srlm.report.writer import write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srlm.report",
        description="The paper's tables and plots (with its numbers beside ours) from finished runs.",
    )
    parser.add_argument(
        "runs_dir", nargs="?", type=Path, help="a runs directory (searched for summary.json)"
    )
    parser.add_argument("--out", type=Path, help="output dir (default: RUNS_DIR/report)")
    parser.add_argument(
        "--wandb", metavar="ENTITY/PROJECT", help="read the runs from wandb instead of RUNS_DIR"
    )
    args = parser.parse_args(argv)
    if args.runs_dir is None and not args.wandb:
        parser.error("give RUNS_DIR or --wandb ENTITY/PROJECT")
    try:
        if args.wandb:
            runs = load_wandb(args.wandb)
            out = args.out or (args.runs_dir or Path(".")) / "report"
            source = f"wandb:{args.wandb}"
        else:
            runs = load_runs(args.runs_dir)
            out = args.out or args.runs_dir / "report"
            source = str(args.runs_dir)
        path = write_report(runs, out, source)
    except ReportError as e:
        print(f"srlm.report: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0
