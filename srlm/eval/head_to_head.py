"""Head-to-head win / tie / loss between two models (paper Figure 3).

The paper's protocol: a pairwise judge (GPT-4 with the AlpacaEval prompt) sees each pair in both
orders, and when the two orders disagree the pair is a tie. That cancels the judge's position
bias: a judge that always prefers whichever answer comes first produces only ties.

Everything is from the point of view of model A (the left model in Figure 3: "M2 vs SFT" is
A = M2). A verdict is what the judge said about the two answers *as shown*: ``"first"``,
``"second"`` or ``"tie"``; ``None`` is a judge failure (no parseable verdict).

:func:`combine_orders` rules, with ``verdict_ab`` = A shown first and ``verdict_ba`` = B shown
first (so ``verdict_ba == "second"`` also prefers A):

- both orders prefer A -> ``"win"``; both prefer B -> ``"loss"``;
- anything else -> ``"tie"``: the orders disagree (A in one, B in the other), or one or both
  orders say tie (a one-sided preference is a disagreement too: the paper counts only
  preferences that survive the swap), or a verdict is missing. A failure is a tie because the
  surviving order alone cannot show the preference is not position bias; failures are counted
  separately (:func:`head_to_head_from_verdicts`) so a flaky judge cannot hide in the ties.

An order-independent oracle that scores each answer on its own (e.g. a reward model) gives one
verdict per pair: :func:`outcome_from_scores`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

Outcome = Literal["win", "tie", "loss"]
Verdict = Literal["first", "second", "tie"]

OUTCOMES: tuple[str, ...] = ("win", "tie", "loss")
VERDICTS: tuple[str, ...] = ("first", "second", "tie")

# Which model a verdict prefers, per presentation order ("tie" and None prefer neither).
_PREFERRED_WHEN_A_FIRST: dict[str | None, str] = {"first": "A", "second": "B"}
_PREFERRED_WHEN_B_FIRST: dict[str | None, str] = {"first": "B", "second": "A"}


def _check_verdict(verdict: str | None, name: str) -> None:
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"{name} must be one of {VERDICTS} or None, got {verdict!r}")


def combine_orders(verdict_ab: str | None, verdict_ba: str | None) -> Outcome:
    """A's outcome from the verdicts with A shown first (``ab``) and B shown first (``ba``)."""
    _check_verdict(verdict_ab, "verdict_ab")
    _check_verdict(verdict_ba, "verdict_ba")
    a_in_ab = _PREFERRED_WHEN_A_FIRST.get(verdict_ab)
    a_in_ba = _PREFERRED_WHEN_B_FIRST.get(verdict_ba)
    if a_in_ab == a_in_ba == "A":
        return "win"
    if a_in_ab == a_in_ba == "B":
        return "loss"
    return "tie"


def outcome_from_scores(score_a: float | None, score_b: float | None) -> Outcome:
    """A's outcome under an order-independent scorer: higher wins, equal ties.

    A missing or NaN score (scorer failure) is a tie, as a failed verdict is in combine_orders.
    """
    if score_a is None or score_b is None or math.isnan(score_a) or math.isnan(score_b):
        return "tie"
    if score_a > score_b:
        return "win"
    if score_a < score_b:
        return "loss"
    return "tie"


def verdict_from_preference(preference: float | None) -> Verdict | None:
    """An AlpacaEval-style preference (1 = first, 2 = second, 1.5 or 0 = draw) as a verdict.

    Weighted preferences in [1, 2] go to the closer side; NaN, None or values outside [1, 2]
    are judge failures (None), as alpaca_eval drops them.
    """
    if preference is None or math.isnan(preference):
        return None
    if preference == 0 or preference == 1.5:
        return "tie"
    if not 1 <= preference <= 2:
        return None
    return "first" if preference < 1.5 else "second"


def head_to_head(outcomes: Iterable[str], *, n_judge_failures: int | None = None) -> dict[str, Any]:
    """Win / tie / loss percentages (0-100) of A over the outcomes, plus the counts.

    Percentages are None when there are no outcomes; ``n_judge_failures`` is passed through.
    """
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcomes:
        if outcome not in counts:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        counts[outcome] += 1
    n = sum(counts.values())
    result: dict[str, Any] = {k: (100 * v / n if n else None) for k, v in counts.items()}
    result.update(n=n, n_win=counts["win"], n_tie=counts["tie"], n_loss=counts["loss"])
    if n_judge_failures is not None:
        result["n_judge_failures"] = n_judge_failures
    return result


def head_to_head_from_verdicts(
    verdict_pairs: Iterable[tuple[str | None, str | None]],
) -> dict[str, Any]:
    """:func:`head_to_head` of ``(verdict_ab, verdict_ba)`` pairs, counting judge failures.

    ``n_judge_failures`` counts failed verdicts (each order separately);
    ``n_pairs_with_failure`` counts pairs that became ties because of at least one failure.
    """
    outcomes: list[str] = []
    n_failures = n_pairs_with_failure = 0
    for verdict_ab, verdict_ba in verdict_pairs:
        outcomes.append(combine_orders(verdict_ab, verdict_ba))
        failed = (verdict_ab is None) + (verdict_ba is None)
        n_failures += failed
        n_pairs_with_failure += failed > 0
    result = head_to_head(outcomes, n_judge_failures=n_failures)
    result["n_pairs_with_failure"] = n_pairs_with_failure
    return result
