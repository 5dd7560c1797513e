"""AIFT(M_t): preference pairs (or top-only SFT data) from the judged candidates, with telemetry.

Telemetry (judge health, logged per iteration): how many prompts tie and are dropped, the pairs'
scores, margins and lengths, how score follows length, and, where an oracle knows the truth
(synthetic tasks), whether the chosen answer really is better (``aift/pair_truth_accuracy``).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable

from scipy.stats import spearmanr

from srlm.data.synthetic import grade
from srlm.pairs import Candidate, ScoredPrompt
from srlm.stages.base import Context, StageDef


def scored_groups(candidate_rows: list[dict], judgments: dict[str, dict]) -> list[ScoredPrompt]:
    groups = []
    for row in candidate_rows:
        cands = []
        for i, text in enumerate(row["candidates"]):
            cid = f"{row['id']}/{i}"
            cands.append(Candidate(text=text, score=judgments[cid]["score"], id=cid))
        groups.append(
            ScoredPrompt(prompt_id=row["id"], prompt=row["prompt"], candidates=tuple(cands))
        )
    return groups


def make_training_data(
    groups: list[ScoredPrompt], select: Callable, train_with: str, oracle: bool
) -> tuple[list[dict], dict]:
    """``select`` is the configured pair strategy; ``train_with`` says what it returns (dpo: pairs)."""
    rows, stats = select(groups)
    n = max(len(groups), 1)
    m: dict[str, float] = {"aift/num_prompts": float(len(groups))}
    if train_with == "dpo":
        m["aift/num_pairs"] = float(len(rows))
        m["aift/tie_rate"] = stats.get("ties", 0) / n
        m["aift/too_few_scored_rate"] = stats.get("too_few_scored", 0) / n
        if rows:
            m["aift/chosen_score_mean"] = statistics.fmean(r["chosen_score"] for r in rows)
            m["aift/rejected_score_mean"] = statistics.fmean(r["rejected_score"] for r in rows)
            m["aift/margin_mean"] = m["aift/chosen_score_mean"] - m["aift/rejected_score_mean"]
            m["aift/chosen_len_mean"] = statistics.fmean(len(r["chosen"]) for r in rows)
            m["aift/rejected_len_mean"] = statistics.fmean(len(r["rejected"]) for r in rows)
            if oracle:
                truth = [
                    (grade(r["prompt"], r["chosen"]), grade(r["prompt"], r["rejected"]))
                    for r in rows
                ]
                truth = [(c, r) for c, r in truth if c is not None and r is not None]
                if truth:
                    m["aift/pair_truth_accuracy"] = sum(c > r for c, r in truth) / len(truth)
                    m["aift/pair_truth_tie_rate"] = sum(c == r for c, r in truth) / len(truth)
                    m["aift/pair_truth_wrong_rate"] = sum(c < r for c, r in truth) / len(truth)
    else:
        m["aift/num_examples"] = float(len(rows))
        m["aift/no_top_rate"] = stats.get("no_top", 0) / n
        if oracle and rows:
            grades = [grade(r["prompt"], r["response"]) for r in rows]
            grades = [g for g in grades if g is not None]
            if grades:
                m["aift/top_truth_correct_rate"] = sum(g >= 4 for g in grades) / len(grades)
    scored = [(c.score, len(c.text)) for g in groups for c in g.candidates if c.score is not None]
    if len(scored) > 2 and len({s for s, _ in scored}) > 1 and len({n for _, n in scored}) > 1:
        m["judge/score_length_corr"] = float(
            spearmanr([s for s, _ in scored], [n for _, n in scored])[0]
        )
    if oracle:
        grades = [grade(g.prompt, c.text) for g in groups for c in g.candidates]
        grades = [x for x in grades if x is not None]
        if grades:
            m["candidates/mean_true_grade"] = statistics.fmean(grades)
            m["candidates/correct_rate"] = sum(x >= 4 for x in grades) / len(grades)
    return rows, m


def _pairs(ctx: Context) -> dict[str, float]:
    by_id = {r["id"]: r for r in ctx.inputs["judgments"].rows("judgments")}
    groups = scored_groups(ctx.inputs["candidates"].rows("candidates"), by_id)
    oracle = ctx.cfg("data.kind") == "synthetic"
    rows, metrics = make_training_data(
        groups, ctx.components.select, ctx.cfg("pairs.train_with"), oracle
    )
    ctx.write_rows("pairs.jsonl", rows)
    return metrics


PAIRS = StageDef(
    "pairs",
    version=1,
    reads=("pairs", "data.kind", "seed"),  # data.kind: an oracle knows the truth of each pair
    inputs=("candidates", "judgments"),
    outputs=("pairs.jsonl",),
    body=_pairs,
    doc="AIFT(M_t): best-vs-worst pairs (or top-only examples) and judge-health telemetry",
)


def sample_table(candidates: list[dict], judgments: list[dict], pairs: list[dict], n: int = 20):
    """The first ``n`` prompts with their candidates, judge texts, scores and chosen pair."""
    judged = {r["id"]: r for r in judgments}
    by_prompt = {r["prompt_id"]: r for r in pairs}
    columns = ["prompt", "candidates", "judge_texts", "scores", "chosen", "rejected"]
    rows = []
    for r in candidates[:n]:
        js = [judged[f"{r['id']}/{i}"] for i in range(len(r["candidates"]))]
        p = by_prompt.get(r["id"], {})
        rows.append(
            [
                r["prompt"],
                json.dumps(r["candidates"]),
                json.dumps([j["samples"] for j in js]),
                json.dumps([j["score"] for j in js]),
                p.get("chosen", p.get("response")),
                p.get("rejected"),
            ]
        )
    return columns, rows
