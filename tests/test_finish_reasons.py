"""Why a generation stopped: ``Completion.finish_reason`` from the HF backend, kept in judge rows,
and judgments cut off by the token limit counted apart from other parse failures."""

from __future__ import annotations

import json
import logging
import pickle

import pytest

from srlm.artifacts import RowLog
from srlm.generation.base import LENGTH, STOP, Completion, Sampling, cut_off
from srlm.stages.judge import judge_responses, parse_stats, warn_cut_off


def test_a_completion_is_a_string_that_knows_why_it_stopped():
    c = Completion("Score: 4", LENGTH)
    assert c == "Score: 4" and isinstance(c, str) and cut_off(c)
    assert json.dumps({"samples": [c]}) == '{"samples": ["Score: 4"]}'
    assert pickle.loads(pickle.dumps(c)).finish_reason == LENGTH
    assert not cut_off(Completion("x", STOP)) and not cut_off("plain text")


def test_hf_backend_says_length_when_max_new_tokens_ran_out(tiny_m0):
    from srlm.generation.hf import load

    gen = load(str(tiny_m0), batch_size=4)
    prompts = ["Copy the letters: a b", "Reverse the letters: c d e", "Sort: b a"]
    seen = set()
    for max_new in (1, 4, 64):
        for prompt in prompts:
            before = gen.tokens_generated
            (text,) = gen.generate([prompt], Sampling(n=1, temperature=0, max_new_tokens=max_new))[
                0
            ]
            # All max_new tokens are real (no end of sequence among them) exactly when cut off.
            ran_out = gen.tokens_generated - before == max_new
            assert text.finish_reason == (LENGTH if ran_out else STOP), (prompt, max_new, text)
            seen.add(text.finish_reason)
    assert LENGTH in seen  # max_new_tokens=1 cuts any answer that is not empty
    # A stop string ends a completion as the model's own end does.
    (full,) = gen.generate(prompts[:1], Sampling(n=1, temperature=0, max_new_tokens=4))[0]
    if len(full) >= 2:
        stop = Sampling(n=1, temperature=0, max_new_tokens=4, stop=(full[:2],))
        (text,) = gen.generate(prompts[:1], stop)[0]
        assert text == "" and text.finish_reason == STOP
    # n samples from one prefill each carry their own reason.
    many = gen.generate(prompts, Sampling(n=3, temperature=1.0, max_new_tokens=3, seed=0))
    assert all(s.finish_reason in (STOP, LENGTH) for samples in many for s in samples)


class Judge:
    """The parts of srlm.judges.Judge that judge_responses uses."""

    num_samples, temperature, top_p, max_new_tokens = 3, 0.7, 0.9, 8
    score_min, score_max = 0, 5

    def render(self, prompt, response):
        return f"{prompt} -> {response}"

    def parse(self, text):
        return float(text.split("Score: ")[1]) if "Score: " in text else None


class CannedGenerator:
    """Per prompt: a finished judgment, one cut off before its score, one that ignores the format."""

    def generate(self, prompts, sampling):
        return [
            [
                Completion("Good. Score: 4", STOP),
                Completion("The response covers the basics and the", LENGTH),
                Completion("I like it.", STOP),
            ]
            for _ in prompts
        ]


class Tok:
    chat_template = None

    def apply_chat_template(self, messages, **kw):
        return messages[0]["content"]


def test_judge_rows_keep_cut_off_flags_and_stats_count_them_apart(tmp_path, caplog):
    items = [{"id": f"p{i}", "prompt": f"q{i}", "response": f"a{i}"} for i in range(4)]
    log = RowLog(tmp_path / "judgments.jsonl.partial")
    rows = judge_responses(CannedGenerator(), Tok(), Judge(), items, log)
    assert rows[0]["cut_off"] == [False, True, False]
    assert rows[0]["scores"] == [4.0, None, None] and rows[0]["score"] == 4.0
    # A resumed run reads the rows back from disk: the flags are there, not in the str objects.
    again = RowLog(tmp_path / "judgments.jsonl.partial")
    assert [r["cut_off"] for r in again.rows.values()] == [[False, True, False]] * 4
    stats = parse_stats(list(again.rows.values()), 0, 5)
    assert stats["judge/parse_fail_rate"] == pytest.approx(2 / 3)
    assert stats["judge/cut_off_rate"] == pytest.approx(1 / 3)  # hit the limit before "Score:"
    assert stats["judge/format_fail_rate"] == pytest.approx(1 / 3)  # finished, but no score
    assert stats["judge/cut_off_scored_rate"] == 0.0
    with caplog.at_level(logging.WARNING, logger="srlm"):
        warn_cut_off(stats, 8, "M1")
    assert "M1 · 4 of 12 judgments (33.3%) hit judge.max_new_tokens=8 before a score" in caplog.text

    old = [{"id": "x", "samples": ["a"], "scores": [None], "score": None}]  # before the flags
    assert parse_stats(old, 0, 5)["judge/format_fail_rate"] == 1.0
