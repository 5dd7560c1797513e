"""AlpacaEval I/O: the 805 instructions, model_outputs.json round trip, and the optional
alpaca_eval run (its plumbing checked with a stand-in CLI; the real one needs a key)."""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path

import pytest

from srlm.eval import alpaca
from srlm.eval.alpaca import load_alpaca_instructions, run_alpaca_eval, write_model_outputs

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REFERENCE = DATA / "alpaca_eval" / "results" / "gpt4_1106_preview" / "model_outputs.json.gz"


def test_model_outputs_round_trip(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Name a color.", "output": "Blue.", "dataset": "helpful_base"},
        {"prompt": "Say hi in French — s'il vous plaît.", "output": "Salut !", "id": "x"},
    ]
    path = write_model_outputs(tmp_path / "out" / "model_outputs.json", rows, "srlm_M1")
    assert json.loads(path.read_text(encoding="utf-8")) == [
        {
            "instruction": "Name a color.",
            "output": "Blue.",
            "generator": "srlm_M1",
            "dataset": "helpful_base",
        },
        {
            "instruction": "Say hi in French — s'il vous plaît.",
            "output": "Salut !",
            "generator": "srlm_M1",
        },
    ]
    assert [p.name for p in path.parent.iterdir()] == ["model_outputs.json"]  # no temp left
    assert load_alpaca_instructions(str(path)) == [
        {"instruction": "Name a color.", "dataset": "helpful_base"},
        {"instruction": "Say hi in French — s'il vous plaît.", "dataset": None},
    ]


def test_write_needs_an_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="row 1: missing field 'output'"):
        write_model_outputs(
            tmp_path / "m.json", [{"instruction": "a", "output": "b"}, {"instruction": "c"}], "g"
        )
    assert not (tmp_path / "m.json").exists()


def test_jsonl_gz_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "instructions.jsonl.gz"
    lines = [json.dumps({"instruction": f"q{i}", "dataset": "vicuna"}) for i in range(5)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rows = load_alpaca_instructions(str(path), limit=3)
    assert rows == [{"instruction": f"q{i}", "dataset": "vicuna"} for i in range(3)]


def test_missing_instruction_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "model_outputs.json"
    path.write_text(json.dumps([{"instruction": "ok", "dataset": "oasst"}, {"dataset": "oasst"}]))
    with pytest.raises(
        ValueError, match=r"model_outputs\.json: row 1: missing field 'instruction'"
    ):
        load_alpaca_instructions(str(path))
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"instruction": "ok"}\n\n{"output": "no instruction"}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl:3: missing field 'instruction'"):
        load_alpaca_instructions(str(jsonl))


def test_missing_file_is_not_mistaken_for_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_alpaca_instructions(str(tmp_path / "nope.json"))


@pytest.mark.skipif(not REFERENCE.is_file(), reason="shared AlpacaEval data not available")
def test_the_805_instructions() -> None:
    rows = load_alpaca_instructions(str(REFERENCE))
    assert len(rows) == 805
    assert len({r["instruction"] for r in rows}) == 805
    assert {r["dataset"] for r in rows} == {
        "helpful_base",
        "koala",
        "oasst",
        "selfinstruct",
        "vicuna",
    }
    assert load_alpaca_instructions(str(REFERENCE), limit=10) == rows[:10]


# ------------------------------------------------------------------------------------------
# run_alpaca_eval
# ------------------------------------------------------------------------------------------

FAKE_CLI = """
import json, sys
from pathlib import Path
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
if args.get("--annotators_config") == "broken":
    sys.exit(3)
out = Path(args["--output_path"]) / args["--annotators_config"]
out.mkdir(parents=True, exist_ok=True)
outputs = json.loads(Path(args["--model_outputs"]).read_text())
prefs = [2.0, 1.0, 1.5, 2.0]
annotations = [{"instruction": o["instruction"], "preference": p} for o, p in zip(outputs, prefs)]
(out / "annotations.json").write_text(json.dumps(annotations))
"""


@pytest.fixture
def outputs_file(tmp_path: Path) -> Path:
    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(4)]
    return write_model_outputs(tmp_path / "model_outputs.json", rows, "srlm")


def test_skipped_without_the_package(
    outputs_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(alpaca, "_alpaca_eval_command", lambda: None)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with caplog.at_level(logging.WARNING):
        assert (
            run_alpaca_eval(
                outputs_file, "weighted_alpaca_eval_gpt4_turbo", outputs_file.parent / "ae"
            )
            is None
        )
    assert "not installed" in caplog.text


def test_skipped_without_a_key(
    outputs_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(alpaca, "_alpaca_eval_command", lambda: [sys.executable, "-c", "0"])
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with caplog.at_level(logging.WARNING):
        assert (
            run_alpaca_eval(
                outputs_file, "weighted_alpaca_eval_gpt4_turbo", outputs_file.parent / "ae"
            )
            is None
        )
    assert "OPENAI_API_KEY" in caplog.text


def test_runs_the_cli_and_reads_its_annotations(
    outputs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_alpaca_eval.py"
    script.write_text(FAKE_CLI)
    monkeypatch.setattr(alpaca, "_alpaca_eval_command", lambda: [sys.executable, str(script)])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "ae"
    metrics = run_alpaca_eval(outputs_file, "weighted_alpaca_eval_gpt4_turbo", out, timeout=60)
    assert metrics["win_rate"] == pytest.approx(62.5)
    assert (metrics["n_wins"], metrics["n_wins_base"], metrics["n_draws"]) == (2, 1, 1)
    assert metrics["annotator"] == "weighted_alpaca_eval_gpt4_turbo"
    assert Path(metrics["annotations_path"]).parent == out / "weighted_alpaca_eval_gpt4_turbo"

    assert run_alpaca_eval(outputs_file, "broken", out, timeout=60) is None  # exit 3: logged
