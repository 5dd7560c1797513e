"""Run one training stage in its own process: ``python -m srlm.train_worker SPEC.json``.

Used with ``loop.isolation=subprocess`` (the GPU memory of generation is released before
training, and training's after) and for multi-process training, where the pipeline launches
``accelerate launch --num_processes N [--use_deepspeed ...] -m srlm.train_worker SPEC.json``.
SPEC: ``{kind: sft|dpo, base, data (JSON file of examples or pairs), out_dir, cfg, seed,
result (where rank 0 writes the metrics)}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from srlm.artifacts import write_json


def main(spec_path: str) -> None:
    from srlm.training import train_dpo, train_sft

    spec = json.loads(Path(spec_path).read_text())
    data = json.loads(Path(spec["data"]).read_text())
    fn = train_sft if spec["kind"] == "sft" else train_dpo
    metrics = fn(spec["base"], data, spec["out_dir"], spec["cfg"], seed=spec["seed"])
    if int(os.environ.get("RANK", "0")) == 0:
        write_json(Path(spec["result"]), metrics)


def launch_command(num_processes: int, deepspeed: str | None, module_args: list[str]) -> list[str]:
    """The command that runs the worker: plain Python, or accelerate for several processes."""
    if num_processes <= 1 and not deepspeed:
        return [sys.executable, "-m", "srlm.train_worker", *module_args]
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--dynamo_backend",
        "no",
        "--mixed_precision",
        "no",
    ]
    if deepspeed:
        cmd += ["--use_deepspeed"]
    return [*cmd, "-m", "srlm.train_worker", *module_args]


def run_isolated(
    kind: str,
    base: str,
    data: list,
    out_dir: Path,
    cfg: dict[str, Any],
    seed: int,
    num_processes: int = 1,
) -> dict[str, float]:
    """Train in a child process (or N of them) and return rank 0's metrics."""
    work = Path(str(out_dir) + ".worker")
    work.mkdir(parents=True, exist_ok=True)
    write_json(work / "data.json", data)
    spec = {
        "kind": kind,
        "base": str(base),
        "data": str(work / "data.json"),
        "out_dir": str(out_dir),
        "cfg": cfg,
        "seed": seed,
        "result": str(work / "metrics.json"),
    }
    write_json(work / "spec.json", spec)
    cmd = launch_command(num_processes, cfg.get("deepspeed"), [str(work / "spec.json")])
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"training worker failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads((work / "metrics.json").read_text())


if __name__ == "__main__":
    main(sys.argv[1])
