"""Test environment: offline, no wandb uploads, one tiny-model store shared by the session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

for key, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def session_runs(tmp_path_factory) -> Path:
    """A runs root whose store is shared by every integration test (M0 is built once)."""
    return tmp_path_factory.mktemp("runs")


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 900, env: dict | None = None):
    import subprocess

    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def tiny_m0(tmp_path_factory) -> Path:
    """A barely pretrained tiny M0 (seconds to build): for tests of mechanics, not of quality."""
    from srlm.models.tiny import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("m0") / "model",
        corpus_documents=400,
        pretrain_steps=20,
        vocab_size=512,
    )


# Test tiers: `pytest -m "not integration"` is the fast tier (no model, no subprocess run of
# run.py). A test is integration when it uses a model or the CLI, marked here by its fixtures or
# by its module, so a new test in those files is tiered without thinking about it.
MODEL_FIXTURES = {"tiny_m0", "session_runs", "smoke_run"}
INTEGRATION_MODULES = {
    "test_pipeline",
    "test_store_keys",
    "test_training",
    "test_lora",
    "test_generation",
    "test_generation_prefix",
    "test_tiny_model",
    "test_deepspeed",
    "test_sweep",
    "test_sweeps",
    "test_slurm",
    "test_vllm_engine",
}


def pytest_collection_modifyitems(config, items):
    _leave_vllm_tests_to_their_venv(config, items)
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        code = getattr(getattr(item, "function", None), "__code__", None)
        uses_cli = code is not None and "run_cli" in code.co_names
        if module in INTEGRATION_MODULES or MODEL_FIXTURES & set(item.fixturenames) or uses_cli:
            item.add_marker(pytest.mark.integration)


def _leave_vllm_tests_to_their_venv(config, items) -> None:
    """Without vLLM in this Python, the vllm/endpoint tests are not collected here: the test
    ``test_vllm_suite_in_its_venv`` runs them in .venv-vllm and fails if any fails or skips."""
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        return
    theirs = [i for i in items if i.get_closest_marker("vllm") or i.get_closest_marker("endpoint")]
    if theirs:
        config.hook.pytest_deselected(items=theirs)
        items[:] = [i for i in items if i not in theirs]
