"""AlpacaEval win rate: hand-made cases and every stored model against its leaderboard row."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from srlm.eval.winrate import main, win_rate, win_rate_from_preferences

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ALPACA = DATA / "alpaca_eval"
REPO = Path(__file__).resolve().parents[1]


def ann(*prefs: float | None) -> list[dict]:
    return [{"preference": p} for p in prefs]


def test_discrete_hand_computed() -> None:
    # 2 model wins, 1 baseline win, 1 draw (1.5): x = [1, 1, 0, 0.5] -> mean 0.625.
    m = win_rate(ann(2, 2, 1, 1.5))
    assert m["win_rate"] == pytest.approx(62.5)
    # sample sd: deviations [.375, .375, -.625, -.125], squares sum .140625*2+.390625+.015625
    # = 0.6875, /3 = 0.229167, sd 0.478714, / sqrt(4) = 0.239357 -> 23.9357 %.
    assert m["standard_error"] == pytest.approx(100 * math.sqrt(0.6875 / 3) / 2)
    assert (m["n_wins"], m["n_wins_base"], m["n_draws"], m["n_total"]) == (2, 1, 1, 4)
    assert m["discrete_win_rate"] == pytest.approx(62.5)


def test_legacy_zero_is_a_draw() -> None:
    m = win_rate(ann(0, 2))
    # 0 -> 1.5: x = [0.5, 1] -> 75 %, one draw.
    assert m["win_rate"] == pytest.approx(75.0)
    assert m["n_draws"] == 1 and m["n_total"] == 2 and m["n_wins"] == 1


def test_weighted_preferences() -> None:
    # x = [0.9, 0.2, 0.6, 0.5]: mean 0.55; wins (> .5) 2, base wins (< .5) 1, the exact 1.5 a draw.
    m = win_rate(ann(1.9, 1.2, 1.6, 1.5))
    assert m["win_rate"] == pytest.approx(55.0)
    assert (m["n_wins"], m["n_wins_base"], m["n_draws"], m["n_total"]) == (2, 1, 1, 4)
    # Discrete: round half-to-even -> 2, 1, 2, draw: x = [1, 0, 1, .5] -> 62.5.
    assert m["discrete_win_rate"] == pytest.approx(62.5)


def test_invalid_values_are_dropped_like_alpaca_eval() -> None:
    # None, NaN, a missing key and out-of-range values are not preferences: dropped everywhere
    # except n_draws, which alpaca_eval counts before dropping (none of these is a draw).
    rows = [*ann(2, 1, None, float("nan"), 3.0, -1.0), {"other": 1}]
    m = win_rate(rows)
    assert m["n_total"] == 2 and m["win_rate"] == pytest.approx(50.0)
    assert m["n_draws"] == 0
    # Discrete: 3 rounds to 3 (dropped), -1 to -1 (dropped): same two.
    assert m["discrete_win_rate"] == pytest.approx(50.0)


def test_discrete_rounding_quirks() -> None:
    # alpaca_eval's ZeroOneScoringRule rounds half-to-even: 2.5 -> 2 (kept, a win) although the
    # weighted rule drops 2.5; -0.4 -> 0 -> draw.
    m = win_rate_from_preferences([2.5, -0.4, 1.0])
    assert m["n_total"] == 1 and m["win_rate"] == 0.0
    assert m["discrete_win_rate"] == pytest.approx(100 * (1 + 0.5 + 0) / 3)


def test_all_draws_and_empty() -> None:
    m = win_rate(ann(1.5, 1.5, 0))
    assert m["win_rate"] == 50.0 and m["standard_error"] == 0.0 and m["n_draws"] == 3
    m = win_rate(ann(None))
    assert m["win_rate"] is None and m["standard_error"] is None and m["n_total"] == 0
    m = win_rate(ann(2))
    assert m["win_rate"] == 100.0 and m["standard_error"] is None  # sem of one value: undefined


def test_bad_type() -> None:
    with pytest.raises(TypeError):
        win_rate(ann("2"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        win_rate(ann(True))


# ---------------------------------------------------------------------------------------------
# CLI


def _in_process(path: Path) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(path)])
    return subprocess.CompletedProcess([], rc, out.getvalue(), err.getvalue())


def test_cli_json_list_gz_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json.gz"
    path.write_bytes(gzip.compress(json.dumps(ann(2, 2, 1, 1.5)).encode()))
    proc = subprocess.run(
        [sys.executable, "-m", "srlm.eval.winrate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["win_rate"] == pytest.approx(62.5) and out["n_total"] == 4
    assert set(out) == {
        "win_rate",
        "standard_error",
        "n_wins",
        "n_wins_base",
        "n_draws",
        "n_total",
        "discrete_win_rate",
    }


def test_cli_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "annotations.jsonl"
    path.write_text('{"preference": 2}\n\n{"preference": null}\n{"preference": 1}\n')
    proc = _in_process(path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["n_total"] == 2


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('{"preference": 2}\n{"preference": 2\n', [":2:", "not valid JSON"]),
        ('[{"preference": 2},\n {"preference": }]', [":2:", "not valid JSON"]),
        ('{"preference": 2}\n{"pref": 1}\n', [":2:", "'preference'"]),
        ('[{"preference": 2}, {"preference": "1"}]', ["record 1", "'preference'"]),
        ("[1, 2]", ["record 0", "JSON object"]),
        ("[]", ["no annotations"]),
    ],
)
def test_cli_bad_files(tmp_path: Path, content: str, needles: list[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    proc = _in_process(path)
    assert proc.returncode == 2 and proc.stdout == ""
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err and str(path) in err
    for needle in needles:
        assert needle in err


def test_cli_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    proc = subprocess.run(
        [sys.executable, "-m", "srlm.eval.winrate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# Real data: every stored annotations file reproduces its leaderboard row (alpaca_eval @ cd543a14)

ANNOTATIONS = sorted(ALPACA.glob("results/*/*/annotations.json.gz")) if ALPACA.exists() else []


def _leaderboard_row(annotator: str, model: str) -> dict[str, str] | None:
    path = ALPACA / "leaderboards" / "data_AlpacaEval_2" / f"{annotator}_leaderboard.csv"
    if not path.exists():
        return None
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row[""] == model:  # the unnamed index column is the model (= results/<model>)
                return row
    return None


@pytest.mark.skipif(not ANNOTATIONS, reason="shared/data alpaca_eval results not available")
def test_real_data_has_all_models() -> None:
    # 13 weighted-annotator models + gemini-pro (fn) + Mistral-7B-Instruct-v0.2 (cot fn).
    assert len(ANNOTATIONS) == 15


@pytest.mark.skipif(not ANNOTATIONS, reason="shared/data alpaca_eval results not available")
@pytest.mark.parametrize("path", ANNOTATIONS, ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}")
def test_real_annotations_match_leaderboard(path: Path) -> None:
    model, annotator = path.parts[-3], path.parts[-2]
    row = _leaderboard_row(annotator, model)
    assert row is not None, f"{model} not in {annotator}_leaderboard.csv"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        got = win_rate(json.load(f))
    assert got["win_rate"] == pytest.approx(float(row["win_rate"]), rel=1e-9, abs=1e-12)
    assert got["standard_error"] == pytest.approx(float(row["standard_error"]), rel=1e-9, abs=1e-12)
    assert got["discrete_win_rate"] == pytest.approx(float(row["discrete_win_rate"]), rel=1e-9)
    for key in ("n_wins", "n_wins_base", "n_draws", "n_total"):
        assert got[key] == float(row[key]), key  # counts are exact ("805.0" in some CSVs)
