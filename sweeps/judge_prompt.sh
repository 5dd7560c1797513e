#!/usr/bin/env bash
# Question: how much does the judge prompt matter? The paper's additive 5-point rubric (Figure 2)
#   vs the multiple-choice prompt of Li et al. 2023 (Humpback), same model, same data.
# Paper: A.2, Table 5 (docs/protocol.md): SFT-baseline judge, pairwise accuracy 65.1% vs 26.6%,
#   Spearman 0.25 vs -0.18.
# Grid: judge=additive5,multiple_choice -> 2 jobs, in runs/judge_prompt/<run_id>/.
# Cost, embedded default (tiny model, synthetic data, 2 CPU cores, hydra/launcher=joblib), measured
#   2026-11-21 inside paper_ablations.sh on a fresh store: 19 min for both jobs, M0 included (each trains its own
#   M1 on 3,000 EFT examples in its long prompt: ~12-14 min each, in parallel); the shared store
#   builds M0, the data and the SFT baseline once.
#   Measured on the tiny model: M1's pairwise accuracy 71% (additive5) vs 42% (multiple_choice);
#   its default judge=additive5_condensed (docs/tiny_world.md: long prompts are hard for it)
#   gets 75%.
# GPU: add e.g. experiment=one_gpu_lora (Qwen2.5-0.5B + LoRA, a few GPU-hours per job), or
#   hydra/launcher=slurm to run the jobs in parallel.
# Results: python -m srlm.report runs/judge_prompt (experiments/judge_prompt/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python run.py -m name=judge_prompt judge=additive5,multiple_choice "$@"
