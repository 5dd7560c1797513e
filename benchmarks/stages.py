"""Wall time per stage of finished runs, from the ``stages.json`` each run writes.

    python benchmarks/stages.py [RUNS_DIR ...]   (default: runs/*/*/stages.json)

Only executed entries count: a stage found in the store cost nothing in that run. Prints one
Markdown table per run, stages in the order they first ran; nothing is run here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from generation import REPO, show, table


def stage_table(entries: list[dict]) -> tuple[list[list], float]:
    totals: dict[str, list[float]] = {}
    for e in entries:
        if e.get("executed"):
            totals.setdefault(e["stage"], []).append(float(e["seconds"]))
    total = sum(sum(v) for v in totals.values())
    rows = [
        [stage, len(v), f"{sum(v):.2f}", f"{sum(v) / len(v):.2f}", f"{sum(v) / total:.0%}"]
        for stage, v in totals.items()
    ]
    return rows, total


def main() -> None:
    roots = [Path(a) for a in sys.argv[1:]] or [REPO / "runs"]
    files = sorted(f for root in roots for f in root.glob("**/stages.json"))
    if not files:
        print("no stages.json under " + ", ".join(map(str, roots)) + ": finish a run first")
        return
    for f in files:
        entries = json.loads(f.read_text())
        rows, total = stage_table(entries)
        cached = sum(not e.get("executed") for e in entries)
        print(f"### {show(f.parent)}\n")
        print(table(["stage", "executed", "seconds", "mean s", "share"], rows))
        print(
            f"\n{total:.1f} s in executed stages; {cached} entries came from the store. Each "
            "stage's time is bound by what it runs: generation stages by decode steps (see "
            "benchmarks/generation.py), training by optimizer steps (benchmarks/training.py).\n"
        )


if __name__ == "__main__":
    main()
