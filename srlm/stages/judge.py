"""Self-judging: M_t scores each response k times with the judge prompt and averages (§3.2).

Input items ``{id, prompt, response}``. Output rows ``{id, samples: [raw judge text x k],
scores: [float|None x k], score: mean of parseable samples | None, cut_off: [bool x k]}``.
Only the judge's own generated text is parsed (a "Score: 5" inside the judged response cannot
count). The k samples come from one prefill of the judge prompt. ``cut_off`` says which samples
stopped at ``judge.max_new_tokens`` (the backend's finish reason, kept in the rows so a resumed
run still knows): a cut-off judgment without a score is a too-small token budget, not a judge
that ignores the format, and ``parse_stats`` counts the two apart.
"""

from __future__ import annotations

import logging
import statistics

from srlm.artifacts import RowLog, resumable_map
from srlm.generation.base import Generator, Sampling, cut_off
from srlm.judges import Judge, mean_score
from srlm.models.loading import chat_prompt
from srlm.stages.base import GENERATION, Context, StageDef

log = logging.getLogger("srlm")

# Judging reads all of the judge: its prompt text, parsing and sampling values.
JUDGING = ("judge", *GENERATION)


def judge_sampling(judge: Judge, seed: int) -> Sampling:
    return Sampling(
        n=judge.num_samples,
        temperature=judge.temperature,
        top_p=judge.top_p,
        max_new_tokens=judge.max_new_tokens,
        seed=seed,
    )


def judge_responses(
    generator: Generator,
    tokenizer,
    judge: Judge,
    items: list[dict],
    log: RowLog,
    seed: int = 0,
    chunk_size: int = 256,
) -> list[dict]:
    sampling = judge_sampling(judge, seed)

    def batch(chunk: list[dict]) -> list[dict]:
        prompts = [
            chat_prompt(tokenizer, judge.render(it["prompt"], it["response"])) for it in chunk
        ]
        rows = []
        for it, samples in zip(chunk, generator.generate(prompts, sampling)):
            scores = [judge.parse(s) for s in samples]
            rows.append(
                {
                    "id": it["id"],
                    "samples": samples,
                    "scores": scores,
                    "score": mean_score(scores),
                    "cut_off": [cut_off(s) for s in samples],
                }
            )
        return rows

    return resumable_map(items, batch, log, chunk_size)


def parse_stats(
    rows: list[dict], score_min: float, score_max: float, prefix: str = "judge"
) -> dict[str, float]:
    """Parse-failure rate, score histogram and the spread of the k samples (judge health).

    ``parse_fail_rate`` counts every sample without a score; of those, ``cut_off_rate`` counts the
    ones that stopped at the token limit (``judge.max_new_tokens`` too small for the judgment)
    and ``format_fail_rate`` the others (the model finished without a readable score). All three
    are shares of all samples. ``cut_off_scored_rate``: samples cut off after their score
    (harmless, counted to see how close the budget is). Rows written before the finish reason
    was recorded count as not cut off.
    """
    samples = [s for r in rows for s in r["scores"]]
    parsed = [s for s in samples if s is not None]
    cut = [c for r in rows for c in (r.get("cut_off") or [False] * len(r["scores"]))]
    n = len(samples)
    cut_unscored = sum(1 for s, c in zip(samples, cut) if c and s is None)
    cut_scored = sum(1 for s, c in zip(samples, cut) if c and s is not None)
    metrics: dict[str, float] = {
        f"{prefix}/num_judgments": float(n),
        f"{prefix}/parse_fail_rate": (1 - len(parsed) / n) if n else 0.0,
        f"{prefix}/cut_off_rate": cut_unscored / n if n else 0.0,
        f"{prefix}/format_fail_rate": (n - len(parsed) - cut_unscored) / n if n else 0.0,
        f"{prefix}/cut_off_scored_rate": cut_scored / n if n else 0.0,
        f"{prefix}/unscored_rate": (sum(r["score"] is None for r in rows) / len(rows))
        if rows
        else 0.0,
    }
    for v in range(int(score_min), int(score_max) + 1):
        metrics[f"{prefix}/score_hist/{v}"] = float(sum(1 for s in parsed if s == v))
    spreads = [
        max(p) - min(p) for r in rows if len(p := [s for s in r["scores"] if s is not None]) >= 2
    ]
    metrics[f"{prefix}/sample_spread"] = statistics.fmean(spreads) if spreads else 0.0
    if parsed:
        metrics[f"{prefix}/mean_score"] = statistics.fmean(parsed)
    return metrics


def _judgments(ctx: Context) -> dict[str, float]:
    judge = ctx.components.judge
    gen, tok = ctx.generator(ctx.inputs["model"].model, "judging")
    items = [
        {"id": f"{r['id']}/{i}", "prompt": r["prompt"], "response": text}
        for r in ctx.inputs["candidates"].rows("candidates")
        for i, text in enumerate(r["candidates"])
    ]
    rows = judge_responses(
        gen,
        tok,
        judge,
        items,
        ctx.row_log("judgments.jsonl"),
        ctx.seed * 100 + ctx.params["t"],
        ctx.cfg("loop.chunk_size"),
    )
    metrics = parse_stats(rows, judge.score_min, judge.score_max)
    warn_cut_off(metrics, judge.max_new_tokens, ctx.label)
    return metrics


def warn_cut_off(
    metrics: dict[str, float], max_new_tokens: int, label: str = "", prefix: str = "judge"
) -> None:
    """One warning line when judgments end at the token limit without a score."""
    rate = metrics.get(f"{prefix}/cut_off_rate", 0.0)
    if rate > 0:
        total = metrics[f"{prefix}/num_judgments"]
        log.warning(
            "%s%d of %d judgments (%.1f%%) hit judge.max_new_tokens=%d before a score "
            "(%s/cut_off_rate; other parse failures: %s/format_fail_rate %.1f%%): "
            "raise judge.max_new_tokens",
            f"{label} · " if label else "",
            round(rate * total),
            round(total),
            100 * rate,
            max_new_tokens,
            prefix,
            prefix,
            100 * metrics[f"{prefix}/format_fail_rate"],
        )


JUDGMENTS = StageDef(
    "judgments",
    version=2,  # 2: rows carry cut_off flags, metrics count cut-off judgments apart
    reads=(*JUDGING, "loop.chunk_size"),  # the chunk is the sampling batch
    inputs=("model", "candidates"),
    outputs=("judgments.jsonl",),
    body=_judgments,
    doc="M_t judges each candidate k times (§3.2); unparseable samples stay None",
)
