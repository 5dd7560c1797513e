"""Reward-modelling agreement: a judge's scores vs human rankings (paper section 6.1, Table 4).

A judge model has scored every response of a ranked evaluation set (the EFT eval split: several
human-ranked responses per prompt, rank 0 = best). These functions compare its scores with the
human ranking. The paper leaves several counting rules open; each is an option here, and the
defaults below are the literal reading of the paper's one-line definitions.

Which prompts count
    Rows whose ``score`` is None (judge failure, unparseable output) are dropped and counted in
    ``n_unscored``; they are never turned into a number, which would invent a judgement. A prompt
    is *evaluated* only if it keeps at least two scored responses with at least two different
    human ranks; other prompts carry no human preference to agree with and are excluded from
    every metric (``n_prompts_excluded``). "Human top-ranked" means the best (lowest) human rank
    among the prompt's scored responses, so a set sampled without its rank-0 reply still has a
    top; several responses sharing that rank are all top.

``ties`` (a model tie: equal scores for two responses the humans ranked differently)
    Pairwise accuracy is over all pairs of a prompt with different human ranks; pairs the humans
    tied give no order to match and are skipped.
    - ``"wrong"`` (default): a tie does not match the human order. This is the literal reading
      ("the share where the model's score order matches the human order") and the strict one:
      with 0-5 integer scores ties are common, and counting them as anything else would reward a
      judge for not discriminating (a constant judge would get 50% under "half", undefined under
      "skip").
    - ``"half"``: 0.5 credit, the usual convention for ties in ranking metrics (the accuracy
      is then (1 + Kendall's tau-a) / 2 over the human-ordered pairs).
    - ``"skip"``: tied pairs leave the denominator (accuracy on the pairs the judge decided).
    ``n_pairs`` counts all human-ordered pairs, ``n_model_ties`` those the model tied.

Exact match
    A prompt matches when every human-ordered pair is strictly ordered the same way by the
    model (the prompt's pairwise accuracy is 100% under ``ties="wrong"``). A model tie between
    responses the humans ranked differently is therefore not a match, whatever ``ties`` says
    (otherwise a constant judge would match every prompt under "skip"). Pairs the humans tied
    are unconstrained, as in pairwise accuracy: the humans expressed no order to reproduce.

``five_best`` (how often the response scored ``top_score`` (5/5) is the human top-ranked one)
    - ``"top_scored"`` (default): per response. Denominator = responses scored ``top_score``;
      numerator = those that are human top. The paper's sentence is about "the response the
      model scores 5/5", i.e. a precision of the judge's 5/5 verdicts, and the per-response form
      handles model ties without an extra rule: when two responses share the 5, one of them can
      be the human best and the other cannot. Per prompt ("a prompt counts if any of its 5s is
      the human best") would be gamed by a judge that gives 5 to everything (100%); this one
      gives such a judge about 1/(responses per prompt).
    - ``"prompts_with_top"``: per prompt, over the prompts with at least one ``top_score``; each
      contributes the share of its top-scored responses that are human top (so ties cost, as
      above). Equals "top_scored" when no prompt has two 5s.
    - ``"all_prompts"``: the same per-prompt credit over all evaluated prompts (a prompt without
      any 5 contributes 0): "how often did the judge pick the best response with a 5".
    ``n_five_best_denominator`` is the denominator in the chosen unit (responses or prompts).

``correlation`` (Spearman rho and Kendall tau-b, ``scipy.stats``)
    Scores are correlated with ``-human_rank``, so a positive value means agreement.
    - ``"per_prompt"`` (default): computed within each evaluated prompt, then averaged over the
      prompts where it is defined (both sides non-constant). Rankings are only comparable
      within a prompt (human ranks are relative to siblings; a rank 0 on one prompt can be
      worse than a rank 2 on another), so pooling mixes incomparable ranks.
    - ``"pooled"``: one correlation over all scored rows of the evaluated prompts.
    ``n_prompts_correlation`` is the number of prompts averaged (per_prompt) or pooled.
    Undefined metrics are None, never NaN.

CLI: ``python -m srlm.eval.agreement FILE`` where FILE is JSONL (optionally gzip), one row per
judged response with ``prompt_id``, ``human_rank`` and either ``score`` (number or null) or
``judgment`` (raw judge text, parsed with :func:`srlm.judges.parse_score`; ``score`` wins when
both are present). Prints one JSON object: the metrics and counts above plus ``options`` (the
option values used); bad input exits 2 with one line naming the file, line and field.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from srlm.eval.winrate import InputError, read_records
from srlm.judges import PARSE_POLICIES, parse_score

TIES = ("wrong", "half", "skip")
CORRELATIONS = ("per_prompt", "pooled")
FIVE_BEST = ("top_scored", "prompts_with_top", "all_prompts")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _correlations(scores: list[float], neg_ranks: list[float]) -> tuple[float, float] | None:
    """(Spearman, Kendall tau-b), or None when either side is constant (undefined)."""
    if len(set(scores)) < 2 or len(set(neg_ranks)) < 2:
        return None
    from scipy import stats  # imported here: it costs the CLI ~1 s, and error paths need none

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(stats.spearmanr(scores, neg_ranks).statistic)
        tau = float(stats.kendalltau(scores, neg_ranks).statistic)
    if math.isnan(rho) or math.isnan(tau):
        return None
    # Floating point can land a hair outside [-1, 1] (e.g. -0.9999999999999999 is fine, 1+1e-16 not).
    return max(-1.0, min(1.0, rho)), max(-1.0, min(1.0, tau))


def agreement_metrics(
    rows: Iterable[Mapping[str, Any]],
    *,
    ties: str = "wrong",
    correlation: str = "per_prompt",
    five_best: str = "top_scored",
    top_score: float = 5.0,
) -> dict[str, Any]:
    """Pairwise accuracy, 5-best, exact match, Spearman and Kendall tau of scores vs human ranks.

    ``rows``: dicts with ``prompt_id``, ``human_rank`` (0 = best) and ``score`` (None or NaN =
    unscored).
    See the module docstring for the definitions and the options.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {CORRELATIONS}, got {correlation!r}")
    if five_best not in FIVE_BEST:
        raise ValueError(f"five_best must be one of {FIVE_BEST}, got {five_best!r}")

    by_prompt: dict[Any, list[tuple[float, float]]] = {}
    n_responses = n_unscored = 0
    for i, row in enumerate(rows):
        for key in ("prompt_id", "human_rank", "score"):
            if key not in row:
                raise ValueError(f"row {i}: missing field {key!r}")
        rank, score = row["human_rank"], row["score"]
        if isinstance(score, float) and math.isnan(score):
            score = None  # pandas' spelling of a missing score
        if not _is_number(rank):
            raise ValueError(f"row {i}: human_rank must be a finite number, got {rank!r}")
        if score is not None and not _is_number(score):
            raise ValueError(f"row {i}: score must be a finite number or None, got {score!r}")
        n_responses += 1
        group = by_prompt.setdefault(row["prompt_id"], [])
        if score is None:
            n_unscored += 1
        else:
            group.append((float(rank), float(score)))

    evaluated = [g for g in by_prompt.values() if len(g) >= 2 and len({r for r, _ in g}) >= 2]

    pair_credit = 0.0
    n_pairs = n_model_ties = n_exact = 0
    top_hits = 0
    n_top = 0
    prompt_top_credit: list[float] = []  # per evaluated prompt that has >= 1 top score
    rhos: list[float] = []
    taus: list[float] = []
    pooled_scores: list[float] = []
    pooled_ranks: list[float] = []

    for group in evaluated:
        all_right = True
        for (rank_a, score_a), (rank_b, score_b) in itertools.combinations(group, 2):
            if rank_a == rank_b:
                continue  # the humans tied: no order to match
            n_pairs += 1
            human = _sign(rank_b - rank_a)  # +1 when a is better (lower rank)
            model = _sign(score_a - score_b)
            if model == 0:
                n_model_ties += 1
                all_right = False
                if ties == "half":
                    pair_credit += 0.5
            elif model == human:
                pair_credit += 1.0
            else:
                all_right = False
        n_exact += all_right

        best_rank = min(r for r, _ in group)
        tops = [r == best_rank for r, s in group if s == top_score]
        if tops:
            n_top += len(tops)
            top_hits += sum(tops)
            prompt_top_credit.append(sum(tops) / len(tops))

        scores = [s for _, s in group]
        neg_ranks = [-r for r, _ in group]
        if correlation == "per_prompt":
            corr = _correlations(scores, neg_ranks)
            if corr is not None:
                rhos.append(corr[0])
                taus.append(corr[1])
        else:
            pooled_scores.extend(scores)
            pooled_ranks.extend(neg_ranks)

    pair_denominator = n_pairs - n_model_ties if ties == "skip" else n_pairs
    if five_best == "top_scored":
        five_denominator = n_top
        five_value = top_hits / n_top if n_top else None
    else:
        five_denominator = (
            len(prompt_top_credit) if five_best == "prompts_with_top" else len(evaluated)
        )
        five_value = sum(prompt_top_credit) / five_denominator if five_denominator else None

    if correlation == "per_prompt":
        n_prompts_correlation = len(rhos)
        spearman = statistics.fmean(rhos) if rhos else None
        kendall = statistics.fmean(taus) if taus else None
    else:
        corr = _correlations(pooled_scores, pooled_ranks)
        n_prompts_correlation = len(evaluated) if corr is not None else 0
        spearman, kendall = corr if corr is not None else (None, None)

    return {
        "pairwise_accuracy": pair_credit / pair_denominator if pair_denominator else None,
        "five_best": five_value,
        "exact_match": n_exact / len(evaluated) if evaluated else None,
        "spearman": spearman,
        "kendall_tau": kendall,
        "n_prompts": len(by_prompt),
        "n_prompts_evaluated": len(evaluated),
        "n_prompts_excluded": len(by_prompt) - len(evaluated),
        "n_responses": n_responses,
        "n_unscored": n_unscored,
        "n_pairs": n_pairs,
        "n_model_ties": n_model_ties,
        "n_prompts_correlation": n_prompts_correlation,
        "n_five_best_denominator": five_denominator,
    }


def read_rows(path: Path, *, parse_policy: str = "last") -> list[dict[str, Any]]:
    """Rows of a judged-responses JSONL file, validated; raises InputError naming line and field."""
    rows: list[dict[str, Any]] = []
    for where, obj in read_records(path, allow_list=False):
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        for key in ("prompt_id", "human_rank"):
            if key not in obj:
                raise InputError(f"{where}: missing field '{key}'")
        pid = obj["prompt_id"]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)):
            raise InputError(
                f"{where}: field 'prompt_id' must be a string or integer, got {json.dumps(pid)}"
            )
        if not _is_number(obj["human_rank"]):
            raise InputError(
                f"{where}: field 'human_rank' must be a number, got {json.dumps(obj['human_rank'])}"
            )
        if "score" in obj:
            score = obj["score"]
            if score is not None and not _is_number(score):
                raise InputError(
                    f"{where}: field 'score' must be a number or null, got {json.dumps(score)}"
                )
        elif "judgment" in obj:
            text = obj["judgment"]
            if text is not None and not isinstance(text, str):
                raise InputError(
                    f"{where}: field 'judgment' must be a string or null, got {json.dumps(text)}"
                )
            score = parse_score(text, policy=parse_policy)
        else:
            raise InputError(f"{where}: missing field 'score' (or 'judgment')")
        rows.append({"prompt_id": pid, "human_rank": obj["human_rank"], "score": score})
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srlm.eval.agreement",
        description="Reward-modelling agreement of judge scores with human rankings (one JSON line).",
    )
    parser.add_argument("file", type=Path, help="JSONL(.gz): prompt_id, human_rank, score|judgment")
    parser.add_argument("--ties", choices=TIES, default="wrong")
    parser.add_argument("--correlation", choices=CORRELATIONS, default="per_prompt")
    parser.add_argument("--five-best", choices=FIVE_BEST, default="top_scored")
    parser.add_argument("--top-score", type=float, default=5.0)
    parser.add_argument("--parse-policy", choices=PARSE_POLICIES, default="last")
    args = parser.parse_args(argv)
    try:
        rows = read_rows(args.file, parse_policy=args.parse_policy)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = agreement_metrics(
        rows,
        ties=args.ties,
        correlation=args.correlation,
        five_best=args.five_best,
        top_score=args.top_score,
    )
    result["options"] = {
        "ties": args.ties,
        "correlation": args.correlation,
        "five_best": args.five_best,
        "top_score": args.top_score,
        "parse_policy": args.parse_policy,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
