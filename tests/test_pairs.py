"""Pair strategies: ties dropped, failures never rejected, determinism."""

import pytest

from srlm.pairs import (
    Candidate,
    ScoredPrompt,
    best_worst,
    mix_with_seed,
    random_pairs,
    top_only,
)


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


def test_random_pairs_match_best_worst_in_count_but_not_in_choice():
    groups = [group(str(i), 5.0, 1.0, None, 3.0) for i in range(200)]
    groups += [group("tie", 2.0, 2.0), group("one", None, 4.0)]
    judged, judged_stats = best_worst(groups)
    control, stats = random_pairs(groups, seed=1)
    assert stats == judged_stats and len(control) == len(judged) == 200
    assert [p["prompt_id"] for p in control] == [p["prompt_id"] for p in judged]
    assert all(p["chosen"] != p["rejected"] for p in control)
    assert all(not p["chosen"].endswith("-2") and not p["rejected"].endswith("-2") for p in control)
    # about one in three draws picks the judge's chosen answer (5.0), not always
    share = sum(p["chosen_score"] == 5.0 for p in control) / len(control)
    assert 0.2 < share < 0.5
    assert random_pairs(groups, seed=1) == (control, stats)
    assert random_pairs(groups, seed=2)[0] != control


def test_min_margin():
    pairs, stats = best_worst([group("a", 3.0, 3.5)], min_margin=0.5)
    assert pairs == [] and stats["ties"] == 1


def test_top_only():
    ex, stats = top_only([group("a", 5.0, 4.0, 5.0), group("b", 4.0, None)], min_score=5.0)
    assert [e["response"] for e in ex] == ["a-0"]
    assert stats["no_top"] == 1
    ex, _ = top_only([group("a", 5.0, 4.0, 5.0)], min_score=4.0, per_prompt=2)
    assert [e["response"] for e in ex] == ["a-0", "a-2"]


def test_top_only_mixes_the_selected_responses_into_the_seed_data():
    """A.4: the score-5 responses are added back into the seed SFT data with a mixing weight."""
    seed = [{"prompt": f"seed {i}", "response": f"answer {i}"} for i in range(6)]
    top = [{"prompt": f"new {i}", "response": f"top {i}", "score": 5.0} for i in range(4)]
    assert mix_with_seed(top, seed, 1.0) == seed + top  # a plain union
    assert mix_with_seed(top, seed, 2.0) == seed + top + top  # each counts twice
    assert mix_with_seed(top, seed, 0.0) == seed
    assert mix_with_seed(top, [], 1.0) == top  # seed_ift=false: the old ablation
    half = mix_with_seed(top, seed, 0.5, seed=3)
    assert half[:6] == seed and len(half) == 8 and all(r in top for r in half[6:])
    assert half == mix_with_seed(top, seed, 0.5, seed=3)  # seeded
    assert len(mix_with_seed(top, seed, 1.5, seed=0)) == 6 + 4 + 2
    with pytest.raises(ValueError, match="pairs.mix.weight"):
        mix_with_seed(top, seed, -1.0)


def test_the_top_only_stage_trains_m_t_on_the_mixture(monkeypatch):
    from types import SimpleNamespace

    from srlm.stages import models
    from srlm.stages.base import DeclaredConfig

    seen = {}

    def fake_train(ctx, kind, base, data):
        seen.update(kind=kind, base=base, data=data)
        return {"train/steps": 1.0}

    monkeypatch.setattr(models, "train", fake_train)
    config = {
        "seed": 0,
        "pairs": {"train_with": "sft", "mix": {"seed_ift": True, "weight": 2.0}},
        "train": {"sft": {}, "lora": None, "deepspeed": None, "num_processes": 1},
        "model": {"chat_template": None},
        "loop": {"isolation": "inline"},
    }
    rows = {
        "pairs": [{"prompt": "new", "response": "top", "score": 5.0}],
        "ift": [{"prompt": "seed", "response": "human"}],
    }

    def result(**kw):
        return SimpleNamespace(rows=lambda name: rows[name], **kw)

    ctx = SimpleNamespace(
        cfg=DeclaredConfig("train", config, models.TOP_ONLY_SFT.reads),
        inputs={"model": result(model="m_t"), "pairs": result(), "seed_data": result()},
        seed=0,
        label="M2",
    )
    metrics = models._next_model(ctx)
    assert (seen["kind"], seen["base"]) == ("sft", "m_t")
    assert sorted(m[1]["content"] for m in seen["data"]) == ["human", "top", "top"]
    assert metrics["train/num_seed_examples"] == 1 and metrics["train/num_selected_examples"] == 2
    assert "seed_data" in models.TOP_ONLY_SFT.inputs
