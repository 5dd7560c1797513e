"""The report's figures: one PNG each, titled, on axes that do not exaggerate, and every number
labelled with the judge that produced it.

- ``win_rate.png``: head to head (Figure 3 protocol), one stacked win / tie / loss bar per run and
  comparison on 0-100 %, the run's evaluator named; the paper's Figure 3 in its own panel,
  labelled as the paper's (GPT-4 judge).
- ``alpaca_eval.png``: AlpacaEval 2.0 win rate per model, 0-100 %, with the annotator that scored
  it; the paper's Table 1 labelled as the paper's (only when a run logged it).
- ``pairwise_accuracy.png``: M_t as its own judge vs the true ranking, 0-100 %.
- ``answer_accuracy.png``: the oracle's answer accuracy per model (synthetic tasks), 0-100 %.
- ``judge_mean_score.png``, ``pair_truth.png``, ``score_length_corr.png``: judge health, M_t
  scoring its own candidates: mean score (0-5), AIFT pairs whose chosen answer is truly better
  (0-100 %), Spearman of score vs length (-1..1). Side by side for a default and a
  reward-hacking run they show the judge's bias before the accuracy falls.
- ``response_length.png``: mean characters per response, axis from 0.
- ``num_pairs.png``: AIFT pairs built by M_t, axis from 0.
- ``parse_fail_rate.png``: judgements M_t's own judge could not score, 0-100 %.

Each ``*_figure`` function returns a matplotlib ``Figure`` (built without pyplot, so nothing is
left open), or None when no run logged its metric; :func:`write_plots` saves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srlm.report.paper import (
    PAPER_FIGURE3_HEAD_TO_HEAD,
    PAPER_FIGURE3_JUDGE,
    PAPER_MODEL,
    PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING,
    PAPER_TABLE1_JUDGE,
    PAPER_TABLE4_JUDGE,
    PAPER_TABLE4_REWARD_MODELLING,
)
from srlm.report.runs import ALPACA_WIN, H2H_PREV, H2H_SFT, Run, dig, is_number, model_name

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OUTCOMES = ("win", "tie", "loss")
# Okabe-Ito blue / grey / vermilion: readable in greyscale and by colour-blind readers.
OUTCOME_COLORS = {"win": "#0072B2", "tie": "#BBBBBB", "loss": "#D55E00"}
OUTCOME_LABELS = {"win": "left model wins", "tie": "tie", "loss": "right model wins"}
WIDTH = 9.6  # inches, at 100 dpi: a 960 px wide PNG

# --------------------------------------------------------------------------------------------
# Which judge produced a number
# --------------------------------------------------------------------------------------------


def h2h_judge(run: Run) -> str | None:
    """The head-to-head evaluator of a run (``evaluator._target_``), in words; None: none ran."""
    target = str(dig(run.config, "evaluator._target_") or "")
    kind = target.rsplit(".", 1)[-1] or str(run.choices.get("evaluator") or "")
    if kind in ("OracleEvaluator", "oracle"):
        return "oracle (true grade of the synthetic task)"
    if kind in ("OpenAIEvaluator", "openai"):
        model = dig(run.config, "evaluator.model")
        return f"{model} via API, AlpacaEval prompt" if model else "OpenAI-compatible API judge"
    if kind in ("LocalEvaluator", "local"):
        path = dig(run.config, "evaluator.model_name_or_path")
        return f"local model {Path(str(path)).name}, AlpacaEval prompt" if path else "local model"
    if kind in ("NoEvaluator", "none"):
        return None
    return kind or "an evaluator the summary does not name"


def alpaca_annotator(run: Run) -> str:
    """The AlpacaEval annotator that scored a run: as logged, else as configured."""
    logged = next(
        (r["eval/alpaca/annotator"] for r in run.rows if r.get("eval/alpaca/annotator")), None
    )
    name = logged or dig(run.config, "eval.alpaca_eval.annotators_config")
    return f"AlpacaEval annotator {name}" if name else "AlpacaEval annotator"


def own_judge(run: Run) -> str:
    """The judge of the loop itself: M_t scoring with the run's judge prompt."""
    prompt = run.choices.get("judge") or dig(run.config, "judge.prompt")
    return f"M_t itself, {prompt} prompt" if prompt else "M_t itself"


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _new_figure(height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), dpi=100, layout="constrained")


def _h2h_rows(run: Run, judge_in_label: bool) -> list[tuple[str, list[float]]]:
    """(label, [win, tie, loss]) per comparison of a run, in Figure 3's order."""
    rows = []
    for prefix in (H2H_SFT, H2H_PREV):
        for row in run.rows:
            t = row["iteration"]
            if t < (1 if prefix == H2H_SFT else 2):
                continue
            values = [run.get(f"{prefix}/{k}", t) for k in OUTCOMES]
            if any(v is None for v in values):
                continue
            opponent = "SFT baseline" if prefix == H2H_SFT else f"M{t - 1}"
            label = f"M{t} vs {opponent}"
            n = run.get(f"{prefix}/n", t)
            if n is not None:
                label += f" (n={round(n)})"
            label = f"{run.label}: {label}"
            if judge_in_label:
                label += f"\n[{h2h_judge(run)}]"
            rows.append((label, [float(v) for v in values]))
    return rows


def _share(width: float) -> str:
    """A segment's label: one decimal where it fits, none where it is narrow, blank if tiny."""
    return f"{width:.1f}%" if width >= 8 else f"{width:.0f}%" if width >= 4 else ""


def _stacked_bars(
    ax: Axes, rows: Sequence[tuple[str, Sequence[float]]], groups: Sequence[int] = ()
) -> None:
    """Horizontal win | tie | loss bars, first row on top, each share written on its segment;
    a rule above each row index in ``groups`` (where the next run starts)."""
    ys = range(len(rows))
    left = [0.0] * len(rows)
    for k, outcome in enumerate(OUTCOMES):
        widths = [values[k] for _, values in rows]
        bars = ax.barh(
            ys,
            widths,
            left=left,
            height=0.7,
            color=OUTCOME_COLORS[outcome],
            label=OUTCOME_LABELS[outcome],
            edgecolor="white",
        )
        ax.bar_label(
            bars, labels=[_share(w) for w in widths], label_type="center", fontsize="small"
        )
        left = [a + w for a, w in zip(left, widths)]
    ax.set_yticks(list(ys), [label for label, _ in rows], fontsize="small")
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    for start in groups:
        ax.axhline(start - 0.5, color="0.25", linewidth=0.8)
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter("{x:.0f}%")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def head_to_head_figure(runs: Sequence[Run]) -> Figure | None:
    """Figure 3's shape: each run's win / tie / loss over its held-out prompts, the paper below."""
    judged = [run for run in runs if _h2h_rows(run, False)]
    judges = {h2h_judge(run) for run in judged}
    mixed = len(judges) > 1
    ours: list[tuple[str, list[float]]] = []
    groups = []
    for run in judged:
        if ours:
            groups.append(len(ours))
        ours += _h2h_rows(run, mixed)
    if not ours:
        return None
    paper = [(f"{a} vs {b}", list(v)) for (a, b), v in PAPER_FIGURE3_HEAD_TO_HEAD.items()]
    row_height = 0.36 * (1.6 if mixed else 1.0)
    fig = _new_figure(1.9 + row_height * len(ours) + 0.36 * len(paper) + 0.9)
    ax, ax_paper = fig.subplots(
        2,
        1,
        sharex=True,
        gridspec_kw={"height_ratios": [len(ours) * row_height, len(paper) * 0.36]},
    )
    fig.suptitle("Head to head: the left model's win / tie / loss (Figure 3 protocol)")
    _stacked_bars(ax, ours, groups)
    judge = "srlm runs, judge in brackets" if mixed else f"srlm, judged by {judges.pop()}"
    ax.set_title(f"{judge}; both orders, disagreement = tie", fontsize="medium", loc="left")
    _stacked_bars(ax_paper, paper)
    ax_paper.set_title(
        f"Paper, {PAPER_MODEL} (Figure 3), judged by {PAPER_FIGURE3_JUDGE}",
        fontsize="medium",
        loc="left",
    )
    ax_paper.set_xlabel("% of the compared prompts")
    ax.tick_params(labelbottom=True)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small")
    return fig


@dataclass(frozen=True)
class LinePlot:
    """One summary key against iteration: one line per run, the paper's beside when comparable."""

    stem: str
    key: str
    title: str
    ylabel: str
    scale: float = 1.0
    percent: bool = False  # True: the axis is 0-100 %; False: it starts at 0
    judge: Callable[[Run], str | None] | None = None  # who produced the number (None: no judge)
    paper: dict[str, float] = field(default_factory=dict)
    paper_label: str = ""
    xlabel: str = "model (SFT baseline, then M_t after iteration t)"
    integer: bool = False
    subtitle: str = ""  # for a number no judge produced (judge None): what it measures instead
    ylim: tuple[float, float] | None = None  # a fixed axis (e.g. -1..1 for a correlation)


def _points(run: Run, key: str, scale: float) -> list[tuple[int, float]]:
    return [(r["iteration"], r[key] * scale) for r in run.rows if is_number(r.get(key))]


def line_figure(runs: Sequence[Run], spec: LinePlot) -> Figure | None:
    from matplotlib.ticker import MaxNLocator

    lines = [(run, pts) for run in runs if (pts := _points(run, spec.key, spec.scale))]
    if not lines:
        return None
    n_entries = len(lines) + bool(spec.paper)
    fig = _new_figure(4.4 + 0.2 * n_entries)
    ax = fig.subplots()
    fig.suptitle(spec.title)
    judges = {spec.judge(run) for run, _ in lines} if spec.judge else set()
    mixed = len(judges) > 1
    colors = _colors()
    for i, (run, pts) in enumerate(lines):
        xs, ys = zip(*pts)
        label = f"{run.label} [judge: {spec.judge(run)}]" if mixed and spec.judge else run.label
        style = ("-", "--", ":", "-.")[(i // len(colors)) % 4]  # 11+ runs: vary the dash too
        ax.plot(
            xs,
            ys,
            style,
            marker="os^Dv"[i % 5],
            color=colors[i % len(colors)],
            label=label,
            clip_on=False,
        )
        if len(lines) == 1:  # one run: its values, readable even near the floor of the axis
            paper = {_iteration(m): v for m, v in spec.paper.items()}
            for x, y in pts:
                below = paper.get(x, -1.0) >= y and y > 0  # keep clear of the paper's line
                ax.annotate(
                    f"{y:.1f}%" if spec.percent else f"{y:.3g}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, -9 if below else 7),
                    ha="center",
                    va="top" if below else "baseline",
                    fontsize="small",
                )
    iterations = {x for _, pts in lines for x, _ in pts}
    if spec.paper:
        pts = sorted((_iteration(m), v) for m, v in spec.paper.items())
        xs, ys = zip(*pts)
        ax.plot(xs, ys, "k--", marker="s", label=spec.paper_label, clip_on=False)
        iterations |= set(xs)
    if spec.judge:
        subtitle = "srlm runs, judge in brackets" if mixed else f"srlm, judged by {judges.pop()}"
        ax.set_title(subtitle, fontsize="medium", loc="left")
    elif spec.subtitle:
        ax.set_title(spec.subtitle, fontsize="medium", loc="left")
    ticks = sorted(iterations)
    ax.set_xticks(ticks, [_model_label(t) for t in ticks])
    ax.set_xlim(min(ticks) - 0.25, max(ticks) + 0.25)
    if spec.ylim:
        ax.set_ylim(*spec.ylim)
    elif spec.percent:
        ax.set_ylim(0, 100)
        ax.yaxis.set_major_formatter("{x:.0f}%")
    else:
        top = max(y for _, pts in lines for _, y in pts)
        ax.set_ylim(0, top * 1.15 if top > 0 else 1)
        if spec.integer:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.grid(alpha=0.3)
    fig.legend(fontsize="small", loc="outside lower center", ncols=1 if n_entries < 4 else 2)
    return fig


def _colors() -> tuple:
    from matplotlib import colormaps

    return colormaps["tab10"].colors


def _iteration(model: str) -> int:
    """The inverse of model_name: 0 for the SFT baseline, t for M_t."""
    return 0 if model == "sft_baseline" else int(model[1:])


def _model_label(iteration: int) -> str:
    return "SFT baseline" if iteration == 0 else model_name(iteration)


PAPER = f"paper, {PAPER_MODEL}"
LINE_PLOTS: tuple[LinePlot, ...] = (
    LinePlot(
        "alpaca_eval",
        ALPACA_WIN,
        "AlpacaEval 2.0 win rate vs GPT-4 Turbo (Table 1)",
        "raw win rate",
        percent=True,
        judge=alpaca_annotator,
        paper=dict(PAPER_TABLE1_ALPACAEVAL_SELF_REWARDING),
        paper_label=f"{PAPER}: {PAPER_TABLE1_JUDGE}",
    ),
    LinePlot(
        "pairwise_accuracy",
        "eval/agreement/pairwise_accuracy",
        "Reward modelling: the model as judge vs the true ranking (Table 4)",
        "pairwise accuracy",
        scale=100.0,
        percent=True,
        judge=own_judge,
        paper=PAPER_TABLE4_REWARD_MODELLING["pairwise_accuracy"],
        paper_label=f"{PAPER}: {PAPER_TABLE4_JUDGE}",
    ),
    LinePlot(
        "answer_accuracy",
        "eval/answer_accuracy",
        "Instruction following by the truth: answer accuracy on held-out prompts",
        "answers right (true grade 4 or 5)",
        scale=100.0,
        percent=True,
        subtitle="the oracle of the synthetic tasks (every answer's true grade), no model judge",
    ),
    LinePlot(
        "judge_mean_score",
        "judge/mean_score",
        "Self-rewarding: M_t's mean score of its own candidates",
        "mean judge score (0-5)",
        judge=own_judge,
        xlabel="M_t judging its own candidates",
        ylim=(0.0, 5.0),
    ),
    LinePlot(
        "pair_truth",
        "aift/pair_truth_accuracy",
        "Judge health: AIFT(M_t) pairs whose chosen answer is truly better",
        "pairs with the truly better answer chosen",
        scale=100.0,
        percent=True,
        judge=own_judge,
        xlabel="M_t that built the pairs (AIFT(M_t) trains M_{t+1})",
    ),
    LinePlot(
        "score_length_corr",
        "judge/score_length_corr",
        "Judge health: does M_t's score follow length? (Spearman, own candidates)",
        "Spearman correlation, score vs characters",
        judge=own_judge,
        xlabel="M_t judging its own candidates",
        ylim=(-1.0, 1.0),
    ),
    LinePlot(
        "response_length",
        "eval/length/mean_chars",
        "Mean response length on the held-out prompts",
        "characters per response (mean)",
        subtitle="srlm, no judge involved: the answers themselves, measured directly",
    ),
    LinePlot(
        "num_pairs",
        "aift/num_pairs",
        "Preference pairs AIFT(M_t) built from M_t's own scores",
        "pairs",
        judge=own_judge,
        xlabel="M_t that built the pairs (AIFT(M_t) trains M_{t+1})",
        integer=True,
    ),
    LinePlot(
        "parse_fail_rate",
        "judge/parse_fail_rate",
        "Judge parse failures: M_t scoring its own candidates",
        "judgements without a score",
        scale=100.0,
        percent=True,
        judge=own_judge,
    ),
)

# Every PNG the report can write: file stem -> (title, figure function).
PLOTS: dict[str, tuple[str, Callable[[Sequence[Run]], Any]]] = {
    "win_rate": (
        "Head to head: win / tie / loss (Figure 3 protocol)",
        head_to_head_figure,
    ),
    **{
        spec.stem: (spec.title, lambda runs, spec=spec: line_figure(runs, spec))
        for spec in LINE_PLOTS
    },
}


def write_plots(runs: Sequence[Run], out: Path) -> list[tuple[str, str]]:
    """Save every figure some run has data for; (file name, title) of each PNG written."""
    written = []
    for stem, (title, make) in PLOTS.items():
        fig = make(runs)
        if fig is None:
            continue
        fig.savefig(out / f"{stem}.png")
        written.append((f"{stem}.png", title))
    return written
