#!/usr/bin/env bash
# Question: does training the seed model on EFT (judge) data matter? M1 from IFT+EFT vs M1'
#   from IFT only, then the same self-rewarding iterations.
# Paper: A.3, Figure 8 (docs/protocol.md): without EFT the judge scores cluster and the same
#   prompts yield 541 / 429 pairs instead of 3,964 / 6,942; M2'/M3' trail M2/M3. EFT does not hurt
#   instruction following: M1 vs SFT baseline 30.5% / 38.7% / 30.9% (Figure 3, row 1).
# Grid: data.use_eft=true,false -> 2 jobs, in runs/eft_ablation/<run_id>/.
# Cost, embedded default (tiny model, synthetic data, 2 CPU cores, hydra/launcher=joblib), measured
#   2026-11-21 inside paper_ablations.sh on a fresh store: 30 s after the other sweeps (use_eft=true was done;
#   use_eft=false reuses the SFT baseline as M1). Alone on a fresh store: M0 2-4 min + ~4 min per job.
# GPU: add e.g. experiment=one_gpu_lora, or hydra/launcher=slurm.
# Results: python -m srlm.report runs/eft_ablation (experiments/eft_ablation/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python run.py -m name=eft_ablation data.use_eft=true,false "$@"
