"""Edit an input, run the same command again: exactly what depends on it is recomputed.

Integration tests on a small smoke loop (real CLI, tiny model): each compares the second run's
``stages.json`` with what the edited input feeds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from srlm.models.tiny import CHAT_TEMPLATE
from srlm.rundir import make_run_id

pytestmark = pytest.mark.integration

# The smoke loop made smaller still: these tests are about which stages run, not about quality.
SMALL = [
    "experiment=smoke",
    "data.n_ift=60",
    "data.n_eft=60",
    "train.sft.epochs=1",
    "data.n_ranked_eval=5",
    "data.n_eval_prompts=8",
    "data.n_alpaca_eval=2",
    "loop.prompts_per_iteration=8",
    "logger=none",
]
UPSTREAM = {("seed_data", ""), ("m0", "M0"), ("pretrained", "M0"), ("sft", "sft_baseline")}


def _run(root: Path, *args: str) -> dict[tuple[str, str], bool]:
    res = run_cli(*SMALL, *args, f"paths.root={root}")
    assert res.returncode == 0, res.stderr[-3000:]
    stages = root / "smoke" / make_run_id([*SMALL, *args]) / "stages.json"
    return {(s["stage"], s["model"]): s["executed"] for s in json.loads(stages.read_text())}


def _computed(stages: dict[tuple[str, str], bool]) -> set[tuple[str, str]]:
    return {k for k, executed in stages.items() if executed}


DOWNSTREAM_OF_M1 = {
    ("sft", "M1"),
    ("judgments", "M1"),
    ("pairs", "M1"),
    ("train", "M2"),
    ("eval_agreement", "M1"),
    ("eval_agreement", "M2"),
}


def test_editing_a_judge_prompt_file_recomputes_m1_and_after_only(session_runs, tmp_path):
    prompt = tmp_path / "my_judge.txt"
    packaged = (REPO / "srlm" / "prompts" / "judge_additive5_condensed.txt").read_text()
    prompt.write_text(packaged)
    _run(session_runs, f"judge.template={prompt}")
    prompt.write_text(packaged.replace("Score:", "Final score line, Score:", 1))
    second = _computed(_run(session_runs, f"judge.template={prompt}"))
    assert second >= DOWNSTREAM_OF_M1, second
    assert not second & UPSTREAM, second
    assert not _computed(_run(session_runs, f"judge.template={prompt}"))


def test_pretrained_m0_dir_and_packaged_prompt_are_keyed_by_content(tiny_m0, tmp_path):
    m0 = tmp_path / "m0"
    shutil.copytree(tiny_m0, m0)
    args = ("model.builder=pretrained", f"model.name_or_path={m0}")
    _run(tmp_path, *args)
    packaged = REPO / "srlm" / "prompts" / "judge_additive5_condensed.txt"
    original = packaged.read_bytes()
    try:
        packaged.write_text(original.decode().replace("Score:", "Final score line, Score:", 1))
        second = _computed(_run(tmp_path, *args))
    finally:
        packaged.write_bytes(original)
    assert second >= DOWNSTREAM_OF_M1 and not second & UPSTREAM, second
    config = json.loads((m0 / "config.json").read_text())
    (m0 / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    third = _computed(_run(tmp_path, *args))
    assert ("pretrained", "M0") in third and ("sft", "sft_baseline") in third, third
    assert ("seed_data", "") not in third


def test_changing_the_chat_template_recomputes_the_sfts_and_after(session_runs, tmp_path):
    template = tmp_path / "chat.jinja"
    template.write_text(CHAT_TEMPLATE)
    _run(session_runs, f"model.chat_template={template}")
    template.write_text(CHAT_TEMPLATE.replace("<|user|>\n", "<|user|>\n\n"))
    assert template.read_text() != CHAT_TEMPLATE
    second = _computed(_run(session_runs, f"model.chat_template={template}"))
    assert {("sft", "sft_baseline"), ("sft", "M1"), ("candidates", "M1"), ("train", "M2")} <= second
    assert not second & {("seed_data", ""), ("m0", "M0")}, second
