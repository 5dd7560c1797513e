"""DPO steps/s on the tiny model, with and without precomputed reference log-probs.

    python benchmarks/training.py [--model DIR] [--pairs 64] [--epochs 3]

Without precomputing, every DPO step also runs the frozen reference model forward on the chosen
and rejected answers; ``precompute_ref_log_probs`` runs it once per pair before training instead
(and frees the reference copy). Prints Markdown; figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import torch
from generation import REPO, THREADS_HELP, show, table, tiny_model
from omegaconf import OmegaConf

from srlm.data.synthetic import SyntheticWorld
from srlm.training import train_dpo


def pairs(n: int) -> list[dict]:
    world = SyntheticWorld(seed=3)
    out = []
    for i in range(n):
        task = world.task()
        out.append(
            {
                "prompt": task.prompt,
                "chosen": world.response(task, 5),
                "rejected": world.response(task, i % 4),
            }
        )
    return out


class Timed:
    """Times DPOTrainer construction (where TRL precomputes) and ``train`` inside train_dpo."""

    NAMES = ("__init__", "train")

    def __enter__(self):
        from trl import DPOTrainer

        self.orig = {name: getattr(DPOTrainer, name) for name in self.NAMES}
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        for name, fn in self.orig.items():
            setattr(DPOTrainer, name, self._timed(name, fn))
        return self

    def _timed(self, name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t

        return wrapper

    def __exit__(self, *exc):
        from trl import DPOTrainer

        for name, fn in self.orig.items():
            setattr(DPOTrainer, name, fn)


def run(model: Path, data: list[dict], base_cfg: dict, precompute: bool, **over) -> dict:
    cfg = {**base_cfg, "precompute_ref_log_probs": precompute, **over}
    with (
        tempfile.TemporaryDirectory(prefix="srlm_bench_dpo_") as tmp,
        Timed() as timed,
        contextlib.redirect_stdout(io.StringIO()),  # the Trainer prints its metrics dict
    ):
        t = time.perf_counter()
        metrics = train_dpo(model, data, Path(tmp) / "out", cfg, seed=0, resume=False)
        wall = time.perf_counter() - t
    setup, train = timed.seconds["__init__"], timed.seconds["train"]
    return {"steps": int(metrics["train/steps"]), "wall": wall, "init": setup, "train": train}


def best_of(repeats: int, *args, **kwargs) -> dict:
    """The fastest of a few runs: on a shared machine the slow ones measure the neighbours."""
    return min((run(*args, **kwargs) for _ in range(repeats)), key=lambda r: r["wall"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a tiny model dir (default: runs/store/m0 or build one)")
    p.add_argument("--pairs", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3, help="runs per mode; the fastest counts")
    p.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = tiny_model(args.model)
    base = OmegaConf.to_container(OmegaConf.load(REPO / "conf/train/tiny.yaml").dpo)
    base.update(
        batch_size=args.batch_size,
        epochs=args.epochs,
        logging_steps=10_000,
        save_steps=100_000,
        progress_bar=False,
        report_to="none",
    )
    data = pairs(args.pairs)
    run(model, data[:8], base, False, max_steps=1)  # warm-up: imports, first-call costs
    results = {flag: best_of(args.repeats, model, data, base, flag) for flag in (False, True)}
    rows = []
    for flag, r in results.items():
        rows.append(
            [
                "precomputed reference log-probs" if flag else "reference forward every step",
                r["steps"],
                f"{r['init']:.2f}",
                f"{r['train']:.2f}",
                r["steps"] / r["train"],
                f"{r['wall']:.2f}",
                r["steps"] / r["wall"],
            ]
        )
    off, on = results[False], results[True]
    header = ["DPO", "steps", "setup s", "train s", "train steps/s", "wall s", "steps/s (wall)"]
    print(
        f"### DPO on the tiny model {show(model)}: {args.pairs} pairs, batch {args.batch_size}, "
        f"{args.epochs} epochs, {torch.get_num_threads()} thread(s), best of {args.repeats}\n"
    )
    print(table(header, rows))
    loop = (on["steps"] / on["train"]) / (off["steps"] / off["train"])
    wall = off["wall"] / on["wall"]
    print(
        f"\ntraining loop {loop:.2f}x, end to end {wall:.2f}x: a step is policy forward+backward "
        "(~3 forwards of work) plus, without precomputing, the reference forward on chosen and "
        "rejected, so precomputing saves about a quarter of a step's compute (~1.33x) plus that "
        "call's overhead; the precompute pass (in setup s) pays the same forward once per pair, "
        "so end to end it gains only with several epochs (and saves the reference copy's memory)."
    )


if __name__ == "__main__":
    main()
