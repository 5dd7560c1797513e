"""Wall time per stage of finished runs, from the ``stages.json`` each run writes.

    python benchmarks/stages.py [RUNS_DIR ...]   (default: runs/*/*/stages.json)

Only executed entries count: a stage found in the store cost nothing in that run. Prints one
Markdown table per run, stages in the order they first ran, then, for several runs (a sweep),
what sharing the store saved: per stage, the runs that needed it and the times it was computed,
and the seconds with sharing against the seconds had every run computed what it needed itself.
Nothing is run here.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
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


def sharing_table(runs: list[list[dict]]) -> str:
    """What the store's sharing saved across runs (every key computed once somewhere in them)."""
    cost = {(e["stage"], e["key"]): float(e["seconds"]) for r in runs for e in r if e["executed"]}
    per_run = [{(e["stage"], e["key"]) for e in r} for r in runs]  # once per run, as alone
    needed = Counter(stage for outputs in per_run for stage, _ in outputs)
    computed = Counter(stage for stage, _ in cost)
    alone = sum(cost.get(output, 0.0) for outputs in per_run for output in outputs)
    shared = sum(cost.values())
    rows = [[stage, needed[stage], computed[stage]] for stage in needed]
    missing = sum((e["stage"], e["key"]) not in cost for r in runs for e in r)
    note = f" ({missing} entries computed outside these runs count 0 s)" if missing else ""
    return (
        table(["stage", "outputs needed (summed over runs)", "outputs computed"], rows)
        + f"\n\n{len(runs)} runs: {shared:.0f} s of stage work with the shared store, "
        f"{alone:.0f} s if each run computed every stage it needs itself "
        f"({alone / max(shared, 1e-9):.1f}x){note}.\n"
    )


def main() -> None:
    roots = [Path(a) for a in sys.argv[1:]] or [REPO / "runs"]
    files = sorted(f for root in roots for f in root.glob("**/stages.json"))
    if not files:
        print("no stages.json under " + ", ".join(map(str, roots)) + ": finish a run first")
        return
    runs = []
    for f in files:
        entries = json.loads(f.read_text())
        runs.append(entries)
        rows, total = stage_table(entries)
        cached = sum(not e.get("executed") for e in entries)
        print(f"### {show(f.parent)}\n")
        print(table(["stage", "executed", "seconds", "mean s", "share"], rows))
        print(
            f"\n{total:.1f} s in executed stages; {cached} entries came from the store. Each "
            "stage's time is bound by what it runs: generation stages by decode steps (see "
            "benchmarks/generation.py), training by optimizer steps (benchmarks/training.py).\n"
        )

    if len(runs) > 1:
        print("### Sharing across these runs\n")
        print(sharing_table(runs))


if __name__ == "__main__":
    main()
