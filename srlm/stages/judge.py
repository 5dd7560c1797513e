"""Self-judging: M_t scores each response k times with the judge prompt and averages (§3.2).

Input items ``{id, prompt, response}``. Output rows ``{id, samples: [raw judge text x k],
scores: [float|None x k], score: mean of parseable samples | None}``. Only the judge's own
generated text is parsed (a "Score: 5" inside the judged response cannot count). The k samples
come from one prefill of the judge prompt.
"""

from __future__ import annotations

import statistics

from srlm.artifacts import RowLog, resumable_map
from srlm.generation.base import Generator, Sampling
from srlm.judges import Judge, mean_score
from srlm.models.loading import chat_prompt


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
                {"id": it["id"], "samples": samples, "scores": scores, "score": mean_score(scores)}
            )
        return rows

    return resumable_map(items, batch, log, chunk_size)


def parse_stats(
    rows: list[dict], score_min: float, score_max: float, prefix: str = "judge"
) -> dict[str, float]:
    """Parse-failure rate, score histogram and the spread of the k samples (judge health)."""
    samples = [s for r in rows for s in r["scores"]]
    parsed = [s for s in samples if s is not None]
    metrics: dict[str, float] = {
        f"{prefix}/num_judgments": float(len(samples)),
        f"{prefix}/parse_fail_rate": (1 - len(parsed) / len(samples)) if samples else 0.0,
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
