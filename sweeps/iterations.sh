#!/usr/bin/env bash
# Question: how do quality and judging change with the number of self-rewarding iterations, and
#   does a run stopped at K iterations end at the same M_K as a longer run?
# Paper: §2.4 and §3.2 (three iterations), Figure 3, Tables 1 and 4 per iteration; §6 names
#   scaling over iterations as open (docs/protocol.md).
# Grid: loop.iterations=1,2,3 -> 3 jobs, in runs/iterations/<run_id>/.
# Cost, embedded default (tiny model, synthetic data, 2 CPU cores, hydra/launcher=joblib), measured
#   2026-11-21 inside paper_ablations.sh on a fresh store: 10 s after the other sweeps (every stage reused). Alone:
#   about one 3-iteration run (~7 min with M0): iterations=3 computes everything and the shorter
#   runs reuse its stages (whichever job gets to a stage first computes it).
# GPU: add e.g. experiment=one_gpu_lora, or hydra/launcher=slurm.
# Results: python -m srlm.report runs/iterations (experiments/iterations/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python run.py -m name=iterations loop.iterations=1,2,3 "$@"
