#!/usr/bin/env bash
# Question: how large is run-to-run variation? The paper reports one run per setting, so a
#   difference between two settings means little until it exceeds the spread across seeds.
# Paper: none (its §6 names one setting and a small human evaluation); the seed moves data sampling,
#   self-instruct prompts, candidate sampling, judging and training order.
# Grid: seed=0,1,2 -> 3 jobs, in runs/seeds/<run_id>/.
# Cost, embedded default (tiny model, synthetic data, 2 CPU cores), measured 2026-11-30 with the
#   basic launcher beside another job, M0 already built: 13 min for the 3 seeds (about 4 min each,
#   M1's SFT 2.5 min of it). M0 is shared (its recipe has its own seed), little else is.
# GPU: add e.g. experiment=one_gpu_lora, or hydra/launcher=slurm to run the seeds in parallel.
# Results: python -m srlm.report runs/seeds (experiments/seeds/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python run.py -m name=seeds seed=0,1,2 "$@"
