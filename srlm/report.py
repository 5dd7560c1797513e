"""The paper's tables and plots from finished runs: ``python -m srlm.report RUNS_DIR``.

Reads every ``summary.json`` under RUNS_DIR (skipping the shared ``store/`` and Hydra's
``_hydra/`` log dirs), or the same rows from wandb with ``--wandb ENTITY/PROJECT``, and writes to
``--out`` (default ``RUNS_DIR/report``): ``report.md``, one ``.csv`` and one ``.tex`` per table,
and one PNG per metric against iteration. Every table puts the paper's number beside ours (the
``PAPER_*`` dicts below, copied from PAPER.md §7 and §8), so a reproduction reads at a glance.

How summary.json rows are read:
- win / tie / loss and the AlpacaEval win rate are percentages (0-100), as the paper prints them;
- agreement metrics and the other rates are fractions, printed here in % (the two rank
  correlations stay as they are, as in Table 4);
- the row of M_t carries the statistics of AIFT(M_t), the pairs M_t built to train M_{t+1}
  (M1 is trained by SFT, so the row of M1 cannot describe pairs that trained it);
- any key may be missing or null: its cell stays empty.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------
# The paper's numbers (Yuan et al. 2024), as printed; PAPER.md section in each name's comment.
# --------------------------------------------------------------------------------------------

# Figure 3 (PAPER.md §7.1): GPT-4 head to head on 256 prompts, (left, right) -> win/tie/loss %.
PAPER_FIGURE3_HEAD_TO_HEAD: dict[tuple[str, str], tuple[float, float, float]] = {
    ("M1", "SFT baseline"): (30.5, 38.7, 30.9),
    ("M2", "SFT baseline"): (49.2, 36.3, 14.5),
    ("M3", "SFT baseline"): (62.5, 27.7, 9.8),
    ("M2", "M1"): (55.5, 32.8, 11.7),
    ("M3", "M2"): (47.7, 39.8, 12.5),
    ("M3", "M1"): (68.8, 22.7, 8.6),
}

# Table 1 (PAPER.md §7.2): AlpacaEval 2.0 raw win rate % vs GPT-4 Turbo (805 prompts).
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

# Table 4 (PAPER.md §7.5): reward modelling on the EFT eval set; metric -> model -> value
# (pairwise accuracy, 5-best and exact match in %, the correlations as printed).
PAPER_TABLE4_REWARD_MODELLING: dict[str, dict[str, float]] = {
    "pairwise_accuracy": {"sft_baseline": 65.1, "M1": 78.7, "M2": 80.4, "M3": 81.7},
    "five_best": {"sft_baseline": 39.6, "M1": 41.5, "M2": 44.3, "M3": 43.2},
    "exact_match": {"sft_baseline": 10.1, "M1": 13.1, "M2": 14.3, "M3": 14.3},
    "spearman": {"sft_baseline": 0.253, "M1": 0.279, "M2": 0.331, "M3": 0.349},
    "kendall_tau": {"sft_baseline": 0.233, "M1": 0.253, "M2": 0.315, "M3": 0.324},
}

# Table 5 (PAPER.md §2.3, §8.1; A.2): the SFT baseline as judge with each prompt.
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

# §3.2 (PAPER.md §3.2) and A.3 (§8.2, Figure 8): AIFT pairs built by M_t, with and without EFT.
PAPER_S3_2_AIFT_PAIRS: dict[str, int] = {"M1": 3964, "M2": 6942}
PAPER_A3_NO_EFT_AIFT_PAIRS: dict[str, int] = {"M1": 541, "M2": 429}

# A.4 (PAPER.md §8.3): SFT on the 11,254 self-generated responses scored 5, vs the SFT baseline.
PAPER_A4_TOP_ONLY_VS_SFT: dict[str, float] = {"win": 29.0, "loss": 30.0}
PAPER_A4_TOP_ONLY_EXAMPLES = 11254

# §3.2.1 (PAPER.md §7.8): mean AlpacaEval generation length (likely characters, unconfirmed).
PAPER_S7_8_LENGTH_CHARS: dict[str, int] = {"M1": 1092, "M2": 1552, "M3": 2552}

# --------------------------------------------------------------------------------------------
# summary.json keys
# --------------------------------------------------------------------------------------------

AGREEMENT: list[tuple[str, str, str]] = [  # (metric, header, fmt)
    ("pairwise_accuracy", "Pairwise acc. %", "pct"),
    ("five_best", "5-best %", "pct"),
    ("exact_match", "Exact match %", "pct"),
    ("spearman", "Spearman", "corr"),
    ("kendall_tau", "Kendall tau", "corr"),
]
H2H_SFT = "eval/h2h_vs_sft"
H2H_PREV = "eval/h2h_vs_prev"
ALPACA_WIN = "eval/alpaca/win_rate"

# (file stem, summary key, y label, scale, paper values by model name)
PLOTS: list[tuple[str, str, str, float, dict[str, float]]] = [
    (
        "win_rate",
        f"{H2H_SFT}/win",
        "Win % vs SFT baseline (head to head)",
        1.0,
        {m: w for (m, o), (w, _, _) in PAPER_FIGURE3_HEAD_TO_HEAD.items() if o == "SFT baseline"},
    ),
    (
        "pairwise_accuracy",
        "eval/agreement/pairwise_accuracy",
        "Judge pairwise accuracy %",
        100.0,
        PAPER_TABLE4_REWARD_MODELLING["pairwise_accuracy"],
    ),
    ("response_length", "eval/length/mean_chars", "Mean response length (chars)", 1.0, {}),
    ("num_pairs", "aift/num_pairs", "AIFT pairs built by M_t", 1.0, {}),
    ("parse_fail_rate", "judge/parse_fail_rate", "Judge parse failures %", 100.0, {}),
]

# Override keys that never make two runs an ablation of each other.
NON_SEMANTIC = ("name", "run_id", "threads", "dry_run")
NON_SEMANTIC_PREFIXES = ("hydra", "paths.", "logger")
# Dimensions looked up even when no override names them (a summary without overrides).
KNOWN_DIMS = ("judge", "pairs", "data.use_eft", "loop.iterations", "seed")
DIM_DEFAULTS: dict[str, Any] = {"data.use_eft": True}  # runs from before the key existed


class ReportError(Exception):
    """A problem the CLI reports in one line (exit status 2)."""


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def _dig(tree: Any, dotted: str) -> Any:
    """``tree['a']['b']`` for ``'a.b'``; None when any part is missing."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _text(value: Any) -> str:
    """A config value as an override would spell it (so overrides and config compare equal)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def model_name(iteration: int) -> str:
    """The paper's name for the model of an iteration: SFT baseline at 0, M_t after."""
    return "sft_baseline" if iteration == 0 else f"M{iteration}"


@dataclass
class Run:
    """One run directory (or wandb run): its identity, its choices and its per-iteration rows."""

    name: str
    run_id: str
    choices: dict[str, Any]
    overrides: list[str]
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    source: str
    label: str = ""

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=lambda r: r["iteration"])
        self.label = self.label or f"{self.name}/{self.run_id}"

    def row(self, iteration: int) -> dict[str, Any]:
        return next((r for r in self.rows if r["iteration"] == iteration), {})

    @property
    def final(self) -> dict[str, Any]:
        return self.rows[-1] if self.rows else {}

    def get(self, key: str, at: int | str = "final", scale: float = 1.0) -> float | None:
        """A metric at an iteration, at the final one, or summed / averaged over iterations."""
        if at in ("sum", "mean"):
            values = [r[key] for r in self.rows if _is_number(r.get(key))]
            if not values:
                return None
            total = sum(values) if at == "sum" else sum(values) / len(values)
            return total * scale if scale != 1.0 else total
        row = self.final if at == "final" else self.row(int(at))
        value = row.get(key)
        if not _is_number(value):
            return None
        return value * scale if scale != 1.0 else value

    def override_map(self) -> dict[str, str]:
        out = {}
        for token in self.overrides:
            if "=" not in token or token.startswith("~"):
                continue
            key, value = token.split("=", 1)
            out[key.lstrip("+")] = value
        return out

    def value(self, key: str) -> str:
        """What this run chose for a config key: its override, its group choice, or its config."""
        overrides = self.override_map()
        if key in overrides:
            value = overrides[key]
            return value.lower() if value.lower() in ("true", "false") else value
        if key in self.choices:
            return _text(self.choices[key])
        found = _dig(self.config, key)
        if found is None and key in DIM_DEFAULTS:
            found = DIM_DEFAULTS[key]
        return _text(found)


def _normalise_rows(rows: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        row = dict(row)
        iteration = row.get("iteration", i)
        row["iteration"] = int(iteration) if _is_number(iteration) else i
        row.setdefault("model", model_name(row["iteration"]))
        out.append(row)
    return out


def find_summaries(runs_dir: Path) -> list[Path]:
    """Every summary.json below runs_dir, except in the shared store and Hydra's log dirs."""
    found = []
    for path in sorted(runs_dir.rglob("summary.json")):
        parts = path.relative_to(runs_dir).parts[:-1]
        if any(p in ("store", "_hydra") for p in parts):
            continue
        found.append(path)
    return found


def load_summary(path: Path) -> Run:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot read summary ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ReportError(f"{path}: not a summary (expected an object with a 'rows' list)")
    info = data.get("run") or {}
    return Run(
        name=str(info.get("name") or path.parent.parent.name),
        run_id=str(info.get("run_id") or path.parent.name),
        choices=dict(info.get("choices") or {}),
        overrides=[str(o) for o in info.get("overrides") or []],
        config=dict(info.get("config") or {}),
        rows=_normalise_rows(data["rows"]),
        source=str(path.parent),
    )


def load_runs(runs_dir: Path) -> list[Run]:
    if not runs_dir.is_dir():
        raise ReportError(f"{runs_dir}: not a directory")
    paths = find_summaries(runs_dir)
    if not paths:
        raise ReportError(f"no summary.json under {runs_dir} (store/ and _hydra/ are skipped)")
    return _label([load_summary(p) for p in paths])


def _label(runs: list[Run]) -> list[Run]:
    """Short unique labels: the run id alone when every run shares one experiment name."""
    single_name = len({r.name for r in runs}) == 1
    for run in runs:
        run.label = run.run_id if single_name else f"{run.name}/{run.run_id}"
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run.label = f"{run.label} ({run.source})"
    return runs


def _wandb_api() -> Any:
    import wandb  # lazy: only the --wandb path needs it

    return wandb.Api()


def _unwrap_wandb_config(config: dict[str, Any]) -> dict[str, Any]:
    """Old wandb exports wrap each value as {"value": v, "desc": ...}; take the values."""
    if config and all(isinstance(v, dict) and "value" in v for v in config.values()):
        return {k: v["value"] for k, v in config.items()}
    return config


def load_wandb(path: str, api: Any | None = None) -> list[Run]:
    """The same runs from wandb: history rows merged per ``iteration``, config as logged."""
    api = api if api is not None else _wandb_api()
    runs = []
    for wrun in api.runs(path):
        config = _unwrap_wandb_config(dict(wrun.config or {}))
        history = (
            wrun.scan_history() if hasattr(wrun, "scan_history") else wrun.history(pandas=False)
        )
        by_iteration: dict[int, dict[str, Any]] = {}
        for record in history:
            iteration = record.get("iteration")
            if not _is_number(iteration):
                continue
            row = by_iteration.setdefault(int(iteration), {"iteration": int(iteration)})
            for key, value in record.items():
                if not key.startswith("_") and value is not None and key != "iteration":
                    row[key] = value
        choices = config.get("choices") or _dig(config, "hydra.runtime.choices") or {}
        runs.append(
            Run(
                name=str(getattr(wrun, "group", None) or config.get("name") or path),
                run_id=str(config.get("run_id") or wrun.name),
                choices=dict(choices),
                overrides=[str(o) for o in config.get("overrides") or []],
                config=config,
                rows=_normalise_rows(by_iteration[i] for i in sorted(by_iteration)),
                source=f"wandb:{path}/{wrun.id}",
            )
        )
    if not runs:
        raise ReportError(f"no runs in wandb project {path}")
    return _label(runs)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass
class Column:
    header: str
    fmt: str = "str"  # str | pct (1 decimal) | pct2 | corr (3 decimals) | int | num


@dataclass
class Table:
    slug: str
    title: str
    note: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)


def fmt_cell(value: Any, fmt: str, missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if fmt == "str" or not _is_number(value):
        return str(value)
    if fmt == "pct":
        return f"{value:.1f}"
    if fmt == "pct2":
        return f"{value:.2f}"
    if fmt == "corr":
        return f"{value:.3f}"
    if fmt == "int":
        return f"{round(value)}"
    return f"{value:.1f}"


def to_markdown(table: Table) -> str:
    head = "| " + " | ".join(c.header for c in table.columns) + " |"
    align = "|" + "|".join("---" if c.fmt == "str" else "---:" for c in table.columns) + "|"
    body = [
        "| " + " | ".join(fmt_cell(v, c.fmt, "–") for v, c in zip(row, table.columns)) + " |"
        for row in table.rows
    ]
    return "\n".join([head, align, *body])


def write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([c.header for c in table.columns])
        for row in table.rows:
            writer.writerow(
                ["" if v is None else (round(v, 6) if isinstance(v, float) else v) for v in row]
            )


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def to_tex(table: Table) -> str:
    spec = "".join("l" if c.fmt == "str" else "r" for c in table.columns)
    lines = [
        r"% Generated by srlm.report; needs \usepackage{booktabs}.",
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\label{{tab:{table.slug}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(c.header) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        cells = [tex_escape(fmt_cell(v, c.fmt, "–")) for v, c in zip(row, table.columns)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def _pct_cols(*headers: str) -> list[Column]:
    return [Column(h, "pct") for h in headers]


def head_to_head_table(runs: Sequence[Run]) -> Table:
    """Figure 3: M_t vs the SFT baseline and vs M_{t-1}, win / tie / loss %."""
    table = Table(
        "head_to_head",
        "Head to head (Figure 3): left model's win / tie / loss %",
        "Ours: the run's evaluator on its held-out prompts, both orders, disagreement = tie. "
        "Paper: GPT-4 on 256 IFT-test prompts (PAPER.md §7.1).",
        [Column("Run"), Column("Comparison")]
        + _pct_cols("Win", "Tie", "Loss", "Paper win", "Paper tie", "Paper loss"),
    )
    for run in runs:
        for row in run.rows:
            t = row["iteration"]
            if t < 1:
                continue
            for prefix, opponent in ((H2H_SFT, "SFT baseline"), (H2H_PREV, f"M{t - 1}")):
                if prefix == H2H_PREV and t < 2:
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
        "values). Paper: raw AlpacaEval 2.0 win rate, 805 prompts (PAPER.md §7.2).",
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
        "synthetic). Paper: EFT eval set vs human rankings (PAPER.md §7.5).",
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
        "Paper length: mean AlpacaEval generation length (PAPER.md §7.8; ours: held-out prompts).",
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


# --------------------------------------------------------------------------------------------
# Ablations
# --------------------------------------------------------------------------------------------


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
            # M1' is trained on IFT only, i.e. it is the SFT baseline as a judge (PAPER.md §4.2).
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
        "SFT columns: the SFT baseline as judge with each prompt, as in Table 5 (PAPER.md §2.3); "
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
        "for the SFT baseline (PAPER.md §8.3).",
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
        "541 / 429 vs 3,964 / 6,942 (PAPER.md §8.2). AIFT(M_t) pairs are read from the row of M_t.",
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
        values = [row[i] for row in table.rows if _is_number(row[i])]
        means.append(statistics.fmean(values) if values else None)
        sds.append(statistics.stdev(values) if len(values) > 1 else None)
    return [means, sds]


def ablation_tables(runs: Sequence[Run]) -> list[Table]:
    """Per experiment name, one table per config key that differs between its runs."""
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
    return tables


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def write_plots(runs: Sequence[Run], out: Path) -> list[tuple[str, str]]:
    """One PNG per metric against iteration, one line per run (and the paper's, where it exists).

    Returns (file name, title) for each PNG written; a metric no run logged gets no PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []
    for stem, key, ylabel, scale, paper in PLOTS:
        lines = []
        for run in runs:
            points = [(r["iteration"], r[key] * scale) for r in run.rows if _is_number(r.get(key))]
            if points:
                lines.append((run.label, points))
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(9.6, 4.4), dpi=100)
        colors = plt.get_cmap("tab20").colors
        for i, (label, points) in enumerate(lines):
            xs, ys = zip(*points)
            style = ("-", "--", ":", "-.")[(i // len(colors)) % 4]  # 21+ runs: vary the dash too
            ax.plot(
                xs, ys, style, marker="os^Dv"[i % 5], color=colors[i % len(colors)], label=label
            )
        if paper:
            pts = sorted((0 if m == "sft_baseline" else int(m[1:]), v) for m, v in paper.items())
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "k--", marker="s", label="paper (70B)")
        ax.set_xlabel("iteration (0 = SFT baseline, t = M_t)")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot
        fig.tight_layout()
        fig.savefig(out / f"{stem}.png")
        plt.close(fig)
        written.append((f"{stem}.png", ylabel))
    return written


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def all_tables(runs: Sequence[Run]) -> list[Table]:
    return [
        head_to_head_table(runs),
        win_rate_table(runs),
        reward_modelling_table(runs),
        loop_stats_table(runs),
        *ablation_tables(runs),
    ]


def _runs_table(runs: Sequence[Run]) -> Table:
    groups = ("model", "data", "judge", "pairs", "train", "evaluator")
    table = Table(
        "runs",
        "Runs",
        "",
        [Column("Run"), Column("Name"), *(Column(g) for g in groups), Column("Models")],
    )
    for run in runs:
        models = ", ".join(model_name(r["iteration"]) for r in run.rows)
        table.rows.append([run.label, run.name, *(run.choices.get(g, "") for g in groups), models])
    return table


def write_report(runs: Sequence[Run], out: Path, source: str) -> Path:
    """Write every table (md, csv, tex) and plot to ``out``; return the path of report.md."""
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(runs)
    md = [
        "# srlm report",
        "",
        f"Source: `{source}` ({len(runs)} run{'s' if len(runs) != 1 else ''}). Paper numbers: Yuan et al. 2024, "
        "Llama 2 70B (PAPER.md §7, §8). Win/tie/loss and win rates in %; empty cells: "
        "not logged.",
        "",
        "## Runs",
        "",
        to_markdown(_runs_table(runs)),
        "",
    ]
    for table in tables:
        write_csv(table, out / f"{table.slug}.csv")
        (out / f"{table.slug}.tex").write_text(to_tex(table), encoding="utf-8")
        md += [f"## {table.title}", "", table.note, ""]
        md += [to_markdown(table) if table.rows else "_No run logged these metrics._", ""]
        md += [f"Files: [{table.slug}.csv]({table.slug}.csv), [{table.slug}.tex]({table.slug}.tex)"]
        md += [""]
    plots = write_plots(runs, out)
    md += ["## Plots", ""]
    for filename, title in plots:
        md += [f"![{title}]({filename})", ""]
    missing = [ylabel for stem, _, ylabel, _, _ in PLOTS if f"{stem}.png" not in dict(plots)]
    if missing:
        md += ["No run logged: " + "; ".join(missing) + ".", ""]
    path = out / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srlm.report",
        description="The paper's tables and plots (with its numbers beside ours) from finished runs.",
    )
    parser.add_argument(
        "runs_dir", nargs="?", type=Path, help="a runs directory (searched for summary.json)"
    )
    parser.add_argument("--out", type=Path, help="output dir (default: RUNS_DIR/report)")
    parser.add_argument(
        "--wandb", metavar="ENTITY/PROJECT", help="read the runs from wandb instead of RUNS_DIR"
    )
    args = parser.parse_args(argv)
    if args.runs_dir is None and not args.wandb:
        parser.error("give RUNS_DIR or --wandb ENTITY/PROJECT")
    try:
        if args.wandb:
            runs = load_wandb(args.wandb)
            out = args.out or (args.runs_dir or Path(".")) / "report"
            source = f"wandb:{args.wandb}"
        else:
            runs = load_runs(args.runs_dir)
            out = args.out or args.runs_dir / "report"
            source = str(args.runs_dir)
        path = write_report(runs, out, source)
    except ReportError as e:
        print(f"srlm.report: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
