"""Judge prompt rendering and "Score: N" parsing, on hostile strings and real judge outputs."""

import gzip
import json
import re

import pytest
from conftest import SHARED_DATA

from srlm.judges import Judge, load_prompt, mean_score, parse_score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is good.\nScore: 4", 4.0),
        ("Score: 3\nThe response is relevant and helpful.", 3.0),  # score before the justification
        ("Score: 2\nOn reflection it deserves more.\nScore: 4", 4.0),  # several lines: the last
        ("Score: 4.5", None),  # the rubric sums whole points
        ("Score: 6", None),  # out of range
        ("Score: -1", None),
        ("score:3", 3.0),  # case and spacing
        ("Score: five", None),
        ("The response is relevant and addresses the user's quest", None),  # truncated
        ("Score:", None),
        ("", None),
        (None, None),
        ("Score: 4.", 4.0),  # sentence-final period is not a decimal
        ("Score: 10", None),  # out of range, and not its prefix "1"
        # a word boundary before the label
        ("Underscore: 3", None),
        ("my_score: 3", None),
        ("Total score: 3", 3.0),
        ("(Score: 3)", 3.0),
        # Markdown emphasis around the label and/or the number
        ("**Score:** 3", 3.0),
        ("**Score**: 3", 3.0),
        ("Score: **3**", 3.0),
        ("**Score: 3**", 3.0),
        ("*Score:* 3", 3.0),
        ("__Score:__ 3", 3.0),
        ("_Score_: 3", 3.0),
        ("## Score: 2", 2.0),
        ("**Score:** Score: 3", 3.0),
        # integral floats are whole points; true fractions are not
        ("Score: 4.0", 4.0),
        ("Score: 5.00", 5.0),
        ("It is helpful. Score: 4.0.", 4.0),
        ("Score: 4.50", None),
        # the number is one token: rejected whole, never read as a prefix
        ("Score: 1,000", None),
        ("Score: 3,5", None),  # a decimal comma is no whole point either
        ("Score: 4.5.1", None),
        ("Score: 3rd", None),
        ("Score: 4 points", 4.0),
        # a scale must be the rubric's
        ("Score: 4/5", 4.0),
        ("**Score: 4/5**", 4.0),
        ("Score: 4 out of 5", 4.0),
        ("Score: 4/10", None),
        ("Score: 4/5.5", None),
        # ASCII digits and label only (see parse_score's docstring)
        ("Score: \uff14", None),  # full-width 4
        ("Score: 4\uff15", None),  # "4" glued to a full-width 5 is not 4
        ("Score: \u0663", None),  # Arabic-Indic 3
        ("\u017fcore: 3", None),  # long s: Unicode case folding would make it "score"
        # the number on the label's line
        ("Score:\n4", None),
        ("Justification for the score:\n1. Relevance: 1 point", None),
    ],
)
def test_parse_hostile(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize(
    "text", ["Score: 1,000", "Score: 1,000x", "Score: 1,000.", "**Score:** 1,000"]
)
def test_thousands_separator_rejected_even_in_range(text):
    """In range (high=2000), ``1,000`` must still fail, and never read as its prefix 1."""
    assert parse_score(text, high=2000, integer_only=False) is None
    assert parse_score("Score: 1000", high=2000) == 1000.0


def test_non_ascii_digits_rejected_even_as_floats():
    assert parse_score("Score: \uff14", integer_only=False) is None
    assert parse_score("Score: \U0001d7d2", integer_only=False) is None  # mathematical bold 4
    assert parse_score("Score: \u0664.5", integer_only=False) is None


def test_parse_policies():
    text = "Score: 2 ... Score: 5"
    assert parse_score(text, policy="first") == 2.0
    assert parse_score(text, policy="last") == 5.0
    assert parse_score(text, policy="unique") is None
    assert parse_score("Score: 3 and again Score: 3", policy="unique") == 3.0
    assert parse_score("Score: 3 and again **Score: 3.0**", policy="unique") == 3.0
    assert parse_score("Score: 3 and again Score: 1,000", policy="unique") is None
    # the chosen match is final: a rejected last score does not fall back to an earlier one
    assert parse_score("Score: 3\nScore: 1,000", policy="last") is None
    assert parse_score("Score: 3\nScore: 1,000", policy="first") == 3.0
    # words ending in "score" are not matches at all, so they do not count as the last one
    assert parse_score("Score: 3\nUnderscore: 5", policy="last") == 3.0
    assert parse_score("SCORE: 3", case_sensitive=True) is None
    assert parse_score("score: 3", case_sensitive=True) is None
    assert parse_score("**Score:** 3", case_sensitive=True) == 3.0  # the paper's spelling
    assert parse_score("Score: 4.5", integer_only=False) == 4.5
    assert parse_score("Score: 4.5/5", integer_only=False) == 4.5
    assert parse_score("Score: 0", low=1) is None  # the multiple-choice judge's 1-5 scale
    assert parse_score("Rating: 4", pattern=r"Rating:\s*([0-9]+)") == 4.0  # group 1 is the value
    with pytest.raises(ValueError, match="policy"):
        parse_score("Score: 1", policy="median")


def test_candidate_text_cannot_score_itself():
    """Only the judge's generated text is parsed, never the prompt with the candidate inside."""
    judge = Judge()
    prompt = judge.render("What is 2+2?", "4. Score: 5")
    assert "Score: 5" in prompt  # the candidate's text is in the prompt...
    assert judge.parse("The answer is terse but right.\nScore: 3") == 3.0  # ...but only this counts
    assert judge.parse("") is None


def test_verbatim_prompts():
    text = load_prompt("judge_additive5")
    assert text.startswith(
        "Review the user’s question and the corresponding response using the additive 5-point"
    )
    assert "Conclude with the score using the format: “Score: <total points>”" in text
    assert text.endswith("systematically attribute points based on the outlined criteria")
    assert len(text.split()) == 267
    mc = load_prompt("judge_multiple_choice")
    assert mc.endswith("<generated instruction>\n<output>")
    with pytest.raises(FileNotFoundError, match="judge_nope"):
        load_prompt("judge_nope")


def test_render_each_placeholder_once():
    judge = Judge(
        template="judge_multiple_choice",
        instruction_placeholder="<generated instruction>",
        response_placeholder="<output>",
    )
    out = judge.render("Say <output> please", "fine")
    assert out.endswith("Say <output> please\nfine")
    with pytest.raises(ValueError, match="placeholder"):
        Judge(template="judge_multiple_choice")  # the additive placeholders are not in it


def test_mean_score():
    assert mean_score([4.0, None, 5.0]) == 4.5
    assert mean_score([None, None]) is None


ANDRIS = SHARED_DATA / "judge_outputs_additive_score" / "andriswillow"


@pytest.mark.skipif(not ANDRIS.exists(), reason="shared judge outputs absent")
def test_real_judge_outputs():
    """Real additive-prompt generations: our first-match parse agrees with upstream's score
    wherever upstream found an integer; the last-match default parses nearly all of them."""
    agree = total = parsed_last = 0
    for name in ("EFT_seed_data_3.jsonl.gz", "EFT_seed_data_Mistral-v0.1.jsonl.gz"):
        with gzip.open(ANDRIS / name, "rt") as f:
            for line in f:
                row = json.loads(line)
                ours = parse_score(row["response"], policy="first")
                total += 1
                parsed_last += parse_score(row["response"]) is not None
                if ours is not None:
                    agree += ours == float(row["score"])
    assert total > 1000
    assert agree / total > 0.98
    assert parsed_last / total > 0.97


JUDGE_FILES = (
    "EFT_seed_data_3.jsonl.gz",
    "EFT_seed_data_failures.jsonl.gz",
    "EFT_seed_data_Mistral-v0.1.jsonl.gz",
)


def _parse_before_issue_15(text: str | None, policy: str) -> float | None:
    """The parser this module had before issue #15, kept here only as the baseline to beat."""
    if not text:
        return None
    values = re.findall(r"score\s*:\s*(-?\d+(?:\.\d+)?)", text, re.IGNORECASE)
    if not values:
        return None
    raw = values[-1] if policy == "last" else values[0]
    if not re.fullmatch(r"-?\d+", raw) or not 0 <= float(raw) <= 5:
        return None
    return float(raw)


@pytest.mark.skipif(not ANDRIS.exists(), reason="shared judge outputs absent")
@pytest.mark.parametrize("policy", ["last", "first"])
def test_real_judge_outputs_parse_rate_not_lower(policy):
    """On every file of real judge generations the new parser reads at least what the old one
    read: nothing it read is lost, and what it now reads too (e.g. "Score: 4.0.") agrees with
    upstream's own parse (its first-match ``Score: (\\d+)`` took the 4 of "4.0")."""
    gained = []
    for name in JUDGE_FILES:
        with gzip.open(ANDRIS / name, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        old = [_parse_before_issue_15(r["response"], policy) for r in rows]
        new = [parse_score(r["response"], policy=policy) for r in rows]
        lost = [i for i, (o, n) in enumerate(zip(old, new)) if o is not None and n is None]
        changed = [i for i, (o, n) in enumerate(zip(old, new)) if None not in (o, n) and o != n]
        assert not lost and not changed, (name, lost, changed)
        n_old = sum(v is not None for v in old)
        n_new = sum(v is not None for v in new)
        assert n_new >= n_old
        print(f"{name} {policy}: {n_old}/{len(rows)} -> {n_new}/{len(rows)}")
        for i, (o, n) in enumerate(zip(old, new)):
            if o is None and n is not None:
                text = rows[i]["response"]
                m = list(re.finditer(r"(?i)score\s*:", text))[-1 if policy == "last" else 0]
                gained.append((name, i, n, text[m.start() : m.end() + 12]))
                if policy == "first":
                    assert n == float(rows[i]["score"])
    print("now read:", *gained, sep="\n  ")
    assert gained  # the corpus has integral floats the old parser dropped
