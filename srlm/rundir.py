"""A run's own directory: its id, its log, its lock, and the views into the store it keeps.

``runs/<name>/<run_id>/`` holds ``config.yaml``, ``run.log``, ``stages.json``, ``summary.json``,
``iter_XX/`` (links into the store) and ``eval/<model>/model_outputs.json`` (AlpacaEval's format).
The run id is derived from the overrides that change results, so the same command finds its run
again; two processes running the same command do not share one directory at once.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from filelock import FileLock, Timeout

from srlm.keys import run_id_overrides, stable_hash

THIRD_PARTY = ("httpx", "urllib3", "datasets", "filelock", "accelerate", "wandb", "transformers")

# The metrics the console's closing table shows, per model: (column, summary.json key).
HEADLINE = (
    ("answer acc.", "eval/answer_accuracy"),
    ("vs SFT w/t/l", "eval/h2h_vs_sft"),
    ("judge pairwise acc.", "eval/agreement/pairwise_accuracy"),
    ("AIFT pairs", "aift/num_pairs"),
    ("pair truth", "aift/pair_truth_accuracy"),
    ("parse fail", "judge/parse_fail_rate"),
    ("length (chars)", "eval/length/mean_chars"),
)


def make_run_id(overrides: list[str]) -> str:
    kept = run_id_overrides(overrides)
    if not kept:
        return "default"
    rid = re.sub(r"[^A-Za-z0-9=,._+-]", "-", ",".join(kept))
    return rid if len(rid) <= 120 else f"h{stable_hash(kept, 12)}"


def lock(run_dir: Path) -> FileLock:
    """Hold the run directory; a second run of the same command is refused, not interleaved."""
    run_dir.mkdir(parents=True, exist_ok=True)
    held = FileLock(str(run_dir / ".run.lock"))
    try:
        held.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(
            f"{run_dir}: another srlm run of this command is using it; wait for it to finish"
        ) from None
    return held


def setup_logging(run_dir: Path) -> None:
    """INFO to the console, everything (tracebacks included) to ``run.log``."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_srlm", False):
            root.removeHandler(h)
    fh = logging.FileHandler(str(run_dir / "run.log"))
    fh._srlm = True  # type: ignore[attr-defined]
    fh.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    root.addHandler(fh)
    consoles = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    if not consoles:
        consoles = [logging.StreamHandler()]
        consoles[0].setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        root.addHandler(consoles[0])
    for console in consoles:  # retries show as one progress line; they and tracebacks: run.log
        console.addFilter(lambda r: not r.name.startswith(("srlm.retries", "srlm.traceback")))
    root.setLevel(logging.INFO)
    quiet_third_party()


def quiet_third_party() -> None:
    """Keep the console to srlm's own lines: no dataset-map bars, no library INFO chatter."""
    for noisy in THIRD_PARTY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("DS_ACCELERATOR", "cpu" if not _cuda() else "cuda")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights", "Writing model shards"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def summary_table(rows: list[dict], run_dir: Path) -> str:
    """The run's main metrics per model, and where its outputs are."""
    header = ["model", *(name for name, _ in HEADLINE)]
    table = [header]
    for row in sorted(rows, key=lambda r: (r["iteration"], r["model"] != "sft_baseline")):
        cells = [row["model"]]
        for _, key in HEADLINE:
            if key == "eval/h2h_vs_sft":
                w, t, los = (row.get(f"{key}/{x}") for x in ("win", "tie", "loss"))
                cells.append(f"{w:g}/{t:g}/{los:g}" if w is not None else "")  # percentages
            else:
                v = row.get(key)
                cells.append("" if v is None else f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}")
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in table
    ]
    where = (
        f"outputs: {run_dir}/summary.json (every metric), stages.json, run.log, "
        f"iter_XX/ (prompts, candidates, judgments, pairs, models), eval/<model>/model_outputs.json"
    )
    return "\n".join([*lines, where])


def link_iteration(run_dir: Path, t: int, files: dict[str, Path]) -> None:
    """``iter_XX/`` in the run directory: links to iteration t's files in the store."""
    d = run_dir / f"iter_{t:02d}"
    d.mkdir(exist_ok=True)
    for name, target in files.items():
        link = d / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(target).resolve())
