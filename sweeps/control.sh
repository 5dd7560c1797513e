#!/usr/bin/env bash
# Question: does the gain come from the self-judged pairs, or just from more training steps?
#   best_worst (the paper's AIFT pairs) vs random_pairs (the same-steps control: as many pairs
#   from the same judged candidates, chosen and rejected drawn at random: same pairs, same DPO
#   steps, no judge signal), for seeds 0, 1, 2.
# Paper: none (not in the paper); docs/tiny_world.md. M3 of best_worst must beat the control's M3.
# Grid: pairs=best_worst,random_pairs x seed=0,1,2 -> 6 jobs, in runs/control/<run_id>/.
#   The two pair strategies share M0, the seed data, M1, iteration 1's prompts, candidates and
#   judgments through the store; they part at iteration 1's pairs.
# Cost, embedded default (tiny model, synthetic data, 2 CPU cores), measured 2026-11-30 beside
#   other jobs: about 4 min for the 3 random_pairs jobs once the 3 best_worst jobs (sweeps/seeds.sh
#   with the same seeds) are in the store; from a fresh store about 20 min (estimated: M0 4 min,
#   each seed 4 min for M1 and its loop, each control 1.5 min).
# GPU: add e.g. experiment=one_gpu_lora, or hydra/launcher=slurm.
# Results: python -m srlm.report runs/control (experiments/control/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python run.py -m name=control pairs=best_worst,random_pairs seed=0,1,2 "$@"
