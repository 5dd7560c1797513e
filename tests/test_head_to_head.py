"""Head to head (Figure 3 protocol): both orders, disagreement = tie, failures counted."""

from __future__ import annotations

import itertools
import math

import pytest

from srlm.eval.head_to_head import (
    combine_orders,
    head_to_head,
    head_to_head_from_verdicts,
    outcome_from_scores,
    verdict_from_preference,
)


@pytest.mark.parametrize(
    ("ab", "ba", "expected"),
    [
        # A shown first and preferred; B shown first and A (second) preferred: a real win.
        ("first", "second", "win"),
        # B preferred in both orders.
        ("second", "first", "loss"),
        # Position bias: the first answer wins in both orders -> disagreement -> tie.
        ("first", "first", "tie"),
        ("second", "second", "tie"),
        # A preference in one order only is a disagreement too.
        ("first", "tie", "tie"),
        ("tie", "second", "tie"),
        ("tie", "first", "tie"),
        ("tie", "tie", "tie"),
        # Judge failures are ties.
        (None, "second", "tie"),
        ("first", None, "tie"),
        (None, None, "tie"),
    ],
)
def test_combine_orders(ab: str | None, ba: str | None, expected: str) -> None:
    assert combine_orders(ab, ba) == expected


def test_combine_orders_is_antisymmetric() -> None:
    # Swapping the models swaps win and loss: A's (ab, ba) are B's (ba, ab).
    flip = {"win": "loss", "loss": "win", "tie": "tie"}
    for ab, ba in itertools.product(["first", "second", "tie", None], repeat=2):
        assert combine_orders(ba, ab) == flip[combine_orders(ab, ba)]


def test_combine_orders_rejects_unknown_verdicts() -> None:
    with pytest.raises(ValueError, match="verdict_ab"):
        combine_orders("A", "first")
    with pytest.raises(ValueError, match="verdict_ba"):
        combine_orders("first", "Second")


def test_head_to_head_percentages() -> None:
    m = head_to_head(["win"] * 5 + ["tie"] * 3 + ["loss"] * 2)
    assert (m["win"], m["tie"], m["loss"]) == (50.0, 30.0, 20.0)
    assert (m["n"], m["n_win"], m["n_tie"], m["n_loss"]) == (10, 5, 3, 2)
    assert "n_judge_failures" not in m


def test_head_to_head_sums_to_100() -> None:
    m = head_to_head(["win"] * 1 + ["tie"] * 1 + ["loss"] * 1)
    assert m["win"] + m["tie"] + m["loss"] == pytest.approx(100.0)
    # Figure 3's denominator: 256 prompts.
    m = head_to_head(["win"] * 78 + ["tie"] * 99 + ["loss"] * 79, n_judge_failures=4)
    assert m["win"] + m["tie"] + m["loss"] == pytest.approx(100.0)
    assert m["win"] == pytest.approx(30.46875) and m["n"] == 256
    assert m["n_judge_failures"] == 4


def test_head_to_head_empty_and_bad() -> None:
    m = head_to_head([])
    assert m["n"] == 0 and m["win"] is None and m["tie"] is None and m["loss"] is None
    with pytest.raises(ValueError, match="outcome"):
        head_to_head(["won"])


def test_from_verdicts_counts_failures() -> None:
    pairs = [
        ("first", "second"),  # win
        ("second", "first"),  # loss
        ("first", "first"),  # disagreement -> tie
        (None, "second"),  # failure -> tie
        (None, None),  # two failures -> tie
    ]
    m = head_to_head_from_verdicts(pairs)
    assert (m["n_win"], m["n_tie"], m["n_loss"]) == (1, 3, 1)
    assert (m["win"], m["tie"], m["loss"]) == (20.0, 60.0, 20.0)
    assert m["n_judge_failures"] == 3  # failed verdicts, each order counted
    assert m["n_pairs_with_failure"] == 2


def test_outcome_from_scores() -> None:
    assert outcome_from_scores(4, 3) == "win"
    assert outcome_from_scores(2.5, 3) == "loss"
    assert outcome_from_scores(3, 3.0) == "tie"
    assert outcome_from_scores(None, 3) == "tie"
    assert outcome_from_scores(3, math.nan) == "tie"
    m = head_to_head(outcome_from_scores(a, b) for a, b in [(5, 1), (1, 5), (2, 2), (4, 3)])
    assert (m["win"], m["tie"], m["loss"]) == (50.0, 25.0, 25.0)


def test_verdict_from_alpaca_preference() -> None:
    assert verdict_from_preference(1) == "first"
    assert verdict_from_preference(2.0) == "second"
    assert verdict_from_preference(1.5) == "tie"
    assert verdict_from_preference(0) == "tie"
    assert verdict_from_preference(1.2) == "first" and verdict_from_preference(1.8) == "second"
    assert verdict_from_preference(None) is None
    assert verdict_from_preference(math.nan) is None
    assert verdict_from_preference(3) is None
    # A judge that always prefers output_1 (position bias) gives ties only.
    pair = (verdict_from_preference(1.0), verdict_from_preference(1.0))
    assert combine_orders(*pair) == "tie"
