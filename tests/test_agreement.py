"""Reward-modelling agreement metrics: hand-computed cases, every option, the CLI, real data."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from srlm.eval.agreement import agreement_metrics, main
from srlm.judges import parse_score

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EFT3 = DATA / "judge_outputs_additive_score" / "andriswillow" / "EFT_seed_data_3.jsonl.gz"
REPO = Path(__file__).resolve().parents[1]


def rows_of(prompts: dict[str, list[tuple[float, float | None]]]) -> list[dict]:
    """{prompt_id: [(human_rank, score), ...]} -> rows."""
    return [
        {"prompt_id": pid, "human_rank": rank, "score": score}
        for pid, pairs in prompts.items()
        for rank, score in pairs
    ]


# p1: ranks 0,1,2 scored 5,3,4.  p2: ranks 0,1 scored 2,4.
BASIC = rows_of({"p1": [(0, 5), (1, 3), (2, 4)], "p2": [(0, 2), (1, 4)]})


def test_basic_hand_computed() -> None:
    m = agreement_metrics(BASIC)
    # Pairs: p1 (r0,r1) 5>3 right, (r0,r2) 5>4 right, (r1,r2) 3<4 wrong; p2 (r0,r1) 2<4 wrong.
    # -> 2 of 4.
    assert m["pairwise_accuracy"] == pytest.approx(2 / 4)
    assert m["n_pairs"] == 4 and m["n_model_ties"] == 0
    # Responses scored 5: only p1 r0, which is p1's human best -> 1/1.
    assert m["five_best"] == 1.0 and m["n_five_best_denominator"] == 1
    # Neither prompt is fully ordered right.
    assert m["exact_match"] == 0.0
    # p1: score ranks [3,1,2] vs (-rank) ranks [3,2,1]: d^2 sum 2 -> rho = 1 - 6*2/(3*8) = 0.5;
    #     Kendall: (r0,r1) C, (r0,r2) C, (r1,r2) D -> (2-1)/3 = 1/3.
    # p2: two responses in the wrong order -> rho = tau = -1.
    # Per-prompt mean: rho (0.5 - 1)/2 = -0.25, tau (1/3 - 1)/2 = -1/3.
    assert m["spearman"] == pytest.approx(-0.25)
    assert m["kendall_tau"] == pytest.approx(-1 / 3)
    assert m["n_prompts_correlation"] == 2
    assert m["n_prompts"] == 2 and m["n_prompts_evaluated"] == 2 and m["n_prompts_excluded"] == 0
    assert m["n_responses"] == 5 and m["n_unscored"] == 0


def test_perfect_judge() -> None:
    rows = rows_of({"a": [(0, 5), (1, 4), (2, 1)], "b": [(0, 3), (1, 2)]})
    m = agreement_metrics(rows)
    assert m["pairwise_accuracy"] == 1.0
    assert m["exact_match"] == 1.0
    assert m["spearman"] == pytest.approx(1.0) and m["kendall_tau"] == pytest.approx(1.0)
    # b has no 5: only a's top response is a 5/5 verdict, and it is right.
    assert m["five_best"] == 1.0 and m["n_five_best_denominator"] == 1


# Ranks 0,1,2 scored 4,4,2: (r0,r1) model tie, (r0,r2) right, (r1,r2) right.
MODEL_TIE = rows_of({"p": [(0, 4), (1, 4), (2, 2)]})


@pytest.mark.parametrize(
    ("ties", "expected"),
    [("wrong", 2 / 3), ("half", 2.5 / 3), ("skip", 2 / 2)],
)
def test_model_ties_under_each_option(ties: str, expected: float) -> None:
    m = agreement_metrics(MODEL_TIE, ties=ties)
    assert m["pairwise_accuracy"] == pytest.approx(expected)
    assert m["n_pairs"] == 3 and m["n_model_ties"] == 1
    # A model tie between responses the humans ordered is never an exact match.
    assert m["exact_match"] == 0.0


@pytest.mark.parametrize("ties", ["wrong", "half", "skip"])
def test_human_ties_are_not_pairs(ties: str) -> None:
    # Ranks 0,0,1 scored 3,5,4: (0a,0b) human tie -> no pair; (0a,1) 3<4 wrong; (0b,1) 5>4 right.
    m = agreement_metrics(rows_of({"p": [(0, 3), (0, 5), (1, 4)]}), ties=ties)
    assert m["pairwise_accuracy"] == pytest.approx(1 / 2)
    assert m["n_pairs"] == 2 and m["n_model_ties"] == 0
    assert m["exact_match"] == 0.0
    # The 5 went to a response sharing the best human rank -> a hit.
    assert m["five_best"] == 1.0


@pytest.mark.parametrize("ties", ["wrong", "half", "skip"])
def test_model_tie_on_a_human_tie_is_free(ties: str) -> None:
    # Ranks 0,0,1 scored 5,5,3: the model tie falls on the human tie (not a pair, not counted);
    # both ordered pairs right -> pairwise 1, exact match 1; both 5s are human-best -> 2/2.
    m = agreement_metrics(rows_of({"p": [(0, 5), (0, 5), (1, 3)]}), ties=ties)
    assert m["pairwise_accuracy"] == 1.0
    assert m["n_pairs"] == 2 and m["n_model_ties"] == 0
    assert m["exact_match"] == 1.0
    assert m["five_best"] == 1.0 and m["n_five_best_denominator"] == 2


def test_all_pairs_tied_skip_is_undefined() -> None:
    m = agreement_metrics(rows_of({"p": [(0, 3), (1, 3)]}), ties="skip")
    assert m["pairwise_accuracy"] is None
    assert m["n_pairs"] == 1 and m["n_model_ties"] == 1
    # Constant scores: the correlation is undefined on the only prompt.
    assert m["spearman"] is None and m["kendall_tau"] is None
    assert m["n_prompts_correlation"] == 0


# A: ranks 0,1,2 all scored 5 (3 top-scored, 1 human-best);  B: ranks 0,1 scored 3,5 (1, miss);
# C: ranks 0,1 scored 4,3 (no 5);  D: ranks 0,1 scored 5,2 (1, hit).
FIVE = rows_of(
    {
        "A": [(0, 5), (1, 5), (2, 5)],
        "B": [(0, 3), (1, 5)],
        "C": [(0, 4), (1, 3)],
        "D": [(0, 5), (1, 2)],
    }
)


@pytest.mark.parametrize(
    ("mode", "expected", "denominator"),
    [
        # per response: hits A 1 + B 0 + D 1 over 3 + 1 + 1 top-scored responses = 2/5
        ("top_scored", 2 / 5, 5),
        # per prompt with a 5: credits A 1/3, B 0, D 1 over 3 prompts = 4/9
        ("prompts_with_top", (1 / 3 + 0 + 1) / 3, 3),
        # same credits over all 4 evaluated prompts (C contributes 0) = 1/3
        ("all_prompts", (1 / 3 + 0 + 0 + 1) / 4, 4),
    ],
)
def test_five_best_modes(mode: str, expected: float, denominator: int) -> None:
    m = agreement_metrics(FIVE, five_best=mode)
    assert m["five_best"] == pytest.approx(expected)
    assert m["n_five_best_denominator"] == denominator


def test_five_best_custom_top_score_and_no_top() -> None:
    assert agreement_metrics(FIVE, top_score=4.0)["five_best"] == 1.0  # C's 4 is its best
    m = agreement_metrics(rows_of({"p": [(0, 3), (1, 2)]}))
    assert m["five_best"] is None and m["n_five_best_denominator"] == 0


def test_unscored_rows_and_small_prompts() -> None:
    rows = rows_of(
        {
            # rank-0 reply unscored: the scored top is rank 1 (score 4) over rank 2 (score 2).
            "a": [(0, None), (1, 4), (2, 2)],
            # one scored response left: excluded, its 5 is not a 5-best verdict.
            "b": [(0, 5), (1, None)],
            # a single response: excluded.
            "c": [(0, 5)],
            # all responses human-tied: no preference to agree with, excluded.
            "d": [(1, 5), (1, 2)],
        }
    )
    m = agreement_metrics(rows)
    assert m["n_responses"] == 8 and m["n_unscored"] == 2
    assert m["n_prompts"] == 4 and m["n_prompts_evaluated"] == 1 and m["n_prompts_excluded"] == 3
    assert m["pairwise_accuracy"] == 1.0 and m["n_pairs"] == 1
    assert m["exact_match"] == 1.0
    assert m["five_best"] is None  # no 5 on an evaluated prompt
    assert m["n_prompts_correlation"] == 1


def test_everything_unscored_is_none_not_nan() -> None:
    m = agreement_metrics(rows_of({"a": [(0, None), (1, float("nan"))]}))  # NaN = unscored
    for key in ("pairwise_accuracy", "five_best", "exact_match", "spearman", "kendall_tau"):
        assert m[key] is None
    assert m["n_unscored"] == 2 and m["n_prompts_excluded"] == 1


def test_pooled_vs_per_prompt() -> None:
    # a: ranks 0,1 scored 5,4; b: ranks 0,1 scored 2,1. Within each prompt the order is right.
    rows = rows_of({"a": [(0, 5), (1, 4)], "b": [(0, 2), (1, 1)]})
    per = agreement_metrics(rows)
    assert per["spearman"] == pytest.approx(1.0) and per["kendall_tau"] == pytest.approx(1.0)
    pooled = agreement_metrics(rows, correlation="pooled")
    # Pooled: scores [5,4,2,1] -> ranks [4,3,2,1]; -rank [0,-1,0,-1] -> ranks [3.5,1.5,3.5,1.5].
    # Pearson of the ranks: dx [1.5,.5,-.5,-1.5], dy [1,-1,1,-1]: 2 / sqrt(5 * 4) = 0.4472.
    assert pooled["spearman"] == pytest.approx(2 / 20**0.5)
    # Kendall tau-b: 6 pairs, C = 3, D = 1, 2 tied on -rank only: (3-1)/sqrt(6*4) = 0.4082.
    assert pooled["kendall_tau"] == pytest.approx(2 / 24**0.5)
    assert pooled["n_prompts_correlation"] == 2
    # The other metrics do not depend on the correlation option.
    assert pooled["pairwise_accuracy"] == per["pairwise_accuracy"] == 1.0


def test_per_prompt_skips_constant_prompts() -> None:
    rows = rows_of({"a": [(0, 5), (1, 4), (2, 1)], "b": [(0, 3), (1, 3)]})
    m = agreement_metrics(rows)
    assert m["spearman"] == pytest.approx(1.0) and m["n_prompts_correlation"] == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ties"):
        agreement_metrics(BASIC, ties="draw")
    with pytest.raises(ValueError, match="correlation"):
        agreement_metrics(BASIC, correlation="global")
    with pytest.raises(ValueError, match="five_best"):
        agreement_metrics(BASIC, five_best="any")
    with pytest.raises(ValueError, match="human_rank"):
        agreement_metrics([{"prompt_id": "p", "human_rank": "0", "score": 1}])
    with pytest.raises(ValueError, match="score"):
        agreement_metrics([{"prompt_id": "p", "human_rank": 0, "score": float("inf")}])
    with pytest.raises(ValueError, match="missing field 'score'"):
        agreement_metrics([{"prompt_id": "p", "human_rank": 0}])


# ---------------------------------------------------------------------------------------------
# CLI


def write_jsonl(path: Path, rows: list[dict], *, gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srlm.eval.agreement", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


# Judge texts for BASIC's p1 (5, 3, 4) and p2 (2, 4), plus an unparseable one and a row whose
# first and last "Score:" disagree (first 1, last 4: the rank-0 reply of p3 above rank 1's 2).
JUDGED = [
    {"prompt_id": "p1", "human_rank": 0, "judgment": "Thorough and correct.\nScore: 5"},
    {"prompt_id": "p1", "human_rank": 1, "judgment": "Partly helpful. Score: 3"},
    {"prompt_id": "p1", "human_rank": 2, "score": 4},
    {"prompt_id": "p2", "human_rank": 0, "score": 2},
    {"prompt_id": "p2", "human_rank": 1, "judgment": "score: 4"},
    {"prompt_id": "p2", "human_rank": 2, "judgment": "I cannot decide."},
    {"prompt_id": "p3", "human_rank": 0, "judgment": "Score: 1 at first sight... Score: 4"},
    {"prompt_id": "p3", "human_rank": 1, "judgment": None},
    {"prompt_id": "p3", "human_rank": 2, "score": 2},
]


def test_cli_score_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "scored.jsonl", BASIC)
    proc = _in_process(path)  # the subprocess route is covered by the gz and real-data tests
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["pairwise_accuracy"] == pytest.approx(0.5)
    assert out["spearman"] == pytest.approx(-0.25)
    assert out["options"] == {
        "ties": "wrong",
        "correlation": "per_prompt",
        "five_best": "top_scored",
        "top_score": 5.0,
        "parse_policy": "last",
    }
    assert proc.stdout.count("\n") == 1  # one JSON object


def test_cli_judgment_rows_gz(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "judged.jsonl.gz", JUDGED, gz=True)
    proc = run_cli(path, "--ties", "half", "--correlation", "pooled")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # p1, p2 as BASIC; p2's rank-2 reply is unparseable; p3: last policy -> 4 > 2 right.
    # Pairs: BASIC's 2 of 4 right + p3's 1 -> 3/5.
    assert out["n_unscored"] == 2 and out["n_responses"] == 9
    assert out["pairwise_accuracy"] == pytest.approx(3 / 5)
    assert out["options"]["ties"] == "half" and out["options"]["correlation"] == "pooled"


def test_cli_in_process_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "judged.jsonl", JUDGED)
    assert main([str(path), "--parse-policy", "first"]) == 0
    out = json.loads(capsys.readouterr().out)
    # first policy: p3's rank-0 reply scores 1 < 2 -> wrong: 2 of 5.
    assert out["pairwise_accuracy"] == pytest.approx(2 / 5)
    assert out["options"]["parse_policy"] == "first"
    assert main([str(path), "--five-best", "all_prompts", "--top-score", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    # top 4 with last policy: p1 rank 2 (miss), p2 rank 1 (miss), p3 rank 0 (hit): 1 / 3 prompts.
    assert out["five_best"] == pytest.approx(1 / 3) and out["n_five_best_denominator"] == 3


def _in_process(path: Path) -> subprocess.CompletedProcess:
    """main() with captured output: the CLI's code path without an interpreter start-up."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(path)])
    return subprocess.CompletedProcess([], rc, out.getvalue(), err.getvalue())


def _assert_one_line_error(
    proc: subprocess.CompletedProcess, path: Path, needles: list[str]
) -> None:
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert str(path) in err
    for needle in needles:
        assert needle in err


def test_cli_bad_json_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt_id": "p", "human_rank": 0, "score": 1}\nnot json\n')
    _assert_one_line_error(run_cli(path), path, [":2:", "not valid JSON"])


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (
            '{"prompt_id": "p", "human_rank": 0, "score": 1}\n\n{"prompt_id": "p", "score": 2}\n',
            [":3:", "'human_rank'"],
        ),
        ('{"prompt_id": "p", "human_rank": "0", "score": 1}\n', [":1:", "'human_rank'"]),
        ('{"prompt_id": "p", "human_rank": 0, "score": "five"}\n', [":1:", "'score'"]),
        ('{"prompt_id": "p", "human_rank": 0}\n', [":1:", "'score'"]),
        ('{"prompt_id": "p", "human_rank": 0, "judgment": 5}\n', [":1:", "'judgment'"]),
        ('{"prompt_id": null, "human_rank": 0, "score": 1}\n', [":1:", "'prompt_id'"]),
        ("[1, 2]\n", [":1:", "JSON object"]),
        ("", ["no rows"]),
    ],
)
def test_cli_bad_input(tmp_path: Path, content: str, needles: list[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    _assert_one_line_error(_in_process(path), path, needles)


def test_cli_missing_file_and_bad_gzip(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    _assert_one_line_error(run_cli(missing), missing, ["no such file"])
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage")
    _assert_one_line_error(_in_process(bad), bad, ["cannot read"])


# ---------------------------------------------------------------------------------------------
# Real judge generations (AndrisWillow/self-rewarding-models, read at run time, never copied)


def _question(judge_prompt: str) -> str:
    start = judge_prompt.index("User:") + len("User:")
    return judge_prompt[start : judge_prompt.index("<response>", start)].strip()


@pytest.mark.skipif(not EFT3.exists(), reason="shared/data judge outputs not available")
def test_real_judge_outputs(tmp_path: Path) -> None:
    with gzip.open(EFT3, "rt", encoding="utf-8") as f:
        upstream = [json.loads(line) for line in f]
    ids: dict[str, int] = {}
    rows = [
        {
            "prompt_id": ids.setdefault(_question(r["prompt"]), len(ids)),
            "human_rank": r["rank"],
            "judgment": r["response"],
        }
        for r in upstream
    ]
    path = write_jsonl(tmp_path / "eft3.jsonl", rows)
    proc = run_cli(path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_responses"] == len(upstream)
    assert out["n_prompts"] == len(ids)
    assert 0 < out["n_prompts_evaluated"] < out["n_prompts"]  # most questions have one reply
    for key in ("pairwise_accuracy", "five_best", "exact_match"):
        assert out[key] is not None and 0.0 <= out[key] <= 1.0
    for key in ("spearman", "kendall_tau"):
        assert out[key] is not None and -1.0 <= out[key] <= 1.0
    assert out["spearman"] > 0  # the judge agrees with the humans more often than not
    assert 0 <= out["n_model_ties"] <= out["n_pairs"]
    assert out["n_unscored"] <= 0.01 * len(upstream)

    # Our parse vs upstream's `score` (first-match re.search(r"Score: (\d+)")).
    first = [parse_score(r["response"], policy="first") for r in upstream]
    last = [parse_score(r["response"], policy="last") for r in upstream]
    comparable = [(ours, r) for ours, r in zip(first, upstream) if ours is not None]
    assert len(comparable) >= 0.99 * len(upstream)
    assert all(ours == r["score"] for ours, r in comparable)
    # Ours fails only where the first "Score:" value is not an integer (e.g. "4.0"): the
    # rubric sums whole points, upstream's (\d+) silently took the integer part.
    for ours, r in zip(first, upstream):
        if ours is None:
            assert re.search(r"(?i)score\s*:\s*\d+\.\d", r["response"])
    # "last" differs from upstream only on generations that wrote several different scores.
    for ours, r in zip(last, upstream):
        if ours is not None and ours != r["score"]:
            found = {float(v) for v in re.findall(r"(?i)score\s*:\s*(\d+)", r["response"])}
            assert len(found) > 1
