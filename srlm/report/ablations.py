"""Ablation tables: per experiment name, one table per config key that differs between runs,
with the paper's number for that setting beside ours where the paper reports one (A.2-A.4)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from srlm.report.paper import (
    PAPER_A3_NO_EFT_AIFT_PAIRS,
    PAPER_A4_TOP_ONLY_EXAMPLES,
    PAPER_A4_TOP_ONLY_VS_SFT,
    PAPER_FIGURE3_HEAD_TO_HEAD,
    PAPER_S3_2_AIFT_PAIRS,
    PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING,
    PAPER_TABLE4_REWARD_MODELLING,
    PAPER_TABLE5_JUDGE_PROMPT,
)
from srlm.report.runs import AGREEMENT, ALPACA_WIN, H2H_PREV, H2H_SFT, Run, is_number, model_name
from srlm.report.tables import Column, Table

# Override keys that never make two runs an ablation of each other.
NON_SEMANTIC = ("name", "run_id", "threads", "dry_run")
NON_SEMANTIC_PREFIXES = ("hydra", "paths.", "logger")
# Dimensions looked up even when no override names them (a summary without overrides).
KNOWN_DIMS = ("judge", "pairs", "data.use_eft", "loop.iterations", "seed")


@dataclass(frozen=True)
class MetricCol:
    """One compared metric: a summary key read at an iteration, the final one, or over all."""

    header: str
    key: str
    at: int | str = "final"  # iteration | "final" | "sum" | "mean"
    scale: float = 1.0
    fmt: str = "pct"


PaperLookup = Callable[[str, Run], dict[str, Any]]


def _no_paper(value: str, run: Run) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class AblationSpec:
    title: str
    note: str
    columns: tuple[MetricCol, ...]
    paper: PaperLookup = _no_paper
    order: tuple[str, ...] = ()  # values listed first, in this order


STANDARD_COLS: tuple[MetricCol, ...] = (
    MetricCol("vs SFT win %", f"{H2H_SFT}/win"),
    MetricCol("vs SFT tie %", f"{H2H_SFT}/tie"),
    MetricCol("vs SFT loss %", f"{H2H_SFT}/loss"),
    MetricCol("vs prev win %", f"{H2H_PREV}/win"),
    MetricCol("AlpacaEval win %", ALPACA_WIN, fmt="pct2"),
    MetricCol("Pairwise acc. %", "eval/agreement/pairwise_accuracy", scale=100.0),
    MetricCol("Spearman", "eval/agreement/spearman", fmt="corr"),
    MetricCol("Mean chars", "eval/length/mean_chars", fmt="num"),
    MetricCol("AIFT pairs (all)", "aift/num_pairs", "sum", fmt="int"),
    MetricCol("Parse fail % (mean)", "judge/parse_fail_rate", "mean", 100.0),
)


def _final_model(run: Run) -> str:
    return model_name(run.final.get("iteration", 0)) if run.rows else ""


def _paper_vs_sft(model: str) -> dict[str, Any]:
    win, tie, loss = PAPER_FIGURE3_HEAD_TO_HEAD.get((model, "SFT baseline"), (None, None, None))
    prev = f"M{int(model[1:]) - 1}" if model.startswith("M") and model[1:].isdigit() else ""
    prev_win = PAPER_FIGURE3_HEAD_TO_HEAD.get((model, prev), (None,))[0]
    pairwise = PAPER_TABLE4_REWARD_MODELLING["pairwise_accuracy"].get(model)
    spearman = PAPER_TABLE4_REWARD_MODELLING["spearman"].get(model)
    out = {
        "vs SFT win %": win,
        "vs SFT tie %": tie,
        "vs SFT loss %": loss,
        "vs prev win %": prev_win,
        "AlpacaEval win %": PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING.get(model),
        "Pairwise acc. %": pairwise,
        "Spearman": spearman,
    }
    return {k: v for k, v in out.items() if v is not None}


def _paper_judge(value: str, run: Run) -> dict[str, Any]:
    paper = PAPER_TABLE5_JUDGE_PROMPT.get(value, {})
    return {f"SFT {h}": paper[m] for m, h, _ in AGREEMENT if m in paper}


def _paper_pairs(value: str, run: Run) -> dict[str, Any]:
    if value == "top_only":
        return {
            "vs SFT win %": PAPER_A4_TOP_ONLY_VS_SFT["win"],
            "vs SFT loss %": PAPER_A4_TOP_ONLY_VS_SFT["loss"],
            "Top-only examples (all)": PAPER_A4_TOP_ONLY_EXAMPLES,
        }
    if value == "best_worst":
        return _paper_vs_sft(_final_model(run))
    return {}


def _paper_eft(value: str, run: Run) -> dict[str, Any]:
    if value == "true":
        m1 = PAPER_FIGURE3_HEAD_TO_HEAD[("M1", "SFT baseline")]
        final = _paper_vs_sft(_final_model(run))
        return {
            "M1 vs SFT win %": m1[0],
            "M1 vs SFT tie %": m1[1],
            "M1 vs SFT loss %": m1[2],
            "M1 pairwise acc. %": PAPER_TABLE4_REWARD_MODELLING["pairwise_accuracy"]["M1"],
            "AIFT(M1) pairs": PAPER_S3_2_AIFT_PAIRS["M1"],
            "AIFT(M2) pairs": PAPER_S3_2_AIFT_PAIRS["M2"],
            "final vs SFT win %": final.get("vs SFT win %"),
            "final pairwise acc. %": final.get("Pairwise acc. %"),
        }
    if value == "false":
        return {
            # M1' is trained on IFT only, i.e. it is the SFT baseline as a judge (Table 4, A.3).
            "M1 pairwise acc. %": PAPER_TABLE4_REWARD_MODELLING["pairwise_accuracy"][
                "sft_baseline"
            ],
            "AIFT(M1) pairs": PAPER_A3_NO_EFT_AIFT_PAIRS["M1"],
            "AIFT(M2) pairs": PAPER_A3_NO_EFT_AIFT_PAIRS["M2"],
        }
    return {}


def _paper_iterations(value: str, run: Run) -> dict[str, Any]:
    return _paper_vs_sft(f"M{value}") if value.isdigit() else {}


ABLATIONS: dict[str, AblationSpec] = {
    "judge": AblationSpec(
        "Judge prompt ablation (Table 5, A.2)",
        "SFT columns: the SFT baseline as judge with each prompt, as in Table 5 (A.2); "
        "final columns: the last model of each run.",
        (
            *(
                MetricCol(f"SFT {h}", f"eval/agreement/{m}", 0, 100.0 if f == "pct" else 1.0, f)
                for m, h, f in AGREEMENT
            ),
            MetricCol("Final pairwise acc. %", "eval/agreement/pairwise_accuracy", scale=100.0),
            MetricCol("Final vs SFT win %", f"{H2H_SFT}/win"),
            MetricCol("Parse fail % (mean)", "judge/parse_fail_rate", "mean", 100.0),
        ),
        _paper_judge,
        ("additive5", "multiple_choice", "additive5_condensed"),
    ),
    "pairs": AblationSpec(
        "Preference pairs vs positive examples only (A.4)",
        "The final model of each run. Paper: best_worst = Figure 3 / Tables 1, 4 at that "
        "iteration; top_only = one round of SFT on 11,254 responses scored 5, 29% wins vs 30% "
        "for the SFT baseline (A.4).",
        (
            *STANDARD_COLS,
            MetricCol("Top-only examples (all)", "aift/num_examples", "sum", fmt="int"),
        ),
        _paper_pairs,
        ("best_worst", "top_only"),
    ),
    "data.use_eft": AblationSpec(
        "IFT+EFT vs IFT-only seed (A.3, Figure 3 row 1)",
        "Without EFT the judge misses the format and its scores cluster, so few pairs are built: "
        "541 / 429 vs 3,964 / 6,942 (A.3). AIFT(M_t) pairs are read from the row of M_t.",
        (
            MetricCol("M1 vs SFT win %", f"{H2H_SFT}/win", 1),
            MetricCol("M1 vs SFT tie %", f"{H2H_SFT}/tie", 1),
            MetricCol("M1 vs SFT loss %", f"{H2H_SFT}/loss", 1),
            MetricCol("M1 pairwise acc. %", "eval/agreement/pairwise_accuracy", 1, 100.0),
            MetricCol("AIFT(M1) pairs", "aift/num_pairs", 1, fmt="int"),
            MetricCol("AIFT(M2) pairs", "aift/num_pairs", 2, fmt="int"),
            MetricCol("final vs SFT win %", f"{H2H_SFT}/win"),
            MetricCol("final pairwise acc. %", "eval/agreement/pairwise_accuracy", scale=100.0),
        ),
        _paper_eft,
        ("true", "false"),
    ),
    "loop.iterations": AblationSpec(
        "Number of iterations (Figure 3, Tables 1 and 4 per iteration)",
        "The last model of each run (M_K for loop.iterations=K); with the shared store the runs "
        "should agree with the per-iteration rows of the longest run.",
        STANDARD_COLS,
        _paper_iterations,
    ),
    "seed": AblationSpec(
        "Seeds (run-to-run spread; the paper reports one run per setting)",
        "The final model of each run; mean and sample standard deviation over the seeds below.",
        STANDARD_COLS,
    ),
}
DEFAULT_ABLATION = AblationSpec(
    "Ablation", "The final model of each run; no paper numbers for this dimension.", STANDARD_COLS
)


def _override_keys(run: Run) -> set[str]:
    return {
        k
        for k in run.override_map()
        if k not in NON_SEMANTIC and not k.startswith(NON_SEMANTIC_PREFIXES)
    }


def varying_dims(runs: Sequence[Run]) -> list[str]:
    """The config keys whose value differs between runs of one experiment name."""
    keys = set(KNOWN_DIMS)
    for run in runs:
        keys |= _override_keys(run)
    dims = [k for k in sorted(keys) if len({run.value(k) for run in runs}) > 1]
    known = [k for k in KNOWN_DIMS if k in dims]
    return known + [k for k in dims if k not in known]


def _sort_key(order: tuple[str, ...]) -> Callable[[str], tuple[int, float, str]]:
    def key(value: str) -> tuple[int, float, str]:
        if value in order:
            return (0, float(order.index(value)), value)
        try:
            return (1, float(value), value)
        except ValueError:
            return (2, 0.0, value)

    return key


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")


def ablation_table(group: str, dim: str, runs: Sequence[Run], others: Sequence[str]) -> Table:
    """One row per run: the dimension's value, the other varying choices, metrics, paper beside."""
    spec = ABLATIONS.get(dim, DEFAULT_ABLATION)
    papers = {
        id(run): {k: v for k, v in spec.paper(run.value(dim), run).items() if v is not None}
        for run in runs
    }
    columns = [Column(dim), *(Column(o) for o in others), Column("Run"), Column("Model")]
    picks: list[tuple[MetricCol, bool]] = []
    for col in spec.columns:
        columns.append(Column(col.header, col.fmt))
        has_paper = any(col.header in p for p in papers.values())
        if has_paper:
            columns.append(Column(f"Paper {col.header}", col.fmt))
        picks.append((col, has_paper))
    title = spec.title if spec is not DEFAULT_ABLATION else f"Ablation over {dim}"
    table = Table(_slug(f"ablation_{group}_{dim}"), f"{title}: {group}", spec.note, columns)
    order = _sort_key(spec.order)
    for run in sorted(runs, key=lambda r: (order(r.value(dim)), [r.value(o) for o in others])):
        cells: list[Any] = [run.value(dim), *(run.value(o) for o in others)]
        cells += [run.label, _final_model(run)]
        for col, has_paper in picks:
            cells.append(run.get(col.key, col.at, col.scale))
            if has_paper:
                cells.append(papers[id(run)].get(col.header))
        table.rows.append(cells)
    if dim == "seed" and not others and len(runs) > 1:
        table.rows += _mean_sd_rows(table, first_metric=3)
    return table


def _mean_sd_rows(table: Table, first_metric: int) -> list[list[Any]]:
    means: list[Any] = ["mean"] + [""] * (first_metric - 1)
    sds: list[Any] = ["sd"] + [""] * (first_metric - 1)
    for i in range(first_metric, len(table.columns)):
        values = [row[i] for row in table.rows if is_number(row[i])]
        means.append(statistics.fmean(values) if values else None)
        sds.append(statistics.stdev(values) if len(values) > 1 else None)
    return [means, sds]


# Per model, over seeds (seed_tables): (header, summary key, scale, format).
PER_MODEL_METRICS = (
    ("Answer acc. %", "eval/answer_accuracy", 100.0, "pct"),
    ("vs SFT win %", f"{H2H_SFT}/win", 1.0, "pct"),
    ("vs SFT tie %", f"{H2H_SFT}/tie", 1.0, "pct"),
    ("vs SFT loss %", f"{H2H_SFT}/loss", 1.0, "pct"),
    ("Pairwise acc. %", "eval/agreement/pairwise_accuracy", 100.0, "pct"),
    ("Pair truth %", "aift/pair_truth_accuracy", 100.0, "pct"),
    ("AIFT pairs", "aift/num_pairs", 1.0, "num"),
    ("Mean chars", "eval/length/mean_chars", 1.0, "num"),
)


def seed_table(group: str, runs: Sequence[Run], by: str | None) -> Table:
    """Mean and standard deviation over seeds of each model's metrics (SFT baseline, M1 ...),
    one block per value of ``by`` (e.g. pairs=best_worst vs the random_pairs control)."""
    columns = [Column(by)] if by else []
    columns += [Column("Model"), Column("Seeds", "int")]
    for header, _, _, fmt in PER_MODEL_METRICS:
        columns += [Column(f"{header} mean", fmt), Column(f"{header} sd", fmt)]
    note = (
        "Mean and sd over the seeds of each model's metrics; the AIFT pairs and pair truth in "
        "the row of M_t are AIFT(M_t), the pairs M_t built."
    )
    title = f"Per model over seeds: {group}" + (f", by {by}" if by else "")
    table = Table(_slug(f"seeds_{group}_{by or 'all'}"), title, note, columns)
    blocks: dict[str, list[Run]] = {}
    for run in runs:
        blocks.setdefault(run.value(by) if by else "", []).append(run)
    for value in sorted(blocks, key=_sort_key(ABLATIONS[by].order if by in ABLATIONS else ())):
        members = blocks[value]
        iterations = sorted({r["iteration"] for run in members for r in run.rows})
        for it in iterations:
            cells: list[Any] = [value] if by else []
            cells += [model_name(it), len(members)]
            for _, key, scale, _ in PER_MODEL_METRICS:
                values = [v * scale for run in members if is_number(v := run.row(it).get(key))]
                cells.append(statistics.fmean(values) if values else None)
                cells.append(statistics.stdev(values) if len(values) > 1 else None)
            table.rows.append(cells)
    return table


def ablation_tables(runs: Sequence[Run]) -> list[Table]:
    """Per experiment name, one table per config key that differs between its runs; where the
    seed varies (with at most one other key), also each model's mean and sd over the seeds."""
    tables = []
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.name, []).append(run)
    for group, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        dims = varying_dims(members)
        for dim in dims:
            tables.append(ablation_table(group, dim, members, [d for d in dims if d != dim]))
        if "seed" in dims and len(dims) <= 2:
            others = [d for d in dims if d != "seed"]
            tables.append(seed_table(group, members, others[0] if others else None))
    return tables
