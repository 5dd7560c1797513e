#!/usr/bin/env bash
# Question: do preference pairs + DPO matter, or is SFT on the self-judged best responses enough?
#   best_worst (DPO on highest- vs lowest-scored candidates) vs top_only (SFT on candidates the
#   judge scores 5, ReST / backtranslation style).
# Paper: A.4 (docs/protocol.md): top-only SFT on 11,254 examples wins 29% vs 30% for the SFT
#   baseline (no gain); only preference pairs + DPO helped (Figure 3: M2 49.2% vs 14.5%).
# Grid: pairs=best_worst,top_only -> 2 jobs, in runs/pairs_vs_top_only/<run_id>/.
# Cost, embedded default (tiny model, synthetic data, 2 CPU cores, hydra/launcher=joblib), measured
#   2026-11-21 inside paper_ablations.sh on a fresh store: 3 min 20 s for both jobs (M0 already built). The jobs
#   share M0, the data, M1, the prompts and iteration 1's candidates and judgments through the
#   store: M1 is trained once.
# GPU: add e.g. experiment=one_gpu_lora, or hydra/launcher=slurm.
# Results: python -m srlm.report runs/pairs_vs_top_only (experiments/pairs_vs_top_only/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python run.py -m name=pairs_vs_top_only pairs=best_worst,top_only "$@"
