"""AlpacaEval 2.0 (paper Table 1): the 805 instructions in, ``model_outputs.json`` out, and,
when the ``alpaca_eval`` package and an OpenAI key are there, its annotator run on them.

The paper reports the *raw* AlpacaEval 2.0 win rate against GPT-4 Turbo (no length control);
``run_alpaca_eval`` reads the annotations alpaca_eval writes and recomputes that number with
``srlm.eval.winrate.win_rate`` (the same arithmetic as alpaca_eval's leaderboard).

Sources for the instructions: a local ``model_outputs.json`` of any AlpacaEval model (every one
lists the same 805 instructions in the canonical order; e.g. the reference
``results/gpt4_1106_preview/model_outputs.json.gz``), as a JSON list or JSONL, optionally gzip;
or, when ``source`` is not a path, a hub dataset repo (``tatsu-lab/alpaca_eval``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from srlm.eval.winrate import InputError, read_annotations, read_records, win_rate

log = logging.getLogger(__name__)

_FILE_SUFFIXES = (".json", ".jsonl", ".gz")


def _instructions_from_file(path: Path, limit: int | None) -> list[dict]:
    rows = []
    for where, obj in read_records(path, item="row"):
        if limit is not None and len(rows) >= limit:
            break
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        instruction = obj.get("instruction")
        if not isinstance(instruction, str):
            problem = "missing field" if instruction is None else "non-string field"
            raise ValueError(f"{where}: {problem} 'instruction'")
        dataset = obj.get("dataset")
        if dataset is not None and not isinstance(dataset, str):
            raise ValueError(f"{where}: field 'dataset' must be a string")
        rows.append({"instruction": instruction, "dataset": dataset})
    return rows


def load_alpaca_instructions(source: str, limit: int | None = None) -> list[dict]:
    """``[{"instruction", "dataset"}]`` in file order (``dataset`` is None when the file lacks it).

    ``source``: a local file (see the module docstring), or a hub dataset repo id such as
    ``tatsu-lab/alpaca_eval``, whose ``alpaca_eval.json`` is downloaded (the file its loading
    script reads; ``datasets`` 4+ no longer runs loading scripts).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    path = Path(source).expanduser()
    if path.is_file():
        return _instructions_from_file(path, limit)
    if path.exists():
        raise ValueError(f"{path}: is a directory, expected a model_outputs JSON/JSONL file")
    if source.endswith(_FILE_SUFFIXES) or source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"{source}: no such file (AlpacaEval instructions)")
    return _instructions_from_hub(source, limit)


def _instructions_from_hub(repo_id: str, limit: int | None) -> list[dict]:
    """Needs the network (or the HF cache): never used by the tests."""
    from huggingface_hub import hf_hub_download

    local = hf_hub_download(repo_id=repo_id, filename="alpaca_eval.json", repo_type="dataset")
    return _instructions_from_file(Path(local), limit)


def write_model_outputs(
    path: str | Path, rows: Iterable[Mapping[str, Any]], generator_name: str
) -> Path:
    """alpaca_eval's ``model_outputs.json``: a JSON list of ``{instruction, output, generator,
    dataset}`` (``dataset`` left out when unknown), written atomically (temp file + rename).

    Each row needs ``output`` and ``instruction`` (``prompt``, the stage's name for it, is
    accepted too).
    """
    path = Path(path)
    records = []
    for i, row in enumerate(rows):
        instruction = row.get("instruction", row.get("prompt"))
        if not isinstance(instruction, str):
            raise ValueError(f"model outputs row {i}: missing field 'instruction' (or 'prompt')")
        output = row.get("output")
        if not isinstance(output, str):
            raise ValueError(f"model outputs row {i}: missing field 'output'")
        record = {"instruction": instruction, "output": output, "generator": generator_name}
        if row.get("dataset") is not None:
            record["dataset"] = row["dataset"]
        records.append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(records, f, ensure_ascii=False, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _alpaca_eval_command() -> list[str] | None:
    """The ``alpaca_eval`` CLI when the package is installed (next to this Python, or on PATH)."""
    if importlib.util.find_spec("alpaca_eval") is None:
        return None
    beside = Path(sys.executable).parent / "alpaca_eval"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("alpaca_eval")
    return [found] if found else None


def _find_annotations(output_dir: Path, annotators_config: str) -> Path | None:
    """alpaca_eval writes to ``<output_path>/<annotators_config>/`` for a named config."""
    for candidate in (
        output_dir / annotators_config / "annotations.json",
        output_dir / "annotations.json",
    ):
        if candidate.is_file():
            return candidate
    found = sorted(output_dir.rglob("annotations.json"))
    return found[0] if found else None


def run_alpaca_eval(
    model_outputs_path: str | Path,
    annotators_config: str,
    output_dir: str | Path,
    timeout: float | None = None,
    reference_outputs: str | None = None,
    fn_metric: str | None = None,
) -> dict[str, Any] | None:
    """Run alpaca_eval's annotator on ``model_outputs.json``; its raw win rate metrics.

    None (with the reason logged, never an exception) when the package or OPENAI_API_KEY is
    missing, or the run fails: AlpacaEval is optional, the outputs file stays for a later run.
    """
    command = _alpaca_eval_command()
    if command is None:
        log.warning("AlpacaEval annotation skipped: the alpaca_eval package is not installed")
        return None
    if not os.environ.get("OPENAI_API_KEY", "").strip():
        log.warning("AlpacaEval annotation skipped: OPENAI_API_KEY is not set")
        return None
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    args = [
        *command,
        "--model_outputs",
        str(model_outputs_path),
        "--annotators_config",
        annotators_config,
        "--output_path",
        str(output_dir),
    ]
    # Offline: a local reference (the default is downloaded from the hub) and the raw win rate
    # (the length-controlled one downloads its weights too).
    if reference_outputs:
        args += ["--reference_outputs", str(reference_outputs)]
    if fn_metric:
        args += ["--fn_metric", fn_metric]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("AlpacaEval annotation failed to run: %s", type(e).__name__)
        return None
    (output_dir / "alpaca_eval.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        log.warning(
            "AlpacaEval annotation failed (exit %d); see %s",
            proc.returncode,
            output_dir / "alpaca_eval.log",
        )
        return None
    annotations_path = _find_annotations(output_dir, annotators_config)
    if annotations_path is None:
        log.warning("AlpacaEval annotation wrote no annotations.json under %s", output_dir)
        return None
    try:
        metrics = win_rate(read_annotations(annotations_path))
    except InputError as e:
        log.warning("AlpacaEval annotations unreadable: %s", e)
        return None
    metrics["annotator"] = annotators_config
    metrics["annotations_path"] = str(annotations_path)
    return metrics
