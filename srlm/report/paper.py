"""The paper's reported numbers (Yuan et al. 2024, Llama 2 70B), as printed.

The figure or table in each name's comment. The report prints them beside ours and, in plots, draws
them only with their own label and judge (GPT-4 for Figure 3, the GPT-4 Turbo AlpacaEval
annotator for Table 1, the model itself vs human rankings for Table 4).
"""

from __future__ import annotations

PAPER_MODEL = "Llama 2 70B"
# Who produced each of the paper's numbers (for labels: never a bare "paper").
PAPER_FIGURE3_JUDGE = "GPT-4, 256 IFT test prompts"
PAPER_TABLE1_JUDGE = "AlpacaEval 2.0, GPT-4 annotator, vs GPT-4 Turbo, 805 prompts"
PAPER_TABLE4_JUDGE = "the model as its own judge vs human rankings"

# Figure 3 (paper §3.2.1): GPT-4 head to head on 256 prompts, (left, right) -> win/tie/loss %.
PAPER_FIGURE3_HEAD_TO_HEAD: dict[tuple[str, str], tuple[float, float, float]] = {
    ("M1", "SFT baseline"): (30.5, 38.7, 30.9),
    ("M2", "SFT baseline"): (49.2, 36.3, 14.5),
    ("M3", "SFT baseline"): (62.5, 27.7, 9.8),
    ("M2", "M1"): (55.5, 32.8, 11.7),
    ("M3", "M2"): (47.7, 39.8, 12.5),
    ("M3", "M1"): (68.8, 22.7, 8.6),
}

# Table 1 (paper §3.2.1): AlpacaEval 2.0 raw win rate % vs GPT-4 Turbo (805 prompts).
PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING: dict[str, float] = {"M1": 9.94, "M2": 15.38, "M3": 20.44}
PAPER_TABLE1_ALPACAEVAL_REFERENCES: dict[str, float] = {
    "GPT-4 0314": 22.07,
    "Mistral Medium": 21.86,
    "Claude 2": 17.19,
    "Gemini Pro": 16.85,
    "GPT-4 0613": 15.76,
    "GPT 3.5 Turbo 0613": 14.13,
    "LLaMA2 Chat 70B": 13.87,
    "Vicuna 33B v1.3": 12.71,
    "Humpback LLaMa2 70B": 10.12,
    "Guanaco 65B": 6.86,
    "Davinci001": 2.76,
    "Alpaca 7B": 2.59,
}

# Table 4 (paper §3.2.2): reward modelling on the EFT eval set; metric -> model -> value
# (pairwise accuracy, 5-best and exact match in %, the correlations as printed).
PAPER_TABLE4_REWARD_MODELLING: dict[str, dict[str, float]] = {
    "pairwise_accuracy": {"sft_baseline": 65.1, "M1": 78.7, "M2": 80.4, "M3": 81.7},
    "five_best": {"sft_baseline": 39.6, "M1": 41.5, "M2": 44.3, "M3": 43.2},
    "exact_match": {"sft_baseline": 10.1, "M1": 13.1, "M2": 14.3, "M3": 14.3},
    "spearman": {"sft_baseline": 0.253, "M1": 0.279, "M2": 0.331, "M3": 0.349},
    "kendall_tau": {"sft_baseline": 0.233, "M1": 0.253, "M2": 0.315, "M3": 0.324},
}

# Table 5 (paper A.2): the SFT baseline as judge with each prompt.
PAPER_TABLE5_JUDGE_PROMPT: dict[str, dict[str, float]] = {
    "multiple_choice": {
        "pairwise_accuracy": 26.6,
        "five_best": 23.5,
        "exact_match": 1.1,
        "spearman": -0.18,
        "kendall_tau": -0.16,
    },
    "additive5": {
        "pairwise_accuracy": 65.1,
        "five_best": 39.6,
        "exact_match": 10.1,
        "spearman": 0.25,
        "kendall_tau": 0.23,
    },
}

# §3.1.3 and A.3 (Figure 8): AIFT pairs built by M_t, with and without EFT.
PAPER_S3_2_AIFT_PAIRS: dict[str, int] = {"M1": 3964, "M2": 6942}
PAPER_A3_NO_EFT_AIFT_PAIRS: dict[str, int] = {"M1": 541, "M2": 429}

# A.4: SFT on the 11,254 self-generated responses scored 5, vs the SFT baseline.
PAPER_A4_TOP_ONLY_VS_SFT: dict[str, float] = {"win": 29.0, "loss": 30.0}
PAPER_A4_TOP_ONLY_EXAMPLES = 11254

# §3.2.1: mean AlpacaEval generation length (unit not stated; AlpacaEval counts characters).
PAPER_S7_8_LENGTH_CHARS: dict[str, int] = {"M1": 1092, "M2": 1552, "M3": 2552}
