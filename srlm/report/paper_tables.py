"""The paper's tables with ours beside: Figure 3, Table 1, Table 4 and the loop statistics."""

from __future__ import annotations

from collections.abc import Sequence

from srlm.report.paper import (
    PAPER_FIGURE3_HEAD_TO_HEAD,
    PAPER_S3_2_AIFT_PAIRS,
    PAPER_S7_8_LENGTH_CHARS,
    PAPER_TABLE1_ALPACAEVAL_REFERENCES,
    PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING,
    PAPER_TABLE4_REWARD_MODELLING,
)
from srlm.report.runs import AGREEMENT, ALPACA_WIN, H2H_M1, H2H_PREV, H2H_SFT, Run, model_name
from srlm.report.tables import Column, Table


def _pct_cols(*headers: str) -> list[Column]:
    return [Column(h, "pct") for h in headers]


def head_to_head_table(runs: Sequence[Run]) -> Table:
    """Figure 3: M_t vs the SFT baseline, vs M_{t-1} and (the last model) vs M1, win / tie / loss %."""
    table = Table(
        "head_to_head",
        "Head to head (Figure 3): left model's win / tie / loss %",
        "Ours: the run's evaluator on its held-out prompts, both orders, disagreement = tie. "
        "Paper: GPT-4 on 256 IFT-test prompts (Figure 3).",
        [Column("Run"), Column("Comparison")]
        + _pct_cols("Win", "Tie", "Loss", "Paper win", "Paper tie", "Paper loss"),
    )
    for run in runs:
        for row in run.rows:
            t = row["iteration"]
            if t < 1:
                continue
            rivals = ((H2H_SFT, "SFT baseline"), (H2H_PREV, f"M{t - 1}"), (H2H_M1, "M1"))
            for prefix, opponent in rivals:
                if (prefix == H2H_PREV and t < 2) or (prefix == H2H_M1 and t < 3):
                    continue
                ours = [run.get(f"{prefix}/{k}", t) for k in ("win", "tie", "loss")]
                if all(v is None for v in ours):
                    continue
                paper = PAPER_FIGURE3_HEAD_TO_HEAD.get((f"M{t}", opponent), (None, None, None))
                table.rows.append([run.label, f"M{t} vs {opponent}", *ours, *paper])
    return table


def win_rate_table(runs: Sequence[Run]) -> Table:
    """Table 1's shape: one win rate per model, the paper's models underneath."""
    table = Table(
        "win_rate",
        "Win rate per iteration (Table 1 shape)",
        "Ours: the AlpacaEval 2.0 win rate vs GPT-4 Turbo (eval/alpaca/win_rate) where present, "
        "else the head-to-head win % vs our SFT baseline (another baseline: compare trends, not "
        "values). Paper: raw AlpacaEval 2.0 win rate, 805 prompts (Table 1).",
        [Column("Run"), Column("Model"), Column("Win rate %", "pct2"), Column("Measured by")]
        + [Column("Paper win rate %", "pct2")],
    )
    for run in runs:
        for row in run.rows:
            t = row["iteration"]
            alpaca = run.get(ALPACA_WIN, t)
            if alpaca is not None:
                value, how = alpaca, "AlpacaEval 2.0"
            elif t >= 1 and run.get(f"{H2H_SFT}/win", t) is not None:
                value, how = run.get(f"{H2H_SFT}/win", t), "h2h vs SFT baseline"
            else:
                continue
            paper = PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING.get(model_name(t))
            table.rows.append([run.label, model_name(t), value, how, paper])
    for name, value in PAPER_TABLE1_ALPACAEVAL_REFERENCES.items():
        table.rows.append(["(paper, Table 1)", name, None, None, value])
    return table


def reward_modelling_table(runs: Sequence[Run]) -> Table:
    """Table 4: the five agreement metrics per model, each beside the paper's."""
    columns = [Column("Run"), Column("Model")]
    for _, header, fmt in AGREEMENT:
        columns += [Column(header, fmt), Column(f"Paper {header}", fmt)]
    table = Table(
        "reward_modelling",
        "Reward modelling (Table 4): the model as judge vs the true rankings",
        "Ours: the run's ranked eval sets (human ranks for data=oasst, true grades for "
        "synthetic). Paper: EFT eval set vs human rankings (Table 4).",
        columns,
    )
    for run in runs:
        for row in run.rows:
            t, cells = row["iteration"], []
            for metric, _, fmt in AGREEMENT:
                scale = 100.0 if fmt == "pct" else 1.0
                ours = run.get(f"eval/agreement/{metric}", t, scale)
                cells += [ours, PAPER_TABLE4_REWARD_MODELLING[metric].get(model_name(t))]
            if any(v is not None for v in cells[::2]):
                table.rows.append([run.label, model_name(t), *cells])
    return table


def loop_stats_table(runs: Sequence[Run]) -> Table:
    """§3.2 and §7.8: what each iteration built (pairs, ties, parse failures) and how long M_t is."""
    table = Table(
        "loop_stats",
        "Per-iteration statistics (§3.2 pair counts, §7.8 length growth)",
        "AIFT pairs (or top-only SFT examples, pairs=top_only) in the row of M_t are AIFT(M_t), "
        "built to train M_{t+1}; parse fail: M_t "
        "judging its candidates; eval parse fail: M_t judging the ranked eval sets. Rates in %. "
        "Paper length: mean AlpacaEval generation length (§3.2.1; ours: held-out prompts).",
        [Column("Run"), Column("Model"), Column("AIFT pairs", "int")]
        + [Column("Paper AIFT pairs", "int"), Column("Top-only examples", "int")]
        + _pct_cols("Pair ties %", "Pair truth acc. %", "Parse fail %", "Eval parse fail %")
        + [Column("Mean chars", "num"), Column("Paper mean chars", "int")]
        + [Column("Mean tokens", "num"), Column("Answer acc. %", "pct")],
    )
    for run in runs:
        for row in run.rows:
            t, m = row["iteration"], model_name(row["iteration"])
            cells = [
                run.get("aift/num_pairs", t),
                PAPER_S3_2_AIFT_PAIRS.get(m),
                run.get("aift/num_examples", t),
                run.get("aift/tie_rate", t, 100.0),
                run.get("aift/pair_truth_accuracy", t, 100.0),
                run.get("judge/parse_fail_rate", t, 100.0),
                run.get("eval/judge/parse_fail_rate", t, 100.0),
                run.get("eval/length/mean_chars", t),
                PAPER_S7_8_LENGTH_CHARS.get(m),
                run.get("eval/length/mean_tokens", t),
                run.get("eval/answer_accuracy", t, 100.0),
            ]
            if any(v is not None for i, v in enumerate(cells) if i not in (1, 8)):
                table.rows.append([run.label, m, *cells])
    return table
