"""Pair strategies: ties dropped, failures never rejected, determinism."""

from srlm.pairs import Candidate, ScoredPrompt, best_worst, top_only


def group(pid, *scores):
    return ScoredPrompt(
        pid,
        f"prompt {pid}",
        tuple(Candidate(f"{pid}-{i}", s, f"{pid}/{i}") for i, s in enumerate(scores)),
    )


def test_best_worst_basic_and_ties():
    pairs, stats = best_worst([group("a", 2.0, 4.5, 3.0, 1.0), group("b", 3.0, 3.0, 3.0, 3.0)])
    assert len(pairs) == 1 and stats["ties"] == 1
    p = pairs[0]
    assert (p["chosen"], p["rejected"], p["chosen_score"], p["rejected_score"]) == (
        "a-1",
        "a-3",
        4.5,
        1.0,
    )


def test_judge_failure_is_never_rejected():
    pairs, stats = best_worst([group("a", None, 4.0, 2.0, None), group("b", None, None, None, 5.0)])
    assert len(pairs) == 1
    assert pairs[0]["rejected"] == "a-2" and pairs[0]["chosen"] == "a-1"
    assert stats["too_few_scored"] == 1  # a single scored candidate makes no pair


def test_tie_break_first_and_random_are_deterministic():
    groups = [group(str(i), 5.0, 5.0, 1.0, 1.0) for i in range(30)]
    first, _ = best_worst(groups, tie_break="first")
    assert all(p["chosen"].endswith("-0") and p["rejected"].endswith("-2") for p in first)
    r1, _ = best_worst(groups, tie_break="random", seed=3)
    r2, _ = best_worst(groups, tie_break="random", seed=3)
    r3, _ = best_worst(groups, tie_break="random", seed=4)
    assert r1 == r2
    assert r1 != r3
    assert {p["chosen"][-1] for p in r1} == {"0", "1"}


def test_identical_texts_make_no_pair():
    g = ScoredPrompt("a", "p", (Candidate("same", 5.0, "a/0"), Candidate("same", 1.0, "a/1")))
    pairs, stats = best_worst([g])
    assert pairs == [] and stats["identical"] == 1


def test_min_margin():
    pairs, stats = best_worst([group("a", 3.0, 3.5)], min_margin=0.5)
    assert pairs == [] and stats["ties"] == 1


def test_top_only():
    ex, stats = top_only([group("a", 5.0, 4.0, 5.0), group("b", 4.0, None)], min_score=5.0)
    assert [e["response"] for e in ex] == ["a-0"]
    assert stats["no_top"] == 1
    ex, _ = top_only([group("a", 5.0, 4.0, 5.0)], min_score=4.0, per_prompt=2)
    assert [e["response"] for e in ex] == ["a-0", "a-2"]
