"""Self-instruction: upstream template and filters, ROUGE-L filter, and the generation loop."""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer

from srlm.self_instruct import (
    KEYWORD_BLACKLIST,
    REJECT_REASONS,
    RougeFilter,
    encode_prompt,
    filter_reason,
    generate_prompts,
    parse_continuation,
    prompt_id,
    stop_sequences,
)

SEED = [
    "Give three tips for staying healthy.",
    "Explain why the sky is blue to a child.",
    "Translate the following sentence into Spanish: I like tea.",
    "Suggest a name for a bakery that sells only bread.",
    "Summarize the plot of Hamlet in two sentences.",
    "List five countries that border Germany.",
    "Write a haiku about the first snow.",
    "Compare the pros and cons of remote work.",
    "Describe the water cycle in simple terms.",
    "Recommend a strategy for learning chess openings.",
]


# --- template ---------------------------------------------------------------------------------


def test_encode_prompt_matches_upstream_for_eight_shots():
    shots = [f"Instruction number {i}." for i in range(1, 9)]
    expected = (
        "Come up with a series of tasks:\n"
        "1. Instruction number 1.\n"
        "2. Instruction number 2.\n"
        "3. Instruction number 3.\n"
        "4. Instruction number 4.\n"
        "5. Instruction number 5.\n"
        "6. Instruction number 6.\n"
        "7. Instruction number 7.\n"
        "8. Instruction number 8.\n"
        "9."
    )
    assert encode_prompt(shots) == expected


def test_encode_prompt_flattens_whitespace_and_trailing_colon():
    prompt = encode_prompt(["  Fix  the grammar:\n\nhe go home:", "Say hi."])
    assert (
        prompt == "Come up with a series of tasks:\n1. Fix the grammar: he go home\n2. Say hi.\n3."
    )


# --- parsing ----------------------------------------------------------------------------------


def test_parse_continuation_runs_on_into_later_items_and_stops_at_blank_line():
    text = (
        " Name three primary colors.\n"
        "10. translate the sentence into French.\n"
        "11.   Summarize   the\tarticle  in one line.\n"
        "12 . Spaced number is still an item.\n"
        "13. \n"
        "14. Mentions 10. inline, which is not a split.\n"
        "\n"
        "Here is some garbage the model wrote after a blank line.\n15. Not an item."
    )
    assert parse_continuation(text, 8) == [
        "Name three primary colors.",
        "Translate the sentence into French.",
        "Summarize the article in one line.",
        "Spaced number is still an item.",
        "Mentions 10. inline, which is not a split.",
    ]


def test_parse_continuation_stops_at_item_sixteen_for_eight_shots():
    assert stop_sequences(8) == ("\n\n", "\n16", "16.", "16 .")
    text = " First task here.\n15. Fifteenth task here.\n16. Cut off.\n17. Also cut."
    assert parse_continuation(text, 8) == ["First task here.", "Fifteenth task here."]


@pytest.mark.parametrize("text", ["", None, "   ", "\n\n10. After a blank line."])
def test_parse_continuation_empty(text):
    assert parse_continuation(text, 8) == []


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        ("Give three tips.", "too_short"),
        ("Give   three\ntips.", "too_short"),
        ("Give me three tips.", None),
        (" ".join(["word"] * 150), None),
        (" ".join(["word"] * 151), "too_long"),
        ("Describe the image below in detail.", "keyword"),
        ("Summarize the attached FILES for me.", "keyword"),
        ("Tell me how to go to the station.", "keyword"),
        ("Draw a cat using only letters.", "keyword"),
        ("Explain how a mapping between sets works.", None),  # "mapping" is not "map"
        ("Explain the graphical user interface idea.", None),
        ("Write a program that sorts a list.", "program"),
        ("write a program that sorts a list.", "program"),
        ("Write a poem about programs and lists.", None),
        ("- List three fruits you like.", "punctuation"),
        ('"Quote this sentence back to me."', "punctuation"),
        ("Écris une phrase sur la mer.", "non_ascii"),
        ("日本語 で 三つ の 果物 を 挙げて ください", "non_ascii"),
    ],
)
def test_filter_reason(instruction, reason):
    assert filter_reason(instruction) == reason


def test_keyword_blacklist_is_upstream():
    assert KEYWORD_BLACKLIST == (
        "image",
        "images",
        "graph",
        "graphs",
        "picture",
        "pictures",
        "file",
        "files",
        "map",
        "maps",
        "draw",
        "plot",
        "go to",
    )


# --- ROUGE-L ----------------------------------------------------------------------------------


def test_rouge_filter_drops_paraphrase_keeps_different():
    rouge = RougeFilter(SEED)
    assert rouge.too_similar("give three tips for staying healthy!")
    assert rouge.too_similar("Give three good tips for staying healthy.")  # F = 0.909
    assert not rouge.too_similar("Write a limerick about a forgetful octopus.")
    assert not rouge.too_similar("")
    rouge.add("Write a limerick about a forgetful octopus.")
    assert rouge.too_similar("Write a limerick about a forgetful old octopus.")
    assert len(rouge) == len(SEED) + 1


def test_rouge_filter_threshold_edge_is_strict():
    # 10 tokens each, LCS 7 -> F = 0.7 exactly: upstream drops only "> 0.7".
    existing = "a b c d e f g h i j"
    at_edge = "a b c d e f g x y z"
    above = "a b c d e f g h y z"  # LCS 8 -> F = 0.8
    assert not RougeFilter([existing]).too_similar(at_edge)
    assert RougeFilter([existing]).too_similar(above)
    assert RougeFilter([existing], threshold=0.69).too_similar(at_edge)
    assert not RougeFilter([existing], threshold=0.85).too_similar(above)


def test_rouge_filter_agrees_with_rouge_scorer():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    vocab = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "fast", "slow"]

    def sentence():
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 9)))

    pool = [sentence() for _ in range(60)]
    rouge = RougeFilter(pool)
    hits = 0
    for _ in range(200):
        cand = sentence()
        best = max(scorer.score(cand, old)["rougeL"].fmeasure for old in pool)
        assert rouge.too_similar(cand) == (best > 0.7)
        if best > 0.7:
            hits += 1
            assert rouge.max_score(cand) == pytest.approx(best)
    assert 0 < hits < 200


# --- the loop ---------------------------------------------------------------------------------


class CannedGenerator:
    """Deterministic fake model: continuation i is a fixed mix of good and bad candidates."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.index = 0

    def good(self, i: int, variant: str = "d") -> str:
        return f"Explain the idea of q{i}a q{i}b q{i}c q{i}{variant}."

    def continuation(self, i: int) -> str | None:
        if i % 4 == 3:
            return "" if i % 8 == 3 else None
        if i % 2 == 0:  # kind A: 1 good + too_short, keyword, duplicate, rouge, program
            return (
                f" {self.good(i)}\n"
                "10. Too short.\n"
                "11. Describe the picture you see.\n"
                "12. give three tips for  staying healthy.\n"
                f"13. {self.good(i, 'e')}\n"
                "14. Write a program to add two numbers.\n"
                "16. Everything after item sixteen is cut."
            )
        # kind B: 1 good + punctuation, non_ascii, too_long, in-continuation duplicate
        return (
            f" {self.good(i)}\n"
            "10. * Bullet item with enough words.\n"
            "11. Ñandú facts please, three of them.\n"
            f"12. {' '.join(['long'] * 151)}\n"
            f"13. {self.good(i).upper()}\n"
            "\nGarbage after a blank line."
        )

    def __call__(self, prompts: list[str]) -> list[str | None]:
        self.calls.append(list(prompts))
        out = [self.continuation(self.index + k) for k in range(len(prompts))]
        self.index += len(prompts)
        return out


def test_generate_prompts_counts_every_rejection_reason():
    gen = CannedGenerator()
    records, stats = generate_prompts(
        gen, SEED, target=1000, rng=random.Random(0), batch_size=4, max_rounds=3
    )
    # 12 continuations: 3 unparseable, 6 of kind A, 3 of kind B.
    assert stats["rounds"] == 3
    assert stats["continuations"] == 12
    assert stats["accepted"] == len(records) == 9
    assert stats["rejected"] == {
        "cut_off": 0,
        "unparseable": 3,
        "too_short": 6,
        "too_long": 3,
        "keyword": 6,
        "program": 6,
        "punctuation": 3,
        "non_ascii": 3,
        "duplicate": 9,
        "rouge": 6,
    }
    assert set(stats["rejected"]) == set(REJECT_REASONS)
    assert stats["generated"] == stats["accepted"] + sum(stats["rejected"].values())
    assert [r["prompt"] for r in records] == [gen.good(i) for i in (0, 1, 2, 4, 5, 6, 8, 9, 10)]
    assert all(r["id"] == prompt_id(r["prompt"]) and len(r["id"]) == 12 for r in records)
    assert [r["round"] for r in records] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_generate_prompts_stops_at_target():
    gen = CannedGenerator()
    records, stats = generate_prompts(gen, SEED, target=5, rng=random.Random(0), batch_size=4)
    assert len(records) == stats["accepted"] == 5
    assert stats["rounds"] == 2
    assert len(gen.calls) == 2
    assert len({r["id"] for r in records}) == 5


def test_generate_prompts_demonstrations_are_six_seed_plus_two_generated():
    gen = CannedGenerator()
    records, _ = generate_prompts(gen, SEED, target=6, rng=random.Random(1), batch_size=4)
    accepted_round1 = {r["prompt"] for r in records if r["round"] == 1}
    for prompt in gen.calls[0]:
        lines = prompt.split("\n")
        assert lines[0] == "Come up with a series of tasks:" and lines[-1] == "9."
        assert {line.split(". ", 1)[1] for line in lines[1:-1]} <= set(SEED)
    for prompt in gen.calls[1]:
        shots = [line.split(". ", 1)[1] for line in prompt.split("\n")[1:-1]]
        assert len(shots) == 8
        assert sum(s in SEED for s in shots) == 6
        assert sum(s in accepted_round1 for s in shots) == 2


def test_generate_prompts_is_deterministic_for_a_seed():
    runs = []
    for seed in (7, 7, 8):
        gen = CannedGenerator()
        result = generate_prompts(gen, SEED, target=7, rng=random.Random(seed), batch_size=4)
        runs.append((result, gen.calls))
    assert runs[0] == runs[1]
    assert runs[0][1] != runs[2][1]  # another seed picks other demonstrations


def test_generate_prompts_stops_at_max_rounds_on_duplicates_only():
    calls = []

    def only_duplicates(prompts):
        calls.append(prompts)
        return [f" {SEED[0]}\n10. {SEED[1].lower()}" for _ in prompts]

    records, stats = generate_prompts(
        only_duplicates, SEED, target=3, rng=random.Random(0), batch_size=3, max_rounds=4
    )
    assert records == []
    assert len(calls) == stats["rounds"] == 4
    assert stats["rejected"]["duplicate"] == 2 * 3 * 4
    assert stats["generated"] == 24 and stats["accepted"] == 0


def test_generate_prompts_respects_existing():
    existing = ["Explain the idea of q0a q0b q0c q0d.", "Plan a picnic for six friends."]
    gen = CannedGenerator()
    records, stats = generate_prompts(
        gen, SEED, target=2, rng=random.Random(0), batch_size=2, existing=existing
    )
    assert existing[0] not in {r["prompt"] for r in records}
    assert stats["rejected"]["duplicate"] >= 1
    # Existing prompts count as "previously generated" demonstrations from the first round.
    for prompt in gen.calls[0]:
        assert sum(e in prompt for e in existing) == 2


def test_generate_prompts_rejects_wrong_number_of_continuations():
    with pytest.raises(ValueError, match="continuations"):
        generate_prompts(lambda prompts: [], SEED, target=1, rng=random.Random(0))
    with pytest.raises(ValueError, match="seed"):
        generate_prompts(lambda prompts: [], [], target=1, rng=random.Random(0))


# --- continuations cut off by the token limit, and a shortfall -------------------------------


def test_a_continuation_cut_off_by_the_token_limit_is_dropped_whole():
    """Upstream drops a response whose finish_reason is "length": its tasks never count."""
    from srlm.generation.base import Completion

    good = "Explain the idea of q1a q1b q1c q1d.\n10. Describe how tides follow the moon"
    outputs = iter(
        [
            [
                Completion(" " + good, "length"),
                Completion(" Plan a picnic for six friends.", "stop"),
            ],
            [Completion(" " + good, "stop"), Completion(" Plan a picnic for six friends.", "stop")],
        ]
    )
    records, stats = generate_prompts(
        lambda prompts: next(outputs),
        SEED,
        target=10,
        rng=random.Random(0),
        batch_size=2,
        max_rounds=2,
    )
    assert stats["rejected"]["cut_off"] == 1
    assert [r["prompt"] for r in records] == [
        "Plan a picnic for six friends.",
        "Explain the idea of q1a q1b q1c q1d.",
        "Describe how tides follow the moon",
    ]  # the second round's duplicate picnic is a duplicate, not a cut-off
    assert stats["generated"] == stats["accepted"] + sum(stats["rejected"].values())


class FakeGenerator:
    """The Generator protocol over canned texts, every continuation cut off or finished."""

    def __init__(self, text: str, finish_reason: str):
        self.text, self.finish_reason = text, finish_reason

    def generate(self, prompts, sampling):
        from srlm.generation.base import Completion

        return [[Completion(self.text, self.finish_reason)] for _ in prompts]


SI_CFG = {
    "generator": "base",
    "num_seed_shots": 6,
    "num_generated_shots": 2,
    "temperature": 0.6,
    "top_p": 0.9,
    "max_new_tokens": 16,
    "rouge_threshold": 0.7,
    "batch_size": 2,
    "max_rounds": 2,
}


def test_the_prompts_stage_counts_cut_off_continuations_and_warns_on_a_shortfall(caplog):
    import logging

    from srlm.stages.prompts import generate_prompts as stage_prompts

    cut = FakeGenerator(" Describe how the tides follow the moon and", "length")
    with caplog.at_level(logging.WARNING, logger="srlm"):
        records, metrics = stage_prompts(SI_CFG, cut, SEED, [], target=5, seed=0)
    assert records == []
    assert metrics["self_instruct/rejected/cut_off"] == 4  # 2 rounds x 2 continuations
    assert metrics["self_instruct/shortfall"] == 5
    assert "Self-Instruct: 0 of 5 prompts after 2 rounds" in caplog.text
    assert "4 cut off at self_instruct.max_new_tokens=16" in caplog.text

    caplog.clear()
    done = FakeGenerator(" Describe how the tides follow the moon.", "stop")
    with caplog.at_level(logging.WARNING, logger="srlm"):
        records, metrics = stage_prompts(SI_CFG, done, SEED, [], target=1, seed=0)
    assert len(records) == 1 and metrics["self_instruct/shortfall"] == 0
    assert metrics["self_instruct/rejected/cut_off"] == 0 and "Self-Instruct" not in caplog.text
