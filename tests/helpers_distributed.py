"""One DPO run for tests/test_deepspeed.py, alone or as one rank under ``accelerate launch``.

A script, not a test module: every rank runs ``srlm.training.train_dpo`` on the same 16 pairs;
rank 0 then writes the logged losses to ``--result``. The tiny model and the pairs come from the
caller, so the one-process and two-process runs see exactly the same inputs.

    python tests/helpers_distributed.py --base M0 --pairs pairs.json --out OUT \
        --result r.json --batch-size 16 [--max-micro-batch 4] \
        [--deepspeed conf/train/deepspeed/zero3.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="global, all processes")
    parser.add_argument("--max-micro-batch", type=int, default=None, help="per process")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--deepspeed", default=None, help="a DeepSpeed JSON config path")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # two ranks on two cores; one rank stays comparable
    from srlm.training import train_dpo

    pairs = json.loads(Path(args.pairs).read_text())
    cfg = {
        "batch_size": args.batch_size,
        "max_micro_batch": args.max_micro_batch,
        "learning_rate": args.lr,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "max_steps": args.steps,
        "max_length": 128,
        "beta": 0.1,
        "loss_type": ["sigmoid"],
        "dropout": 0.0,
        "logging_steps": 1,
        "save_steps": 1000,
        "progress_bar": False,
        "deepspeed": args.deepspeed,
    }
    start = time.perf_counter()
    metrics = train_dpo(args.base, pairs, args.out, cfg, seed=0, resume=False)
    if int(os.environ.get("RANK", "0")) == 0:
        # The trainer saves a checkpoint at its last step; its state holds every logged step.
        ckpts = sorted(Path(args.out + ".checkpoints").glob("checkpoint-*"))
        state = json.loads((ckpts[-1] / "trainer_state.json").read_text()) if ckpts else {}
        logs = [h for h in state.get("log_history", []) if "loss" in h]
        # What the trainer really ran with: its saved arguments and, under DeepSpeed, the filled-in
        # "auto" values of the engine's config.
        saved = torch.load(ckpts[-1] / "training_args.bin", weights_only=False) if ckpts else None
        ds = getattr(getattr(saved, "hf_deepspeed_config", None), "config", None) or {}
        result = {
            "trainer_batch": [saved.per_device_train_batch_size, saved.gradient_accumulation_steps]
            if saved is not None
            else None,
            "deepspeed_batch": {
                k: ds.get(k)
                for k in (
                    "train_micro_batch_size_per_gpu",
                    "gradient_accumulation_steps",
                    "train_batch_size",
                )
            },
            "metrics": metrics,
            "losses": [h["loss"] for h in logs],
            "margins": [h.get("rewards/margins") for h in logs],
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            "train_seconds": time.perf_counter() - start,
        }
        Path(args.result).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
